"""The broker is down for 60 s while the agent keeps reporting and is killed (-9) and restarted once:
after the reconnect every report arrives exactly once and in order."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from campusmon.agent.buffer import ReportBuffer
from tests.integration.test_agent_process import write_config
from tests.support.mqtt import wait_until

OUTAGE_SECONDS = 60.0


class PersistentRecorder:
    """A subscriber with a persistent session, so the broker keeps what arrives while it reconnects."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.seqs: list[int] = []
        self._lock = threading.Lock()
        self._topic = topic
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="buffer-test-recorder", protocol=mqtt.MQTTv5
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect(host, port, keepalive=5, clean_start=False, properties=props)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe(self._topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.seqs.append(int(json.loads(msg.payload)["seq"]))

    def snapshot(self) -> list[int]:
        with self._lock:
            return list(self.seqs)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def start_agent(cfg: Path) -> subprocess.Popen[bytes]:
    with (cfg.parent / "agent.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "campusmon", "agent", "run", "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=dict(os.environ),
        )


def agent_log(cfg: Path) -> str:
    return (cfg.parent / "agent.log").read_text(encoding="utf-8", errors="replace")[-3000:]


def queued(db: Path) -> int:
    buf = ReportBuffer(db)
    try:
        assert buf.check() == "ok"
        return len(buf)
    finally:
        buf.close()


@pytest.mark.slow
def test_outage_and_restart_lose_nothing_and_duplicate_nothing(tmp_path, mosquitto) -> None:
    cfg = write_config(tmp_path, mosquitto.port, device="pc-buf")
    db = tmp_path / "state" / "buffer.sqlite3"
    rec = PersistentRecorder(mosquitto.host, mosquitto.port, "campusmon/main/pc-buf/metrics")
    agent = start_agent(cfg)
    try:
        assert wait_until(lambda: len(rec.snapshot()) >= 3, timeout=20)
        mosquitto.stop()
        down_at = time.monotonic()
        # reports pile up on disk
        assert wait_until(lambda: queued(db) >= 10, timeout=30)
        # power cut in the middle of it, then the agent comes back (still no broker)
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        assert queued(db) >= 10  # the queue survived the kill -9 and is readable
        agent = start_agent(cfg)
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
        piled_up = queued(db)
        assert piled_up >= 50
        mosquitto.start()
        # the backlog drains, and live reports keep coming
        assert wait_until(lambda: queued(db) <= 2, timeout=30), agent_log(cfg)
        seen = len(rec.snapshot())
        assert wait_until(lambda: len(rec.snapshot()) >= seen + 3, timeout=20)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(15) == 0
        buf = ReportBuffer(db)
        next_seq = buf.next_seq("pc-buf")
        left = len(buf)
        buf.close()
        assert left == 0
        assert wait_until(lambda: rec.snapshot()[-1:] == [next_seq - 1], timeout=10)
        seqs = rec.snapshot()
        # every report exactly once, in order, none missing
        assert seqs == list(range(seqs[0], next_seq)), seqs
        assert seqs[0] == 0 and len(seqs) == next_seq >= piled_up
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(5)
        rec.close()
