"""Agent configuration (TOML, strict; see agent/sample-agent.toml)."""

from __future__ import annotations

import os
import re
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from campusmon.config import ConfigError, load
from campusmon.contract import DEFAULT_ROOT, ID_PATTERN, ID_RE


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
    keepalive: int = 30

    def validate(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"mqtt.port: {self.port} is not a TCP port")
        if not 5 <= self.keepalive <= 3600:
            raise ConfigError("mqtt.keepalive: must be 5..3600 seconds")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("mqtt.tls_cert and mqtt.tls_key go together")
        if self.tls_cert is not None and self.tls_ca is None:
            raise ConfigError("mqtt.tls_cert needs mqtt.tls_ca")


@dataclass
class AgentSettings:
    campus: str = "main"
    #: empty: derived from the hostname
    device: str = ""
    interval: int = 30
    state_dir: Path = field(default_factory=default_state_dir)
    collectors: list[str] = field(default_factory=lambda: ["cpu", "memory", "disk", "network", "uptime"])
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
        for name in self.collectors:
            if name not in REGISTRY:
                from campusmon.config import did_you_mean

                raise ConfigError(
                    f"agent.collectors: unknown collector {name!r}{did_you_mean(name, REGISTRY)}"
                )

    @property
    def device_id(self) -> str:
        return self.device or slug(socket.gethostname())


@dataclass
class AgentConfig:
    agent: AgentSettings = field(default_factory=AgentSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)


def load_agent_config(path: Path | None) -> AgentConfig:
    return load(AgentConfig, path)
