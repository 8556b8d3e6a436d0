"""The agent's paho client against a real Mosquitto: ASCII broker names connect without the idna codec."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from campusmon.mqtt.client import AsciiHostClient as MqttClient
from tests.support.mqtt import wait_until


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_connects_and_publishes_by_address_and_by_name(mosquitto, host: str) -> None:
    acked: list[int] = []
    client = MqttClient(CallbackAPIVersion.VERSION2, client_id=f"t-{host}", protocol=mqtt.MQTTv5)
    client.on_publish = lambda c, u, mid, rc, props: acked.append(mid)
    client.connect(host, mosquitto.port, keepalive=5)
    try:
        info = client.publish("campusmon/main/pc-x/metrics", b"{}", qos=1)
        assert wait_until(lambda: (client.loop(0.1), info.mid in acked)[1], timeout=10)
    finally:
        client.disconnect()


def test_non_ascii_names_and_proxies_take_paho_s_own_path(monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(mqtt.Client, "_create_socket_connection", lambda self: calls.append(self._host))
    client = MqttClient(CallbackAPIVersion.VERSION2, client_id="t")
    client._host = "bücher.example"
    client._create_socket_connection()
    client._host = "127.0.0.1"
    monkeypatch.setattr(client, "_get_proxy", lambda: {"proxy_type": 2, "proxy_addr": "127.0.0.1"})
    client._create_socket_connection()
    assert calls == ["bücher.example", "127.0.0.1"]
