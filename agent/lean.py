"""Keep OpenSSL out of the agent process when TLS is off.

paho-mqtt imports `ssl` and `hashlib` when it is imported. With OpenSSL behind them the process maps
libcrypto (about 3.5 MiB of resident memory, a sixth of the agent). Without TLS nothing needs it: hashlib
then uses CPython's built-in SHA-2 (the documented fallback) and paho runs without its TLS support.
With `mqtt.tls_ca` set the import is the ordinary one.
"""

from __future__ import annotations

import sys

OPENSSL_MODULES = ("ssl", "_ssl", "_hashlib")


def import_paho(tls: bool) -> None:
    if tls or any(name in sys.modules for name in OPENSSL_MODULES):
        import paho.mqtt.client

        return
    for name in OPENSSL_MODULES:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ModuleNotFoundError
    try:
        import hashlib  # noqa: F401

        import paho.mqtt.client  # noqa: F401
    finally:
        for name in OPENSSL_MODULES:
            if sys.modules.get(name) is None:
                del sys.modules[name]
