"""The server against a real Mosquitto: malformed input, duplicates, persistent session, tickets."""

from __future__ import annotations

import json
import random
import time
import zlib
from collections import Counter

from campusmon.contract import Metrics, Status, encode
from campusmon.server.tickets import TicketService
from tests.support.mqtt import publisher, wait_until


def good_report(device: str, seq: int, ts: float | None = None, disk: float = 40.0) -> bytes:
    return encode(
        Metrics(
            campus="main",
            device=device,
            ts=ts or time.time(),
            seq=seq,
            interval=30,
            metrics={"disk": [{"mount": "/", "disk_used_percent": disk}]},
        )
    )


def bad_messages(rng: random.Random) -> list[tuple[str, bytes, str]]:
    """(topic, payload, expected counter) for each kind of bad input."""
    ok = json.loads(good_report("pc-1", 1))
    base = "campusmon/main/pc-1/metrics"

    def js(**kw: object) -> bytes:
        d = dict(ok)
        d.update(kw)
        return json.dumps(d).encode()

    def without(key: str) -> bytes:
        d = dict(ok)
        d.pop(key)
        return json.dumps(d).encode()

    return [
        (base, b"{definitely not json" + bytes([rng.randrange(256)]), "rejected_bad_json"),
        (base, b"\xff\xfe\x00garbage", "rejected_bad_json"),
        (base, b"[1, 2, 3]", "rejected_bad_schema"),
        (base, without("seq"), "rejected_bad_schema"),
        (base, js(seq="seven"), "rejected_bad_schema"),
        (base, js(interval=-3), "rejected_out_of_range"),
        (base, js(metrics=[1, 2]), "rejected_bad_schema"),
        (base, js(surprise=True), "rejected_bad_schema"),
        (base, b"{" + b" " * 300_000 + b"}", "rejected_oversized"),
        (base, zlib.compress(b'{"v":1,"pad":"' + b"a" * 400_000 + b'"}'), "rejected_oversized"),
        (base, b"\x78\x9c not zlib at all", "rejected_bad_encoding"),
        (base, js(v=2), "rejected_unknown_version"),
        (base, js(v=0), "rejected_unknown_version"),
        (base, js(device="pc-2"), "rejected_device_mismatch"),
        ("campusmon/main/pc-1/status", js(), "rejected_bad_schema"),
        ("campusmon/main/pc-1/telemetry", good_report("pc-1", 1), "rejected_bad_topic"),
        ("campusmon/Main/pc-1/metrics", good_report("pc-1", 1), "rejected_bad_topic"),
    ]


def test_malformed_flood_counts_each_kind_and_keeps_good_messages(server_factory, mosquitto) -> None:
    server = server_factory()
    pub = publisher(mosquitto.host, mosquitto.port)
    rng = random.Random(42)
    kinds = bad_messages(rng)
    expected: Counter[str] = Counter()
    good_sent = 0
    for i in range(1000):
        t, payload, outcome = kinds[i % len(kinds)]
        pub.publish(t, payload, qos=1).wait_for_publish(5)
        expected[outcome] += 1
        if i % 10 == 0:  # a good report between the bad ones
            good_sent += 1
            pub.publish("campusmon/main/pc-good/metrics", good_report("pc-good", good_sent), qos=1)
    assert server.ingestor is not None and server.metrics is not None

    def done() -> bool:
        snap = server.ingestor.snapshot()
        rejected = sum(v for k, v in snap.items() if k.startswith("rejected_"))
        return bool(rejected >= 1000 and snap.get("accepted_metrics", 0) >= good_sent)

    assert wait_until(done, timeout=60), server.ingestor.snapshot()
    snap = server.ingestor.snapshot()
    for outcome, n in expected.items():
        assert snap.get(outcome) == n, (outcome, snap)
    assert snap["accepted_metrics"] == good_sent
    # nothing of the bad ones was stored; every good one was
    assert server.metrics.report_count("main", "pc-1") == 0
    assert server.metrics.report_count("main", "pc-good") == good_sent
    assert server._worker is not None and server._worker.is_alive()
    pub.disconnect()


def test_duplicates_dropped_and_stale_replays_never_alert(server_factory, mosquitto) -> None:
    server = server_factory(rules__device_down=True)
    rule = server.config.rules.thresholds["disk_full"]
    rule.for_seconds = 0
    pub = publisher(mosquitto.host, mosquitto.port)
    old = time.time() - 3600
    for seq in range(5):  # an hour-old replay with a full disk: stored, but no ticket
        pub.publish(
            "campusmon/main/pc-1/metrics", good_report("pc-1", seq, ts=old + seq * 30, disk=97), qos=1
        )
    for _ in range(3):  # the same report three times
        pub.publish("campusmon/main/pc-1/metrics", good_report("pc-1", 5, disk=50), qos=1)
    assert server.ingestor is not None and server.metrics is not None
    assert wait_until(
        lambda: (
            server.metrics.report_count("main", "pc-1") == 6
            and server.ingestor.snapshot().get("duplicate_report") == 2
        )
    )
    assert server.ingestor.snapshot().get("accepted_stale_report") == 5
    assert TicketService(server.db).list() == []
    # a live full disk does open one ticket, repeated reports keep it one
    for seq in range(6, 9):
        pub.publish("campusmon/main/pc-1/metrics", good_report("pc-1", seq, disk=97), qos=1)
    assert wait_until(lambda: len(TicketService(server.db).list()) == 1)
    time.sleep(0.3)
    assert len(TicketService(server.db).list()) == 1
    pub.disconnect()


def test_retained_status_redelivery_is_idempotent(server_factory, mosquitto) -> None:
    pub = publisher(mosquitto.host, mosquitto.port)
    lost = encode(Status(campus="main", device="pc-9", ts=time.time(), state="lost"))
    pub.publish("campusmon/main/pc-9/status", lost, qos=1, retain=True).wait_for_publish(5)
    server = server_factory()
    assert wait_until(lambda: len(TicketService(server.db).list()) == 1)
    server.stop()
    # a restarted server gets the retained `lost` again: still one ticket, no new history
    server2 = server_factory(client_id="campusmon-server-test")
    assert server2.ingestor is not None
    assert wait_until(lambda: server2.ingestor.snapshot().get("duplicate_status", 0) >= 1)
    tickets = TicketService(server2.db).list()
    assert len(tickets) == 1 and tickets[0].status == "open"
    pub.disconnect()


def test_reports_queued_while_server_is_down_arrive_after_restart(server_factory, mosquitto) -> None:
    server = server_factory()
    server.stop()  # the persistent session stays with the broker
    pub = publisher(mosquitto.host, mosquitto.port)
    for seq in range(50):
        pub.publish("campusmon/main/pc-3/metrics", good_report("pc-3", seq), qos=1).wait_for_publish(5)
    server2 = server_factory()
    assert server2.metrics is not None
    assert wait_until(lambda: server2.metrics.report_count("main", "pc-3") == 50, timeout=20)
    pub.disconnect()
