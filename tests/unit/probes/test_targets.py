"""Register devices and include files → probe targets: ids, default checks, TOML wins, reloads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from campusmon.config import ConfigError
from campusmon.probes.config import ASSET_TYPES, ProbeConfig, TargetSettings, build_probe_config
from campusmon.probes.runner import ProbeRunner
from campusmon.probes.targets import (
    AssetEntry,
    AssetRow,
    TargetFiles,
    asset_target,
    asset_targets,
    assign_ids,
    merge_targets,
    parse_targets_file,
    render_assets_toml,
    slug,
)


def cfg(tmp_path: Path, **data: object) -> ProbeConfig:
    base: dict[str, object] = {
        "runner": {"campus": "main", "id": "probe-main", "state_dir": str(tmp_path / "state")},
        "snmp_profiles": {"default": {"community": "campus-ro", "port": 16100}},
    }
    base.update(data)
    return build_probe_config(base)


def test_asset_types_are_the_registers() -> None:
    from campusmon.server.register.models import ASSET_TYPES as REGISTER_TYPES

    assert ASSET_TYPES == REGISTER_TYPES


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("SW-B1-F3", "sw-b1-f3"),
        ("  AP 3F/East ", "ap-3f-east"),
        ("ZX_2021_0001", "zx_2021_0001"),
        ("交换机-01", "01"),
        ("--", ""),
        ("打印机", ""),
        ("x" * 80, "x" * 64),
    ],
)
def test_slug(tag: str, expected: str) -> None:
    assert slug(tag) == expected


def test_ids_are_the_link_else_the_tag_slug_and_the_older_asset_keeps_a_shared_slug() -> None:
    rows = [
        AssetRow(9, "switch", "10.0.0.9", tag="sw a1"),
        AssetRow(5, "switch", "10.0.0.5", tag="SW-A1"),
        AssetRow(7, "ap", "10.0.0.7", tag="AP-7", link_device="ap-hall"),
        AssetRow(8, "printer", " 10.0.0.8 ", tag="打印机"),
        AssetRow(3, "printer", "10.0.0.3", tag="lab-pc"),
    ]
    got = {e.id: (e.type, e.host) for e in assign_ids(rows, reserved={"lab-pc"})}
    assert got == {
        "sw-a1": ("switch", "10.0.0.5"),
        "sw-a1-9": ("switch", "10.0.0.9"),
        "ap-hall": ("ap", "10.0.0.7"),
        "asset-8": ("printer", "10.0.0.8"),
        "lab-pc-3": ("printer", "10.0.0.3"),
    }
    # the same rows in another order give the same ids
    assert assign_ids(list(reversed(rows)), reserved={"lab-pc"}) == assign_ids(rows, reserved={"lab-pc"})


def test_default_check_per_type(tmp_path: Path) -> None:
    c = cfg(
        tmp_path, register={"checks": {"switch": "snmp", "printer": "icmp", "server": "tcp"}, "tcp_port": 443}
    )
    sw = asset_target(AssetEntry("sw-a1", "switch", "10.0.0.5"), c)
    assert sw is not None and sw.kind == "snmp"
    assert (sw.snmp.community, sw.snmp.port, sw.interval) == ("campus-ro", 16100, 60)
    pr = asset_target(AssetEntry("pr-1", "printer", "10.0.0.8"), c)
    assert pr is not None and (pr.kind, pr.host) == ("icmp", "10.0.0.8")
    srv = asset_target(AssetEntry("lib", "server", "10.0.0.30"), c)
    assert srv is not None and (srv.kind, srv.tcp.port) == ("tcp", 443)
    assert asset_target(AssetEntry("ap-1", "ap", "10.0.0.7"), c) is None  # not listed in checks
    assert asset_target(AssetEntry("pc-1", "pc", "10.0.0.70"), cfg(tmp_path)) is None


def test_register_profile_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no SNMP profile 'campsu'.*did you mean 'campus'"):
        cfg(tmp_path, snmp_profiles={"campus": {}}, register={"snmp_profile": "campsu"})
    with pytest.raises(ConfigError, match="register.checks.swich: not an asset type.*'switch'"):
        cfg(tmp_path, register={"checks": {"swich": "snmp"}})


def test_target_profile_with_own_overrides(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        snmp_profiles={
            "default": {"community": "campus-ro", "port": 16100},
            "v3": {"version": "3", "user": "mon", "auth_key": "authkey123", "port": 1161},
        },
        targets=[
            {
                "id": "sw-core",
                "kind": "snmp",
                "host": "10.0.0.1",
                "snmp_profile": "v3",
                "snmp": {"port": 2161},
            },
            {"id": "sw-b", "kind": "snmp", "host": "10.0.0.2", "snmp_profile": "default"},
        ],
    )
    core, b = c.targets
    assert (core.snmp.version, core.snmp.user, core.snmp.port) == ("3", "mon", 2161)
    assert (b.snmp.community, b.snmp.port) == ("campus-ro", 16100)
    with pytest.raises(ConfigError, match=r"targets\[0\].snmp_profile: only snmp targets"):
        cfg(tmp_path, targets=[{"id": "p", "kind": "icmp", "host": "x", "snmp_profile": "default"}])


def test_toml_wins_by_id_or_host(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        targets=[{"id": "printer-office", "kind": "icmp", "host": "10.0.0.8"}],
    )
    extra = asset_targets(
        [
            AssetEntry("pr-1", "printer", "10.0.0.8"),  # same host as a TOML target
            AssetEntry("printer-office", "printer", "10.0.0.9"),  # same id
            AssetEntry("probe-main", "printer", "10.0.0.10"),  # the runner's own id
            AssetEntry("sw-a1", "switch", "10.0.0.5"),
            AssetEntry("ap-1", "ap", "10.0.0.5"),  # register devices may share an address
        ],
        c,
    )
    merged = merge_targets(c.targets, extra, c.runner.id)
    assert [(t.id, t.kind) for t in merged] == [
        ("printer-office", "icmp"),
        ("sw-a1", "snmp"),
        ("ap-1", "snmp"),
    ]


def test_include_file_keeps_good_entries(tmp_path: Path) -> None:
    c = cfg(tmp_path)
    data = {
        "assets": [
            {"id": "sw-a1", "type": "switch", "host": "10.0.0.5", "tag": "SW-A1"},
            {"id": "Bad Id", "type": "switch", "host": "10.0.0.6"},
            {"id": "pc-1", "type": "pc", "host": "10.0.0.7"},
            {"id": "sw-x", "type": "swich", "host": "10.0.0.6"},
        ],
        "targets": [
            {"id": "web", "kind": "http", "http": {"url": "https://www.example.edu.cn/"}},
            {"id": "t"},
        ],
        "asets": [],
    }
    targets, errors = parse_targets_file(data, c, "f.toml")
    assert [t.id for t in targets] == ["web", "sw-a1"]
    assert len(errors) == 4
    assert any("unknown key 'asets'" in e and "did you mean 'assets'" in e for e in errors)
    assert any("'Bad Id' does not match" in e for e in errors)
    assert any("missing key" in e for e in errors)


def test_rendered_file_round_trips(tmp_path: Path) -> None:
    import tomllib

    entries = [AssetEntry("sw-a1", "switch", "10.0.0.5", tag='SW "A1"', name="教学楼\\一层\x7f")]
    text = render_assets_toml(entries, "header line\nsecond")
    assert text.startswith("# header line\n# second\n")
    assert tomllib.loads(text)["assets"] == [
        {"id": "sw-a1", "type": "switch", "host": "10.0.0.5", "tag": 'SW "A1"', "name": "教学楼\\一层\x7f"}
    ]


def test_target_files_reload_on_change_and_keep_targets_of_a_broken_file(tmp_path: Path) -> None:
    f = tmp_path / "register.toml"
    c = cfg(tmp_path, runner={"campus": "main", "id": "probe-main", "targets_files": [str(f)]})
    files = TargetFiles(c)
    assert files.poll() is None  # missing: nothing yet, counted
    assert files.errors_total == 1
    f.write_text(render_assets_toml([AssetEntry("sw-a1", "switch", "10.0.0.5")], "x"), encoding="utf-8")
    got = files.poll()
    assert got is not None and [t.id for t in got] == ["sw-a1"]
    assert files.poll() is None  # unchanged
    f.write_text("[[assets]\nbroken", encoding="utf-8")
    os.utime(f, (1, 1))
    assert files.poll() is None  # broken: the previous targets stay
    assert files.errors_total == 2
    entries = [AssetEntry("sw-a1", "switch", "10.0.0.5"), AssetEntry("pr-1", "printer", "10.0.0.8")]
    f.write_text(render_assets_toml(entries, "x"), encoding="utf-8")
    os.utime(f, (2, 2))
    got = files.poll()
    assert got is not None and [t.id for t in got] == ["sw-a1", "pr-1"]


class _Source:
    def __init__(self, config: ProbeConfig) -> None:
        self.next: list[AssetEntry] | None = None
        self.config = config

    def poll(self) -> list[TargetSettings] | None:
        got, self.next = self.next, None
        return None if got is None else asset_targets(got, self.config)


def test_runner_adds_changes_and_retires_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = cfg(tmp_path, targets=[{"id": "web", "kind": "tcp", "host": "10.0.0.1", "tcp": {"port": 80}}])
    src = _Source(c)
    runner = ProbeRunner(c, sources=[src])
    statuses: list[tuple[str, str, str | None]] = []
    monkeypatch.setattr(runner, "_publish_status", lambda t, state, why: statuses.append((t.id, state, why)))
    assert runner.poll_sources() is None
    src.next = [AssetEntry("sw-a1", "switch", "10.0.0.5"), AssetEntry("pr-1", "printer", "10.0.0.8")]
    wanted = runner.poll_sources()
    assert wanted is not None
    runner.apply_targets(wanted)
    assert sorted(runner.targets) == ["pr-1", "sw-a1", "web"]
    runner.targets["sw-a1"].status = "online"
    old_probe = runner.targets["sw-a1"].probe
    src.next = [AssetEntry("sw-a1", "switch", "10.0.0.6")]  # moved to another address; printer gone
    runner.apply_targets(runner.poll_sources() or [])
    assert sorted(runner.targets) == ["sw-a1", "web"]
    st = runner.targets["sw-a1"]
    assert st.target.host == "10.0.0.6" and st.probe is not old_probe and st.status == "online"
    assert statuses == [("pr-1", "shutdown", "no longer a probe target")]


def test_targets_that_cannot_start_leave_the_running_ones_alone(tmp_path: Path) -> None:
    c = cfg(tmp_path, targets=[{"id": "web", "kind": "tcp", "host": "10.0.0.1", "tcp": {"port": 80}}])
    runner = ProbeRunner(c)
    (tmp_path / "state" / "sw-a1.seq").mkdir()  # its seq file cannot be read
    web = runner.targets["web"]
    with pytest.raises(OSError):
        runner.apply_targets([*asset_targets([AssetEntry("sw-a1", "switch", "10.0.0.5")], c)])
    assert runner.targets == {"web": web}
