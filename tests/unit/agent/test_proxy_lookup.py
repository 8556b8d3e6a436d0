"""The agent's proxy check: paho decides whenever a proxy could apply, and urllib is never imported for it."""

from __future__ import annotations

import subprocess
import sys

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from campusmon.agent.runner import MqttClient


def client() -> MqttClient:
    return MqttClient(CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv5)


class Socks:
    def __init__(self, default: object = None) -> None:
        self.default = default

    def get_default_proxy(self) -> object:
        return self.default


def test_without_pysocks_paho_uses_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mqtt, "socks", None)
    monkeypatch.setenv("mqtt_proxy", "socks://proxy:1080")
    assert not client()._may_use_proxy()


@pytest.mark.parametrize(
    ("env", "default", "explicit", "expected"),
    [
        ({}, None, False, False),
        ({"mqtt_proxy": "socks://proxy:1080"}, None, False, True),
        ({"MQTT_PROXY": "http://proxy:3128"}, None, False, True),
        ({}, (2, "proxy", 1080), False, True),  # PySocks' default proxy, set by the program
        ({}, None, True, True),  # proxy_set()
    ],
)
def test_with_pysocks_a_possible_proxy_goes_to_paho(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], default: object, explicit: bool, expected: bool
) -> None:
    monkeypatch.setattr(mqtt, "socks", Socks(default))
    monkeypatch.setattr(sys, "platform", "linux")
    for name in ("mqtt_proxy", "MQTT_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    c = client()
    if explicit:
        c._proxy = {"proxy_type": 2, "proxy_addr": "proxy"}
    assert c._may_use_proxy() is expected


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_where_proxies_live_outside_the_environment_paho_looks(
    monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    monkeypatch.setattr(mqtt, "socks", Socks())
    monkeypatch.setattr(sys, "platform", platform)
    assert client()._may_use_proxy()


def test_the_check_imports_no_urllib_request() -> None:
    code = (
        "import sys, types\n"
        "sys.modules['socks'] = types.SimpleNamespace(get_default_proxy=lambda: None, HTTP=3, SOCKS5=2)\n"
        "from campusmon.agent.lean import import_paho\n"
        "import_paho()\n"
        "from campusmon.agent.runner import MqttClient\n"
        "import paho.mqtt.client as m\n"
        "assert m.socks is sys.modules['socks']\n"
        "c = MqttClient(m.CallbackAPIVersion.VERSION2, client_id='t', protocol=m.MQTTv5)\n"
        "assert not c._may_use_proxy()\n"
        "assert 'urllib.request' not in sys.modules and 'ssl' not in sys.modules\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
