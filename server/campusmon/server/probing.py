"""The probe runner inside `campusmon server run`, from the server's side.

The runner (campusmon.probes) knows nothing of the server: the server builds its config from
`[probes]` and `[broker]`, and feeds it register targets through the runner's own `TargetSource`
interface (RegisterTargets below).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from campusmon.config import ConfigError, read_toml
from campusmon.probes.config import ProbeConfig, TargetSettings, build_probe_config
from campusmon.probes.inprocess import InProcessRunner
from campusmon.probes.targets import TargetSource, asset_targets

from .services.probes import register_assets

if TYPE_CHECKING:
    from .broker_auth import BrokerUsers
    from .config import BrokerSettings, ProbesSettings
    from .db import Database

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


class RegisterTargets:
    """The server's own register as a target source (in-process runner): read on every poll."""

    def __init__(self, db: Database, config: ProbeConfig, *, link: bool = True) -> None:
        self.db = db
        self.config = config
        self.link = link
        self._last: list[TargetSettings] | None = None

    def poll(self) -> list[TargetSettings] | None:
        campus = self.config.runner.campus
        try:
            entries = register_assets(
                self.db,
                campus,
                self.config.register.checks,
                link=self.link,
                actor=f"probe:{campus}/{self.config.runner.id}",
            )
        except SQLAlchemyError as exc:
            _log.error("cannot read probe targets from the register (keeping the previous ones): %s", exc)
            return None
        targets = asset_targets(entries, self.config)
        if targets == self._last:
            return None
        _log.info("register: %d probe targets for campus %s", len(targets), campus)
        self._last = targets
        return targets


def in_process_runner(
    probes: ProbesSettings,
    broker: BrokerSettings,
    data_dir: Path,
    db: Database,
    users: BrokerUsers | None = None,
) -> InProcessRunner:
    """The runner `[probes]` asks for: its config, and the register as a target source when wanted."""
    config = server_probe_config(probes, broker, data_dir, users)
    sources: list[TargetSource] = []
    if probes.register_targets:
        sources.append(RegisterTargets(db, config, link=probes.link_assets))
    return InProcessRunner(config, sources)
