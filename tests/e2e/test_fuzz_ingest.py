"""20,000 hostile payloads (seeded; 5,000 with PostgreSQL as the database) through a real Mosquitto
into a real `campusmon server run` process, good reports interleaved: the server never exits, stores
or tickets nothing hostile, counts every payload under its reason, stores every good report, parks
what the database refuses as a dead letter (acknowledged: not redelivered after a restart), and its
memory stays bounded.

Reproduce a failure with CAMPUSMON_FUZZ_SEED=<seed printed in the assertion>; bench/fuzz_ingest.py
runs the same with a million payloads.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select

from campusmon.server.db import Database
from campusmon.server.models import DeadLetter, Device, DeviceHistory, Ticket
from campusmon.server.register.models import Asset
from tests.support import fuzzing as fz
from tests.support import hostile as h
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt import wait_until

#: hostile payloads per run: the full count on SQLite (the default install), a quarter on PostgreSQL
COUNTS = {"sqlite": 20_000, "postgresql": 5_000}
SEED = int(os.environ.get("CAMPUSMON_FUZZ_SEED", "20261201"))
#: RSS growth allowed between warm-up and the end of the run; the server's steady state is ~80 MiB
RSS_GROWTH_LIMIT = 24 * 1024 * 1024


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_fuzz_hostile_payloads_through_a_real_server(
    tmp_path: Path, mosquitto: MosquittoProcess, backend: str, request: pytest.FixtureRequest
) -> None:
    count = COUNTS[backend]
    data = tmp_path / "server"
    cfg = tmp_path / "server.toml"
    log = tmp_path / "server.log"
    url = request.getfixturevalue("postgres") if backend == "postgresql" else ""
    fz.server_config(cfg, data, mosquitto.port, database_url=url)
    db = Database(url or f"sqlite:///{data / 'campusmon.db'}")  # migrated now, so the trigger can go in
    h.add_poison_trigger(db.engine)
    server = fz.start_server(cfg, log)
    pub = None
    try:
        assert fz.wait_log(log, "connected to broker"), log.read_text()
        pub = fz.FuzzPublisher(mosquitto.host, mosquitto.port)
        # warm-up: the server's caches, SQLite's page cache and the first devices settle
        seqs: dict[str, int] = {}
        warm = fz.run_fuzz(pub, seed=SEED + 1, count=2_000, poison=0, seqs=seqs)
        assert wait_until(
            lambda: fz.stored_reports(data / "metrics.db", fz.GOOD_PREFIX) == warm.good_reports, 240
        )
        rss_before = psutil.Process(server.pid).memory_info().rss
        started = time.monotonic()
        plan = fz.run_fuzz(pub, seed=SEED, count=count, seqs=seqs)
        total_good = warm.good_reports + plan.good_reports
        assert wait_until(
            lambda: (
                fz.stored_reports(data / "metrics.db", fz.GOOD_PREFIX) == total_good
                or server.poll() is not None
            ),
            timeout=90,
            every=0.2,
        ), f"seed {SEED}: {fz.stored_reports(data / 'metrics.db', fz.GOOD_PREFIX)} of {total_good} stored"
        elapsed = time.monotonic() - started
        assert server.poll() is None, (
            f"seed {SEED}: the server exited ({server.returncode})\n{log.read_text()[-3000:]}"
        )
        rss_after = psutil.Process(server.pid).memory_info().rss
        assert rss_after - rss_before < RSS_GROWTH_LIMIT, (rss_before, rss_after)
        assert set(plan.kinds) == set(h.BUILDERS), "every named kind is in the run"
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0

        (counted,) = fz.counters_at_stop(log)
        expected = warm.expected + plan.expected
        rejected = {k: v for k, v in counted.items() if k.startswith("rejected_")}
        assert rejected == dict(expected), f"seed {SEED}"
        assert counted["accepted_metrics"] + counted.get("accepted_stale_report", 0) == total_good
        assert counted["dead_lettered"] == plan.poisoned
        assert fz.stored_reports(data / "metrics.db", h.HOSTILE_PREFIX) == 0
        with db.session() as s:
            hostile_devices = list(
                s.scalars(select(Device.id).where(Device.device.like(h.HOSTILE_PREFIX + "%")))
            )
            assert hostile_devices == []
            assert s.scalar(select(func.count()).select_from(Ticket)) == 0
            linked = list(s.scalars(select(Asset.link_device)))
            assert sorted(str(d) for d in linked) == sorted(f"{fz.GOOD_PREFIX}{i}" for i in range(20))
            assert not s.scalar(
                select(func.count())
                .select_from(DeviceHistory)
                .where(DeviceHistory.device_id.in_(hostile_devices))
            )
            letters = list(s.scalars(select(DeadLetter)))
            assert sorted(d.topic for d in letters) == sorted(
                h.topic_of(f"{fz.POISONED_PREFIX}{i}", "status") for i in range(plan.poisoned)
            )
            assert {d.count for d in letters} == {1}

        # acknowledged: a restart with the same persistent session brings none of them back
        server = fz.start_server(cfg, log)
        assert fz.wait_log(log, "connected to broker", 2)
        time.sleep(2.0)
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
        second = fz.counters_at_stop(log)[1]
        assert not {k: v for k, v in second.items() if k.startswith(("rejected_", "accepted_", "dead_"))}
        with db.session() as s:
            assert [d.count for d in s.scalars(select(DeadLetter))] == [1] * plan.poisoned
        print(
            f"fuzz {backend} seed {SEED}: {plan.hostile} hostile + {plan.good_reports} good "
            f"in {elapsed:.1f} s "
            f"(published in {plan.publish_seconds:.1f} s), RSS {rss_before >> 20} -> {rss_after >> 20} MiB"
        )
    finally:
        if pub is not None:
            pub.close()
        if server.poll() is None:
            server.kill()
            server.wait(10)
        db.dispose()
