"""The agent's buffer on a real 16 MiB tmpfs that fills up while the broker is down.

The disk refuses the queue's writes: reports keep their numbers and wait in memory (5 at most here),
the older ones beyond that are lost. After space returns and the broker is back, a subscriber sees
every report either delivered or named lost by a `buffer_error` event, whose counts add up.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.integration.test_agent_process import write_config
from tests.support.mqtt import wait_until

MEMORY_REPORTS = 5
FULL_SECONDS = 14.0  # with a report a second: about 9 more than memory holds


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        out = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(disk)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (FileNotFoundError, PermissionError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {out.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True, timeout=30, check=False)


class Subscriber:
    """Metrics seqs and events of one device, on a persistent session (the broker restarts)."""

    def __init__(self, host: str, port: int, device: str) -> None:
        self.seqs: list[int] = []
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._topic = f"campusmon/main/{device}/#"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"disk-full-{device}", protocol=mqtt.MQTTv5
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = lambda c, *a: c.subscribe(self._topic, qos=1)
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect(host, port, keepalive=5, clean_start=False, properties=props)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        with self._lock:
            if msg.topic.endswith("/metrics"):
                self.seqs.append(int(body["seq"]))
            elif msg.topic.endswith("/events"):
                self.events.append(body)

    def snapshot(self) -> tuple[list[int], list[dict[str, Any]]]:
        with self._lock:
            return list(self.seqs), list(self.events)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def fill(disk: Path) -> Path:
    """Write until the file system says ENOSPC; the file is the space to give back."""
    filler = disk / "filler"
    block = b"\0" * (64 * 1024)
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(block)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    with contextlib.suppress(OSError), filler.open("ab") as fh:  # the last partial blocks too
        for _ in range(4096):
            fh.write(b"\0" * 512)
            fh.flush()
    return filler


def lost_named(events: list[dict[str, Any]]) -> list[int]:
    return [n for e in events for a, b in e["data"]["lost_seq"] for n in range(a, b + 1)]


@pytest.mark.slow
def test_a_full_disk_loses_nothing_unaccounted(tmp_path: Path, tmpfs: Path, mosquitto) -> None:
    device = "pc-full"
    cfg = write_config(tmp_path, mosquitto.port, device=device)
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace(str(tmp_path / "state"), str(tmpfs / "state"))
        + f"[buffer]\nmemory_reports = {MEMORY_REPORTS}\n",
        encoding="utf-8",
    )
    sub = Subscriber(mosquitto.host, mosquitto.port, device)
    log = tmp_path / "agent.log"
    with log.open("wb") as err:
        agent = subprocess.Popen(
            [sys.executable, "-m", "campusmon", "agent", "run", "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=dict(os.environ),
        )

    def agent_log() -> str:
        return log.read_text(encoding="utf-8", errors="replace")[-4000:]

    try:
        assert wait_until(lambda: len(sub.snapshot()[0]) >= 3, timeout=20), agent_log()
        mosquitto.stop()
        time.sleep(2)  # a couple of reports queue on disk as usual
        filler = fill(tmpfs)
        assert wait_until(lambda: "the disk refused a write" in agent_log(), timeout=30), agent_log()
        time.sleep(FULL_SECONDS)
        assert "memory full too, lost" in agent_log()
        assert agent.poll() is None, agent_log()
        filler.unlink()  # space returns ...
        assert wait_until(lambda: "the disk takes writes again" in agent_log(), timeout=20), agent_log()
        mosquitto.start()  # ... and then the broker

        def settled() -> bool:
            seqs, events = sub.snapshot()
            errors = [e for e in events if e["kind"] == "buffer_error"]
            return bool(seqs) and any(e["data"]["disk_ok"] for e in errors) and len(seqs) >= seqs[-1] - 40

        assert wait_until(settled, timeout=60), agent_log()
        time.sleep(3)  # a few live reports after the backlog
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(15)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait(5)
            sub.close()
    assert agent.returncode == 0, agent_log()
    seqs, events = sub.snapshot()
    errors = [e for e in events if e["kind"] == "buffer_error"]
    named = lost_named(errors)
    delivered = set(seqs)
    assert named, errors  # reports were lost beyond the memory bound ...
    assert sum(e["data"]["lost_reports"] for e in errors) == len(named) == len(set(named))
    assert not delivered & set(named)  # ... and none of them was delivered after all
    top = max(delivered)
    # every number up to the last one is delivered or named lost by an event: no silent gap
    assert delivered | set(named) == set(range(top + 1)), (sorted(delivered), named)
    assert len(named) >= FULL_SECONDS - MEMORY_REPORTS - 4
    assert errors[-1]["data"]["disk_ok"] is True and errors[0]["severity"] == "critical"
    assert all(e["data"]["failed_writes"] >= 0 for e in errors)
