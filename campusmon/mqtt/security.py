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
        client.tls_set_context(tls_context(settings.tls_ca, settings.tls_cert, settings.tls_key))


def ascii_server_name(name: Any) -> Any:
    """An ASCII host name as bytes, which `ssl` takes as it is; anything else unchanged.

    `SSLContext.wrap_socket` encodes a str server name with the idna codec, whose first use imports
    encodings.idna, stringprep and unicodedata for good (~0.3 MiB resident). For an ASCII name that
    codec returns the ASCII bytes after checking the label lengths; the same check is made here, and
    a name that fails it is left to the codec (which raises, as before).
    """
    if not isinstance(name, str) or not name.isascii():
        return name
    labels = name.split(".")
    if labels[-1] == "":  # a trailing dot
        labels.pop()
    if labels and all(0 < len(label) < 64 for label in labels):
        return name.encode("ascii")
    return name


def tls_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> Any:
    """The client TLS context: the broker's certificate and host name verified against `ca` only.

    What paho's `tls_set(ca_certs=ca, certfile=cert, keyfile=key, cert_reqs=CERT_REQUIRED)` builds —
    `ssl.SSLContext(PROTOCOL_TLS_CLIENT)` (TLS 1.2+, CERT_REQUIRED, check_hostname), the client
    certificate when given, `load_verify_locations(ca)`; the system CA store is never loaded — with
    server names passed without the idna codec (see ascii_server_name).
    """
    import ssl

    class ClientContext(ssl.SSLContext):
        def wrap_socket(
            self,
            sock: Any,
            server_side: bool = False,
            do_handshake_on_connect: bool = True,
            suppress_ragged_eofs: bool = True,
            server_hostname: Any = None,
            session: Any = None,
        ) -> Any:
            return super().wrap_socket(
                sock,
                server_side=server_side,
                do_handshake_on_connect=do_handshake_on_connect,
                suppress_ragged_eofs=suppress_ragged_eofs,
                server_hostname=ascii_server_name(server_hostname),
                session=session,
            )

    context = ClientContext(ssl.PROTOCOL_TLS_CLIENT)
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    context.load_verify_locations(str(ca))
    return context
