"""Real local receivers for notification tests: an HTTP server that speaks like the WeCom and DingTalk
robots (and checks their formats and DingTalk's signature), and a STARTTLS SMTP server (aiosmtpd)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Received:
    path: str
    query: dict[str, str]
    body: Any
    at: float


@dataclass
class RobotReceiver:
    """`kind`: webhook (any JSON), wecom or dingtalk (format checked; errcode answers like the real ones)."""

    kind: str = "webhook"
    secret: str = ""
    received: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    #: answer HTTP 500 to this many requests (a channel that is down)
    fail_next: int = 0
    #: requests wait for this event before being answered (a hung channel)
    gate: threading.Event | None = None
    cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.gate is not None:
                    receiver.gate.wait(30)
                status, reply = receiver.answer(self.path, self.headers.get("Content-Type", ""), raw)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        path = {"wecom": "/cgi-bin/webhook/send?key=k-1", "dingtalk": "/robot/send?access_token=t-1"}
        return f"http://127.0.0.1:{self.server.server_address[1]}{path.get(self.kind, '/hook')}"

    def answer(self, path: str, content_type: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        if self.fail_next > 0:
            self.fail_next -= 1
            return 500, {"error": "down"}
        split = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(split.query))
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            return self._reject("body is not UTF-8 JSON")
        if not content_type.startswith("application/json"):
            return self._reject(f"content type {content_type!r}")
        if self.kind == "wecom":
            if split.path != "/cgi-bin/webhook/send" or "key" not in query:
                return self._reject("wecom: wrong path or no key")
            if body.get("msgtype") != "markdown" or not isinstance(
                body.get("markdown", {}).get("content"), str
            ):
                return self._reject("wecom: not a markdown message")
            if len(body["markdown"]["content"].encode()) > 4096:
                return self._reject("wecom: content over 4096 bytes")
        if self.kind == "dingtalk":
            if "access_token" not in query:
                return self._reject("dingtalk: no access_token")
            ts, sign = query.get("timestamp", ""), query.get("sign", "")
            expected = base64.b64encode(
                hmac.new(self.secret.encode(), f"{ts}\n{self.secret}".encode(), hashlib.sha256).digest()
            ).decode()
            if not ts.isdigit() or sign != expected:
                return self._reject("dingtalk: sign not match", errcode=310000)
            if abs(time.time() * 1000 - int(ts)) > 3600_000:
                return self._reject("dingtalk: timestamp too old", errcode=310000)
            md = body.get("markdown", {})
            if body.get("msgtype") != "markdown" or not md.get("title") or not md.get("text"):
                return self._reject("dingtalk: not a markdown message")
        with self.cond:
            self.received.append(Received(split.path, query, body, time.time()))
            self.cond.notify_all()
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _reject(self, why: str, errcode: int = 40035) -> tuple[int, dict[str, Any]]:
        self.rejected.append(why)
        return 200, {"errcode": errcode, "errmsg": why}

    def wait_for(self, pred: Callable[[list[Received]], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed_cert(workdir: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (openssl CLI), so the client can verify the server for real."""
    cert, key = workdir / "smtp.crt", workdir / "smtp.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1 that requires STARTTLS; records (envelope, tls) of each message."""

    def __init__(self, workdir: Path) -> None:
        from aiosmtpd.controller import Controller

        from tests.support.mosquitto import free_port

        self.cert, key = self_signed_cert(workdir)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, key)
        self.messages: list[tuple[Any, bool]] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                with receiver.cond:
                    receiver.messages.append((envelope, session.ssl is not None))
                    receiver.cond.notify_all()
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(
            Handler(), hostname="127.0.0.1", port=self.port, tls_context=ctx, require_starttls=True
        )
        self.controller.start()

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def close(self) -> None:
        self.controller.stop()
