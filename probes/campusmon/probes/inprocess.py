"""The probe runner inside another process (`campusmon server run`): its own thread, event loop and MQTT
client, so it publishes through the broker exactly like a standalone runner, and stops with its host.

The host gives it a ProbeConfig and its target sources; the server's side is campusmon.server.probing."""

from __future__ import annotations

import asyncio
import logging
import threading

from .config import ProbeConfig
from .runner import ProbeRunner
from .targets import TargetSource

_log = logging.getLogger(__name__)


class InProcessRunner:
    """`start()` returns once the runner's loop runs; `stop()` publishes its shutdown and joins."""

    def __init__(self, config: ProbeConfig, sources: list[TargetSource] | None = None) -> None:
        self.config = config
        # built here, in the caller's thread: a bad state directory fails the server's start
        self.runner = ProbeRunner(config, sources=sources)
        self.thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        #: set when the runner ended by an error rather than by stop()
        self.failed = threading.Event()

    def start(self, timeout: float = 10.0) -> None:
        self.thread = threading.Thread(target=self._main, name="probe-runner", daemon=True)
        self.thread.start()
        if not self._ready.wait(timeout):
            _log.warning("probe runner thread did not start within %.0f s", timeout)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self.runner.run(self._stop)

        try:
            asyncio.run(main())
        except (OSError, RuntimeError, ValueError) as exc:
            _log.error("probe runner stopped: %s: %s", type(exc).__name__, exc)
            self.failed.set()
        finally:
            self._ready.set()

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self, reason: str = "server stopped", timeout: float = 20.0) -> None:
        if self.thread is None:
            return
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            self.runner.stop_reason = reason
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop ended between the check and the call
                pass
        self.thread.join(timeout)
        if self.thread.is_alive():
            _log.error("probe runner did not stop within %.0f s", timeout)
        self.thread = None
