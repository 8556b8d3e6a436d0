"""The agent's side of the MQTT contract (docs/protocol.md): payloads built with json and zlib only.

The agent process never imports msgspec (it costs ~3 MiB of RSS on a 20 MiB budget). The numbers and
id rules come from campusmon.protocol and campusmon.ids, which campusmon.contract (the msgspec schema
the server decodes with) re-exports, so there is one contract; the unit tests decode every payload
built here with it.
"""

from __future__ import annotations

import json
import math
import zlib
from typing import Any, Literal

from campusmon import protocol
from campusmon.ids import ID_PATTERN, ID_RE
from campusmon.protocol import (
    DEFAULT_ROOT,
    MAX_LABEL,
    MAX_NUMBER,
    MAX_REASON,
    MAX_UNAVAILABLE,
    PROTOCOL_VERSION,
    Kind,
)

__all__ = [
    "DEFAULT_ROOT",
    "ID_PATTERN",
    "ID_RE",
    "MAX_LABEL",
    "MAX_NUMBER",
    "MAX_REASON",
    "MAX_UNAVAILABLE",
    "PROTOCOL_VERSION",
    "Group",
    "Kind",
    "Scalar",
    "encode",
    "event",
    "finite",
    "in_range",
    "inventory",
    "metrics",
    "status",
    "topic",
]

Scalar = float | int | str | bool | None
Group = dict[str, Scalar] | list[dict[str, Scalar]]


def topic(root: str, campus: str, device: str, kind: Kind) -> str:
    """`<root>/<campus>/<device>/<kind>`; ValueError for an id the contract does not allow."""
    return protocol.topic(campus, device, kind, root)


def encode(payload: dict[str, Any], *, compress: bool = False) -> bytes:
    """Compact JSON (NaN/inf refused: they are not JSON), optionally zlib-compressed."""
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    return zlib.compress(raw, 6) if compress else raw


def finite(value: float) -> bool:
    return not (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))


def in_range(value: float) -> bool:
    """A number the server stores: finite and |value| <= 2^53."""
    return finite(value) and abs(value) <= MAX_NUMBER


def _base(campus: str, device: str, ts: float) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "campus": campus, "device": device, "ts": ts}


def status(
    campus: str,
    device: str,
    ts: float,
    state: str,
    *,
    reason: str | None,
    interval: int,
    agent: str,
    connected: float | None = None,
) -> dict[str, Any]:
    out = _base(campus, device, ts) | {
        "state": state,
        "reason": reason if reason is None else reason[:MAX_REASON],
        "interval": interval,
        "agent": agent,
    }
    if connected is not None:
        out["connected"] = connected
    return out


def metrics(
    campus: str,
    device: str,
    ts: float,
    *,
    seq: int,
    interval: int,
    groups: dict[str, Group],
    unavailable: dict[str, str],
) -> dict[str, Any]:
    out = _base(campus, device, ts) | {"seq": seq, "interval": interval, "metrics": groups}
    if unavailable:
        out["unavailable"] = {k: v[:MAX_UNAVAILABLE] for k, v in unavailable.items()}
    return out


def inventory(
    campus: str, device: str, ts: float, *, content_hash: str, identity: dict[str, str], data: dict[str, Any]
) -> dict[str, Any]:
    return _base(campus, device, ts) | {"hash": content_hash, "identity": identity, "inventory": data}


def event(
    campus: str,
    device: str,
    ts: float,
    *,
    kind: str,
    severity: Literal["info", "warning", "critical"],
    message: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    return _base(campus, device, ts) | {"kind": kind, "severity": severity, "message": message, "data": data}
