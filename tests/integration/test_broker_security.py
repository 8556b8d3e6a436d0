"""The managed broker as `campusmon server run` starts it: no anonymous client, every device bound to
its own topics in its own campus (MQTT v5 and v3.1.1), private files, users added without a restart."""

from __future__ import annotations

import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from campusmon.server.broker import ManagedBroker
from campusmon.server.broker_auth import BrokerUsers, CredentialsError, Login, mosquitto_hash
from tests.support.mosquitto import free_port
from tests.support.mqtt import Recorder, wait_until

V5, V311 = mqtt.MQTTv5, mqtt.MQTTv311
NOT_AUTHORIZED = 135


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ManagedBroker]:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    b = ManagedBroker(data / "broker", port=free_port())
    b.start()
    try:
        yield b
    finally:
        b.stop()


class Conn:
    """One client: its CONNACK, and the PUBACK reason of each QoS 1 publish."""

    def __init__(self, port: int, login: Login | None, protocol: MQTTProtocolVersion) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=protocol
        )
        if login is not None:
            self.client.username_pw_set(login.username, login.password)
        self.acks: dict[int, Any] = {}
        self._connack = threading.Event()
        self.connack: Any = None
        self.client.on_connect = self._on_connect
        self.client.on_publish = lambda c, u, mid, reason, props: self.acks.__setitem__(mid, reason)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self._connack.wait(10), "no CONNACK"

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connack = reason
        self._connack.set()

    @property
    def refused(self) -> bool:
        return bool(self.connack.is_failure)

    def publish(self, topic: str, payload: bytes) -> Any:
        info = self.client.publish(topic, payload, qos=1)
        assert wait_until(lambda: info.mid in self.acks, timeout=10), f"no PUBACK for {topic}"
        return self.acks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def refused(port: int, login: Login, protocol: MQTTProtocolVersion = V5) -> bool:
    c = Conn(port, login, protocol)
    c.close()
    return c.refused


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("protocol", [V5, V311], ids=["v5", "v3.1.1"])
def test_anonymous_and_wrong_passwords_are_refused(
    broker: ManagedBroker, protocol: MQTTProtocolVersion
) -> None:
    for login in (None, Login("campusmon-server", "guess"), Login("nobody", "x")):
        c = Conn(broker.port, login, protocol)
        try:
            assert c.refused and str(c.connack) == "Not authorized", (login, c.connack)
        finally:
            c.close()


def test_v5_a_device_writes_only_its_own_topics_in_its_own_campus(broker: ManagedBroker) -> None:
    users = broker.users
    a = users.add_device("main", "pc-a")
    users.add_device("main", "pc-b")
    users.add_device("east", "pc-a")  # the same id in another campus is another user
    server = broker.server_login
    assert server is not None
    rec = Recorder("127.0.0.1", broker.port, username=server.username, password=server.password)
    c = Conn(broker.port, a, V5)
    try:
        assert not c.refused
        assert c.publish("campusmon/main/pc-a/metrics", b"own").value == 0
        for topic in (
            "campusmon/main/pc-b/status",  # another device of its campus
            "campusmon/east/pc-a/status",  # its own id under another campus
            "campusmon/east/pc-z/metrics",
            "campusmon/main/pc-a",  # not below its own level
            "other/main/pc-a/status",
        ):
            reason = c.publish(topic, b"spoof")
            assert reason.value == NOT_AUTHORIZED, (topic, reason)
        c.publish("campusmon/main/pc-a/status", b"end")
        assert rec.wait_for(lambda m: any(p == b"end" for _, p, _ in m))
        assert [(t, p) for t, p, _ in rec.messages] == [
            ("campusmon/main/pc-a/metrics", b"own"),
            ("campusmon/main/pc-a/status", b"end"),
        ]
    finally:
        c.close()
        rec.close()


def test_v311_spoofed_publishes_are_dropped(broker: ManagedBroker) -> None:
    """Mosquitto answers a denied v3.1.1 publish with a success PUBACK and drops it: the server's
    subscriber must see none of them (the marker after them proves they had their chance)."""
    a = broker.users.add_device("main", "pc-a")
    broker.users.add_device("main", "pc-b")
    server = broker.server_login
    assert server is not None
    rec = Recorder("127.0.0.1", broker.port, username=server.username, password=server.password)
    c = Conn(broker.port, a, V311)
    try:
        assert not c.refused
        for n in range(20):
            c.publish("campusmon/main/pc-b/status", b'{"state":"online"}')
            c.publish(f"campusmon/east/pc-{n}/status", b'{"state":"lost"}')
        c.publish("campusmon/main/pc-a/status", b"end")
        assert rec.wait_for(lambda m: any(p == b"end" for _, p, _ in m))
        assert [t for t, _, _ in rec.messages] == ["campusmon/main/pc-a/status"]
    finally:
        c.close()
        rec.close()


@pytest.mark.parametrize("protocol", [V5, V311], ids=["v5", "v3.1.1"])
def test_roles(broker: ManagedBroker, protocol: MQTTProtocolVersion) -> None:
    """The server only reads; a probe runner writes its own campus, not another; a device reads nothing."""
    server = broker.server_login
    assert server is not None
    probe = broker.users.probe_login("main")
    device = broker.users.add_device("main", "pc-a")
    rec = Recorder("127.0.0.1", broker.port, username=server.username, password=server.password)
    spy_got: list[str] = []
    spy = Conn(broker.port, device, protocol)
    spy.client.on_message = lambda c, u, msg: spy_got.append(msg.topic)
    spy.client.subscribe("campusmon/#", qos=1)
    conns = [spy]
    try:
        s = Conn(broker.port, server, protocol)
        p = Conn(broker.port, probe, protocol)
        conns += [s, p]
        assert not s.refused and not p.refused
        s.publish("campusmon/main/pc-b/status", b"from-server")
        p.publish("campusmon/main/sw-core/status", b"from-probe")
        p.publish("campusmon/east/sw-core/status", b"probe-other-campus")
        p.publish("campusmon/main/sw-core/metrics", b"end")
        assert rec.wait_for(lambda m: any(pl == b"end" for _, pl, _ in m))
        assert [pl for _, pl, _ in rec.messages] == [b"from-probe", b"end"]
        assert spy_got == []
    finally:
        for c in conns:
            c.close()
        rec.close()


def test_users_added_and_removed_while_it_runs(broker: ManagedBroker) -> None:
    """`campusmon server credentials add-device` / `remove-device` take effect without a restart."""
    pid = broker.pid
    a = broker.users.add_device("main", "pc-new")
    assert wait_until(lambda: not refused(broker.port, a), timeout=10)
    assert broker.users.remove_device("main", "pc-new")
    assert wait_until(lambda: refused(broker.port, a), timeout=10)
    assert broker.pid == pid and broker.restarts == 0
    with pytest.raises(CredentialsError, match="already has credentials"):
        broker.users.add_device("main", "pc-x")
        broker.users.add_device("main", "pc-x")
    for bad in ("PC-1", "pc-1\n", "a b", "x" * 65, "pc-1\ntopic readwrite #"):
        with pytest.raises(CredentialsError, match="does not match"):
            broker.users.add_device("main", bad)


def test_files_are_private_and_survive_a_restart(broker: ManagedBroker, tmp_path: Path) -> None:
    directory = broker.data_dir
    assert mode(directory) == 0o700
    for name in ("mosquitto.conf", "passwd", "acl", "users.json", "mosquitto.log"):
        assert mode(directory / name) == 0o600, name
        assert (directory / name).stat().st_uid == os.geteuid()
    conf = broker.config_path.read_text()
    assert "allow_anonymous false" in conf and "allow_anonymous true" not in conf
    device = broker.users.add_device("main", "pc-a")
    users_json = (directory / "users.json").read_text()
    assert device.password not in users_json and device.password not in (directory / "passwd").read_text()
    server = broker.server_login
    broker.stop()
    again = ManagedBroker(directory, port=free_port())
    again.start()
    try:
        assert again.server_login == server  # the server keeps its password
        assert not refused(again.port, device)  # and so does every device
    finally:
        again.stop()
    assert mode(directory / "mosquitto.db") == 0o600


def test_hash_format_is_mosquitto_s(tmp_path: Path) -> None:
    """The `$7$` PBKDF2-SHA512 hash, as mosquitto_passwd writes it (Mosquitto checks it in the tests
    above; this pins the format)."""
    h = mosquitto_hash("secret", salt=b"\x00" * 12)
    assert h.startswith("$7$101$AAAAAAAAAAAAAAAA$") and len(h.split("$")[-1]) == 88
    users = BrokerUsers(tmp_path / "b")
    users.ensure()
    assert (tmp_path / "b" / "passwd").read_text().startswith("campusmon-server:$7$101$")
