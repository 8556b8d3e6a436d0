from __future__ import annotations

import json
import zlib

import msgspec
import pytest

from campusmon import contract as c

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
