"""Simulated devices that speak the real MQTT contract (for the demo and for load tests).

Each one publishes what the Windows agent publishes: a retained status, reports, a retained inventory
in the agent's shape (SMBIOS serials and UUID, MACs, RAM modules, disks, monitors, USB devices; a
panel has its document camera and touch screen) and peripheral events.
"""

from __future__ import annotations

import hashlib
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from campusmon.contract import Event, Group, Inventory, Metrics, Status, encode, topic
from campusmon.hashing import content_hash

GIB = 2**30
DOCUMENT_CAMERA = {
    "id": "0c45:6366",
    "manufacturer": "Microsoft",
    "product": "USB Video Device",
    "class": "Camera",
    "video": True,
}
TOUCH_SCREEN = {
    "id": "222a:0001",
    "manufacturer": "ILITEK",
    "product": "HID-compliant touch screen",
    "class": "HIDClass",
    "video": False,
}


def hardware_of(campus: str, device: str) -> dict[str, Any]:
    """A plausible, stable Windows inventory for a simulated PC or panel (same device, same serials)."""
    digest = hashlib.sha256(f"{campus}/{device}".encode()).digest()
    n = int.from_bytes(digest[:4], "big")
    panel = "panel" in device
    vendor, product = ("Seewo", "SW-OPS-I5-10") if panel else ("LENOVO", "ThinkCentre M720t")
    serial = f"{'OPS' if panel else 'PF'}{n % 10**8:08d}"
    mac = "d8:bb:c1:" + ":".join(f"{b:02x}" for b in digest[4:7])
    ip = f"10.12.{digest[7] % 250 + 1}.{digest[8] % 250 + 2}"
    modules = [
        {
            "slot": slot,
            "size_bytes": 8 * GIB,
            "manufacturer": "Samsung",
            "part_number": "M378A1K43DB2-CWE",
            "serial": f"{(n + i * 7919) % 16**8:08X}",
            "speed_mhz": 2666,
        }
        for i, slot in enumerate(("ChannelA-DIMM0", "ChannelB-DIMM0"))
    ]
    usb = [dict(DOCUMENT_CAMERA), dict(TOUCH_SCREEN)] if panel else []
    usb.append(
        {"id": "046d:c31c", "manufacturer": "Logitech", "product": "USB Keyboard", "class": "Keyboard"}
    )
    return {
        "hostname": device.upper(),
        "os": {
            "name": "Microsoft Windows 10 Pro",
            "version": "10.0.19045",
            "build": "19045",
            "arch": "64-bit",
        },
        "cpu": {
            "model": "Intel(R) Core(TM) i5-10500 CPU @ 3.10GHz",
            "sockets": 1,
            "cores": 6,
            "logical_cores": 12,
        },
        "memory": {"total_bytes": 16 * GIB, "modules": modules},
        "disks": [
            {
                "model": "SAMSUNG MZVLB256HBHQ-000L7",
                "serial": f"S4EL{n % 10**8:08d}",
                "size_bytes": 256_060_514_304,
                "interface": "SCSI",
                "removable": False,
            }
        ],
        "nics": [
            {
                "name": "Ethernet",
                "description": "Intel(R) Ethernet Connection I219-LM",
                "mac": mac,
                "ips": [ip],
                "builtin": True,
            }
        ],
        "smbios": {
            "vendor": vendor,
            "product": product,
            "serial": serial,
            "uuid": str(uuid.UUID(bytes=digest[8:24])),
            "board_vendor": vendor,
            "board_product": "3130",
            "board_serial": f"L1HF{n % 10**7:07d}",
            "bios_vendor": vendor,
            "bios_version": "M2WKT4AA",
        },
        "monitors": [
            {
                "maker": "HKC" if panel else "LEN",
                "model": "HKC 86 TOUCH" if panel else "T24i-10",
                "serial": f"V{n % 10**7:07d}",
            }
        ],
        "usb": usb,
    }


def camera_event(campus: str, device: str, plugged: bool) -> Event:
    """The agent's peripheral event for a document camera unplugged or plugged back."""
    before, now = (0, 1) if plugged else (1, 0)
    return Event(
        campus=campus,
        device=device,
        ts=time.time(),
        kind="peripheral_added" if plugged else "peripheral_removed",
        severity="info" if plugged else "warning",
        message=f"document camera (USB video): {before} -> {now}",
        data={"peripheral": "usb_camera", "before": before, "now": now},
    )


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
    #: the inventory it publishes (retained, like the agent): `hardware_of` unless given
    hardware: dict[str, Any] = field(default_factory=dict)
    camera_plugged: bool = True
    #: its own broker user (the managed broker refuses anonymous clients)
    username: str | None = None
    password: str | None = None
    keepalive: int = 10
    reconnect_max_seconds: int = 5
    _connected_at: float = field(default=0.0, repr=False)
    _up: threading.Event = field(default_factory=threading.Event, repr=False)
    _refused: list[Any] = field(default_factory=list, repr=False)
    _client: Any = field(default=None, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def _topic(self, kind: str) -> str:
        return topic(self.campus, self.device, kind, self.root)  # type: ignore[arg-type]

    def _status(self, state: str, reason: str | None = None, ts: float | None = None) -> bytes:
        return encode(
            Status(
                campus=self.campus,
                device=self.device,
                ts=time.time() if ts is None else ts,
                state=state,  # type: ignore[arg-type]
                reason=reason,
                interval=self.interval,
                agent="campusmon-sim/1",
                connected=self._connected_at or None,
            )
        )

    def _arm_will(self, client: Any, userdata: Any = None) -> None:
        """Like the agent: every (re)connect has its own will, stamped with the connect time."""
        self._connected_at = max(time.time(), self._connected_at + 0.001)
        will = self._status("lost", ts=self._connected_at)
        client.will_set(self._topic("status"), will, qos=1, retain=True)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._refused.append(reason)
        else:  # `online` on every connect, also paho's own reconnects
            client.publish(self._topic("status"), self._status("online"), qos=1, retain=True)
        self._up.set()

    def connect(self) -> None:
        self._rng.seed(self.seed or hash(self.device))
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"sim-{self.campus}-{self.device}", protocol=mqtt.MQTTv5
        )
        if self.username:
            c.username_pw_set(self.username, self.password)
        self._arm_will(c)
        c.on_pre_connect = self._arm_will
        self._up.clear()
        self._refused.clear()
        c.on_connect = self._on_connect
        c.reconnect_delay_set(min_delay=1, max_delay=self.reconnect_max_seconds)
        c.connect(self.host, self.port, keepalive=self.keepalive)
        c.loop_start()
        if not self._up.wait(10):
            raise TimeoutError(f"{self.device}: no CONNACK within 10 s")
        if self._refused:
            c.loop_stop()
            raise ConnectionRefusedError(f"{self.device}: the broker refused the login: {self._refused[0]}")
        self._client = c
        self.state = "online"
        self.publish_inventory()

    @property
    def is_panel(self) -> bool:
        return "panel" in self.device

    def publish_inventory(self) -> None:
        """The retained inventory, with the identity the agent derives from it."""
        if not self.hardware:
            self.hardware = hardware_of(self.campus, self.device)
        if self._client is None:
            return
        sm = self.hardware["smbios"]
        identity = {
            "smbios_uuid": sm["uuid"],
            "board_serial": sm["board_serial"],
            "system_serial": sm["serial"],
            "macs": ",".join(n["mac"] for n in self.hardware["nics"] if n.get("builtin")),
        }
        msg = Inventory(
            campus=self.campus,
            device=self.device,
            ts=time.time(),
            hash=content_hash(self.hardware),
            identity=identity,
            inventory=self.hardware,
        )
        self._client.publish(self._topic("inventory"), encode(msg), qos=1, retain=True)

    def remove_ram_module(self) -> dict[str, Any]:
        """Someone opens the case and takes a module: the next inventory lacks it. Returns the module."""
        mem = self.hardware["memory"]
        module: dict[str, Any] = mem["modules"].pop()
        mem["total_bytes"] -= module["size_bytes"]
        self.publish_inventory()
        return module

    def set_camera(self, plugged: bool) -> None:
        """The document camera is unplugged or plugged back: the agent's peripheral event."""
        if plugged == self.camera_plugged:
            return
        self.camera_plugged = plugged
        event = camera_event(self.campus, self.device, plugged)
        if self._client is not None:
            self._client.publish(self._topic("events"), encode(event), qos=1)

    def metrics(self, now: float) -> Metrics:
        r = self._rng
        self.disk_percent = min(99.0, max(1.0, self.disk_percent + self.disk_rate_per_s * self.interval))
        total = 256 * 1024**3
        disk: Group = [
            {
                "mount": "C:",
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
        if self.is_panel:
            groups["peripherals"] = {
                "display_connected_count": 1,
                "touchscreen_count": 1,
                "usb_camera_count": 1 if self.camera_plugged else 0,
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
