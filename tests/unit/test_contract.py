from __future__ import annotations

import json
import zlib

import msgspec
import pytest

from campusmon import contract as c
from tests.support import hostile

T = c.parse_topic("campusmon/main/pc-1/metrics")


def metrics(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "v": 1,
        "campus": "main",
        "device": "pc-1",
        "ts": 1_700_000_000.5,
        "seq": 7,
        "interval": 30,
        "metrics": {"cpu": {"cpu_usage_percent": 3.5}},
    }
    base.update(kw)
    return base


def test_round_trip_plain_and_compressed() -> None:
    m = c.Metrics(
        campus="main",
        device="pc-1",
        ts=1.0,
        seq=1,
        interval=30,
        metrics={"disk": [{"mount": "/", "disk_used_percent": 50.0}]},
    )
    assert c.decode(T, c.encode(m)) == m
    assert c.decode(T, c.encode(m, compress=True)) == m


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("campusmon/main/pc-1/status", True),
        ("campusmon/main/pc-1/events", True),
        ("campusmon/main/PC-1/status", False),
        ("campusmon/main/pc-1/status/x", False),
        ("other/main/pc-1/status", False),
        ("campusmon/main/pc-1/telemetry", False),
        ("campusmon/-bad/pc-1/status", False),
        ("campusmon/main/" + "a" * 65 + "/status", False),
    ],
)
def test_parse_topic(name: str, ok: bool) -> None:
    if ok:
        assert str(c.parse_topic(name)) == name
    else:
        with pytest.raises(c.ContractError) as err:
            c.parse_topic(name)
        assert err.value.reason == "bad_topic"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "bad_json"),
        (b"[1,2]", "bad_schema"),
        (b'"x"', "bad_schema"),
        (json.dumps({"campus": "main"}).encode(), "bad_schema"),
        (json.dumps(metrics(v=2)).encode(), "unknown_version"),
        (json.dumps(metrics(v="1")).encode(), "unknown_version"),
        (json.dumps(metrics(v=True)).encode(), "unknown_version"),
        (json.dumps(metrics(seq="7")).encode(), "bad_schema"),
        (json.dumps(metrics(seq=-1)).encode(), "out_of_range"),
        (json.dumps(metrics(interval=0)).encode(), "out_of_range"),
        (json.dumps(metrics(ts=-5)).encode(), "bad_ts"),
        (json.dumps(metrics(extra=1)).encode(), "bad_schema"),
        (json.dumps(metrics(metrics={"cpu": 5})).encode(), "bad_schema"),
        (json.dumps(metrics(device="pc-2")).encode(), "device_mismatch"),
        (json.dumps(metrics(campus="north")).encode(), "device_mismatch"),
        (b"x" * (c.DEFAULT_MAX_PAYLOAD_BYTES + 1), "oversized"),
        (b"\x78garbage", "bad_encoding"),
        (zlib.compress(b"{" + b" " * (c.DEFAULT_MAX_PAYLOAD_BYTES + 10) + b"}"), "oversized"),
    ],
)
def test_decode_rejects_with_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(c.ContractError) as err:
        c.decode(T, raw)
    assert err.value.reason == reason
    assert err.value.reason in c.ContractError.REASONS


def test_status_lost_and_event() -> None:
    st = c.decode(
        c.parse_topic("campusmon/main/pc-1/status"),
        b'{"v":1,"campus":"main","device":"pc-1","ts":5,"state":"lost"}',
    )
    assert isinstance(st, c.Status) and st.state == "lost"
    with pytest.raises(c.ContractError):
        c.decode(
            c.parse_topic("campusmon/main/pc-1/status"),
            b'{"v":1,"campus":"main","device":"pc-1","ts":5,"state":"dead"}',
        )
    ev = c.decode(
        c.parse_topic("campusmon/main/pc-1/events"),
        b'{"v":1,"campus":"main","device":"pc-1","ts":5,"kind":"usb_removed","severity":"warning"}',
    )
    assert isinstance(ev, c.Event) and ev.kind == "usb_removed"


def test_flatten_labels_and_bools() -> None:
    rows = c.flatten("disk", [{"mount": "/", "disk_used_percent": 5, "ok": True}])
    assert ("disk_used_percent", "mount=/", 5.0) in rows
    assert ("ok", "mount=/", 1.0) in rows
    assert c.flatten("cpu", {"cpu_usage_percent": 1.5}) == [("cpu_usage_percent", "", 1.5)]


def test_topic_builder_refuses_bad_ids() -> None:
    assert c.topic("main", "pc-1", "status") == "campusmon/main/pc-1/status"
    with pytest.raises(c.ContractError):
        c.topic("Main", "pc-1", "status")


def test_docs_examples_decode() -> None:
    """Every example payload in docs/protocol.md is valid against the contract."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    blocks = [b.split("\n", 1) for b in text.split("```json")[1:]]
    seen = set()
    for header, rest in blocks:
        body = rest.split("```", 1)[0]
        name = header.strip()
        assert name.startswith("campusmon/"), f"example without a topic: {header!r}"
        t = c.parse_topic(name)
        c.decode(t, msgspec.json.encode(json.loads(body)))
        seen.add(t.kind)
    assert seen == set(c.KINDS)


# -- bounds (docs/protocol.md, "Bounds"): every hostile kind by name, and the inclusive limits -------
NOW = 1_800_000_000.0
WINDOW = c.TsWindow(NOW, 30 * 86400.0, 300.0)


@pytest.mark.parametrize("name", sorted(hostile.BUILDERS))
def test_every_hostile_kind_is_refused_with_its_reason(name: str) -> None:
    for seed in range(20):
        bad = hostile.named(name, NOW, seed)
        with pytest.raises(c.ContractError) as err:
            c.decode(c.parse_topic(bad.topic), bad.payload, window=WINDOW)
        assert err.value.reason == bad.reason, (seed, str(err.value)[:300])
        assert err.value.reason in c.ContractError.REASONS


def test_a_1000_deep_payload_is_refused_cheaply_without_recursion() -> None:
    bad = hostile.named("json_nested_1000_deep", NOW)
    assert 2000 < len(bad.payload) < 2400  # the ~2 KB of the report
    with pytest.raises(c.ContractError) as err:
        c.decode(c.parse_topic(bad.topic), bad.payload, window=WINDOW)
    assert err.value.reason == "too_deep"
    deepest = b'{"v":1,"x":' + b"[" * 200_000 + b"]" * 200_000 + b"}"  # over any recursion limit
    with pytest.raises(c.ContractError) as err:
        c.decode(T, deepest, max_bytes=len(deepest))
    assert err.value.reason == "too_deep"


@pytest.mark.parametrize(
    ("raw", "limit", "deeper"),
    [
        (b"[]", 1, False),
        (b"[[]]", 1, True),
        (b'{"a":[{"b":1}],"c":[]}', 3, False),
        (b'{"a":[{"b":1}],"c":[]}', 2, True),
        (b'{"a":"[[[[[[[[[[[[[[[[[[[[[[[["}', 1, False),  # brackets in strings are text
        (b'{"a":"\\"[[[[[[[[[[[[[[[[[[[[[["}', 1, False),  # also after an escaped quote
        (b"[" * 11 + b"]" * 11, 10, True),
        (b"[" * 10 + b"]" * 10, 10, False),
        (b"[[[", 1, False),  # not JSON: another reason says so
    ],
)
def test_nested_deeper_than(raw: bytes, limit: int, deeper: bool) -> None:
    assert c.nested_deeper_than(raw, limit) is deeper


def test_bounds_are_inclusive() -> None:
    deep: object = 1
    for _ in range(c.MAX_DEPTH - 2):
        deep = [deep]
    inv = hostile.inventory_doc("pc-1", NOW, inventory={"hostname": "PC-1", "deep": deep})
    ok = [
        ("metrics", hostile.metrics_doc("pc-1", NOW, seq=c.MAX_SEQ)),
        ("metrics", hostile.metrics_doc("pc-1", NOW, metrics={"m": {"a": c.MAX_NUMBER, "b": -c.MAX_NUMBER}})),
        ("metrics", hostile.metrics_doc("pc-1", NOW, metrics={"m": {"a": float(c.MAX_NUMBER)}})),
        ("metrics", hostile.metrics_doc("pc-1", NOW - 30 * 86400 + 1)),
        ("metrics", hostile.metrics_doc("pc-1", NOW + 300)),
        ("metrics", hostile.metrics_doc("pc-1", NOW, metrics={"d": [{"mount": "m" * c.MAX_LABEL}]})),
        ("status", hostile.status_doc("pc-1", NOW, reason="r" * c.MAX_REASON, agent="a" * c.MAX_AGENT)),
        ("status", hostile.status_doc("pc-1", 1.0, state="lost")),  # a will's ts: when it connected
        ("inventory", inv),
        ("inventory", hostile.inventory_doc("pc-1", NOW - 365 * 86400)),  # retained, a year old
        ("events", hostile.event_doc("pc-1", NOW, message="m" * c.MAX_MESSAGE)),
    ]
    for kind, doc in ok:
        topic = c.parse_topic(f"campusmon/main/pc-1/{kind}")
        raw = json.dumps(doc).encode()
        c.decode(topic, raw, window=WINDOW)
        c.decode(topic, zlib.compress(raw), window=WINDOW)


def test_zlib_must_be_one_complete_stream() -> None:
    whole = zlib.compress(json.dumps(metrics()).encode())
    assert isinstance(c.decode(T, whole), c.Metrics)
    for raw, why in ((whole[:-4], "truncated"), (whole[:-1], "truncated"), (whole + b"\x00", "after")):
        with pytest.raises(c.ContractError, match=why) as err:
            c.decode(T, raw)
        assert err.value.reason == "bad_encoding"


def test_without_a_window_only_the_fixed_ts_bounds_apply() -> None:
    assert c.decode(T, json.dumps(metrics(ts=1.0)).encode()).ts == 1.0
    for ts in (hostile.YEAR_9999, 4_102_444_800.0, 0):
        with pytest.raises(c.ContractError) as err:
            c.decode(T, json.dumps(metrics(ts=ts)).encode())
        assert err.value.reason == "bad_ts"


@pytest.mark.parametrize(
    ("inventory", "identity", "problem"),
    [
        ({"hostname": "PC-1"}, {}, None),
        ({"sys_name": "sw-1", "fdb": []}, {}, None),
        ({"os": "Linux"}, {"smbios_uuid": "4c4c4544-0042-3510-8052-b7c04f4e4432"}, None),
        ({}, {}, "says nothing"),
        ({"os": {"name": "Windows"}}, {"source": "hostname"}, "says nothing"),
        ({"hostname": ""}, {}, "says nothing"),
        ({"hostname": 5}, {}, "hostname is not a str"),
        ({"hostname": True}, {}, "hostname is not a str"),
        ({"hostname": "PC", "nics": ["eth0"]}, {}, "nics must be a list of objects"),
        ({"hostname": "PC\n1"}, {}, "not a host name"),
    ],
)
def test_inventory_problem(
    inventory: dict[str, object], identity: dict[str, str], problem: str | None
) -> None:
    inv = c.Inventory(
        campus="main",
        device="pc-1",
        ts=1.0,
        hash="sha256:" + "0" * 64,
        identity=identity,
        inventory=inventory,
    )
    found = c.inventory_problem(inv)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_bounded_cuts_what_the_server_would_refuse() -> None:
    groups: dict[str, c.Group] = {
        "ports": [{"port": "p" * 300, "port_in_bps": 1e300, "port_up": 1, "ok": True, "x": None}],
        "probe": {"probe_up": 1, "nan": float("nan"), "inf": float("-inf"), "max": float(c.MAX_NUMBER)},
    }
    out = c.bounded(groups)
    assert out == {
        "ports": [{"port": "p" * c.MAX_LABEL, "port_up": 1, "ok": True, "x": None}],
        "probe": {"probe_up": 1, "max": float(c.MAX_NUMBER)},
    }
    report = c.Metrics(campus="main", device="pc-1", ts=NOW, seq=1, interval=30, metrics=out)
    c.decode(T, c.encode(report), window=WINDOW)
