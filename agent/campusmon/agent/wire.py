"""The agent's side of the MQTT contract (docs/protocol.md), built with json and zlib only.

The agent process never imports msgspec (it costs ~3 MiB of RSS on a 20 MiB budget); the payloads
below are checked against `campusmon.contract` by the unit tests, so there is still one schema.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from typing import Any, Final, Literal

PROTOCOL_VERSION: Final = 1
DEFAULT_ROOT: Final = "campusmon"
#: \Z, not $: "$" also matches before a trailing newline ("pc-1\n")
ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}\Z"
ID_RE: Final = re.compile(ID_PATTERN)

#: the contract's bounds the agent must stay inside (tests/unit/agent/test_wire.py: equal to contract's)
MAX_NUMBER: Final = 2**53
MAX_LABEL: Final = 200
MAX_REASON: Final = 200
MAX_UNAVAILABLE: Final = 1000

Kind = Literal["status", "metrics", "inventory", "events"]
Scalar = float | int | str | bool | None
Group = dict[str, Scalar] | list[dict[str, Scalar]]


def topic(root: str, campus: str, device: str, kind: Kind) -> str:
    for name, value in (("campus", campus), ("device", device)):
        if not ID_RE.match(value):
            raise ValueError(f"{name} {value!r} does not match {ID_PATTERN}")
    return f"{root}/{campus}/{device}/{kind}"


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
