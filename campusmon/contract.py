"""The MQTT contract shared by agent, probe runner and server (docs/protocol.md).

Only the standard library and msgspec are used here so the agent stays light.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import msgspec

PROTOCOL_VERSION: Final = 1
DEFAULT_ROOT: Final = "campusmon"
ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}$"
ID_RE: Final = re.compile(ID_PATTERN)
KINDS: Final = ("status", "metrics", "inventory", "events")
STATES: Final = ("online", "shutdown", "lost")
#: Default cap on one message, compressed or not (an inventory with many USB devices stays far below).
DEFAULT_MAX_PAYLOAD_BYTES: Final = 256 * 1024

Kind = Literal["status", "metrics", "inventory", "events"]
State = Literal["online", "shutdown", "lost"]
Severity = Literal["info", "warning", "critical"]

Ident = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
Timestamp = Annotated[float, msgspec.Meta(gt=0)]
Scalar = float | int | str | bool | None
#: A metric group is one flat object (a single instance: cpu, memory) or a list of objects (one per
#: disk, NIC, ...): string values are labels, numeric values are metrics with units in their names.
Group = dict[str, Scalar] | list[dict[str, Scalar]]


class ContractError(ValueError):
    """A message that breaks the contract; `reason` is a short, countable category."""

    REASONS: Final = (
        "bad_topic",
        "oversized",
        "bad_encoding",
        "bad_json",
        "bad_schema",
        "unknown_version",
        "device_mismatch",
    )

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _Payload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    v: Literal[1] = 1
    campus: Ident
    device: Ident
    ts: Timestamp


class Status(_Payload, kw_only=True):
    """Retained device status; `lost` is the MQTT will, so its `ts` is when the agent connected.

    `connected` (optional) is when the publisher's MQTT connection was made: the will and the `online`
    of one connection carry the same value, so the server can order them by the device's own clock."""

    state: State
    reason: str | None = None
    interval: Annotated[int, msgspec.Meta(gt=0, le=86400)] | None = None
    agent: str | None = None
    connected: Timestamp | None = None


class Metrics(_Payload, kw_only=True):
    """One health report. `seq` is per device, monotonic, and survives restarts."""

    seq: Annotated[int, msgspec.Meta(ge=0)]
    interval: Annotated[int, msgspec.Meta(gt=0, le=86400)]
    metrics: dict[str, Group]
    #: collector name -> why it produced nothing this time (permission, missing sensor, ...)
    unavailable: dict[str, str] = {}


class Inventory(_Payload, kw_only=True):
    """Hardware/software inventory; `hash` covers `inventory` so unchanged content is not resent."""

    hash: str
    identity: dict[str, str] = {}
    inventory: dict[str, Any]


class Event(_Payload, kw_only=True):
    """A discrete happening: a peripheral unplugged, a buffer overflow, a SMART warning."""

    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    severity: Severity = "info"
    message: str = ""
    data: dict[str, Any] = {}


Payload = Status | Metrics | Inventory | Event
_TYPES: Final[dict[str, type[Payload]]] = {
    "status": Status,
    "metrics": Metrics,
    "inventory": Inventory,
    "events": Event,
}
_DECODERS: Final = {kind: msgspec.json.Decoder(cls) for kind, cls in _TYPES.items()}


class _Versioned(msgspec.Struct):
    v: Any = None


_VERSION_DECODER: Final = msgspec.json.Decoder(_Versioned)
_ENCODER: Final = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Topic:
    root: str
    campus: str
    device: str
    kind: Kind

    def __str__(self) -> str:
        return f"{self.root}/{self.campus}/{self.device}/{self.kind}"


def topic(campus: str, device: str, kind: Kind, root: str = DEFAULT_ROOT) -> str:
    """Build a topic, refusing ids the contract does not allow."""
    for name, value in (("campus", campus), ("device", device)):
        if not ID_RE.match(value):
            raise ContractError("bad_topic", f"{name} {value!r} does not match {ID_PATTERN}")
    return f"{root}/{campus}/{device}/{kind}"


def subscription(root: str = DEFAULT_ROOT) -> str:
    return f"{root}/+/+/+"


def parse_topic(name: str, root: str = DEFAULT_ROOT) -> Topic:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != root:
        raise ContractError("bad_topic", f"{name!r} is not {root}/<campus>/<device>/<kind>")
    _, campus, device, kind = parts
    if kind not in KINDS:
        raise ContractError("bad_topic", f"unknown kind {kind!r} in {name!r}")
    if not ID_RE.match(campus) or not ID_RE.match(device):
        raise ContractError("bad_topic", f"campus/device in {name!r} do not match {ID_PATTERN}")
    return Topic(root, campus, device, kind)  # type: ignore[arg-type]


def encode(payload: Payload, *, compress: bool = False) -> bytes:
    """JSON, optionally zlib-compressed (the server accepts both)."""
    raw = _ENCODER.encode(payload)
    return zlib.compress(raw, 6) if compress else raw


def _inflate(raw: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(raw, max_bytes + 1)
    except zlib.error as exc:
        raise ContractError("bad_encoding", f"zlib: {exc}") from exc
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise ContractError("oversized", f"inflates to more than {max_bytes} bytes")
    return out


def decode(topic_: Topic, raw: bytes, *, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Payload:
    """Validate one message at the edge; every failure is a ContractError with a reason."""
    if len(raw) > max_bytes:
        raise ContractError("oversized", f"{len(raw)} bytes > {max_bytes}")
    if raw[:1] == b"\x78":
        raw = _inflate(raw, max_bytes)
    try:
        version = _VERSION_DECODER.decode(raw).v
    except msgspec.ValidationError as exc:
        raise ContractError("bad_schema", f"not a JSON object: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ContractError("bad_json", str(exc)) from exc
    if version is None:
        raise ContractError("bad_schema", "Object missing required field `v`")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise ContractError("unknown_version", f"v={version!r}, this server speaks v{PROTOCOL_VERSION}")
    try:
        payload = _DECODERS[topic_.kind].decode(raw)
    except msgspec.DecodeError as exc:  # ValidationError included: the JSON itself already parsed
        raise ContractError("bad_schema", str(exc)) from exc
    if payload.device != topic_.device or payload.campus != topic_.campus:
        raise ContractError(
            "device_mismatch",
            f"payload says {payload.campus}/{payload.device}, topic says {topic_.campus}/{topic_.device}",
        )
    return payload


def flatten(group_name: str, group: Group) -> list[tuple[str, str, float]]:
    """Metric group -> (metric name, labels as sorted 'k=v,...', value) rows for storage."""
    rows: list[tuple[str, str, float]] = []
    instances = [group] if isinstance(group, dict) else group
    for inst in instances:
        labels = ",".join(f"{k}={v}" for k, v in sorted(inst.items()) if isinstance(v, str))
        for key, value in inst.items():
            if isinstance(value, bool):
                rows.append((key, labels, 1.0 if value else 0.0))
            elif isinstance(value, int | float):
                rows.append((key, labels, float(value)))
    return rows
