"""How a client reaches the broker: one model, one set of checks, for the agent, the probe runner and
the server (whose `[broker]` adds what only it has: the managed Mosquitto, its session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from campusmon.config import TCP_PORT, ConfigError, Range
from campusmon.protocol import DEFAULT_ROOT

from .security import plaintext_password_error


@dataclass
class MqttConnection:
    """Broker address, topic root, login and TLS (the `[mqtt]` / `[broker]` keys every role shares)."""

    host: str = "127.0.0.1"
    port: Annotated[int, TCP_PORT] = 1883
    root: str = DEFAULT_ROOT
    username: str | None = None
    password: str | None = None
    #: CA bundle for TLS; setting it turns TLS on
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    keepalive: Annotated[int, Range(5, 3600, "seconds")] = 30
    #: a password without TLS is refused unless the broker is on this machine (loopback) or this is true
    allow_plaintext_password: bool = False

    def check_connection(self, section: str) -> None:
        """Refuse what cannot work or would leak the password; `section` names the table in messages."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError(f"{section}.tls_cert and {section}.tls_key go together")
        if self.tls_cert is not None and self.tls_ca is None:
            raise ConfigError(f"{section}.tls_cert needs {section}.tls_ca")
        if self.password is not None and not self.username:
            raise ConfigError(f"{section}.password needs {section}.username")
        problem = plaintext_password_error(
            section, self.host, self.port, self.password, self.tls_ca, self.allow_plaintext_password
        )
        if problem:
            raise ConfigError(problem)
        if not self.root or "/" in self.root or "+" in self.root or "#" in self.root:
            raise ConfigError(f"{section}.root: {self.root!r} must be one topic level without wildcards")


@dataclass
class MqttSettings(MqttConnection):
    """`[mqtt]` of the agent and the probe runner: the connection, and how reconnects wait."""

    #: the broker declares a silent device `lost` ~1.5x this (plus up to 5 s) after its last packet;
    #: 5 s: a hung or unplugged device is noticed within 15 s, for a ping every 5 s when idle
    keepalive: Annotated[int, Range(5, 3600, "seconds")] = 5
    #: reconnect waits grow from min to max (doubling, with random jitter); after a healthy connection
    #: the first retries wait at most reconnect_fast_seconds, or max if lower (campusmon/mqtt/client.py)
    reconnect_min_seconds: Annotated[float, Range(0.1, 3600, "seconds")] = 1.0
    reconnect_fast_seconds: Annotated[float, Range(0.1, 3600, "seconds")] = 5.0
    reconnect_max_seconds: Annotated[float, Range(0.1, 3600, "seconds")] = 30.0

    def validate(self) -> None:
        if not 0.1 <= self.reconnect_min_seconds <= self.reconnect_max_seconds <= 3600:
            raise ConfigError(
                "mqtt.reconnect_min_seconds/reconnect_max_seconds: need 0.1 <= min <= max <= 3600"
            )
        # a fast cap above max is max (a test or a tiny site may set max = 2)
        if not self.reconnect_min_seconds <= self.reconnect_fast_seconds <= 3600:
            raise ConfigError("mqtt.reconnect_fast_seconds: need reconnect_min_seconds <= fast <= 3600")
        self.check_connection("mqtt")
