"""Probe targets from the asset register (SQLite): which assets, which ids, links written once; the
`campusmon assets probe-targets` export and the runner reading it back."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from campusmon.cli import app
from campusmon.config import ConfigError
from campusmon.probes.config import build_probe_config
from campusmon.probes.targets import TargetFiles
from campusmon.server.config import BrokerSettings, ProbesSettings, load_server_config
from campusmon.server.db import Database
from campusmon.server.probing import RegisterTargets, server_probe_config
from campusmon.server.register.models import Asset, AssetHistory
from campusmon.server.register.service import RegisterService
from campusmon.server.services.probes import register_assets

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    (tmp_path / "data").mkdir()
    database = Database(f"sqlite:///{tmp_path / 'data' / 'campusmon.db'}")
    try:
        yield database
    finally:
        database.dispose()


def add(db: Database, campus: str = "主校区", **values: Any) -> int:
    reg = RegisterService(db)
    with db.session() as s:
        c = reg.ensure_campus(s, campus)
        values.setdefault("status", "in_use")
        return reg.create(s, "user:test", NOW, campus_id=c.id, **values).id


@pytest.fixture
def school(db: Database) -> dict[str, int]:
    ids = {
        "sw": add(db, asset_tag="SW-B1-F3", type="switch", ip="10.1.3.2"),
        "ap": add(
            db, asset_tag="AP-B1-301", type="ap", ip="10.1.3.20", link_campus="main", link_device="ap-301"
        ),
        "printer": add(db, asset_tag="打印机-01", type="printer", ip="10.1.5.20"),
        "pc": add(db, asset_tag="PC-1", type="pc", ip="10.1.3.7"),
        "spare": add(db, asset_tag="SW-SPARE", type="switch", ip="10.1.9.9", status="spare"),
        "no-ip": add(db, asset_tag="PROJ-1", type="projector"),
        "east": add(db, "东校区", asset_tag="SW-E1", type="switch", ip="10.2.0.2"),
    }
    RegisterService(db).set_campus_code("主校区", "main", "user:test")
    RegisterService(db).set_campus_code("东校区", "east", "user:test")
    return ids


TYPES = ("switch", "ap", "printer", "projector", "camera", "server")


def test_in_use_assets_with_an_address_of_the_campus(db: Database, school: dict[str, int]) -> None:
    entries = register_assets(db, "main", TYPES)
    assert [(e.id, e.type, e.host, e.tag) for e in entries] == [
        ("sw-b1-f3", "switch", "10.1.3.2", "SW-B1-F3"),
        ("ap-301", "ap", "10.1.3.20", "AP-B1-301"),
        ("01", "printer", "10.1.5.20", "打印机-01"),
    ]
    assert [e.id for e in register_assets(db, "east", TYPES)] == ["sw-e1"]
    assert register_assets(db, "main", ["camera"]) == []
    with db.session() as s:  # read only unless asked to link
        assert s.scalars(select(Asset.link_device).where(Asset.id == school["sw"])).one() is None


def test_linking_makes_ids_stable_and_is_recorded_once(db: Database, school: dict[str, int]) -> None:
    first = register_assets(db, "main", TYPES, link=True, actor="probe:main/probe-main")
    with db.session() as s:
        sw = s.get(Asset, school["sw"])
        assert sw is not None and (sw.link_campus, sw.link_device) == ("main", "sw-b1-f3")
    # a newer asset whose tag gives the same slug does not take the id; renaming the tag keeps it
    add(db, asset_tag="sw b1 f3", type="switch", ip="10.1.3.3")
    RegisterService(db).set(school["sw"], actor="user:test", values={"asset_tag": "SW-B1-F3-OLD"})
    second = register_assets(db, "main", TYPES, link=True)
    assert [e.id for e in second] == [e.id for e in first] + ["sw-b1-f3-8"]
    with db.session() as s:
        rows = s.scalars(
            select(AssetHistory).where(AssetHistory.asset_id == school["sw"], AssetHistory.field == "device")
        ).all()
        assert [(h.old, h.new, h.actor) for h in rows] == [(None, "main/sw-b1-f3", "probe:main/probe-main")]


def test_register_source_reports_changes_only(db: Database, school: dict[str, int], tmp_path: Path) -> None:
    cfg = build_probe_config(
        {
            "runner": {"campus": "main", "state_dir": str(tmp_path / "state")},
            "snmp_profiles": {"default": {"community": "campus-ro"}},
            "register": {"checks": {"switch": "snmp", "printer": "icmp"}},
        }
    )
    source = RegisterTargets(db, cfg)
    got = source.poll()
    assert got is not None and [(t.id, t.kind) for t in got] == [("sw-b1-f3", "snmp"), ("01", "icmp")]
    assert got[0].snmp.community == "campus-ro"
    assert source.poll() is None
    RegisterService(db).set("打印机-01", actor="user:test", values={"status": "in_repair"})
    got = source.poll()
    assert got is not None and [t.id for t in got] == ["sw-b1-f3"]


def test_export_command_feeds_the_runner(
    db: Database, school: dict[str, int], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("CAMPUSMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CAMPUSMON_SERVER_CONFIG", raising=False)
    cli = CliRunner()
    out = tmp_path / "register-targets.toml"
    result = cli.invoke(app, ["assets", "probe-targets", "--campus", "main", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 targets written" in result.output
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    assert [a["id"] for a in data["assets"]] == ["sw-b1-f3", "ap-301", "01"]
    again = cli.invoke(app, ["assets", "probe-targets", "--campus", "main", "--out", str(out)])
    assert "unchanged" in again.output
    only = cli.invoke(app, ["assets", "probe-targets", "--campus", "main", "--type", "交换机", "--json"])
    assert only.exit_code == 0 and '"sw-b1-f3"' in only.output and "ap-301" not in only.output
    bad = cli.invoke(app, ["assets", "probe-targets", "--campus", "mian"])
    assert (
        bad.exit_code == 2 and "unknown campus 'mian'" in bad.output and "did you mean 'main'" in bad.output
    )
    cfg = build_probe_config(
        {
            "runner": {"campus": "main", "state_dir": str(tmp_path / "state"), "targets_files": [str(out)]},
            "targets": [{"id": "sw-b1-f3", "kind": "icmp", "host": "10.1.3.2"}],  # the TOML wins
        }
    )
    got = TargetFiles(cfg).poll()
    assert got is not None and [(t.id, t.kind) for t in got] == [
        ("sw-b1-f3", "snmp"),
        ("ap-301", "snmp"),
        ("01", "icmp"),
    ]


def test_server_probes_section(tmp_path: Path) -> None:
    broker = BrokerSettings(
        managed=False, host="10.0.0.5", port=8883, root="cm", username="srv", password="pw", tls_ca=tmp_path
    )
    probes = ProbesSettings(enabled=True, campus="east", settings={"school_hours": {"mode": "always"}})
    cfg = server_probe_config(probes, broker, tmp_path)
    assert (cfg.runner.campus, cfg.runner.state_dir) == ("east", tmp_path / "probes")
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.root, cfg.mqtt.username) == ("10.0.0.5", 8883, "cm", "srv")
    file = tmp_path / "probes.toml"
    file.write_text('[runner]\ncampus = "main"\n[mqtt]\nhost = "127.0.0.1"\nport = 1883\n', encoding="utf-8")
    cfg = server_probe_config(ProbesSettings(enabled=True, config=file), broker, tmp_path)
    assert (cfg.runner.campus, cfg.mqtt.host) == ("main", "127.0.0.1")
    with pytest.raises(ConfigError, match="not both"):
        server_probe_config(ProbesSettings(config=file, settings={"runner": {}}), broker, tmp_path)
    server_toml = tmp_path / "server.toml"
    server_toml.write_text("[probes]\nenabled = true\n[probes.settings.runer]\nid = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key 'runer'.*did you mean 'runner'"):
        load_server_config(server_toml)
    server_toml.write_text("[probes]\nenabled = false\n[probes.settings.runer]\n", encoding="utf-8")
    assert load_server_config(server_toml).probes.enabled is False


def test_sample_server_probes_section_loads(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "server" / "sample-server.toml").read_text(encoding="utf-8")
    block = text[text.index("# [probes]") :].split("\n\n")[0]  # up to the blank line after it
    lines = [ln[2:] for ln in block.splitlines() if ln.startswith("# ") and "=" in ln or ln == "# [probes]"]
    uncommented = [ln for ln in lines if not ln.startswith(("config", "#"))]
    section = "\n".join(uncommented).replace("enabled = false", "enabled = true")
    f = tmp_path / "server.toml"
    f.write_text(f'[storage]\ndata_dir = "{tmp_path}"\n{section}\n', encoding="utf-8")
    cfg = load_server_config(f)
    assert (cfg.probes.enabled, cfg.probes.campus, cfg.probes.register_targets) == (True, "main", True)
