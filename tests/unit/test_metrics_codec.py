"""The metric store's encodings are lossless; chart arithmetic; series names; line protocol."""

from __future__ import annotations

import math
import random
import struct

import pytest

from campusmon.contract import Metrics
from campusmon.server.metrics import codec
from campusmon.server.metrics.lineproto import report_lines
from campusmon.server.metrics.model import (
    MetricStoreError,
    Placement,
    flatten,
    format_labels,
    parse_labels,
    parse_series_key,
    series_key,
)
from campusmon.server.metrics.query import MAX_POINTS, Binner, choose_step


@pytest.mark.parametrize(
    ("values", "scale"),
    [
        ([1.0, 2.0, 8451055616.0], 0),
        ([63.2, 0.5, 100.0], 1),
        ([0.000123, 5.5], 6),
        ([1e-07], None),  # repr in exponent form
        ([0.1 + 0.2], None),  # 17 significant digits
        ([float(2**62)], None),
        ([math.nan], None),
        ([], 0),
    ],
)
def test_decimal_scale(values: list[float], scale: int | None) -> None:
    assert codec.decimal_scale(values) == scale


@pytest.mark.parametrize(
    "values",
    [
        [28.0, 44.0, 12.0, 34.0],
        [63.2, 63.3, 63.2, -1.5, 0.0],
        [201851187200.0, 201851191296.0, 201851187200.0],
        [0.1 + 0.2, 1 / 3, -2.5e-300, 1.7976931348623157e308],
        [math.inf, -math.inf, 0.0, -0.0],
        [0.000001, 123456.789012],
    ],
)
def test_values_round_trip_bit_exact(values: list[float]) -> None:
    buf = bytearray()
    codec.put_values(buf, values)
    out, pos = codec.get_values(bytes(buf), 0, len(values))
    assert pos == len(buf)
    assert [struct.pack("<d", v) for v in out] == [struct.pack("<d", v) for v in values]


def test_nan_round_trips() -> None:
    buf = bytearray()
    codec.put_values(buf, [math.nan, 1.0])
    out, _ = codec.get_values(bytes(buf), 0, 2)
    assert math.isnan(out[0]) and out[1] == 1.0


def test_raw_block_round_trip_with_gaps_duplicates_and_disorder() -> None:
    rng = random.Random(7)
    rows = codec.RawRows()
    expected: dict[tuple[int, int], float] = {}
    for i in reversed(range(120)):  # arrives newest first
        sids = [s for s in range(1, 30) if s % 7 or i % 3 == 0]  # series 7, 14, 21, 28: every 3rd report
        values = [round(rng.uniform(-1e6, 1e6), rng.choice((0, 1, 2, 6))) for _ in sids]
        rows.add(1_790_000_000 + 30 * i, 1000 + i, sids, values)
        expected.update({(1_790_000_000 + 30 * i, s): v for s, v in zip(sids, values, strict=True)})
    rows.add(1_790_000_000, 1000, [1], [999.0])  # a duplicate seq: the first one stored wins
    data = codec.encode_raw(rows)
    back = codec.decode_raw(data)
    assert back.ts == sorted(back.ts) and len(back.ts) == 120
    got = {
        (back.ts[r], sid): v
        for sid, (present, col) in back.columns.items()
        for r, v in zip(present, col, strict=True)
    }
    assert got == expected
    assert codec.raw_seqs(data) == list(range(1000, 1120))
    only = codec.raw_series(data, {7})
    assert [t for t, _, _ in only] == [1_790_000_000 + 30 * i for i in range(0, 120, 3)]
    ts, last = codec.raw_last(data)
    assert ts == 1_790_000_000 + 30 * 119 and 7 not in last and last[1] == expected[(ts, 1)]


def test_rollup_block_round_trip_and_exact_sums() -> None:
    ts = [3600 * 100 + 30 * i for i in range(120)]
    values = [round(10 + (i % 10) * 0.1, 1) for i in range(120)]  # 10.0 .. 10.9, ten per 5 minutes
    buckets = codec.rollup_buckets(ts, values, 300)
    assert len(buckets) == 12
    first = buckets[3600 * 100]
    assert (first.count, first.low, first.high) == (10, 10.0, 10.9)
    assert first.total == 104.5  # exact: summed as tenths, not as binary floats
    data = codec.encode_rollup(
        3600 * 100, 300, {5: buckets, 9: {3600 * 100 + 600: codec.Bucket(1, 2.5, 2.5, 2.5)}}
    )
    back = codec.decode_rollup(data, 3600 * 100)
    assert back[5] == buckets and back[9][3600 * 100 + 600] == codec.Bucket(1, 2.5, 2.5, 2.5)
    assert set(codec.decode_rollup(data, 3600 * 100, {9})) == {9}


def test_damaged_blocks_raise_codec_errors() -> None:
    with pytest.raises(codec.CodecError):
        codec.decode_raw(b"not zlib")
    with pytest.raises(codec.CodecError):
        codec.decode_rollup(codec.encode_raw(codec.RawRows([1], [1], {1: ([0], [1.0])})), 0)


@pytest.mark.parametrize(
    "labels",
    [{}, {"mount": "C:\\"}, {"name": 'a "quoted", b=c', "pid": "17"}, {"nic": "Wi-Fi\nx"}],
)
def test_labels_round_trip(labels: dict[str, str]) -> None:
    text = format_labels(labels)
    assert parse_labels(text) == labels
    assert parse_series_key(series_key("m", text)) == ("m", labels)


def test_bad_series_keys_are_errors() -> None:
    for bad in ('m{mount="C:"', "m{mount=C:}", 'm{a="1"b="2"}'):
        with pytest.raises(MetricStoreError):
            parse_series_key(bad)


def test_flatten_labels_and_values() -> None:
    rows = flatten([{"mount": "C:\\", "disk_used_percent": 79, "ok": True, "gone": None}])
    assert rows == [("disk_used_percent", 'mount="C:\\\\"', 79.0), ("ok", 'mount="C:\\\\"', 1.0)]


@pytest.mark.parametrize(
    ("span", "step", "want"),
    [(3600, None, 10), (86400, None, 120), (7 * 86400, None, 900), (30 * 86400, None, 3600), (3600, 60, 60)],
)
def test_choose_step(span: float, step: float | None, want: float) -> None:
    assert choose_step(0, span, step) == want


def test_choose_step_refuses_absurd_requests() -> None:
    with pytest.raises(MetricStoreError):
        choose_step(0, 86400 * 365, 1)  # more than MAX_POINTS
    with pytest.raises(MetricStoreError):
        choose_step(0, 10, -5)
    assert 86400 * 365 / 3600 < MAX_POINTS


def test_binner_merges_samples_and_buckets() -> None:
    b = Binner(0, 1200, 600)
    b.samples([(0, 1.0), (30, 3.0), (700, 10.0)])
    b.bucket(900, codec.Bucket(2, 30.0, 5.0, 25.0))
    b.sample(5000, 99.0)  # outside the range
    avg = b.points("avg")
    assert [(p.ts, p.value, p.min, p.max) for p in avg] == [(0, 2.0, 1.0, 3.0), (600, 40 / 3, 5.0, 25.0)]
    assert [p.value for p in b.points("count")] == [2, 3]
    assert [p.value for p in b.points("sum")] == [4.0, 40.0]


def test_line_protocol_escapes_and_tags() -> None:
    report = Metrics(
        campus="main",
        device="c302-panel",
        ts=1763856000.7,
        seq=1,
        interval=30,
        metrics={
            "cpu": {"cpu_usage_percent": 28, "cpu_count": 4},
            "disk": [{"mount": "C:\\", "disk_used_percent": 79.5, "ok": True}],
            "processes": [{"name": "a b,c=d", "device": "x", "process_cpu_percent": 1e-07}],
            "empty": {"only": "labels"},
        },
    )
    lines = report_lines(report, Placement(building="b1", room="c 302", device_type="panel"))
    assert lines == [
        "cpu,building=b1,campus=main,device=c302-panel,device_type=panel,room=c\\ 302 "
        "cpu_usage_percent=28,cpu_count=4 1763856000",
        "disk,building=b1,campus=main,device=c302-panel,device_type=panel,mount=C:\\\\,room=c\\ 302 "
        "disk_used_percent=79.5,ok=1 1763856000",
        "processes,building=b1,campus=main,device=c302-panel,device_type=panel,label_device=x,"
        "name=a\\ b\\,c\\=d,room=c\\ 302 process_cpu_percent=1e-07 1763856000",
    ]
    assert (
        report_lines(report)[0]
        == "cpu,campus=main,device=c302-panel cpu_usage_percent=28,cpu_count=4 1763856000"
    )
