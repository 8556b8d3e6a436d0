"""Hostile payloads by the million: a seeded stream of every hostile kind (tests/support/hostile.py)
through a real Mosquitto into a real `campusmon server run` process, good reports interleaved.
Prints payloads/s, the server's CPU and RSS over the run, rejects by reason, what was stored.

    .venv/bin/python -m bench.fuzz_ingest --count 1000000 --seed 7

The run fails (exit 1) if the server exits, stores anything hostile, misses a good report, or counts a
payload under another reason than the one it was built for.
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import psutil

from campusmon.server.db import Database
from tests.support import fuzzing as fz
from tests.support import hostile as h
from tests.support.mosquitto import MosquittoProcess


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.samples: list[int] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            try:
                self.samples.append(self.proc.memory_info().rss)
            except psutil.NoSuchProcess:
                return


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=1_000_000, help="hostile payloads (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--good-every", type=int, default=20, help="one good report per N hostile payloads")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="campusmon-fuzz-") as tmp:
        work = Path(tmp)
        broker = MosquittoProcess(work / "broker").start()
        data, cfg, log = work / "server", work / "server.toml", work / "server.log"
        fz.server_config(cfg, data, broker.port)
        db = Database(f"sqlite:///{data / 'campusmon.db'}")
        h.add_poison_trigger(db.engine)  # a few valid messages the database refuses: dead letters
        db.dispose()
        server = fz.start_server(cfg, log)
        try:
            if not fz.wait_log(log, "connected to broker"):
                print(log.read_text())
                return 1
            proc = psutil.Process(server.pid)
            rss = RssSampler(server.pid)
            rss.start()
            pub = fz.FuzzPublisher(broker.host, broker.port)
            started = time.monotonic()
            cpu_before = sum(proc.cpu_times()[:2])

            def progress(n: int) -> None:
                if n:
                    rate = n / (time.monotonic() - started)
                    print(
                        f"  {n:>9,} published, {rate:,.0f}/s, server RSS {proc.memory_info().rss >> 20} MiB"
                    )

            plan = fz.run_fuzz(
                pub, seed=args.seed, count=args.count, good_every=args.good_every, progress=progress
            )
            pub.close()
            metrics_db = data / "metrics.db"
            while fz.stored_reports(metrics_db, fz.GOOD_PREFIX) < plan.good_reports and server.poll() is None:
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            cpu = sum(proc.cpu_times()[:2]) - cpu_before
            alive = server.poll() is None
            rss.stopped.set()
            server.send_signal(signal.SIGTERM)
            exit_code = server.wait(60)
        finally:
            if server.poll() is None:
                server.kill()
            broker.stop()
        counted = fz.counters_at_stop(log)[-1] if alive else {}
        rejected = {k: v for k, v in counted.items() if k.startswith("rejected_")}
        good = fz.stored_reports(data / "metrics.db", fz.GOOD_PREFIX)
        hostile_stored = fz.stored_reports(data / "metrics.db", h.HOSTILE_PREFIX)
        conn = sqlite3.connect(data / "campusmon.db")
        hostile_devices = conn.execute(
            "SELECT COUNT(*) FROM devices WHERE device LIKE ?", (h.HOSTILE_PREFIX + "%",)
        ).fetchone()[0]
        tickets = conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
        conn.close()
        messages = plan.hostile + plan.good_reports + plan.good_other + plan.poisoned

        print(f"\nseed {args.seed}: {plan.hostile:,} hostile payloads ({plan.bytes_sent / 2**20:,.0f} MiB), "
              f"{plan.good_reports:,} good reports, {plan.good_other} other good messages")  # fmt: skip
        print(f"end to end: {elapsed:.0f} s, {messages / elapsed:,.0f} messages/s "
              f"(publishing took {plan.publish_seconds:.0f} s)")  # fmt: skip
        print(f"server: exit code {exit_code}, alive through the run: {alive}, CPU {cpu:.0f} s "
              f"({cpu / messages * 1e6:.0f} us per message)")  # fmt: skip
        if rss.samples:
            print(f"server RSS: start {rss.samples[0] >> 20} MiB, peak {max(rss.samples) >> 20} MiB, "
                  f"end {rss.samples[-1] >> 20} MiB ({len(rss.samples)} samples)")  # fmt: skip
        letters = counted.get("dead_lettered", 0)
        print(f"stored: {good:,} of {plan.good_reports:,} good reports; hostile: {hostile_stored} reports, "
              f"{hostile_devices} devices, {tickets} tickets; dead letters {letters}")  # fmt: skip
        print("rejects by reason (counted / built):")
        for key in sorted(set(rejected) | set(plan.expected)):
            print(f"  {key:32} {rejected.get(key, 0):>9,} / {plan.expected.get(key, 0):>9,}")
        ok = (
            alive
            and exit_code == 0
            and good == plan.good_reports
            and hostile_stored == hostile_devices == tickets == 0
            and rejected == dict(plan.expected)
            and counted.get("dead_lettered", 0) == plan.poisoned
        )
        print("OK" if ok else "FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
