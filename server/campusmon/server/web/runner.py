"""uvicorn in a thread of the server process: started after the database, stopped cleanly with it."""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from ..config import HttpSettings

_log = logging.getLogger(__name__)


class HttpError(RuntimeError):
    """The console could not be served (address in use, bad certificate)."""


class HttpServer:
    def __init__(self, app: FastAPI, settings: HttpSettings) -> None:
        self.app = app
        self.settings = settings
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = settings.port

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.tls_cert else "http"
        host = self.settings.host
        shown = f"[{host}]" if ":" in host else host
        if host in ("0.0.0.0", "::"):
            shown = "127.0.0.1"
        return f"{scheme}://{shown}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        s = self.settings
        family = socket.AF_INET6 if ":" in s.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:  # a clear message for a taken port
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((s.host, s.port))
            except OSError as exc:
                raise HttpError(f"cannot listen on {s.host}:{s.port} for the web console: {exc}") from None
        # uvicorn binds itself: a socket handed to it keeps Nagle's algorithm on, and every keep-alive
        # response then waits ~40 ms for the browser's delayed ACK
        config = uvicorn.Config(
            self.app,
            host=s.host,
            port=s.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ssl_certfile=str(s.tls_cert) if s.tls_cert else None,
            ssl_keyfile=str(s.tls_key) if s.tls_key else None,
            proxy_headers=True,
            forwarded_allow_ips="127.0.0.1",
            timeout_graceful_shutdown=5,
        )
        try:
            config.load()
        except (OSError, ValueError) as exc:  # an unreadable certificate
            raise HttpError(f"web console TLS: {exc}") from None
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise HttpError(f"the web console did not start on {s.host}:{s.port}")
            time.sleep(0.02)
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        _log.info("web console on %s", self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                _log.warning("the web console did not stop within 10 s")
