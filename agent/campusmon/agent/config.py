"""Agent configuration (TOML, strict; see agent/sample-agent.toml)."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from campusmon.config import SECONDS_IN_DAY, ConfigError, Range, did_you_mean, load
from campusmon.ids import ID_PATTERN, ID_RE
from campusmon.mqtt.settings import MqttSettings


def default_state_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "campusmon"
    return Path("/var/lib/campusmon-agent") if os.geteuid() == 0 else Path.home() / ".campusmon-agent"


def slug(text: str) -> str:
    """Hostname -> a contract-valid id (`PC-302-01.school.local` -> `pc-302-01`)."""
    s = re.sub(r"[^a-z0-9_-]+", "-", text.split(".", maxsplit=1)[0].lower()).strip("-_")
    return (s or "device")[:64]


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
    """`[agent]`: who this device is, what it collects and how often."""

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
    """The agent's whole configuration file."""

    agent: AgentSettings = field(default_factory=AgentSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    buffer: BufferSettings = field(default_factory=BufferSettings)

    @property
    def buffer_path(self) -> Path:
        return self.buffer.path or self.agent.state_dir / "buffer.sqlite3"


def load_agent_config(path: Path | None) -> AgentConfig:
    return load(AgentConfig, path)
