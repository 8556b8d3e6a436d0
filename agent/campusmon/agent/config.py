"""Agent configuration (TOML, strict; see agent/sample-agent.toml)."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from campusmon.config import SECONDS_IN_DAY, TCP_PORT, ConfigError, Range, did_you_mean, load
from campusmon.mqtt_security import plaintext_password_error

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
    port: Annotated[int, TCP_PORT] = 1883
    root: str = DEFAULT_ROOT
    username: str | None = None
    password: str | None = None
    #: CA bundle for TLS; setting it turns TLS on
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: the broker declares a silent device `lost` ~1.5x this (plus up to 5 s) after its last packet;
    #: 5 s: a hung or unplugged device is noticed within 15 s, for a ping every 5 s when idle
    keepalive: Annotated[int, Range(5, 3600, "seconds")] = 5
    #: reconnect waits grow from min to max (doubling, with random jitter)
    #: a password without TLS is refused unless the broker is on this machine (loopback) or this is true
    allow_plaintext_password: bool = False
    #: reconnect waits grow from min to max (doubling, with random jitter); after a healthy connection
    #: the first retries wait at most reconnect_fast_seconds, or max if lower (agent/runner.py: Backoff)
    reconnect_min_seconds: Annotated[float, Range(0.1, 3600, "seconds")] = 1.0
    reconnect_fast_seconds: Annotated[float, Range(0.1, 3600, "seconds")] = 5.0
    reconnect_max_seconds: Annotated[float, Range(0.1, 3600, "seconds")] = 30.0

    def validate(self) -> None:
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
        # a fast cap above max is max (a test or a tiny site may set max = 2)
        if not self.reconnect_min_seconds <= self.reconnect_fast_seconds <= 3600:
            raise ConfigError("mqtt.reconnect_fast_seconds: need reconnect_min_seconds <= fast <= 3600")
        problem = plaintext_password_error(
            "mqtt", self.host, self.port, self.password, self.tls_ca, self.allow_plaintext_password
        )
        if problem:
            raise ConfigError(problem)
        if not self.root or "/" in self.root or "+" in self.root or "#" in self.root:
            raise ConfigError(f"mqtt.root: {self.root!r} must be one topic level without wildcards")


@dataclass
class BufferSettings:
    """The on-disk report queue (see agent/buffer.py)."""

    #: empty: <state_dir>/buffer.sqlite3
    path: Path | None = None
    max_reports: Annotated[int, Range(10, 10_000_000)] = 10_000
    max_age_hours: Annotated[float, Range(0.01, 24 * 366, "hours")] = 168.0
    #: while the disk refuses writes (full, read-only), up to this many messages wait in memory
    memory_reports: Annotated[int, Range(0, 100_000)] = 500


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
    #: what this machine is, for the asset register: pc, panel (a classroom interactive panel) or
    #: server; auto: panel when a touch screen is attached, else left to the server (pc or server)
    type: Literal["auto", "pc", "panel", "server"] = "auto"
    interval: Annotated[int, SECONDS_IN_DAY] = 30
    state_dir: Path = field(default_factory=default_state_dir)
    collectors: list[str] = field(default_factory=lambda: list(DEFAULT_COLLECTORS))
    #: minutes between inventory checks; it is sent when it changed, and at least once a day
    inventory_check_minutes: Annotated[int, Range(1, 1440, "minutes")] = 60
    #: zlib-compress reports (the server accepts both)
    compress: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def validate(self) -> None:
        from .collectors import REGISTRY

        if not ID_RE.match(self.campus):
            raise ConfigError(f"agent.campus: {self.campus!r} does not match {ID_PATTERN}")
        if self.device and not ID_RE.match(self.device):
            raise ConfigError(f"agent.device: {self.device!r} does not match {ID_PATTERN}")
        if self.state_dir.exists() and not self.state_dir.is_dir():
            raise ConfigError(f"agent.state_dir: {self.state_dir} is a file, not a directory")
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
