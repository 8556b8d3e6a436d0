"""How results become MQTT messages: status on change after `lost_after` misses, seq, inventory hash."""

from __future__ import annotations

import json
from pathlib import Path

from campusmon.config import build
from campusmon.probes.config import ProbeConfig
from campusmon.probes.result import ProbeResult
from campusmon.probes.runner import ProbeRunner


class Captured(ProbeRunner):
    """The runner with its MQTT publish replaced by a list."""

    sent: list[tuple[str, dict[str, object], bool]]

    def _publish(self, topic_: str, payload: bytes, retain: bool = False) -> None:
        self.sent.append((topic_, json.loads(payload), retain))


def runner(tmp_path: Path) -> Captured:
    cfg = build(
        ProbeConfig,
        {
            "runner": {"campus": "main", "state_dir": str(tmp_path)},
            "targets": [{"id": "library-db", "kind": "tcp", "host": "10.0.0.9", "tcp": {"port": 5432}}],
        },
    )
    r = Captured(cfg)
    r.sent = []
    return r


def kinds(r: Captured) -> list[str]:
    out = []
    for topic, payload, _ in r.sent:
        kind = topic.rsplit("/", 1)[1]
        out.append(f"status:{payload['state']}" if kind == "status" else kind)
    r.sent.clear()
    return out


def test_status_changes_only_after_lost_after_misses_and_on_change(tmp_path) -> None:
    r = runner(tmp_path)
    st = r.targets["library-db"]
    r.record(st, ProbeResult("tcp", "timeout", "no answer"))
    assert kinds(r) == ["metrics"]  # one miss: not lost yet
    r.record(st, ProbeResult("tcp", "timeout", "no answer"))
    assert kinds(r) == ["status:lost", "metrics"]
    r.record(st, ProbeResult("tcp", "timeout", "no answer"))
    assert kinds(r) == ["metrics"]  # still lost: nothing new
    r.record(st, ProbeResult("tcp", "refused", "reset"))
    assert kinds(r) == ["status:online", "metrics"]  # answered (with a reset): it is there
    r.record(st, ProbeResult("tcp", "timeout", "no answer"))
    r.record(st, ProbeResult("tcp", "ok", "connected"))
    assert kinds(r) == ["metrics", "metrics"]  # a single miss between answers changes nothing
    r.record(st, ProbeResult("tcp", "permission_denied", "local problem"))
    assert kinds(r) == ["metrics"]


def test_metrics_payload_seq_and_probe_failing(tmp_path) -> None:
    r = runner(tmp_path)
    st = r.targets["library-db"]
    r.record(st, ProbeResult("tcp", "refused", "reset"))
    r.record(st, ProbeResult("tcp", "timeout", "no answer"))
    metrics = [p for t, p, _ in r.sent if t.endswith("/metrics")]
    assert [m["seq"] for m in metrics] == [0, 1]
    first, second = (m["metrics"]["probe"] for m in metrics)  # type: ignore[index]
    assert first["probe_failing"] == 1 and first["probe_up"] == 1
    assert "probe_failing" not in second and second["probe_up"] == 0
    assert metrics[1]["unavailable"] == {"tcp": "timeout: no answer"}
    # a new runner on the same state directory continues the sequence
    again = runner(tmp_path)
    again.record(again.targets["library-db"], ProbeResult("tcp", "ok", "connected"))
    assert [p["seq"] for t, p, _ in again.sent if t.endswith("/metrics")] == [2]


def test_inventory_sent_when_it_changes(tmp_path) -> None:
    r = runner(tmp_path)
    st = r.targets["library-db"]
    for serial in ("A1", "A1", "B2"):
        r.record(st, ProbeResult("tcp", "ok", "", inventory={"serial": serial}, identity={"serial": serial}))
    inventories = [(p, retain) for t, p, retain in r.sent if t.endswith("/inventory")]
    assert [(p["inventory"], retain) for p, retain in inventories] == [
        ({"serial": "A1"}, True),
        ({"serial": "B2"}, True),
    ]
    assert inventories[0][0]["hash"] != inventories[1][0]["hash"]
