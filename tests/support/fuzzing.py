"""Drive a real `campusmon server run` process with hostile payloads through a real broker, good
reports interleaved; shared by tests/e2e/test_fuzz_ingest.py and bench/fuzz_ingest.py."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support import hostile as h

GOOD_PREFIX = "good-"
POISONED_PREFIX = "poisoned-"


def server_config(path: Path, data: Path, port: int, database_url: str = "", client_id: str = "fuzz") -> None:
    path.write_text(
        f'log_level = "info"\n[broker]\nmanaged = false\nhost = "127.0.0.1"\nport = {port}\n'
        f'client_id = "campusmon-{client_id}"\n[storage]\ndata_dir = "{data}"\n'
        + (f'database_url = "{database_url}"\n' if database_url else "")
        + '[schedule]\ndefault = "always"\n',
        encoding="utf-8",
    )


def start_server(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "campusmon", "server", "run", "--config", str(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=fh,
            env=dict(os.environ),
        )


def wait_log(log: Path, text: str, count: int = 1, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and log.read_text(errors="replace").count(text) >= count:
            return True
        time.sleep(0.1)
    return False


def counters_at_stop(log: Path) -> list[dict[str, int]]:
    """The `ingest counters at stop` line of every run of the server that wrote `log`."""
    found = re.findall(r"ingest counters at stop: (\{.*\})", log.read_text(errors="replace"))
    return [json.loads(f) for f in found]


def stored_reports(metrics_db: Path, prefix: str) -> int:
    """Reports of devices whose id starts with `prefix` (read-only: the server keeps writing)."""
    if not metrics_db.exists():
        return 0
    conn = sqlite3.connect(f"file:{metrics_db}?mode=ro", uri=True, timeout=10)
    try:
        (n,) = conn.execute(
            "SELECT COUNT(*) FROM reports JOIN devices ON devices.id = reports.device_id "
            "WHERE devices.device LIKE ?",
            (prefix + "%",),
        ).fetchone()
    except sqlite3.OperationalError:  # the server has not created its tables yet
        return 0
    finally:
        conn.close()
    return int(n)


@dataclass
class Plan:
    """What was published, and what the server must have counted for it."""

    hostile: int = 0
    #: rejected_<reason> -> how many
    expected: Counter[str] = field(default_factory=Counter)
    #: hostile payloads by kind name
    kinds: Counter[str] = field(default_factory=Counter)
    good_reports: int = 0
    good_other: int = 0
    poisoned: int = 0
    bytes_sent: int = 0
    publish_seconds: float = 0.0


class FuzzPublisher:
    """One MQTT v5 client publishing QoS 1, at most `window` messages unacknowledged."""

    def __init__(self, host: str, port: int, window: int = 2000) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.connect(host, port, keepalive=60)
        self.client.loop_start()
        self.window = window
        self._pending: list[mqtt.MQTTMessageInfo] = []

    def publish(self, topic: str, payload: bytes) -> None:
        self._pending.append(self.client.publish(topic, payload, qos=1))
        if len(self._pending) >= self.window:
            self.drain()

    def drain(self, timeout: float = 60.0) -> None:
        for info in self._pending:
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise TimeoutError("the broker did not acknowledge a publish")
        self._pending.clear()

    def close(self) -> None:
        self.drain()
        self.client.disconnect()
        self.client.loop_stop()


def run_fuzz(
    pub: FuzzPublisher,
    *,
    seed: int,
    count: int,
    good_every: int = 20,
    good_devices: int = 20,
    poison: int = 5,
    seqs: dict[str, int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Plan:
    """Publish `count` hostile payloads with one good message every `good_every` of them (statuses,
    inventories and events first, then reports), and `poison` valid statuses the database refuses.
    `seqs` carries each good device's last seq from one run to the next."""
    plan = Plan()
    started = time.monotonic()
    goods = [f"{GOOD_PREFIX}{i}" for i in range(good_devices)]
    for d in goods:
        now = time.time()
        for kind, payload in (("status", h.good_status(d, now)), ("inventory", h.good_inventory(d, now))):
            pub.publish(h.topic_of(d, kind), payload)
            plan.good_other += 1
    for i in range(poison):
        d = f"{POISONED_PREFIX}{i}"
        pub.publish(h.topic_of(d, "status"), h.poison_status(d, time.time()))
        plan.poisoned += 1
    seqs = seqs if seqs is not None else {}
    for d in goods:
        seqs.setdefault(d, 0)
    stream = h.fuzz(seed, time.time)
    for n in range(count):
        bad = next(stream)
        pub.publish(bad.topic, bad.payload)
        plan.hostile += 1
        plan.bytes_sent += len(bad.payload)
        plan.expected[f"rejected_{bad.reason}"] += 1
        plan.kinds[bad.name] += 1
        if n % good_every == 0:
            d = goods[(n // good_every) % len(goods)]
            seqs[d] += 1
            if seqs[d] % 50 == 0:  # now and then an event instead
                pub.publish(h.topic_of(d, "events"), h.good_event(d, time.time()))
                plan.good_other += 1
            pub.publish(h.topic_of(d, "metrics"), h.good_metrics(d, seqs[d], time.time()))
            plan.good_reports += 1
        if progress is not None and n % 10_000 == 0:
            progress(n)
    # the last message: once it is stored, everything before it was handled (one ordered queue)
    last = goods[0]
    seqs[last] += 1
    pub.publish(h.topic_of(last, "metrics"), h.good_metrics(last, seqs[last], time.time()))
    plan.good_reports += 1
    pub.drain()
    plan.publish_seconds = time.monotonic() - started
    return plan
