"""District acceptance: three `campusmon server run` workers on one PostgreSQL, one central Mosquitto and
VictoriaMetrics share twelve campuses through leases.

- kill -9 of a worker during a burst of faults: its campuses are owned again within 30 s; every report
  is stored exactly once (each report's seq is its `uptime_seconds`, read back from VictoriaMetrics);
  every fault has exactly one ticket; no notification is sent twice (a local webhook counts them);
- a worker started, then another stopped cleanly: the campuses rebalance, nothing lost or duplicated.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from campusmon.demo.simulator import SimDevice
from campusmon.server.db import Database
from campusmon.server.models import Device, Ticket
from tests.support.district import (
    ReportPublisher,
    WorkerProcess,
    local_reports,
    notified_tickets,
    owners,
    stored_seqs,
    worker_config,
)
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt import wait_until
from tests.support.receivers import RobotReceiver
from tests.support.victoriametrics import VictoriaMetricsProcess

CAMPUSES = [f"c{i:02d}" for i in range(1, 13)]
#: devices with a live MQTT connection (a will) per campus; faults are injected on them
LIVE_PER_CAMPUS = 3
#: further devices per campus that only send numbered reports
REPORTERS_PER_CAMPUS = 5


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[VictoriaMetricsProcess]:
    # a sample written twice (a report redelivered to the campus's next owner) is kept once
    proc = VictoriaMetricsProcess(tmp_path / "vm", extra=("-dedup.minScrapeInterval=1ms",)).start()
    try:
        yield proc
    finally:
        proc.stop()


def _balanced(cfg: Path, workers: int) -> bool:
    own = owners(cfg)
    per = Counter(own.values())
    return set(own) == set(CAMPUSES) and len(per) == workers and max(per.values()) - min(per.values()) <= 1


@pytest.mark.slow
def test_district_takeover_and_rebalance(
    tmp_path: Path, mosquitto: MosquittoProcess, postgres: str, vm: VictoriaMetricsProcess
) -> None:
    hook = RobotReceiver("webhook")
    workers: dict[str, WorkerProcess] = {}

    def add_worker(name: str) -> WorkerProcess:
        cfg = worker_config(
            tmp_path / f"{name}.toml",
            name=name,
            data_dir=tmp_path / name,
            broker_port=mosquitto.port,
            database_url=postgres,
            campuses=CAMPUSES,
            vm_url=vm.url,
            webhook=hook.url,
        )
        workers[name] = WorkerProcess(name, cfg, tmp_path / f"{name}.log").start()
        return workers[name]

    sims: list[SimDevice] = []
    pub: ReportPublisher | None = None
    try:
        for name in ("w1", "w2", "w3"):
            add_worker(name)
        cfg = workers["w1"].config
        assert wait_until(lambda: _balanced(cfg, 3), timeout=60, every=0.5), owners(cfg)
        time.sleep(2.0)  # every session subscribed (the broker keeps what comes from now on)

        for campus in CAMPUSES:
            for i in range(LIVE_PER_CAMPUS):
                # a long interval: they only say online/lost here (the reports come from `pub`)
                sim = SimDevice(campus, f"pc{i}", mosquitto.host, mosquitto.port, interval=3600)
                sim.connect()
                sims.append(sim)
        db = Database(postgres, run_migrations=False)

        def online() -> int:
            with db.session() as s:
                return sum(d.state == "online" for d in s.scalars(select(Device)))

        assert wait_until(lambda: online() == len(sims), timeout=60, every=0.5), online()
        reporters = [(c, f"r{i}") for c in CAMPUSES for i in range(REPORTERS_PER_CAMPUS)]
        pub = ReportPublisher(mosquitto.host, mosquitto.port, reporters, rate=150.0).start()
        time.sleep(3.0)

        # a burst of faults: one device per campus loses power over 4 s; a worker dies in the middle
        victim = "w2"
        theirs = {c for c, w in owners(cfg).items() if w == victim}
        rng = random.Random(14)
        faulty = [s for s in sims if s.device == "pc0"]
        drops = [threading.Timer(rng.uniform(0, 4.0), s.vanish) for s in faulty]
        for t in drops:
            t.start()
        time.sleep(1.5)
        workers[victim].kill9()
        killed_at = time.monotonic()
        assert wait_until(
            lambda: set(owners(cfg)) == set(CAMPUSES) and victim not in owners(cfg).values(),
            timeout=30,
            every=0.5,
        ), owners(cfg)
        takeover = time.monotonic() - killed_at
        for t in drops:
            t.join()

        # the service manager restarts the killed worker: it rejoins, and writes what its spool
        # still held to VictoriaMetrics (stored before it died, acknowledged, not yet written)
        workers[victim].start()
        assert wait_until(lambda: _balanced(cfg, 3), timeout=60, every=0.5), owners(cfg)
        # rebalance: a fourth worker joins, then one leaves cleanly, reports flowing all along
        add_worker("w4")
        assert wait_until(lambda: _balanced(cfg, 4), timeout=60, every=0.5), owners(cfg)
        assert workers["w3"].stop() == 0
        assert wait_until(lambda: _balanced(cfg, 3), timeout=60, every=0.5), owners(cfg)
        pub.stop()

        def all_stored() -> bool:
            got = stored_seqs(vm, CAMPUSES)
            return all(len(set(got.get(k, []))) == n for k, n in pub.sent.items())

        assert wait_until(all_stored, timeout=90, every=2.0)
        got = stored_seqs(vm, CAMPUSES)
        for key, n in pub.sent.items():
            assert sorted(got[key]) == list(range(1, n + 1)), key  # every seq, each exactly once

        def tickets() -> list[Ticket]:
            with db.session() as s:
                return list(s.scalars(select(Ticket)))

        assert wait_until(lambda: len(tickets()) >= len(faulty), timeout=60, every=0.5)
        time.sleep(3.0)  # a few sweeps later nothing more appears
        got_tickets = tickets()
        per_fault = Counter((t.campus, t.device, t.problem) for t in got_tickets)
        assert set(per_fault) == {(s.campus, s.device, "device_down") for s in faulty}, per_fault
        assert set(per_fault.values()) == {1}
        opened = {t.id for t in got_tickets}
        assert wait_until(
            lambda: {tid for tid, ev in notified_tickets(hook) if ev == "opened"} == opened, timeout=30
        ), notified_tickets(hook)
        time.sleep(2.0)
        assert set(notified_tickets(hook).values()) == {1}, "a notification was sent twice"
        for w in workers.values():
            w.stop()
        local = local_reports(tmp_path / name for name in workers)
        twice = sum(1 for (c, d, _), n in local.items() if d.startswith("r") and n > 1)
        print(
            f"takeover of {sorted(theirs)} after kill -9: {takeover:.1f} s; "
            f"{sum(pub.sent.values())} reports, {len(got_tickets)} tickets, "
            f"{len(hook.received)} webhook messages; reports in two workers' embedded stores: {twice}"
        )
        db.dispose()
    finally:
        if pub is not None:
            pub.stop()
        for s in sims:
            s.vanish()
        for w in workers.values():
            w.stop()
        hook.close()
