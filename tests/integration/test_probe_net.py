"""ICMP to 127.0.0.1, TCP and HTTP(S) against servers the tests start on free ports."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from campusmon.cli import app
from campusmon.config import build
from campusmon.probes.config import TargetSettings
from campusmon.probes.http import HttpProbe
from campusmon.probes.icmp import IcmpProbe
from campusmon.probes.result import ProbeResult
from campusmon.probes.tcp import TcpProbe
from tests.support.mosquitto import free_port


def probe_of(result: ProbeResult) -> dict[str, Any]:
    group = result.groups["probe"]
    assert isinstance(group, dict)
    return group


def target(kind: str, **data: Any) -> TargetSettings:
    return build(TargetSettings, {"id": "t1", "kind": kind, "timeout": 5, **data})


# -- ICMP ------------------------------------------------------------------------------------------
def test_ping_localhost() -> None:
    r = asyncio.run(IcmpProbe(target("icmp", host="127.0.0.1", icmp={"count": 3, "spacing": 0.05})).check())
    if r.code == "permission_denied":  # neither ping_group_range nor root: the message says how to fix it
        assert "ping_group_range" in r.message or "CAP_NET_RAW" in r.message
        pytest.skip(r.message)
    assert r.code == "ok", r.message
    probe = probe_of(r)
    assert probe["icmp_loss_percent"] == 0 and probe["icmp_received"] == 3
    assert (
        0
        < probe["icmp_rtt_min_seconds"]
        <= probe["icmp_rtt_avg_seconds"]
        <= probe["icmp_rtt_max_seconds"]
        < 1
    )


def test_concurrent_pings_do_not_count_each_others_replies() -> None:
    async def both() -> list[ProbeResult]:
        probes = [
            IcmpProbe(target("icmp", host=h, icmp={"count": 4, "spacing": 0.02}))
            for h in ("127.0.0.1", "127.0.0.2")
        ]
        return list(await asyncio.gather(*(p.check() for p in probes)))

    results = asyncio.run(both())
    if any(r.code == "permission_denied" for r in results):
        pytest.skip(results[0].message)
    assert [probe_of(r)["icmp_received"] for r in results] == [4, 4]


def _dgram_allowed() -> bool:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    except (OSError, ValueError):
        return False
    return any(low <= g <= high for g in os.getgroups() + [os.getgid()])


def test_unprivileged_icmp_works_or_says_why() -> None:
    r = asyncio.run(IcmpProbe(target("icmp", host="127.0.0.1", icmp={"count": 1, "socket": "dgram"})).check())
    if _dgram_allowed():
        assert r.code == "ok", r.message
    else:
        assert r.code == "permission_denied" and "net.ipv4.ping_group_range" in r.message
        assert r.reachable is None  # a local problem says nothing about the target


def test_ping_unresolvable_name_is_unreachable() -> None:
    r = asyncio.run(IcmpProbe(target("icmp", host="no-such-host.invalid", icmp={"count": 1})).check())
    assert r.code == "unreachable"


# -- TCP -------------------------------------------------------------------------------------------
def test_tcp_open_and_closed_port() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        r = asyncio.run(TcpProbe(target("tcp", host="127.0.0.1", tcp={"port": port})).check())
        assert r.code == "ok" and 0 < probe_of(r)["tcp_connect_seconds"] < 1
    r = asyncio.run(TcpProbe(target("tcp", host="127.0.0.1", tcp={"port": port})).check())
    assert r.code == "refused" and r.reachable is True and probe_of(r)["probe_failing"] == 1


# -- HTTP(S) ---------------------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {
            "/": (200, {}, b"<html>Welcome to No. 1 Middle School</html>"),
            "/broken": (500, {}, b"oops"),
            "/moved": (302, {"Location": "/"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
        }
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"<html>resource ", b"library</html>"):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        status, headers, body = routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(server: ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    yield from _serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))


def write_self_signed(cert_path: Path, key_path: Path, days: int) -> None:
    """A certificate for 127.0.0.1/localhost that expires in `days` days."""
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    d = tmp_path_factory.mktemp("tls")
    write_self_signed(d / "cert.pem", d / "key.pem", days=10)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "cert.pem", d / "key.pem")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    for port in _serve(server):
        yield port, d / "cert.pem"


def http(url: str, **opts: Any):
    return asyncio.run(HttpProbe(target("http", http={"url": url, **opts})).check())


def test_http_status_latency_and_body(http_port) -> None:
    base = f"http://127.0.0.1:{http_port}"
    ok = http(base + "/", contains="Middle School")
    assert ok.code == "ok" and probe_of(ok)["http_status_code"] == 200
    assert probe_of(ok)["http_content_match"] == 1 and probe_of(ok)["probe_failing"] == 0
    assert http(base + "/", contains="Primary School").code == "content_mismatch"
    broken = http(base + "/broken")
    assert broken.code == "bad_status" and broken.reachable is True
    assert http(base + "/chunked", contains="resource library").code == "ok"
    assert http(base + "/nothing", expect_status=[404]).code == "ok"


def test_http_redirects(http_port) -> None:
    base = f"http://127.0.0.1:{http_port}"
    followed = http(base + "/moved", contains="Welcome")
    assert followed.code == "ok" and probe_of(followed)["http_redirects"] == 1
    not_followed = http(base + "/moved", follow_redirects=False, expect_status=[200])
    assert not_followed.code == "bad_status" and "302" in not_followed.message
    assert http(base + "/loop", max_redirects=3).code == "bad_status"


def test_http_refused_is_reachable_but_failing() -> None:
    r = http(f"http://127.0.0.1:{free_port()}/")
    assert r.code == "refused" and r.reachable is True


def test_https_certificate_days_to_expiry(tls) -> None:
    port, ca = tls
    url = f"https://127.0.0.1:{port}/"
    trusted = http(url, ca_file=str(ca), cert_warning_days=5)
    assert trusted.code == "ok", trusted.message
    days = probe_of(trusted)["tls_cert_expires_in_days"]
    assert 9 < days <= 10
    assert http(url, ca_file=str(ca)).code == "cert_expiring"  # 10 days left, warning at 14
    untrusted = http(url)
    assert untrusted.code == "tls_error" and "not trusted" in untrusted.message
    insecure = http(url, verify_tls=False, cert_warning_days=1)
    assert insecure.code == "ok" and 9 < probe_of(insecure)["tls_cert_expires_in_days"] <= 10


def test_cli_one_off_checks(http_port) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["probe", "http", f"http://127.0.0.1:{http_port}/", "--contains", "Welcome"])
    assert res.exit_code == 0, res.output
    assert "http: ok" in res.output and "http_status_code: 200" in res.output
    res = runner.invoke(app, ["probe", "http", f"http://127.0.0.1:{http_port}/broken", "--json"])
    assert res.exit_code == 1 and '"code": "bad_status"' in res.output
    res = runner.invoke(app, ["probe", "tcp", "127.0.0.1", str(http_port)])
    assert res.exit_code == 0 and "tcp_connect_seconds" in res.output
