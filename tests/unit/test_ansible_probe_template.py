"""The probe role's config template renders a file the real probe runner accepts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from campusmon.probes.config import load_probe_config

jinja2 = pytest.importorskip("jinja2")
ROLE = Path(__file__).parents[2] / "deploy" / "ansible" / "roles" / "campusmon_probe"


def toml_filter() -> Any:
    spec = importlib.util.spec_from_file_location("toml_value", ROLE / "filter_plugins" / "toml_value.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.toml_value


def test_rendered_probe_config_loads(tmp_path: Path) -> None:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["campusmon_toml_value"] = toml_filter()
    env.filters["to_json"] = __import__("json").dumps
    template = env.from_string((ROLE / "templates" / "probe.toml.j2").read_text(encoding="utf-8"))
    text = template.render(
        ansible_managed="managed by Ansible",
        campusmon_probe_sections={
            "runner": {"campus": "east", "id": "probe-east", "state_dir": str(tmp_path / "state")}
        },
        campusmon_probe_mqtt_host="broker.school.cn",
        campusmon_probe_mqtt_port=8883,
        campusmon_probe_mqtt_root="campusmon",
        campusmon_probe_mqtt_keepalive=5,
        campusmon_probe_username="probe-east",
        campusmon_probe_credentials_dir="/creds",
        campusmon_probe_config_dir="/etc/campusmon",
        lookup=lambda *args, **kw: 's3cret-pa"ss',
        campusmon_probe_targets=[
            {
                "id": "sw-core",
                "kind": "snmp",
                "host": "10.1.0.2",
                "interval": 60,
                "snmp": {"version": "2c", "community": "public", "port_classes": {"Gi1/0/48": "uplink"}},
            },
            {"id": "website", "kind": "http", "interval": 300, "http": {"url": "https://www.school.example"}},
        ],
        campusmon_probe_extra_config="",
    )
    path = tmp_path / "probe.toml"
    path.write_text(text, encoding="utf-8")
    cfg = load_probe_config(path)
    assert cfg.runner.campus == "east" and cfg.mqtt.password == 's3cret-pa"ss'
    assert [t.id for t in cfg.targets] == ["sw-core", "website"]
