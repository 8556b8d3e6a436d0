"""Agent configuration (TOML, strict; see agent/sample-agent.toml)."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from campusmon.config import ConfigError, did_you_mean, load

from .wire import DEFAULT_ROOT, ID_PATTERN, ID_RE


def default_state_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "campusmon"
    return Path("/var/lib/campusmon-agent") if os.geteuid() == 0 else Path.home() / ".campusmon-agent"


def slug(text: str) -> str:
    """Hostname -> a contract-valid id (`PC-302-01.school.local` -> `pc-302-01`)."""
    s = re.sub(r"[^a-z0-9_-]+", "-", text.split(".", maxsplit=1)[0].lower()).strip("-_")
    return (s or "device")[:64]


@dataclass
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    root: str = DEFAULT_ROOT
    username: str | None = None
    password: str | None = None
    #: CA bundle for TLS; setting it turns TLS on
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: the broker declares a silent device `lost` ~1.5x this (plus up to 5 s) after its last packet;
    #: 5 s: a hung or unplugged device is noticed within 15 s, for a ping every 5 s when idle
    keepalive: int = 5
    #: reconnect waits grow from min to max (doubling, with random jitter)
    reconnect_min_seconds: float = 1.0
    reconnect_max_seconds: float = 60.0

    def validate(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"mqtt.port: {self.port} is not a TCP port")
        if not 5 <= self.keepalive <= 3600:
            raise ConfigError("mqtt.keepalive: must be 5..3600 seconds")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("mqtt.tls_cert and mqtt.tls_key go together")
        if self.tls_cert is not None and self.tls_ca is None:
            raise ConfigError("mqtt.tls_cert needs mqtt.tls_ca")
        if self.password is not None and not self.username:
            raise ConfigError("mqtt.password needs mqtt.username")
        if not 0.1 <= self.reconnect_min_seconds <= self.reconnect_max_seconds <= 3600:
            raise ConfigError(
                "mqtt.reconnect_min_seconds/reconnect_max_seconds: need 0.1 <= min <= max <= 3600"
            )
        if not self.root or "/" in self.root or "+" in self.root or "#" in self.root:
            raise ConfigError(f"mqtt.root: {self.root!r} must be one topic level without wildcards")


@dataclass
class BufferSettings:
    """The on-disk report queue (see agent/buffer.py)."""

    #: empty: <state_dir>/buffer.sqlite3
    path: Path | None = None
    max_reports: int = 10_000
    max_age_hours: float = 168.0

    def validate(self) -> None:
        if not 10 <= self.max_reports <= 10_000_000:
            raise ConfigError("buffer.max_reports: must be 10..10000000")
        if not 0 < self.max_age_hours <= 24 * 366:
            raise ConfigError("buffer.max_age_hours: must be > 0 and at most a year")


DEFAULT_COLLECTORS = (
    "cpu",
    "memory",
    "disk",
    "network",
    "uptime",
    "sensors",
    "processes",
    "users",
    "peripherals",
)


@dataclass
class AgentSettings:
    campus: str = "main"
    #: empty: derived from the hostname
    device: str = ""
    interval: int = 30
    state_dir: Path = field(default_factory=default_state_dir)
    collectors: list[str] = field(default_factory=lambda: list(DEFAULT_COLLECTORS))
    #: minutes between inventory checks; it is sent when it changed, and at least once a day
    inventory_check_minutes: int = 60
    #: zlib-compress reports (the server accepts both)
    compress: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def validate(self) -> None:
        from .collectors import REGISTRY

        if not ID_RE.match(self.campus):
            raise ConfigError(f"agent.campus: {self.campus!r} does not match {ID_PATTERN}")
        if self.device and not ID_RE.match(self.device):
            raise ConfigError(f"agent.device: {self.device!r} does not match {ID_PATTERN}")
        if not 1 <= self.interval <= 86400:
            raise ConfigError("agent.interval: must be 1..86400 seconds")
        if not 1 <= self.inventory_check_minutes <= 1440:
            raise ConfigError("agent.inventory_check_minutes: must be 1..1440")
        for name in self.collectors:
            if name not in REGISTRY:
                raise ConfigError(
                    f"agent.collectors: unknown collector {name!r}{did_you_mean(name, REGISTRY)}"
                )


@dataclass
class AgentConfig:
    agent: AgentSettings = field(default_factory=AgentSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    buffer: BufferSettings = field(default_factory=BufferSettings)

    @property
    def buffer_path(self) -> Path:
        return self.buffer.path or self.agent.state_dir / "buffer.sqlite3"


def load_agent_config(path: Path | None) -> AgentConfig:
    return load(AgentConfig, path)
