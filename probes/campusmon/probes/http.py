"""HTTP(S): status, latency, body text, redirects and TLS certificate days to expiry (stdlib only)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urljoin, urlsplit

from campusmon import __version__

from .config import HttpOptions, TargetSettings
from .result import Code, ProbeResult

REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
MAX_HEADER_BYTES: Final = 64 * 1024
USER_AGENT: Final = f"campusmon-probe/{__version__}"


class HttpFailure(Exception):
    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code: Code = code


# -- certificate expiry from DER (works whether or not the chain was verified) ----------------------
def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at `pos`."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    return tag, pos, pos + length


def cert_not_after(der: bytes) -> datetime:
    """notAfter of an X.509 certificate (Certificate → tbsCertificate → validity)."""
    _, cert, _ = _tlv(der, 0)
    _, tbs, _ = _tlv(der, cert)
    pos = tbs
    tag, start, end = _tlv(der, pos)
    if tag == 0xA0:  # explicit version
        pos = end
    for _ in range(3):  # serialNumber, signature, issuer
        _, _, pos = _tlv(der, pos)
    _, validity, _ = _tlv(der, pos)
    _, _, after_pos = _tlv(der, validity)  # skip notBefore
    tag, start, end = _tlv(der, after_pos)
    raw = der[start:end].decode("ascii")
    fmt = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"
    return datetime.strptime(raw, fmt).replace(tzinfo=UTC)


@dataclass
class HttpResponse:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    redirects: int = 0
    cert_not_after: datetime | None = None
    history: list[str] = field(default_factory=list)


def _tls_context(opts: HttpOptions) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(opts.ca_file) if opts.ca_file else None)
    if not opts.verify_tls:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str], limit: int) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while len(body) <= limit:
            size_line = await reader.readline()
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                break
            body += await reader.readexactly(size)
            await reader.readline()
        return bytes(body[:limit])
    if "content-length" in headers:
        n = int(headers["content-length"])
        return await reader.readexactly(min(n, limit))
    return await reader.read(limit)


async def request_once(url: str, opts: HttpOptions) -> HttpResponse:
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    ctx = _tls_context(opts) if https else None
    try:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=ctx, server_hostname=host if https else None
        )
    except ssl.SSLCertVerificationError as exc:
        raise HttpFailure("tls_error", f"{host}: certificate not trusted: {exc.verify_message}") from exc
    except ssl.SSLError as exc:
        raise HttpFailure("tls_error", f"{host}: TLS handshake failed: {exc}") from exc
    except ConnectionRefusedError as exc:
        raise HttpFailure("refused", f"{host}:{port} refused the connection") from exc
    except OSError as exc:
        raise HttpFailure("unreachable", f"{host}:{port}: {exc}") from exc
    try:
        not_after = None
        if https:
            sslobj = writer.get_extra_info("ssl_object")
            der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
            if der:
                try:
                    not_after = cert_not_after(der)
                except (IndexError, ValueError, UnicodeDecodeError):
                    not_after = None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        hostport = host if parts.port is None else f"{host}:{parts.port}"
        writer.write(
            f"{opts.method} {target} HTTP/1.1\r\nHost: {hostport}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n".encode("latin-1")
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEADER_BYTES:
            raise HttpFailure("protocol_error", f"{url}: response headers too large")
        lines = head.decode("latin-1").split("\r\n")
        status_parts = lines[0].split(" ", 2)
        if len(status_parts) < 2 or not status_parts[0].startswith("HTTP/"):
            raise HttpFailure("protocol_error", f"{url}: not an HTTP response: {lines[0][:80]!r}")
        status = int(status_parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = b""
        if opts.method != "HEAD" and status not in (204, 304) and status >= 200:
            body = await _read_body(reader, headers, opts.max_body_bytes)
        return HttpResponse(url, status, headers, body, cert_not_after=not_after)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        raise HttpFailure("protocol_error", f"{url}: malformed response: {exc}") from exc
    except ssl.SSLError as exc:
        raise HttpFailure("tls_error", f"{url}: {exc}") from exc
    except OSError as exc:
        raise HttpFailure("unreachable", f"{url}: {exc}") from exc
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def fetch(opts: HttpOptions) -> HttpResponse:
    """GET/HEAD `opts.url`, following redirects up to `max_redirects`."""
    url = opts.url
    history: list[str] = []
    first_cert: datetime | None = None
    for _ in range(opts.max_redirects + 1):
        resp = await request_once(url, opts)
        if first_cert is None and resp.cert_not_after is not None:
            first_cert = resp.cert_not_after
        location = resp.headers.get("location")
        if not (opts.follow_redirects and resp.status in REDIRECTS and location):
            resp.history, resp.redirects = history, len(history)
            # the certificate that matters is the one of the site asked for
            resp.cert_not_after = first_cert
            return resp
        history.append(url)
        url = urljoin(url, location)
        if urlsplit(url).scheme not in ("http", "https"):
            raise HttpFailure("protocol_error", f"redirect to unsupported URL {url!r}")
    raise HttpFailure("bad_status", f"more than {opts.max_redirects} redirects from {opts.url}")


def accepted(status: int, expect: list[int]) -> bool:
    return status in expect if expect else 200 <= status < 400


class HttpProbe:
    kind = "http"

    def __init__(
        self,
        target: TargetSettings,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.target = target
        self.clock = clock
        self.wall = wall

    async def check(self) -> ProbeResult:
        opts = self.target.http
        started = self.clock()
        try:
            resp = await asyncio.wait_for(fetch(opts), timeout=self.target.timeout)
        except TimeoutError:
            elapsed = self.clock() - started
            return ProbeResult("http", "timeout", f"no complete answer from {opts.url}", elapsed)
        except HttpFailure as exc:
            r = ProbeResult("http", exc.code, str(exc), self.clock() - started)
            return r
        elapsed = self.clock() - started
        group: dict[str, str | float | int | bool | None] = {
            "http_status_code": resp.status,
            "http_response_seconds": round(elapsed, 6),
            "http_redirects": resp.redirects,
            "http_body_bytes": len(resp.body),
        }
        code: Code = "ok"
        msg = f"HTTP {resp.status} from {resp.url} in {elapsed * 1000:.0f} ms"
        if opts.contains:
            found = opts.contains.encode("utf-8") in resp.body
            group["http_content_match"] = int(found)
            if not found and accepted(resp.status, opts.expect_status):
                code, msg = "content_mismatch", f"{resp.url}: body does not contain {opts.contains!r}"
        if resp.cert_not_after is not None:
            days = (resp.cert_not_after - self.wall()).total_seconds() / 86400
            group["tls_cert_expires_in_days"] = round(days, 2)
            if days < opts.cert_warning_days and code == "ok":
                when = f"{resp.cert_not_after:%Y-%m-%d}"
                code, msg = "cert_expiring", f"certificate expires in {days:.1f} days ({when})"
        if not accepted(resp.status, opts.expect_status):
            code, msg = "bad_status", f"{resp.url} answered HTTP {resp.status}"
        result = ProbeResult("http", code, msg, elapsed)
        result.groups = {"probe": {**result.probe_group(), **group}}
        return result
