"""The probe runner against a real Mosquitto: status, metrics with monotonic seq, inventory, will."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campusmon.config import build
from campusmon.contract import decode, parse_topic
from campusmon.probes.config import ProbeConfig
from campusmon.probes.runner import ProbeRunner
from tests.support.mqtt import Recorder
from tests.support.snmp_agents import Snmpsim, free_udp_port


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Snmpsim]:
    s = Snmpsim(tmp_path / "sim", ["fdb"]).start()
    try:
        yield s
    finally:
        s.stop()


def config(tmp_path: Path, broker_port: int, sim_port: int, tcp_port: int) -> ProbeConfig:
    return build(
        ProbeConfig,
        {
            "runner": {
                "campus": "main",
                "id": "probe-main",
                "state_dir": str(tmp_path / "state"),
                "jitter": 0.1,
            },
            "mqtt": {"host": "127.0.0.1", "port": broker_port, "keepalive": 5},
            "school_hours": {"mode": "never"},
            "targets": [
                {
                    "id": "sw-b1-f3",
                    "kind": "snmp",
                    "host": "127.0.0.1",
                    "interval": 1,
                    "timeout": 2,
                    "snmp": {"port": sim_port, "community": "fdb"},
                },
                {
                    "id": "sw-gone",
                    "kind": "snmp",
                    "host": "127.0.0.1",
                    "interval": 1,
                    "timeout": 2,
                    "snmp": {"port": free_udp_port(), "request_timeout": 0.3, "retries": 0},
                },
                {
                    "id": "library-db",
                    "kind": "tcp",
                    "host": "127.0.0.1",
                    "interval": 1,
                    "timeout": 1,
                    "tcp": {"port": tcp_port},
                },
            ],
        },
    )


def payloads(rec: Recorder, device: str, kind: str) -> list[Any]:
    out = []
    for name, raw, _retain in list(rec.messages):
        t = parse_topic(name)
        if t.device == device and t.kind == kind:
            out.append(decode(t, raw))
    return out


async def run_for(runner: ProbeRunner, until: Any, timeout: float = 20.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not until() and loop.time() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    await task


def test_runner_publishes_like_an_agent_and_seq_survives_restart(tmp_path, mosquitto, sim) -> None:
    rec = Recorder(mosquitto.host, mosquitto.port)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        cfg = config(tmp_path, mosquitto.port, sim.port, listener.getsockname()[1])
        try:
            asyncio.run(
                run_for(
                    ProbeRunner(cfg),
                    lambda: (
                        len(payloads(rec, "sw-b1-f3", "metrics")) >= 3 and payloads(rec, "sw-gone", "status")
                    ),
                )
            )
            first = [m.seq for m in payloads(rec, "sw-b1-f3", "metrics")]
            assert first == sorted(first) and first[0] == 0 and len(set(first)) == len(first)
            # reachable targets are online, the dead one is lost with the reason; the runner shut down cleanly
            assert [s.state for s in payloads(rec, "sw-b1-f3", "status")] == ["online"]
            gone = payloads(rec, "sw-gone", "status")
            # `lost` only after two unanswered checks in a row (lost_after = 2)
            gone_seqs = [m.seq for m in payloads(rec, "sw-gone", "metrics")]
            assert len(gone_seqs) >= 2
            assert [s.state for s in gone] == ["lost"] and gone[0].reason.startswith("timeout")
            assert [s.state for s in payloads(rec, "library-db", "status")] == ["online"]
            assert [s.state for s in payloads(rec, "probe-main", "status")] == ["online", "shutdown"]
            # the dead switch: probe_up 0, no probe_failing (its `lost` status is the one problem)
            gone_metrics = payloads(rec, "sw-gone", "metrics")[-1]
            assert gone_metrics.metrics["probe"]["probe_up"] == 0
            assert "probe_failing" not in gone_metrics.metrics["probe"]
            assert "snmp" in gone_metrics.unavailable
            # the inventory once (unchanged content is not resent), retained, with the forwarding table
            [inv] = payloads(rec, "sw-b1-f3", "inventory")
            assert inv.hash.startswith("sha256:") and len(inv.inventory["fdb"]) == 4
            # restart: seq continues where it stopped
            before = len(payloads(rec, "sw-b1-f3", "metrics"))
            asyncio.run(
                run_for(ProbeRunner(cfg), lambda: len(payloads(rec, "sw-b1-f3", "metrics")) >= before + 2)
            )
            seqs = [m.seq for m in payloads(rec, "sw-b1-f3", "metrics")]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
            assert seqs[before] == first[-1] + 1
        finally:
            rec.close()
    # a late subscriber sees the retained statuses and inventory
    late = Recorder(mosquitto.host, mosquitto.port)
    try:
        retained = {"sw-b1-f3/inventory"} | {
            f"{d}/status" for d in ("sw-b1-f3", "sw-gone", "library-db", "probe-main")
        }
        assert late.wait_for(lambda msgs: retained <= {n.split("/", 2)[2] for n, _, r in msgs if r}), (
            late.messages
        )
        states = {
            n.split("/")[2]: json.loads(p)["state"] for n, p, r in late.messages if n.endswith("/status")
        }
        assert states == {
            "sw-b1-f3": "online",
            "sw-gone": "lost",
            "library-db": "online",
            "probe-main": "shutdown",
        }
    finally:
        late.close()


def test_check_once_survives_a_hung_target(tmp_path, mosquitto) -> None:
    # a web server that accepts the connection and never answers: a timeout code, not a stuck runner
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        cfg = build(
            ProbeConfig,
            {
                "runner": {"state_dir": str(tmp_path / "state")},
                "mqtt": {"port": mosquitto.port},
                "targets": [
                    {
                        "id": "hung-web",
                        "kind": "http",
                        "timeout": 0.5,
                        "interval": 1,
                        "http": {"url": f"http://127.0.0.1:{hung.getsockname()[1]}/"},
                    },
                    {
                        "id": "bad-name",
                        "kind": "icmp",
                        "host": "no-such-host.invalid",
                        "timeout": 2,
                        "interval": 5,
                    },
                ],
            },
        )

        async def once() -> dict[str, Any]:
            return await ProbeRunner(cfg).check_once()

        results = asyncio.run(once())
    assert results["hung-web"].code == "timeout" and results["hung-web"].reachable is False
    assert results["bad-name"].code == "unreachable"
