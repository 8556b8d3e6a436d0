"""Channel senders: generic webhook (JSON), WeCom and DingTalk group robots, email over SMTP.

Small stdlib senders rather than a notification library: each is a few lines, the robots' formats
and DingTalk's signature are explicit, and every one can be pointed at a local receiver in tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from ..config import ChannelSettings
from .templates import Message


class DeliveryError(RuntimeError):
    """The channel did not take the message; the outbox retries it later."""


Sender = Callable[[ChannelSettings, Message], None]


def _post_json(url: str, body: dict[str, Any], timeout: float) -> bytes:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return bytes(resp.read(65536))
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} from {urllib.parse.urlsplit(url).netloc}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"cannot reach {urllib.parse.urlsplit(url).netloc}: {exc}") from None


def _robot_reply(raw: bytes) -> None:
    """WeCom and DingTalk answer 200 with {"errcode": 0} on success, another code on refusal."""
    try:
        reply = json.loads(raw or b"{}")
    except ValueError:
        raise DeliveryError(f"robot answered with non-JSON: {raw[:100]!r}") from None
    code = reply.get("errcode", 0) if isinstance(reply, dict) else 0
    if code != 0:
        raise DeliveryError(f"robot refused: errcode {code} {reply.get('errmsg', '')}")


def send_webhook(ch: ChannelSettings, msg: Message) -> None:
    _post_json(ch.url, msg.data, ch.timeout_seconds)


def send_wecom(ch: ChannelSettings, msg: Message) -> None:
    # WeCom markdown content is capped at 4096 bytes
    content = msg.markdown.encode("utf-8")[:4000].decode("utf-8", "ignore")
    _robot_reply(
        _post_json(ch.url, {"msgtype": "markdown", "markdown": {"content": content}}, ch.timeout_seconds)
    )


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: base64(HMAC-SHA256(secret, "timestamp\\nsecret")), URL-encoded."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


def dingtalk_url(url: str, secret: str, now: float | None = None) -> str:
    if not secret:
        return url
    ts = int((time.time() if now is None else now) * 1000)
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={ts}&sign={dingtalk_sign(secret, ts)}"


def send_dingtalk(ch: ChannelSettings, msg: Message) -> None:
    body = {"msgtype": "markdown", "markdown": {"title": msg.title[:100], "text": msg.markdown[:18000]}}
    _robot_reply(_post_json(dingtalk_url(ch.url, ch.secret), body, ch.timeout_seconds))


def send_email(ch: ChannelSettings, msg: Message) -> None:
    em = EmailMessage()
    em["Subject"] = msg.title
    em["From"] = ch.sender
    em["To"] = ", ".join(ch.recipients)
    em.set_content(msg.text)
    try:
        with smtplib.SMTP(ch.smtp_host, ch.smtp_port, timeout=ch.timeout_seconds) as smtp:
            smtp.ehlo()
            if ch.starttls:
                ctx = ssl.create_default_context(cafile=str(ch.tls_ca) if ch.tls_ca else None)
                smtp.starttls(context=ctx)
                smtp.ehlo()
            if ch.username:
                smtp.login(ch.username, ch.password)
            smtp.send_message(em)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP {ch.smtp_host}:{ch.smtp_port}: {exc}") from None


#: channel kind -> sender; a new channel is one function and one line here
SENDERS: dict[str, Sender] = {
    "webhook": send_webhook,
    "wecom": send_wecom,
    "dingtalk": send_dingtalk,
    "email": send_email,
}
