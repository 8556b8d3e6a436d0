"""Hostile MQTT payloads: every kind that once stopped the server or stored nonsense, by name, and a
seeded generator of endless variants for the fuzz test and bench/fuzz_ingest.py.

Every payload here is invalid by construction (never "probably invalid"): the tests assert that none
is stored and that each is counted under the reason given with it.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from campusmon.contract import MAX_DEPTH, MAX_SEQ, Event, Inventory, Metrics, Status, encode

CAMPUS = "main"
#: every hostile payload names a device starting with this; good devices never do
HOSTILE_PREFIX = "evil-"
YEAR_9999 = 253402300799.0  # 9999-12-31 23:59:59 UTC, the last second a datetime can hold
YEAR_10000 = 253402300800.0
SHA = "sha256:" + "ab" * 32


@dataclass(frozen=True, slots=True)
class Hostile:
    name: str
    topic: str
    payload: bytes
    #: the counter it must land in: rejected_<reason>
    reason: str


def topic_of(device: str, kind: str, campus: str = CAMPUS) -> str:
    return f"campusmon/{campus}/{device}/{kind}"


def _js(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def metrics_doc(device: str, now: float, seq: int = 1, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "v": 1,
        "campus": CAMPUS,
        "device": device,
        "ts": now,
        "seq": seq,
        "interval": 30,
        "metrics": {"disk": [{"mount": "/", "disk_used_percent": 40.0}], "cpu": {"cpu_usage_percent": 5.0}},
    }
    doc.update(over)
    return doc


def status_doc(device: str, now: float, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"v": 1, "campus": CAMPUS, "device": device, "ts": now, "state": "online"}
    doc.update(over)
    return doc


def event_doc(device: str, now: float, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "v": 1,
        "campus": CAMPUS,
        "device": device,
        "ts": now,
        "kind": "peripheral_removed",
        "severity": "warning",
        "message": "document camera (USB video): 1 -> 0",
        "data": {"peripheral": "usb_camera", "before": 1, "now": 0},
    }
    doc.update(over)
    return doc


def inventory_doc(device: str, now: float, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "v": 1,
        "campus": CAMPUS,
        "device": device,
        "ts": now,
        "hash": SHA,
        "identity": {"system_serial": f"SN-{device}"},
        "inventory": {"hostname": device.upper(), "os": {"name": "Windows"}},
    }
    doc.update(over)
    return doc


def nested(depth: int) -> str:
    """JSON arrays nested `depth` deep: 1,000 deep is ~2 KB."""
    return "[" * depth + "]" * depth


def _deep_in(doc: dict[str, Any], field: str, key: str, depth: int) -> bytes:
    """`doc` with `field`.`key` replaced by arrays nested `depth` deep (spliced as text: json.dumps
    itself would recurse)."""
    marker = "__DEEP__"
    doc = json.loads(json.dumps(doc))
    doc[field][key] = marker
    return _js(doc).replace(f'"{marker}"'.encode(), nested(depth).encode())


# -- one builder per kind: (rng, device, now) -> (kind, payload, reason) ----------------------------
Builder = Callable[[random.Random, str, float], tuple[str, bytes, str]]


def _deep_1000(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return "events", _deep_in(event_doc(dev, now), "data", "x", 1000), "too_deep"


def _deep_inventory(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return (
        "inventory",
        _deep_in(inventory_doc(dev, now), "inventory", "x", rng.randint(MAX_DEPTH - 1, 2000)),
        "too_deep",
    )


def _deep_event(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return "events", _deep_in(event_doc(dev, now), "data", "x", rng.randint(MAX_DEPTH, 2000)), "too_deep"


def _deep_metrics(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    # a group nested too deep: refused as a group that is not one (bad_schema) or as too deep
    doc = metrics_doc(dev, now)
    raw = _js(doc).replace(
        b'"metrics":{', b'"metrics":{"x":' + nested(rng.randint(1000, 3000)).encode() + b","
    )
    return "metrics", raw, "too_deep"


def _deep_unknown_field(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    raw = b'{"zz":' + nested(rng.randint(1000, 5000)).encode() + b"," + _js(metrics_doc(dev, now))[1:]
    return "metrics", raw, "too_deep"


def _seq_huge(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    seq = rng.choice([2**63, 2**64, MAX_SEQ + 1, 10**400, rng.randint(MAX_SEQ + 1, 2**200)])
    return "metrics", _js(metrics_doc(dev, now, seq=seq)), "out_of_range"


def _seq_negative(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return "metrics", _js(metrics_doc(dev, now, seq=-rng.randint(1, 2**70))), "out_of_range"


def _value_huge_int(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    value = rng.choice([10**400, -(10**400), 2**64, MAX_SEQ + 1, 10 ** rng.randint(17, 1000)])
    doc = metrics_doc(dev, now, metrics={"cpu": {"cpu_usage_percent": value}})
    return "metrics", _js(doc), "out_of_range"


def _value_huge_float(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    value = rng.choice([1e308, -1e308, 1.7976931348623157e308, rng.uniform(1e16, 1e300)])
    doc = metrics_doc(dev, now, metrics={"disk": [{"mount": "/", "disk_used_percent": value}]})
    return "metrics", _js(doc), "out_of_range"


def _value_overflow_literal(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    lit = rng.choice(["1e999", "-1e999", "1e400", "9" * 500 + ".5"])
    raw = _js(metrics_doc(dev, now, metrics={"cpu": {"cpu_usage_percent": "@@"}})).replace(
        b'"@@"', lit.encode()
    )
    return "metrics", raw, "out_of_range"


def _value_nan_literal(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    lit = rng.choice(["NaN", "Infinity", "-Infinity", "nan", "inf"])
    raw = _js(metrics_doc(dev, now, metrics={"cpu": {"cpu_usage_percent": "@@"}})).replace(
        b'"@@"', lit.encode()
    )
    return "metrics", raw, "bad_json"


def _event_ts_year_10000(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    ts = rng.choice([YEAR_10000, YEAR_10000 + rng.randint(0, 10**9), 1e300])
    return "events", _js(event_doc(dev, now, ts=ts)), "bad_ts"


def _metrics_ts_year_10000(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    ts = rng.choice([YEAR_10000, YEAR_10000 * 2, 1e18])
    return "metrics", _js(metrics_doc(dev, now, ts=ts)), "bad_ts"


def _ts_year_9999(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    kind = rng.choice(["metrics", "events", "status", "inventory"])
    ts = rng.choice([YEAR_9999, YEAR_9999 - rng.randint(0, 10**9)])
    build = {"metrics": metrics_doc, "events": event_doc, "status": status_doc, "inventory": inventory_doc}
    return kind, _js(build[kind](dev, now, ts=ts)), "bad_ts"


def _ts_future(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    ts = now + rng.uniform(3600, 86400 * 365)
    return "metrics", _js(metrics_doc(dev, now, ts=ts)), "bad_ts"


def _ts_ancient(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    ts = rng.choice([1.0, 946684800.0, now - rng.uniform(40, 3000) * 86400])
    kind = rng.choice(["metrics", "events"])
    doc = metrics_doc(dev, now, ts=ts) if kind == "metrics" else event_doc(dev, now, ts=ts)
    return kind, _js(doc), "bad_ts"


def _ts_not_positive(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return "status", _js(status_doc(dev, now, ts=rng.choice([0, -1, -1e308]))), "bad_ts"


def _status_reason_long(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    reason = "x" * rng.randint(201, 20_000)
    return "status", _js(status_doc(dev, now, state="shutdown", reason=reason)), "too_long"


def _status_agent_long(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return "status", _js(status_doc(dev, now, agent="a" * rng.randint(101, 5000))), "too_long"


def _label_long(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    groups = {"disk": [{"mount": "/" + "m" * rng.randint(200, 4000), "disk_used_percent": 99.0}]}
    return "metrics", _js(metrics_doc(dev, now, metrics=groups)), "too_long"


def _too_many_instances(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    groups = {"cpu": [{"c": 1}] * rng.randint(4097, 6000)}
    return "metrics", _js(metrics_doc(dev, now, metrics=groups)), "too_long"


def _too_many_groups(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    groups = {f"g{i}": {"v": i} for i in range(rng.randint(65, 500))}
    return "metrics", _js(metrics_doc(dev, now, metrics=groups)), "too_long"


def _event_message_long(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return "events", _js(event_doc(dev, now, message="m" * rng.randint(2001, 50_000))), "too_long"


def _truncated_zlib(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    whole = zlib.compress(_js(metrics_doc(dev, now)), 6)
    return "metrics", whole[: rng.randint(2, len(whole) - 1)], "bad_encoding"


def _zlib_trailing(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    whole = zlib.compress(_js(metrics_doc(dev, now)), 6)
    return "metrics", whole + rng.randbytes(rng.randint(1, 64)), "bad_encoding"


def _zlib_garbage(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return "metrics", b"\x78" + rng.randbytes(rng.randint(1, 200)), "bad_encoding"


def _zlib_bomb(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    """A few hundred bytes that inflate past the payload cap (256 KiB by default)."""
    doc = metrics_doc(dev, now, pad=" " * rng.randint(300_000, 2_000_000))
    return "metrics", zlib.compress(_js(doc), 9), "oversized"


def _inventory_empty(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return "inventory", _js(inventory_doc(dev, now, identity={}, inventory={})), "bad_inventory"


def _inventory_nonsense(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    junk = {f"k{rng.randrange(10**6)}": rng.choice([1, "x", True, None, [1], {"a": 1}]) for _ in range(5)}
    return "inventory", _js(inventory_doc(dev, now, identity={}, inventory=junk)), "bad_inventory"


def _inventory_wrong_types(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    bad = rng.choice(
        [{"hostname": 12345}, {"hostname": ["a"]}, {"nics": "eth0"}, {"nics": [1, 2]}, {"smbios": "x"},
         {"hostname": "a\x00b"}, {"hostname": "h" * 300}, {"fdb": {"mac": 1}}, {"os": 7}]
    )  # fmt: skip
    return "inventory", _js(inventory_doc(dev, now, inventory=bad)), "bad_inventory"


def _inventory_bad_hash(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    h = rng.choice(["", "x", "sha256:", "sha256:xyz", "h" * 100, "sha256:" + "0" * 90])
    return "inventory", _js(inventory_doc(dev, now, hash=h)), "bad_schema"


def _inventory_identity_absurd(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    choice = rng.randrange(3)
    if choice == 0:
        return "inventory", _js(inventory_doc(dev, now, identity={"smbios_uuid": "u" * 1100})), "too_long"
    if choice == 1:
        ident = {f"k{i}": "v" for i in range(33)}
        return "inventory", _js(inventory_doc(dev, now, identity=ident)), "too_long"
    return "inventory", _js(inventory_doc(dev, now, identity={"Bad Key!": "x"})), "bad_schema"


def _inventory_too_many_keys(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    inv = {"hostname": "x"} | {f"k{i}": i for i in range(rng.randint(1001, 3000))}
    return "inventory", _js(inventory_doc(dev, now, inventory=inv)), "too_long"


def _garbage_bytes(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return "metrics", b"{\x01" + rng.randbytes(rng.randint(0, 300)), "bad_json"


def _truncated_json(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    whole = _js(metrics_doc(dev, now))
    return "metrics", whole[: rng.randint(1, len(whole) - 1)], "bad_json"


def _not_an_object(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return "status", rng.choice([b"[1,2]", b'"online"', b"42", b"null", b"true"]), "bad_schema"


def _unknown_field(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return "status", _js(status_doc(dev, now, **{f"x{rng.randrange(1000)}": 1})), "bad_schema"


def _wrong_version(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return "status", _js(status_doc(dev, now, v=rng.choice([0, 2, "1", True, 1.5]))), "unknown_version"


def _device_mismatch(rng: random.Random, dev: str, now: float) -> tuple[str, bytes, str]:
    return "metrics", _js(metrics_doc(dev + "x", now)), "device_mismatch"


#: the named kinds; `fuzz()` cycles through them with fresh random parts
BUILDERS: dict[str, Builder] = {
    "json_nested_1000_deep": _deep_1000,
    "json_nested_deep_in_inventory": _deep_inventory,
    "json_nested_deep_in_event_data": _deep_event,
    "json_nested_deep_in_metrics": _deep_metrics,
    "json_nested_deep_in_unknown_field": _deep_unknown_field,
    "seq_at_least_2_63": _seq_huge,
    "seq_negative": _seq_negative,
    "value_int_10_400": _value_huge_int,
    "value_float_1e308": _value_huge_float,
    "value_literal_overflowing_double": _value_overflow_literal,
    "value_nan_or_infinity": _value_nan_literal,
    "event_ts_year_10000": _event_ts_year_10000,
    "metrics_ts_year_10000": _metrics_ts_year_10000,
    "ts_year_9999": _ts_year_9999,
    "ts_in_the_future": _ts_future,
    "ts_too_old": _ts_ancient,
    "ts_not_positive": _ts_not_positive,
    "status_reason_over_200": _status_reason_long,
    "status_agent_over_100": _status_agent_long,
    "label_over_200": _label_long,
    "group_with_too_many_instances": _too_many_instances,
    "too_many_groups": _too_many_groups,
    "event_message_too_long": _event_message_long,
    "zlib_truncated": _truncated_zlib,
    "zlib_trailing_garbage": _zlib_trailing,
    "zlib_garbage": _zlib_garbage,
    "zlib_bomb": _zlib_bomb,
    "inventory_empty": _inventory_empty,
    "inventory_nonsense_keys": _inventory_nonsense,
    "inventory_wrong_types": _inventory_wrong_types,
    "inventory_bad_hash": _inventory_bad_hash,
    "inventory_absurd_identity": _inventory_identity_absurd,
    "inventory_too_many_keys": _inventory_too_many_keys,
    "garbage_bytes": _garbage_bytes,
    "truncated_json": _truncated_json,
    "not_an_object": _not_an_object,
    "unknown_field": _unknown_field,
    "wrong_version": _wrong_version,
    "device_mismatch": _device_mismatch,
}


def named(name: str, now: float, seed: int = 0, device: str = f"{HOSTILE_PREFIX}1") -> Hostile:
    kind, payload, reason = BUILDERS[name](random.Random(f"{name}:{seed}"), device, now)
    return Hostile(name, topic_of(device, kind), payload, reason)


def fuzz(seed: int, now: Callable[[], float], devices: int = 200) -> Iterator[Hostile]:
    """Endless hostile payloads, reproducible from `seed`; `now` is read for each (runs are long)."""
    rng = random.Random(seed)
    names = sorted(BUILDERS)
    while True:
        name = rng.choice(names)
        device = f"{HOSTILE_PREFIX}{rng.randrange(devices)}"
        kind, payload, reason = BUILDERS[name](rng, device, now())
        yield Hostile(name, topic_of(device, kind), payload, reason)


# -- good messages, interleaved with the hostile ones ------------------------------------------------
def good_metrics(device: str, seq: int, now: float) -> bytes:
    return encode(
        Metrics(
            campus=CAMPUS,
            device=device,
            ts=now,
            seq=seq,
            interval=30,
            metrics={
                "cpu": {"cpu_usage_percent": 7.5, "cpu_count": 4},
                "disk": [{"mount": "C:", "disk_used_percent": 41.0, "disk_total_bytes": 256 << 30}],
            },
        ),
        compress=seq % 3 == 0,
    )


def good_status(device: str, now: float) -> bytes:
    return encode(
        Status(
            campus=CAMPUS, device=device, ts=now, state="online", interval=30, agent="campusmon-agent/0.1.0"
        )
    )


def good_event(device: str, now: float) -> bytes:
    return encode(Event(campus=CAMPUS, device=device, ts=now, kind="note", message="good event"))


def good_inventory(device: str, now: float) -> bytes:
    return encode(
        Inventory(
            campus=CAMPUS,
            device=device,
            ts=now,
            hash=SHA,
            identity={"system_serial": f"SN-{device}"},
            inventory={"hostname": device.upper(), "os": {"name": "Windows 11"}},
        )
    )


# -- a value the database refuses although the edge lets it through (stand-in for the unforeseen) -----
POISON_AGENT = "poison/1"


def add_poison_trigger(engine: Any) -> None:
    """Make the database refuse a device row whose agent is POISON_AGENT: a message that is valid at
    the edge and still cannot be stored (it must become a dead letter, not stop ingest)."""
    from sqlalchemy import text

    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for when in ("INSERT", "UPDATE"):
                conn.execute(
                    text(
                        f"CREATE TRIGGER IF NOT EXISTS poison_{when.lower()} BEFORE {when} ON devices "
                        f"WHEN NEW.agent = '{POISON_AGENT}' "
                        "BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END"
                    )
                )
            return
        conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.agent = '{POISON_AGENT}' THEN RAISE EXCEPTION 'refused by trigger' "
                "USING ERRCODE = '22003'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        conn.execute(text("DROP TRIGGER IF EXISTS poison ON devices"))
        conn.execute(
            text(
                "CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON devices "
                "FOR EACH ROW EXECUTE FUNCTION poison()"
            )
        )


def poison_status(device: str, now: float, reason: str = "x") -> bytes:
    return _js(status_doc(device, now, state="shutdown", agent=POISON_AGENT, reason=reason))
