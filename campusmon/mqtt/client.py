"""The paho client's life cycle, the same for the agent, the probe runner and the server.

`new_client` makes an MQTT v5 client with credentials, TLS and the will set; `Backoff` says how long to
wait between connection attempts; `refusal_hint` turns a refused CONNECT into advice. paho is imported
here at module level: the agent imports this module only after agent/lean.py has loaded paho without
the parts it does not use.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .security import MqttCredentials, secure

_log = logging.getLogger(__name__)

#: CONNACK reason codes that mean "wrong user name or password" / "not authorised" (v3 and v5)
_LOGIN_REFUSED = frozenset({4, 5, 134, 135})


class AsciiHostClient(mqtt.Client):
    """paho's client; a broker name in ASCII is resolved without loading the idna codec.

    `socket.getaddrinfo` encodes a str host with the idna codec, whose first use imports
    encodings.idna, stringprep and unicodedata for good (~0.5 MiB resident). An ASCII name (every IP
    address, nearly every hostname) needs no IDNA processing and is handed over as bytes. Anything else
    (a proxy, a non-ASCII name, a paho without these internals) takes paho's own path.
    """

    def _create_socket_connection(self) -> socket.socket:
        try:
            host, port, timeout = self._host, self._port, self._connect_timeout
            source = (self._bind_address, self._bind_port)
            plain = isinstance(host, str) and host.isascii() and self._get_proxy() is None
        except AttributeError:
            plain = False
        if not plain:
            return super()._create_socket_connection()
        # getaddrinfo takes bytes hosts; the stubs of create_connection only say str
        addr = (host.encode("ascii"), port)
        return socket.create_connection(addr, timeout=timeout, source_address=source)  # type: ignore[arg-type]


def new_client(
    settings: MqttCredentials,
    client_id: str,
    *,
    will: tuple[str, bytes] | None = None,
    client_class: type[mqtt.Client] = AsciiHostClient,
    **options: Any,
) -> mqtt.Client:
    """An MQTT v5 client (paho's callback API 2) with login and TLS from `settings`, and `will` (a
    retained QoS 1 status) set; `options` go to the client class (manual_ack=True, ...)."""
    client = client_class(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, **options)
    secure(client, settings)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    return client


def refusal_hint(reason: Any, section: str = "mqtt") -> str:
    """Advice for a refused connection: a bad login names the keys and the command that fixes it."""
    if getattr(reason, "value", None) in _LOGIN_REFUSED:
        return (
            f" — check {section}.username and {section}.password (on the server: campusmon server"
            " credentials list / add-device --replace)"
        )
    return ""


def accepted(
    reason: Any, settings: MqttCredentials, who: str, *, section: str = "mqtt", detail: str = ""
) -> bool:
    """Log how a CONNECT ended (a refusal with advice, or where we are connected as whom); True when
    the broker accepted it. Every role's on_connect starts with it."""
    if reason.is_failure:
        _log.error("broker refused the connection of %s: %s%s", who, reason, refusal_hint(reason, section))
        return False
    _log.info("connected to broker %s:%s as %s%s", settings.host, settings.port, who, detail)
    return True


def jitter() -> float:
    """Uniform in [0, 1) from the OS (the random module and its seeding would cost ~150 KiB resident)."""
    return int.from_bytes(os.urandom(7), "big") / 2**56


class Backoff:
    """Waits between reconnect attempts: exponential with "equal jitter" (a wait in [d/2, d]).

    `d` doubles from `min_s` up to `max_s` while attempts keep failing. After a healthy connection (one
    that lasted `healthy_after` seconds) the first `fast_tries` retries are capped at `fast_s`: a broker
    restart is over in seconds, and a device that was fine should be back within `fast_s` of its return
    rather than up to `max_s` later. Only continued failure lets the cap grow again (from `fast_s`). A
    connection that drops before it was healthy (a flapping link, a refused login) does not reset the
    growth, so it cannot turn into a tight reconnect loop.
    """

    def __init__(
        self,
        min_s: float,
        max_s: float,
        rng: Callable[[], float] = jitter,
        *,
        fast_s: float | None = None,
        fast_tries: int = 12,
        healthy_after: float = 10.0,
    ) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self.fast_s = min(max_s, fast_s if fast_s is not None else max(min_s, 5.0))
        self.fast_tries = fast_tries
        self.healthy_after = healthy_after
        self._rng = rng
        self._attempt = 0
        self._fast = False
        self._connected_at: float | None = None

    def cap(self) -> float:
        """The longest wait of the next attempt (before jitter)."""
        n = min(self._attempt, 60)
        grow = float(2**n)
        if not self._fast:
            return min(self.max_s, self.min_s * grow)
        if n < self.fast_tries:
            return min(self.fast_s, self.min_s * grow)
        return min(self.max_s, self.fast_s * float(2 ** (n - self.fast_tries + 1)))

    def next(self) -> float:
        d = self.cap()
        self._attempt += 1
        return float(d / 2 + self._rng() * d / 2)

    def connected(self, now: float) -> None:
        self._connected_at = now

    def disconnected(self, now: float) -> None:
        """A connection ended; if it had been healthy, retries start again from the fast phase."""
        if self._connected_at is not None and now - self._connected_at >= self.healthy_after:
            self._attempt = 0
            self._fast = True
        self._connected_at = None
