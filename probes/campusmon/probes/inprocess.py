"""The probe runner inside `campusmon server run`: its own thread, event loop and MQTT client, so it
publishes through the broker exactly like a standalone runner, and stops with the server."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from campusmon.config import ConfigError, read_toml

from .config import ProbeConfig, build_probe_config
from .runner import ProbeRunner
from .targets import RegisterTargets, TargetSource

if TYPE_CHECKING:
    from campusmon.server.broker_auth import BrokerUsers
    from campusmon.server.config import BrokerSettings, ProbesSettings
    from campusmon.server.db import Database

_log = logging.getLogger(__name__)


def server_probe_config(
    probes: ProbesSettings, broker: BrokerSettings, data_dir: Path, users: BrokerUsers | None = None
) -> ProbeConfig:
    """The runner's config from the server's `[probes]`: a probe config file or inline `settings`;
    unless they say otherwise it uses the server's broker, and keeps its state under data_dir.
    With the managed broker (`users`), it logs in as the probe runner of its campus."""
    if probes.config is not None and probes.settings:
        raise ConfigError("probes: give either `config` (a file) or `settings` (inline), not both")
    data: dict[str, Any] = dict(read_toml(probes.config) if probes.config is not None else probes.settings)
    where = str(probes.config) if probes.config is not None else "probes.settings"
    raw_runner = data.get("runner") or {}
    if not isinstance(raw_runner, Mapping):
        raise ConfigError(f"{where}: runner: expected a table, got {type(raw_runner).__name__}")
    runner: dict[str, Any] = dict(raw_runner)
    if probes.campus:
        runner["campus"] = probes.campus
    runner.setdefault("state_dir", str(data_dir / "probes"))
    data["runner"] = runner
    ours = "mqtt" not in data  # the server's broker, not one the probe config names
    if ours:
        mqtt: dict[str, Any] = {"host": broker.host, "port": broker.port, "root": broker.root}
        mqtt["keepalive"] = max(5, broker.keepalive)
        for key in ("username", "password", "tls_ca", "tls_cert", "tls_key"):
            value = getattr(broker, key)
            if value is not None:
                mqtt[key] = str(value)
        mqtt["allow_plaintext_password"] = broker.allow_plaintext_password
        data["mqtt"] = mqtt
    where = str(probes.config) if probes.config is not None else "probes.settings"
    config = build_probe_config(data, where)
    if users is not None and ours and "username" not in data["mqtt"]:
        login = users.probe_login(config.runner.campus)
        data["mqtt"] |= {"username": login.username, "password": login.password}
        config = build_probe_config(data, where)
    return config


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

    @classmethod
    def for_server(
        cls,
        probes: ProbesSettings,
        broker: BrokerSettings,
        data_dir: Path,
        db: Database,
        users: BrokerUsers | None = None,
    ) -> InProcessRunner:
        config = server_probe_config(probes, broker, data_dir, users)
        sources: list[TargetSource] = []
        if probes.register_targets:
            sources.append(RegisterTargets(db, config, link=probes.link_assets))
        return cls(config, sources)

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
