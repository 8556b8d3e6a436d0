"""The pieces every role shares, defined once in the core: id rules, contract constants, the content
hash, the sequence counter, the MQTT connection settings."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import msgspec
import pytest

from campusmon import contract, ids, protocol
from campusmon.agent import wire
from campusmon.config import ConfigError, build
from campusmon.hashing import canonical_json, content_hash, sha256_hex
from campusmon.mqtt.settings import MqttConnection, MqttSettings
from campusmon.seq import SeqCounter
from campusmon.server.config import BrokerSettings

INVENTORY = {
    "hostname": "C302-PANEL",
    "os": {"name": "Windows 10 教育版", "build": 19045},
    "memory": {"total_bytes": 8 * 2**30, "modules": [{"slot": "DIMM1", "serial": "1A2B"}]},
    "nics": [{"mac": "00:11:22:33:44:55", "builtin": True}],
    "ratio": 0.1,
}


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("pc-1", True),
        ("c302_panel", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("PC 1", False),
        ("pc-1\n", False),
        ("-pc", False),
        ("", False),
        ("pc/1", False),
    ],
)
def test_one_id_rule_for_every_role(value: str, ok: bool) -> None:
    assert ids.is_id(value) is ok
    assert (ids.id_problem("device", value) is None) is ok
    # the agent's wire module and the contract use the same rule, not a copy
    assert wire.ID_RE is contract.ID_RE is ids.ID_RE
    assert (msgspec.json.decode(json.dumps(value), type=contract.Ident) == value) if ok else True


def test_contract_constants_are_the_protocol_module_s() -> None:
    for name in contract.__all__:
        source = ids if name.startswith("ID_") else protocol
        assert getattr(contract, name) is getattr(source, name), name
    assert wire.MAX_LABEL is protocol.MAX_LABEL and wire.PROTOCOL_VERSION is protocol.PROTOCOL_VERSION


def test_topics_refuse_bad_ids_the_same_way() -> None:
    assert protocol.topic("main", "pc-1", "status") == "campusmon/main/pc-1/status"
    assert wire.topic("school", "main", "pc-1", "metrics") == "school/main/pc-1/metrics"
    with pytest.raises(ValueError, match="device 'PC 1' does not match"):
        wire.topic("campusmon", "main", "PC 1", "status")
    with pytest.raises(contract.ContractError, match="bad_topic: device 'PC 1' does not match") as err:
        contract.topic("main", "PC 1", "status")
    assert err.value.reason == "bad_topic"


def test_content_hash_is_sha256_of_the_canonical_json() -> None:
    digest = content_hash(INVENTORY)
    assert re.match(protocol.HASH_PATTERN, digest)
    canonical = json.dumps(INVENTORY, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert digest == "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert canonical_json(INVENTORY) == canonical.encode("utf-8")
    assert "教育版".encode() in canonical_json(INVENTORY)  # UTF-8 as is, not \u escapes


def test_content_hash_ignores_key_order_and_sees_every_change() -> None:
    shuffled = dict(reversed(list(INVENTORY.items())))
    assert content_hash(shuffled) == content_hash(INVENTORY)
    changed = json.loads(json.dumps(INVENTORY))
    changed["memory"]["modules"][0]["serial"] = "1A2C"
    assert content_hash(changed) != content_hash(INVENTORY)
    assert sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()


def test_the_server_accepts_the_hash_every_producer_sends() -> None:
    raw = msgspec.json.encode(
        {
            "v": 1,
            "campus": "main",
            "device": "pc-1",
            "ts": 1.7e9,
            "hash": content_hash(INVENTORY),
            "inventory": INVENTORY,
        }
    )
    decoded = contract.decode(contract.parse_topic("campusmon/main/pc-1/inventory"), raw)
    assert isinstance(decoded, contract.Inventory) and decoded.hash == content_hash(INVENTORY)


def test_seq_counter_survives_a_restart_and_a_hand_edited_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "pc-1.seq"
    seq = SeqCounter(path)
    assert [seq.take(), seq.take(), seq.take()] == [0, 1, 2]
    assert SeqCounter(path).peek == 3
    path.write_text("not a number", encoding="ascii")
    assert SeqCounter(path).peek == 0
    assert path.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    ("cls", "section", "data", "message"),
    [
        (MqttSettings, "mqtt", {"tls_cert": "/c.pem"}, "mqtt.tls_cert and mqtt.tls_key go together"),
        (BrokerSettings, "broker", {"managed": False, "tls_key": "/k"}, "broker.tls_cert and broker.tls_key"),
        (MqttSettings, "mqtt", {"tls_cert": "/c", "tls_key": "/k"}, "mqtt.tls_cert needs mqtt.tls_ca"),
        (
            BrokerSettings,
            "broker",
            {"managed": False, "tls_cert": "/c", "tls_key": "/k"},
            "needs broker.tls_ca",
        ),
        (MqttSettings, "mqtt", {"password": "x"}, "mqtt.password needs mqtt.username"),
        (
            BrokerSettings,
            "broker",
            {"managed": False, "password": "x"},
            "broker.password needs broker.username",
        ),
        (MqttSettings, "mqtt", {"root": "a/b"}, "mqtt.root: 'a/b' must be one topic level"),
        (
            BrokerSettings,
            "broker",
            {"managed": False, "root": "#"},
            "broker.root: '#' must be one topic level",
        ),
        (
            MqttSettings,
            "mqtt",
            {"host": "10.0.0.5", "username": "u", "password": "p"},
            "mqtt.password would be sent in clear text",
        ),
        (
            BrokerSettings,
            "broker",
            {"managed": False, "host": "10.0.0.5", "username": "u", "password": "p"},
            "broker.password would be sent in clear text",
        ),
    ],
)
def test_one_set_of_connection_checks_for_mqtt_and_broker(
    cls: type[MqttConnection], section: str, data: dict[str, object], message: str
) -> None:
    assert issubclass(cls, MqttConnection)
    with pytest.raises(ConfigError, match=re.escape(message)):
        build(cls, data, section)


def test_good_connections_pass_in_both_sections() -> None:
    tls = {"host": "mq.school.edu.cn", "port": 8883, "username": "u", "password": "p", "tls_ca": "/ca.pem"}
    assert build(MqttSettings, tls, "mqtt").tls_ca == Path("/ca.pem")
    assert build(BrokerSettings, {"managed": False, **tls}, "broker").port == 8883
    local = build(MqttSettings, {"username": "u", "password": "p"}, "mqtt")  # loopback: no TLS needed
    assert local.host == "127.0.0.1"
