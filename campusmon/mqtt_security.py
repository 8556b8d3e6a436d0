"""Credentials and TLS for a paho MQTT client, the same for agent, probe runner and server.

No import of paho, ssl or ipaddress at module level: the agent loads them only when they are needed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

_log = logging.getLogger(__name__)

LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True when `host` names this machine (127.0.0.0/8, ::1, localhost): nothing leaves the box."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    import ipaddress  # only for a password without TLS: the agent does not load it otherwise

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plaintext_password_error(
    section: str, host: str, port: int, password: str | None, tls_ca: Path | None, allowed: bool
) -> str | None:
    """Why a password would travel in clear text (None when it would not, or it is allowed)."""
    if not password or tls_ca is not None or allowed or is_loopback(host):
        return None
    return (
        f"{section}.password would be sent in clear text to {host}:{port} (no {section}.tls_ca): anyone on "
        f"the network could read it and publish as this client. Set {section}.tls_ca to the broker's CA "
        f"certificate (TLS, usually port 8883), or, only on a network you trust, "
        f"{section}.allow_plaintext_password = true"
    )


class MqttCredentials(Protocol):
    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def username(self) -> str | None: ...

    @property
    def password(self) -> str | None: ...

    @property
    def tls_ca(self) -> Path | None: ...

    @property
    def tls_cert(self) -> Path | None: ...

    @property
    def tls_key(self) -> Path | None: ...


def secure(client: Any, settings: MqttCredentials) -> None:
    """Username/password when given; TLS (server certificate verified, optional client certificate)
    when a CA is set."""
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
        if settings.password and settings.tls_ca is None and not is_loopback(settings.host):
            # the config allowed it (allow_plaintext_password); say so at every start
            _log.warning(
                "the MQTT password of %r is sent in clear text to %s:%s (no TLS); set tls_ca to protect it",
                settings.username,
                settings.host,
                settings.port,
            )
    if settings.tls_ca is not None:
        import ssl

        client.tls_set(
            ca_certs=str(settings.tls_ca),
            certfile=str(settings.tls_cert) if settings.tls_cert else None,
            keyfile=str(settings.tls_key) if settings.tls_key else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
