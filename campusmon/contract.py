"""The MQTT contract shared by agent, probe runner and server (docs/protocol.md): its msgspec schema.

The constants and id rules live in campusmon.protocol and campusmon.ids (standard library only),
which the agent uses without loading msgspec; they are re-exported here.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import msgspec

from campusmon.ids import ID_PATTERN, ID_RE
from campusmon.protocol import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_ROOT,
    HASH_PATTERN,
    IDENTITY_KEY_PATTERN,
    KINDS,
    MAX_AGENT,
    MAX_DEPTH,
    MAX_FIELDS,
    MAX_GROUPS,
    MAX_HASH,
    MAX_IDENTITY,
    MAX_IDENTITY_VALUE,
    MAX_INSTANCES,
    MAX_ITEMS,
    MAX_KEYS,
    MAX_LABEL,
    MAX_MESSAGE,
    MAX_NAME,
    MAX_NUMBER,
    MAX_REASON,
    MAX_SEQ,
    MAX_TEXT,
    MAX_TS,
    MAX_UNAVAILABLE,
    PROTOCOL_VERSION,
    STATES,
    Kind,
    Severity,
    State,
)
from campusmon.protocol import topic as _topic

#: re-exported from campusmon.protocol and campusmon.ids, where they are defined
__all__ = [
    "ID_PATTERN",
    "ID_RE",
    "PROTOCOL_VERSION",
    "DEFAULT_ROOT",
    "KINDS",
    "STATES",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "MAX_SEQ",
    "MAX_NUMBER",
    "MAX_TS",
    "MAX_DEPTH",
    "MAX_REASON",
    "MAX_AGENT",
    "MAX_LABEL",
    "MAX_NAME",
    "MAX_HASH",
    "MAX_TEXT",
    "MAX_MESSAGE",
    "MAX_UNAVAILABLE",
    "MAX_GROUPS",
    "MAX_INSTANCES",
    "MAX_FIELDS",
    "MAX_ITEMS",
    "MAX_KEYS",
    "MAX_IDENTITY",
    "MAX_IDENTITY_VALUE",
    "HASH_PATTERN",
    "IDENTITY_KEY_PATTERN",
    "Kind",
    "State",
    "Severity",
]

Ident = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
Timestamp = Annotated[float, msgspec.Meta(gt=0, lt=MAX_TS)]
Scalar = float | int | str | bool | None
#: A metric group is one flat object (a single instance: cpu, memory) or a list of objects (one per
#: disk, NIC, ...): string values are labels, numeric values are metrics with units in their names.
Group = dict[str, Scalar] | list[dict[str, Scalar]]


_Int = Annotated[int, msgspec.Meta(ge=-MAX_NUMBER, le=MAX_NUMBER)]
_Float = Annotated[float, msgspec.Meta(ge=-MAX_NUMBER, le=MAX_NUMBER)]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
_Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
# what the decoder accepts: the public aliases above, every part bounded
_Sample = _Int | _Float | Annotated[str, msgspec.Meta(max_length=MAX_LABEL)] | bool | None
_Instance = Annotated[dict[_Name, _Sample], msgspec.Meta(max_length=MAX_FIELDS)]
_Group = _Instance | Annotated[list[_Instance], msgspec.Meta(max_length=MAX_INSTANCES)]


def _json_value(levels: int) -> Any:
    """A JSON value with at most `levels` levels of objects/arrays, every leaf bounded: the decoder
    refuses deeper nesting where it meets it, without descending any further."""
    value: Any = _Int | _Float | _Text | bool | None
    for _ in range(levels):
        value = (
            _Int
            | _Float
            | _Text
            | bool
            | None
            | Annotated[list[value], msgspec.Meta(max_length=MAX_ITEMS)]
            | Annotated[dict[_Name, value], msgspec.Meta(max_length=MAX_KEYS)]
        )
    return value


if TYPE_CHECKING:
    _Nested = Any
else:
    #: a value inside an object that is itself one level below the payload: MAX_DEPTH - 2 more levels
    _Nested = _json_value(MAX_DEPTH - 2)


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
        "out_of_range",
        "too_long",
        "too_deep",
        "bad_ts",
        "bad_inventory",
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
    reason: Annotated[str, msgspec.Meta(max_length=MAX_REASON)] | None = None
    interval: Annotated[int, msgspec.Meta(gt=0, le=86400)] | None = None
    agent: Annotated[str, msgspec.Meta(max_length=MAX_AGENT)] | None = None
    #: a probe target's status: the id of the runner that observes it (its state follows the runner's)
    via: Ident | None = None
    connected: Timestamp | None = None


class Metrics(_Payload, kw_only=True):
    """One health report. `seq` is per device, monotonic, and survives restarts."""

    seq: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
    interval: Annotated[int, msgspec.Meta(gt=0, le=86400)]
    metrics: Annotated[dict[_Name, _Group], msgspec.Meta(max_length=MAX_GROUPS)]
    #: collector name -> why it produced nothing this time (permission, missing sensor, ...)
    unavailable: Annotated[
        dict[_Name, Annotated[str, msgspec.Meta(max_length=MAX_UNAVAILABLE)]],
        msgspec.Meta(max_length=MAX_GROUPS),
    ] = {}


class Inventory(_Payload, kw_only=True):
    """Hardware/software inventory; `hash` covers `inventory` so unchanged content is not resent."""

    #: `<algorithm>:<hex digest>` of `inventory`, e.g. `sha256:9f2c…`
    hash: Annotated[str, msgspec.Meta(max_length=MAX_HASH, pattern=HASH_PATTERN)]
    identity: Annotated[
        dict[
            Annotated[str, msgspec.Meta(pattern=IDENTITY_KEY_PATTERN)],
            Annotated[str, msgspec.Meta(max_length=MAX_IDENTITY_VALUE)],
        ],
        msgspec.Meta(max_length=MAX_IDENTITY),
    ] = {}
    inventory: Annotated[dict[_Name, _Nested], msgspec.Meta(max_length=MAX_KEYS)]


class Event(_Payload, kw_only=True):
    """A discrete happening: a peripheral unplugged, a buffer overflow, a SMART warning."""

    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    severity: Severity = "info"
    message: Annotated[str, msgspec.Meta(max_length=MAX_MESSAGE)] = ""
    data: Annotated[dict[_Name, _Nested], msgspec.Meta(max_length=MAX_KEYS)] = {}


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
    try:
        return _topic(campus, device, kind, root)
    except ValueError as exc:
        raise ContractError("bad_topic", str(exc)) from None


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
    if not inflater.eof:
        raise ContractError("bad_encoding", "zlib: truncated stream (no end of stream, no checksum)")
    if inflater.unused_data:
        raise ContractError("bad_encoding", f"zlib: {len(inflater.unused_data)} bytes after the stream")
    return out


@dataclass(frozen=True, slots=True)
class TsWindow:
    """How far a payload's `ts` may lie from the receiver's clock (the server's `ingest.ts_*` keys).

    Reports and events older than `max_age_seconds` are refused (the agent's buffer replays reports
    up to its `buffer.max_age_hours`, so this must be larger); no payload may be more than
    `max_ahead_seconds` in the future. Statuses and inventories are retained messages whose `ts` may
    be as old as the connection that sent them: only the future bound applies to them."""

    now: float
    max_age_seconds: float
    max_ahead_seconds: float


_NUMBER_BOUND = re.compile(r"^Expected `(int|float)` [<>]=? |^Number out of range")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
#: keep only brackets, objects' as arrays' (nesting is all that counts here)
_BRACKETS_ONLY = (bytes.maketrans(b"{}", b"[]"), bytes(set(range(256)) - set(b"[]{}")))


def nested_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether JSON text nests objects/arrays more than `limit` deep, without parsing (no recursion):
    strings are dropped, then each pass removes every innermost pair; what survives `limit` passes
    was deeper. A few linear passes in C, so cheap even for 256 KiB of brackets."""
    text = _STRING.sub(b"", raw).translate(*_BRACKETS_ONLY)
    if len(text) <= 2 * limit:
        return False
    for _ in range(limit):
        shorter = text.replace(b"[]", b"")
        if len(shorter) == len(text):
            return False  # nothing left, or brackets that do not pair up (not JSON: another reason)
        text = shorter
    return bool(text)


def _schema_reason(message: str) -> str:
    """Name what a msgspec validation error says about the payload: a countable reason."""
    if message.endswith(" - at `$.ts`"):
        return "bad_ts"
    if _NUMBER_BOUND.match(message):
        return "out_of_range"
    if " of length <= " in message:
        return "too_long"
    return "bad_schema"


def _check_version(raw: bytes) -> None:
    """Why a payload failed, when that is its JSON or its protocol version (these come first)."""
    try:
        version = _VERSION_DECODER.decode(raw).v
    except msgspec.ValidationError as exc:
        raise ContractError("bad_schema", f"not a JSON object: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ContractError("bad_json", str(exc)) from exc
    except RecursionError as exc:  # skipping an unknown field nested thousands deep
        raise ContractError("too_deep", f"nested more than {MAX_DEPTH} levels") from exc
    if version is None:
        raise ContractError("bad_schema", "Object missing required field `v`")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise ContractError("unknown_version", f"v={version!r}, this server speaks v{PROTOCOL_VERSION}")


#: inventory keys the register reads, and the JSON type each must have when present
_INVENTORY_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "hostname": (str,),
    "sys_name": (str,),
    "sys_descr": (str,),
    "sys_object_id": (str,),
    "type": (str,),
    "serial": (str,),
    "model": (str,),
    "vendor": (str,),
    "manufacturer": (str,),
    "firmware": (str,),
    "os": (str, dict),
    "cpu": (dict,),
    "memory": (dict,),
    "smbios": (dict,),
    "disks": (list,),
    "nics": (list,),
    "monitors": (list,),
    "usb": (list,),
    "entities": (list,),
    "ports": (list,),
    "fdb": (list,),
}
#: what names the machine: an agent's hostname, an SNMP device's system name/description, hardware
_IDENTIFYING: Final = ("hostname", "sys_name", "sys_descr", "serial", "smbios", "nics")
_IDENTITY_FACTS: Final = ("smbios_uuid", "board_serial", "system_serial", "serial", "macs", "mac")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def inventory_problem(inv: Inventory) -> str | None:
    """Why an inventory cannot be registered (it would make a nameless or garbage asset), or None."""
    data = inv.inventory
    for key, types in _INVENTORY_TYPES.items():
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, types) or isinstance(value, bool):
            return f"inventory.{key} is not a {' or '.join(t.__name__ for t in types)}"
        if isinstance(value, list) and not all(isinstance(v, dict) for v in value):
            return f"inventory.{key} must be a list of objects"
    hostname = data.get("hostname")
    if isinstance(hostname, str) and (len(hostname) > 255 or _CONTROL.search(hostname)):
        return "inventory.hostname is not a host name (too long or control characters)"
    named = any(data.get(k) not in (None, "", {}, []) for k in _IDENTIFYING)
    facts = any(str(inv.identity.get(k, "")).strip() for k in _IDENTITY_FACTS)
    if not (named or facts):
        return (
            "says nothing about which machine it is (no hostname, sys_name, sys_descr, serial, "
            "smbios, nics, nor an identity fact)"
        )
    return None


def decode(
    topic_: Topic,
    raw: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    window: TsWindow | None = None,
) -> Payload:
    """Validate one message at the edge; every failure is a ContractError with a reason."""
    if len(raw) > max_bytes:
        raise ContractError("oversized", f"{len(raw)} bytes > {max_bytes}")
    if raw[:1] == b"\x78":
        raw = _inflate(raw, max_bytes)
    try:
        payload = _DECODERS[topic_.kind].decode(raw)
    except msgspec.ValidationError as exc:
        # the decoder's types stop at MAX_DEPTH; tell that apart from other schema errors (only
        # rejected payloads pay for the scan), then a wrong version or no object at all
        if nested_deeper_than(raw, MAX_DEPTH):
            raise ContractError("too_deep", f"nested more than {MAX_DEPTH} levels") from exc
        _check_version(raw)
        raise ContractError(_schema_reason(str(exc)), str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise ContractError("bad_json", str(exc)) from exc
    except RecursionError as exc:  # cannot happen with the bounded types; never let it out anyway
        raise ContractError("too_deep", f"nested more than {MAX_DEPTH} levels") from exc
    if payload.device != topic_.device or payload.campus != topic_.campus:
        raise ContractError(
            "device_mismatch",
            f"payload says {payload.campus}/{payload.device}, topic says {topic_.campus}/{topic_.device}",
        )
    if window is not None:
        ahead = payload.ts - window.now
        if ahead > window.max_ahead_seconds:
            raise ContractError(
                "bad_ts", f"ts is {ahead:.0f} s ahead of the server's clock (is the device's clock wrong?)"
            )
        if isinstance(payload, Status) and payload.connected is not None:
            # `connected` orders a device's statuses: one far ahead would outrank all that follow
            if payload.connected - window.now > window.max_ahead_seconds:
                raise ContractError("bad_ts", "connected is ahead of the server's clock")
        age = -ahead
        if isinstance(payload, Metrics | Event) and age > window.max_age_seconds:
            raise ContractError(
                "bad_ts", f"ts is {age / 86400:.1f} days old, more than {window.max_age_seconds / 86400:g}"
            )
    if isinstance(payload, Inventory) and (problem := inventory_problem(payload)) is not None:
        raise ContractError("bad_inventory", problem)
    return payload


def _in_bounds(value: Scalar) -> Scalar | None:
    if isinstance(value, str):
        return value[:MAX_LABEL]
    if isinstance(value, bool) or value is None:
        return value
    if math.isfinite(value) and abs(value) <= MAX_NUMBER:
        return value
    return None


def bounded(groups: dict[str, Group]) -> dict[str, Group]:
    """Metric groups as a producer (probe runner, simulator) must send them: labels cut to MAX_LABEL,
    a number that is not finite or beyond ±MAX_NUMBER left out (the server would refuse the report)."""
    out: dict[str, Group] = {}
    for name, group in groups.items():
        instances = [group] if isinstance(group, dict) else group
        kept = [
            {k: b for k, v in inst.items() if (b := _in_bounds(v)) is not None or v is None}
            for inst in instances[:MAX_INSTANCES]
        ]
        out[name] = kept[0] if isinstance(group, dict) else kept
    return out


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
