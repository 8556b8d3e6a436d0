"""Import paho-mqtt without the part of it the agent can never use (about 2 MiB of resident memory).

paho imports `urllib.request` (and with it http.client, the email package, tempfile, shutil, bz2, lzma)
for one thing: reading proxy settings from the environment, which it does only when PySocks is
installed (`_get_proxy` returns early otherwise). The agent does not depend on PySocks, so when it is
absent paho is imported with a stand-in `urllib.request` that is removed again right after; a later
`import urllib.request` anywhere gets the real module.
"""

from __future__ import annotations

import importlib.util
import sys
import types


def import_paho() -> None:
    if "paho.mqtt.client" in sys.modules or "urllib.request" in sys.modules:
        return
    if importlib.util.find_spec("socks") is not None:  # PySocks: paho reads proxies through urllib
        import paho.mqtt.client

        return
    import urllib

    stand_in = types.ModuleType("urllib.request", "paho never calls this module without PySocks")
    sys.modules["urllib.request"] = stand_in
    try:
        import paho.mqtt.client  # noqa: F401
    finally:
        if sys.modules.get("urllib.request") is stand_in:
            del sys.modules["urllib.request"]
        if getattr(urllib, "request", None) is stand_in:
            del urllib.request
