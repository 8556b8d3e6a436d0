"""Server configuration (TOML, strict; see server/sample-server.toml)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from campusmon.config import ConfigError, load
from campusmon.contract import DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_ROOT


def default_data_dir() -> Path:
    env = os.environ.get("CAMPUSMON_DATA_DIR")
    if env:
        return Path(env)
    return Path("/var/lib/campusmon") if os.geteuid() == 0 else Path.home() / ".local/share/campusmon"


@dataclass
class BrokerSettings:
    #: true: the server runs and supervises its own Mosquitto on 127.0.0.1:port
    managed: bool = True
    host: str = "127.0.0.1"
    port: int = 1883
    root: str = DEFAULT_ROOT
    username: str | None = None
    password: str | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    keepalive: int = 30
    client_id: str = "campusmon-server"
    #: how long the broker keeps our session (and queues reports) while the server is down
    session_expiry_seconds: int = 7 * 86400
    mosquitto_bin: str = "mosquitto"
    #: managed broker limits; the Debian defaults (1000 / 20) drop QoS1 messages under load
    max_queued_messages: int = 200_000
    max_inflight_messages: int = 200

    def validate(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"broker.port: {self.port} is not a TCP port")
        if self.managed and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(
                "broker.host: a managed broker listens on 127.0.0.1 only; "
                "set broker.managed = false to use another broker"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("broker.tls_cert and broker.tls_key go together")


@dataclass
class StorageSettings:
    data_dir: Path = field(default_factory=default_data_dir)
    #: SQLAlchemy URL for devices, tickets and the register; empty: SQLite in data_dir
    database_url: str = ""
    metrics_backend: Literal["sqlite"] = "sqlite"
    metrics_retention_days: int = 30

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'campusmon.db'}"

    @property
    def metrics_path(self) -> Path:
        return self.data_dir / "metrics.db"


@dataclass
class IngestSettings:
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    #: a report older than this many intervals is stored but raises no alert (a buffer replay)
    stale_intervals: float = 3.0
    #: at most this many log lines per rejection reason per minute
    reject_log_per_minute: int = 10


@dataclass
class ThresholdRuleSettings:
    metric: str
    above: float
    recover_below: float
    for_seconds: float = 300.0
    severity: Literal["info", "warning", "critical"] = "warning"
    #: the label that names the subject (e.g. "mount" for disks); empty: the device itself
    subject_label: str = ""
    enabled: bool = True

    def validate(self) -> None:
        if self.recover_below > self.above:
            raise ConfigError(f"rule on {self.metric}: recover_below must not be above `above`")
        if self.for_seconds < 0:
            raise ConfigError(f"rule on {self.metric}: for_seconds must be >= 0")


def default_threshold_rules() -> dict[str, ThresholdRuleSettings]:
    return {
        "disk_full": ThresholdRuleSettings(
            metric="disk_used_percent",
            above=90.0,
            recover_below=85.0,
            for_seconds=300.0,
            severity="warning",
            subject_label="mount",
        ),
        "memory_saturated": ThresholdRuleSettings(
            metric="memory_used_percent",
            above=95.0,
            recover_below=85.0,
            for_seconds=600.0,
        ),
        "cpu_saturated": ThresholdRuleSettings(
            metric="cpu_usage_percent",
            above=95.0,
            recover_below=80.0,
            for_seconds=900.0,
            severity="info",
        ),
        # probe runner: an uplink/AP port (or a classroom port in school hours) down, one ticket per port
        "port_down": ThresholdRuleSettings(
            metric="port_fault",
            above=0.5,
            recover_below=0.5,
            for_seconds=0.0,
            severity="critical",
            subject_label="port",
        ),
        # probe runner: the target answers but its check fails (HTTP status, body text, certificate)
        "probe_failing": ThresholdRuleSettings(
            metric="probe_failing",
            above=0.5,
            recover_below=0.5,
            for_seconds=120.0,
            severity="warning",
            subject_label="check",
        ),
    }


@dataclass
class RulesSettings:
    device_down: bool = True
    thresholds: dict[str, ThresholdRuleSettings] = field(default_factory=default_threshold_rules)


@dataclass
class ServerConfig:
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    rules: RulesSettings = field(default_factory=RulesSettings)
    log_level: Literal["debug", "info", "warning", "error"] = "info"


def load_server_config(path: Path | None) -> ServerConfig:
    return load(ServerConfig, path)
