"""Simulated devices that speak the real MQTT contract (for the demo and for load tests)."""

from __future__ import annotations

import random
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from campusmon.contract import Group, Metrics, Status, encode, topic


@dataclass
class SimDevice:
    """One PC or panel: connects with a `lost` will, says `online`, reports, can die or shut down."""

    campus: str
    device: str
    host: str
    port: int
    interval: int = 2
    disk_percent: float = 55.0
    disk_rate_per_s: float = 0.0
    seed: int = 0
    root: str = "campusmon"
    seq: int = 0
    state: str = "new"
    _client: Any = field(default=None, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def _topic(self, kind: str) -> str:
        return topic(self.campus, self.device, kind, self.root)  # type: ignore[arg-type]

    def _status(self, state: str, reason: str | None = None) -> bytes:
        return encode(
            Status(
                campus=self.campus,
                device=self.device,
                ts=time.time(),
                state=state,  # type: ignore[arg-type]
                reason=reason,
                interval=self.interval,
                agent="campusmon-sim/1",
            )
        )

    def connect(self) -> None:
        self._rng.seed(self.seed or hash(self.device))
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"sim-{self.campus}-{self.device}", protocol=mqtt.MQTTv5
        )
        c.will_set(self._topic("status"), self._status("lost"), qos=1, retain=True)
        connected = threading.Event()
        c.on_connect = lambda *a: connected.set()
        c.connect(self.host, self.port, keepalive=10)
        c.loop_start()
        if not connected.wait(10):
            raise TimeoutError(f"{self.device}: no CONNACK within 10 s")
        c.publish(self._topic("status"), self._status("online"), qos=1, retain=True)
        self._client = c
        self.state = "online"

    def metrics(self, now: float) -> Metrics:
        r = self._rng
        self.disk_percent = min(99.0, max(1.0, self.disk_percent + self.disk_rate_per_s * self.interval))
        total = 256 * 1024**3
        disk: Group = [
            {
                "mount": "C:" if "panel" in self.device else "/",
                "disk_total_bytes": total,
                "disk_used_bytes": round(total * self.disk_percent / 100),
                "disk_used_percent": round(self.disk_percent, 1),
            }
        ]
        groups: dict[str, Group] = {
            "cpu": {"cpu_usage_percent": round(r.uniform(3, 45), 1), "cpu_count": 4},
            "memory": {"memory_total_bytes": 8 * 1024**3, "memory_used_percent": round(r.uniform(35, 70), 1)},
            "disk": disk,
            "network": [
                {
                    "nic": "eth0",
                    "net_link_up": 1,
                    "net_rx_bytes_per_second": round(r.uniform(1e3, 5e5)),
                    "net_tx_bytes_per_second": round(r.uniform(1e3, 1e5)),
                }
            ],
            "uptime": {"uptime_seconds": round(now - 3600)},
        }
        self.seq += 1
        return Metrics(
            campus=self.campus,
            device=self.device,
            ts=now,
            seq=self.seq,
            interval=self.interval,
            metrics=groups,
        )

    def report(self) -> None:
        if self.state == "online" and self._client is not None:
            self._client.publish(self._topic("metrics"), encode(self.metrics(time.time())), qos=1)

    def shutdown(self, reason: str = "end of lesson") -> None:
        """A clean stop: `shutdown` status, then DISCONNECT (the broker drops the will)."""
        if self._client is None:
            return
        info = self._client.publish(
            self._topic("status"), self._status("shutdown", reason), qos=1, retain=True
        )
        info.wait_for_publish(timeout=5)
        self._client.disconnect()
        self._client.loop_stop()
        self._client = None
        self.state = "shutdown"

    def vanish(self) -> None:
        """Power cut: the socket closes with no DISCONNECT, so the broker publishes the will."""
        if self._client is None:
            return
        sock = self._client.socket()
        self._client.loop_stop()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._client = None
        self.state = "lost"
