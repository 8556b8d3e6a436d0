"""The `influx` backend against a real VictoriaMetrics (InfluxDB line protocol on /api/v2/write):
exact round trip, a 60 s outage in the middle of a stream with the server still acknowledging MQTT,
and every PromQL expression of the shipped Grafana dashboards answering with data."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.agent_report import AgentLikeDevice
from campusmon.contract import Metrics, Scalar, encode, topic
from campusmon.probes.ifmib import Port, PortClassifier, PortRates, port_rows
from campusmon.server.metrics import Placement
from campusmon.server.metrics.influx import InfluxMetricStore, InfluxWriter, wait_drained
from campusmon.server.metrics.settings import InfluxSettings, MetricsSettings
from tests.support.mqtt import publisher
from tests.support.victoriametrics import VictoriaMetricsProcess

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetricsProcess]:
    vm = VictoriaMetricsProcess(tmp_path / "vm").start()
    try:
        yield vm
    finally:
        vm.stop()


def fast_settings(url: str) -> InfluxSettings:
    return InfluxSettings(
        url=url,
        flush_interval_seconds=0.1,
        retry_interval_seconds=0.2,
        max_retry_delay_seconds=2.0,
        jitter_seconds=0.2,
        timeout_seconds=3.0,
    )


def expected_samples(
    report: Metrics, placement: Placement
) -> set[tuple[str, tuple[tuple[str, str], ...], float, int]]:
    """What VictoriaMetrics must hold for a report: (name, labels, value, ms)."""
    base = {"campus": report.campus, "device": report.device}
    base.update(
        {
            k: v
            for k, v in (
                ("building", placement.building),
                ("room", placement.room),
                ("device_type", placement.device_type),
            )
            if v
        }
    )
    out = set()
    for group, data in report.metrics.items():
        for inst in [data] if isinstance(data, dict) else data:
            labels = dict(base)
            labels.update({k: v for k, v in inst.items() if isinstance(v, str) and v})
            for key, value in inst.items():
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                out.add(
                    (f"{group}_{key}", tuple(sorted(labels.items())), float(value), int(report.ts) * 1000)
                )
    return out


def exported(
    vm: VictoriaMetricsProcess, match: str
) -> set[tuple[str, tuple[tuple[str, str], ...], float, int]]:
    vm.flush()
    out = set()
    for series in vm.export(match):
        labels = dict(series["metric"])
        name = labels.pop("__name__")
        key = tuple(sorted(labels.items()))
        assert len(series["timestamps"]) == len(set(series["timestamps"])), f"a sample twice in {name} {key}"
        for v, ts in zip(series["values"], series["timestamps"], strict=True):
            out.add((name, key, float(v), int(ts)))
    return out


def test_writes_reach_victoriametrics_exactly(tmp_path: Path, victoria: VictoriaMetricsProcess) -> None:
    store = InfluxMetricStore(tmp_path / "metrics.db", influx=fast_settings(victoria.url))
    writer = InfluxWriter(store)
    writer.start()
    try:
        now = int(time.time())
        expected = set()
        place = Placement(building="b1", room="c302", device_type="panel")
        for i, dev in enumerate(
            [AgentLikeDevice("exact", "c302-panel"), AgentLikeDevice("exact", "c303-pc")]
        ):
            for k in range(20):
                m = dev.report(now - 3600 + 30 * k + i)
                assert store.record(m, placement=place)
                expected |= expected_samples(m, place)
        assert wait_drained(writer, 30)
        got = exported(victoria, '{campus="exact"}')
        assert len(expected) == 2 * 20 * 65
        assert got == expected
        counters = store.counters()
        assert counters["campusmon_metrics_written_reports_total"] == 40
        assert counters["campusmon_metrics_write_failures_total"] == 0
        assert counters["campusmon_metrics_spool_reports"] == 0
        # the embedded store kept everything too: the console charts from it, whatever the backend
        assert store.report_count("exact", "c302-panel") == 20
    finally:
        writer.stop()
        store.close()


@pytest.mark.slow
def test_a_60_s_outage_loses_nothing_and_ingest_never_stops(
    tmp_path: Path, victoria: VictoriaMetricsProcess, server_factory, caplog: pytest.LogCaptureFixture
) -> None:
    """Reports flow over a real Mosquitto into a real server; VictoriaMetrics is stopped for 60 s in
    the middle and restarted: every report arrives once, and the server stores (and so acknowledges)
    each report within seconds all along."""
    metrics = MetricsSettings(influx=fast_settings(victoria.url))
    server = server_factory(storage__metrics_backend="influx", metrics__influx=metrics.influx)
    assert server.metrics is not None and isinstance(server.metrics, InfluxMetricStore)
    store = server.metrics
    pub = publisher("127.0.0.1", server.config.broker.port)
    devices = [AgentLikeDevice("outage", f"pc-{i}") for i in range(4)]
    base = int(time.time()) - 2 * 3600
    sent: list[Metrics] = []
    lag: list[float] = []

    def send_round() -> None:
        n = len(sent) // len(devices)
        for d in devices:
            m = d.report(base + n)  # one second apart: every report has its own timestamp
            pub.publish(topic("outage", d.device, "metrics"), encode(m), qos=1).wait_for_publish(5)
            sent.append(m)
        t = time.monotonic()
        while store.report_count() - sent_before < len(sent):
            assert time.monotonic() - t < 10, (
                f"the server stopped taking reports: {store.report_count() - sent_before} of {len(sent)}, "
                f"ingest {server.ingestor.snapshot() if server.ingestor else None}"
            )
            time.sleep(0.01)
        lag.append(time.monotonic() - t)

    try:
        # the server's subscription is in place once a report comes through (sent again until then:
        # the same seq, stored once); only then does the stream start
        warm = AgentLikeDevice("outage-warmup", "pc-0").report(base)
        deadline = time.monotonic() + 20
        while store.report_count() == 0:
            assert time.monotonic() < deadline, "the server never stored a report"
            pub.publish(topic("outage-warmup", "pc-0", "metrics"), encode(warm), qos=1).wait_for_publish(5)
            time.sleep(0.5)
        sent_before = store.report_count()
        for _ in range(10):
            send_round()
            time.sleep(0.2)
        assert wait_drained_store(store, 20)
        victoria.stop()
        down = time.monotonic()
        while time.monotonic() - down < 60:
            send_round()
            time.sleep(0.5)
        depth_in_outage = store.spool_depth()
        failures = store.counters()["campusmon_metrics_write_failures_total"]
        victoria.start()
        for _ in range(10):
            send_round()
            time.sleep(0.2)
        assert wait_drained_store(store, 60), store.counters()
    finally:
        pub.disconnect()
        pub.loop_stop()
    assert depth_in_outage > 100 and failures >= 1
    assert max(lag) < 10
    expected = set().union(*(expected_samples(m, Placement()) for m in sent))
    got = exported(victoria, '{campus="outage"}')
    assert got == expected  # every report once: none missing, no sample twice
    counters = store.counters()
    assert counters["campusmon_metrics_written_reports_total"] == len(sent) + sent_before
    assert counters["campusmon_metrics_spool_dropped_reports_total"] == 0
    # the writer said so once when writes began to fail and once when they worked again
    said = [r.getMessage() for r in caplog.records if r.name == "campusmon.server.metrics.influx"]
    assert sum("failing" in m for m in said) == 1 and sum("work again" in m for m in said) == 1, said


def wait_drained_store(store: InfluxMetricStore, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while store.spool_depth() and time.monotonic() < deadline:
        time.sleep(0.05)
    return store.spool_depth() == 0


# -- the shipped dashboards -----------------------------------------------------------------------------
def switch_report(campus: str, device: str, ts: float, seq: int) -> Metrics:
    ports = [
        Port(i, f"Gi1/0/{i}", alias, True, i != 3, 1_000_000_000, None, None, True)
        for i, alias in ((1, "uplink"), (2, "c302"), (3, "c303"), (4, "ap-2f"))
    ]
    rates = {p.index: PortRates(1e6 * p.index + seq, 2e5 * p.index, 0.0, 0.0, 0.01, 0.0) for p in ports}
    classifier = PortClassifier(
        patterns=[("uplink", re.compile("uplink")), ("classroom", re.compile(r"^c\d"))]
    )
    rows: list[dict[str, Scalar]] = port_rows(ports, rates, classifier, school_open=True)
    probe: dict[str, Scalar] = {
        "check": "snmp",
        "probe_up": 1,
        "probe_duration_seconds": 0.21,
        "probe_failing": 0,
        "sys_uptime_seconds": 86400.0 + seq,
        "ports_total": 4,
        "ports_up": 3,
        "ports_fault": sum(int(r["port_fault"] or 0) for r in rows),
    }
    return Metrics(
        campus=campus, device=device, ts=ts, seq=seq, interval=60, metrics={"probe": probe, "ports": rows}
    )


def dashboards(flavour: str) -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((GRAFANA / "dashboards" / flavour).glob("*.json"))
    ]


def targets(board: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for panel in board["panels"]:
        for t in panel["targets"]:
            yield panel["title"], t


def test_every_promql_expression_of_the_dashboards_returns_data(
    tmp_path: Path, victoria: VictoriaMetricsProcess
) -> None:
    store = InfluxMetricStore(tmp_path / "metrics.db", influx=fast_settings(victoria.url))
    writer = InfluxWriter(store)
    writer.start()
    now = int(time.time())
    try:
        for k in range(30):
            ts = now - 1800 + 60 * k
            for i, room in enumerate(("c302", "c303", "c401")):
                d = AgentLikeDevice("main", f"{room}-panel")
                d.seq = k
                store.record(d.report(ts), placement=Placement(f"b{i % 2 + 1}", room, "panel"))
            store.record(
                switch_report("main", "sw-b1-f3", ts, k), placement=Placement("b1", "b1-idf", "switch")
            )
        assert wait_drained(writer, 30)
    finally:
        writer.stop()
        store.close()
    victoria.flush()
    values = {"$campus": "main", "$device": "c302-panel", "$switch": "sw-b1-f3", "$__range": "1h"}
    checked = 0
    for board in dashboards("prometheus"):
        variables = {v["name"]: v for v in board["templating"]["list"]}
        for name, var in variables.items():
            q = var["query"]["query"].replace("$campus", "main")
            series = re.match(r"label_values\((.*), (\w+)\)$", q)
            assert series, q
            found = victoria._get(
                "/api/v1/series", [("match[]", series.group(1)), ("start", str(now - 3600))]
            )
            assert any(s.get(series.group(2)) for s in json.loads(found)["data"]), (board["title"], name)
        for title, t in targets(board):
            expr = t["expr"]
            for var, value in values.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, expr
            answer = victoria.query(expr, at=now - 60)
            assert answer["status"] == "success", (board["title"], title, answer)
            assert answer["data"]["result"], f"{board['title']} / {title}: no data for {expr}"
            checked += 1
    assert checked >= 20


FIELDS = {
    # what the agent and the probe runner report, by group (the Flux dashboards filter on these)
    "cpu": {"cpu_usage_percent", "cpu_core_usage_percent"},
    "memory": {"memory_used_percent", "swap_used_percent"},
    "disk": {"disk_used_percent", "disk_read_bytes_per_second", "disk_write_bytes_per_second"},
    "network": {"net_rx_bytes_per_second", "net_tx_bytes_per_second"},
    "uptime": {"uptime_seconds"},
    "processes": {"process_cpu_percent"},
    "probe": {"ports_up", "ports_total", "probe_duration_seconds"},
    "ports": {
        "port_fault",
        "port_oper_up",
        "port_in_bps",
        "port_out_bps",
        "port_in_utilisation_percent",
        "port_out_utilisation_percent",
        "port_in_errors_per_second",
        "port_in_discards_per_second",
    },
}


def test_flux_dashboards_mirror_the_promql_ones_and_query_what_is_written() -> None:
    """No InfluxDB 2 can be installed here: the Flux dashboards are checked for structure only."""
    prom = {b["uid"]: b for b in dashboards("prometheus")}
    flux = {b["uid"]: b for b in dashboards("influxdb")}
    assert set(flux) == {f"{uid}-flux" for uid in prom}
    sample = AgentLikeDevice("x", "y").report(1.8e9)
    switch = switch_report("x", "sw", 1.8e9, 1)
    written = {
        (g, k)
        for m in (sample, switch)
        for g, data in m.metrics.items()
        for inst in ([data] if isinstance(data, dict) else data)
        for k in inst
    }
    for uid, board in prom.items():
        fb = flux[f"{uid}-flux"]
        assert [p["title"] for p in fb["panels"]] == [p["title"] for p in board["panels"]]
        assert {v["name"] for v in fb["templating"]["list"]} >= {
            v["name"] for v in board["templating"]["list"]
        }
        for (title, t), (_, pt) in zip(targets(fb), targets(board), strict=True):
            q = t["query"]
            assert t["datasource"]["uid"] == "campusmon-influx" and pt["datasource"]["uid"] == "campusmon-vm"
            assert q.startswith('from(bucket: "${bucket}")'), title
            assert "range(start: v.timeRangeStart, stop: v.timeRangeStop)" in q, title
            assert q.count("(") == q.count(")") and q.count("[") == q.count("]"), title
            m = re.search(r'r\._measurement == "(\w+)" and r\._field == "(\w+)"', q)
            assert m, title
            measurement, field = m.groups()
            assert field in FIELDS[measurement] and (measurement, field) in written, (
                title,
                measurement,
                field,
            )
            # the PromQL twin reads the same series (VictoriaMetrics names it measurement_field)
            assert f"{measurement}_{field}" in pt["expr"], (title, pt["expr"])
    for path in (GRAFANA / "provisioning").rglob("*.yaml"):
        assert path.read_text(encoding="utf-8").startswith("apiVersion: 1")
