"""Credentials and TLS for a paho MQTT client, the same for agent, probe runner and server.

No import of paho or ssl at module level: the agent loads OpenSSL only when TLS is configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class MqttCredentials(Protocol):
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
    if settings.tls_ca is not None:
        import ssl

        client.tls_set(
            ca_certs=str(settings.tls_ca),
            certfile=str(settings.tls_cert) if settings.tls_cert else None,
            keyfile=str(settings.tls_key) if settings.tls_key else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
