"""Import paho-mqtt and psutil without the standard-library modules the agent does not use (~6 MiB).

paho's client module imports at the top, for features the agent may never touch:

- `ssl` (TLS) and `hashlib` (the websocket handshake): both load OpenSSL's libssl/libcrypto, which
  alone is ~5 MiB of the agent's resident memory;
- `urllib.request` (proxy settings, read only when PySocks is installed), which pulls in http.client,
  the email package, tempfile, bz2, lzma;
- `uuid` (a random client id when none is given) and `base64` (websockets).

psutil imports subprocess (and with it locale) for `psutil.Popen` only, base64 for connection tables
and datetime for printing.

Three standard-library modules the agent needs at start do the same (~1.3 MiB, both modes):

- `dataclasses` imports `inspect` (with ast, dis, tokenize, linecache) to write a docstring for a
  dataclass that has none; every dataclass on the agent's path has its own;
- `logging` imports `traceback` (with textwrap, linecache, tokenize) to print an exception, which
  a running agent rarely logs;
- `urllib.parse` (imported by pathlib) imports `ipaddress` to check a bracketed host in a URL.

`import_paho()` / `import_psutil()` import the library with a lazy stand-in in place of each of those
that is not loaded yet. A stand-in imports the real module on the first attribute access and puts it
in the library's namespace, so TLS, websockets, proxies, random ids and psutil.Popen keep working; they
cost the memory only once used. The stand-ins leave `sys.modules` right after the library's import:
any other `import ssl` gets the real module.

One exception, and the reason `ssl = None` cannot be used (paho's own fallback when ssl is missing
crashes with AttributeError on the first non-blocking socket read): `_sock_recv` and `_sock_send` name
`ssl.SSLWantReadError` / `ssl.SSLWantWriteError` in `except` clauses, which Python evaluates whenever
an exception passes through (BlockingIOError on every empty read). Loading ssl there would defeat the
purpose. While the `_ssl` extension is not loaded no SSL socket can exist, so those two names resolve
to exception classes that nothing raises; once `_ssl` is loaded (TLS configured, or any other code
imported ssl), to the real ones.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from typing import Any

#: modules paho imports at the top that only optional paths use
PAHO_DEFERRED = ("ssl", "hashlib", "urllib.request", "uuid", "base64")
#: psutil: subprocess (with locale) for psutil.Popen, base64 for net_connections, datetime for printing
PSUTIL_DEFERRED = ("subprocess", "base64", "datetime")
_PAHO = "paho.mqtt.client"
#: standard-library modules the agent imports at start, and what each imports for rare paths only
STDLIB_DEFERRED = {
    "dataclasses": ("inspect",),
    "logging": ("traceback",),
    "urllib.parse": ("ipaddress",),
}


class _NotSSLWantRead(OSError):
    """Stands for ssl.SSLWantReadError while no SSL socket can exist; never raised."""


class _NotSSLWantWrite(OSError):
    """Stands for ssl.SSLWantWriteError while no SSL socket can exist; never raised."""


_SSL_PLACEHOLDERS: dict[str, type[OSError]] = {
    "SSLWantReadError": _NotSSLWantRead,
    "SSLWantWriteError": _NotSSLWantWrite,
}


class LazyModule(types.ModuleType):
    """A module that becomes the real one (`importlib.import_module(name)`) on first attribute access."""

    def __init__(self, name: str, holders: str) -> None:
        super().__init__(name)
        #: the package whose modules hold this stand-in as a global (swapped for the real module)
        self._holders = holders

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # import machinery and introspection probing: not a use
            raise AttributeError(attr)
        if self.__name__ == "ssl" and attr in _SSL_PLACEHOLDERS and "_ssl" not in sys.modules:
            return _SSL_PLACEHOLDERS[attr]
        return getattr(self.load(), attr)

    def load(self) -> types.ModuleType:
        # used while the library is still importing (PySocks, imported by paho when installed, runs
        # `from base64 import b64encode`): the stand-in leaves sys.modules so the real module loads
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        # a dotted name (urllib.request) is held through its package, which the import above updated
        if "." not in self.__name__:
            prefix = self._holders + "."
            for name, module in list(sys.modules.items()):
                held = name == self._holders or name.startswith(prefix)
                if held and getattr(module, "__dict__", {}).get(self.__name__) is self:
                    setattr(module, self.__name__, real)
        return real


def import_with_stand_ins(module: str, deferred: tuple[str, ...]) -> None:
    """Import `module` (and its package's submodules) with lazy stand-ins for `deferred`."""
    if module in sys.modules:
        return
    holders = module.partition(".")[0]
    stand_ins = {name: LazyModule(name, holders) for name in deferred if name not in sys.modules}
    for name, stand_in in stand_ins.items():
        parent, _, child = name.rpartition(".")
        if parent:  # `import urllib.request` is used as `urllib.request.x`: the package attribute
            setattr(importlib.import_module(parent), child, stand_in)
        sys.modules[name] = stand_in
    try:
        importlib.import_module(module)
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
    # a package attribute (`urllib.request`) stays a stand-in until something imports the real module


def import_stdlib() -> None:
    """Import dataclasses, logging and urllib.parse with lazy stand-ins for STDLIB_DEFERRED (see above).

    Called first, before anything imports any of them; a module already imported is left as it is."""
    for module, deferred in STDLIB_DEFERRED.items():
        import_with_stand_ins(module, deferred)


def import_paho() -> None:
    """Import `paho.mqtt.client` with lazy stand-ins for PAHO_DEFERRED (see above).

    Where PySocks is installed, paho looks for an `mqtt_proxy` setting on every connect through
    urllib.request (which loads OpenSSL). Without that environment variable the answer is always "no
    proxy", so the agent tells paho there is no PySocks and the look-up (and OpenSSL) never happen."""
    import_with_stand_ins(_PAHO, PAHO_DEFERRED)
    if not any(name.lower() == "mqtt_proxy" for name in os.environ):
        client = sys.modules[_PAHO]
        client.socks = None  # type: ignore[attr-defined]


def import_psutil() -> None:
    """Import psutil with lazy stand-ins for PSUTIL_DEFERRED (none of them is on the agent's path)."""
    import_with_stand_ins("psutil", PSUTIL_DEFERRED)
