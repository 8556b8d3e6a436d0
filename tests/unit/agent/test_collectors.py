"""Every collector against recorded psutil outputs (Linux VM, Windows panel, Linux laptop sensors)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any, ClassVar

import pytest

from campusmon.agent import collectors as pkg
from campusmon.agent.collectors import REGISTRY, CollectorUnavailable, Sample
from campusmon.agent.collectors.base import CounterRates
from campusmon.agent.collectors.cpu import CpuCollector
from campusmon.agent.collectors.disk import DiskCollector
from campusmon.agent.collectors.memory import MemoryCollector
from campusmon.agent.collectors.network import NetworkCollector
from campusmon.agent.collectors.processes import ProcessesCollector
from campusmon.agent.collectors.sensors import SensorsCollector
from campusmon.agent.collectors.uptime import UptimeCollector
from campusmon.agent.collectors.users import UsersCollector
from campusmon.agent.report import build_report
from tests.unit.agent.fakes import FakeClock, FakePsutil

WINDOWS = "psutil-windows-panel.json"
LINUX = "psutil-linux-vm.json"


def by_name(samples: list[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, s.labels): s.value for s in samples}


def test_every_collector_module_is_registered() -> None:
    registered = {type(c).__module__ if not isinstance(c, type) else c.__module__ for c in REGISTRY.values()}
    modules = [m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name != "base"]
    assert modules, "no collector modules found"
    for name in modules:
        module = importlib.import_module(f"{pkg.__name__}.{name}")
        assert module.__name__ in registered, f"collector module {name} is not in REGISTRY"
    for name, factory in REGISTRY.items():
        assert factory.name == name  # type: ignore[attr-defined]


@pytest.mark.parametrize("fixture", [LINUX, WINDOWS])
def test_cpu(fixture: str) -> None:
    ps = FakePsutil(fixture)
    c = CpuCollector(ps)
    ps.advance()
    got = by_name(c.collect())
    per_core = ps.snap["cpu_percent"]
    assert got[("cpu_usage_percent", ())] == round(sum(per_core) / len(per_core), 1)
    assert got[("cpu_count", ())] == len(per_core)
    assert got[("cpu_core_usage_percent", (("core", "1"),))] == per_core[1]
    assert (("cpu_load1", ()) in got) is (fixture == LINUX)  # Windows psutil has no load average here


def test_memory_and_swap() -> None:
    got = by_name(MemoryCollector(FakePsutil(WINDOWS)).collect())
    assert got[("memory_total_bytes", ())] == 8451055616
    assert got[("memory_used_percent", ())] == 63.2
    assert got[("swap_used_bytes", ())] == 92274688


def test_disk_skips_cdrom_and_computes_rates() -> None:
    ps = FakePsutil(WINDOWS)
    clock = FakeClock()
    c = DiskCollector(ps)
    c._rates = CounterRates(clock)
    first = by_name(c.collect())
    assert {lbl for (_, lbl) in first if lbl and lbl[0][0] == "mount"} == {
        (("mount", "C:\\"),),
        (("mount", "D:\\"),),
    }
    assert first[("disk_used_percent", (("mount", "C:\\"),))] == 79.0
    assert not any(name.endswith("_per_second") for name, _ in first)  # no rate from one reading
    ps.advance()
    clock.now += 10
    second = by_name(c.collect())
    assert second[("disk_read_bytes_per_second", (("disk", "PhysicalDrive0"),))] == 50_000.0
    assert second[("disk_write_bytes_per_second", (("disk", "PhysicalDrive0"),))] == 10_000.0


def test_disk_linux_recording_skips_partitions(tmp_path: Path) -> None:
    ps = FakePsutil(LINUX)
    ps.snapshots[0]["disk_io_counters"]["vda1"] = ps.snapshots[0]["disk_io_counters"]["vda"]
    (tmp_path / "vda1").mkdir()
    (tmp_path / "vda1" / "partition").write_text("1\n")
    (tmp_path / "vda").mkdir()
    clock = FakeClock()
    c = DiskCollector(ps, sys_block=tmp_path)
    c._rates = CounterRates(clock)
    c.collect()
    clock.now += 1
    got = by_name(c.collect())
    assert ("disk_total_bytes", (("mount", "/"),)) in got
    disks = {lbl for (_, lbl) in got if lbl and lbl[0][0] == "disk"}
    assert disks == {(("disk", "vda"),)}


def test_network_rates_skip_a_counter_wrap() -> None:
    ps = FakePsutil(WINDOWS)
    clock = FakeClock()
    c = NetworkCollector(ps)
    c._rates = CounterRates(clock)
    first = by_name(c.collect())
    eth = (("nic", "Ethernet"),)
    assert first[("net_link_up", eth)] == 1.0 and first[("net_speed_mbps", eth)] == 1000.0
    assert not any(lbl == (("nic", "Loopback Pseudo-Interface 1"),) for _, lbl in first)
    ps.advance()
    clock.now += 2
    second = by_name(c.collect())
    assert ("net_rx_bytes_per_second", eth) not in second  # 32-bit counter wrapped: no nonsense rate
    assert second[("net_tx_bytes_per_second", eth)] == 150_000.0
    assert second[("net_errors_per_second", eth)] == 1.0
    assert second[("net_link_up", (("nic", "Wi-Fi"),))] == 0.0


def test_uptime() -> None:
    got = by_name(UptimeCollector(FakePsutil(WINDOWS), clock=lambda: 1763856000.0 + 3600).collect())
    assert got[("uptime_seconds", ())] == 3600


def test_users() -> None:
    assert by_name(UsersCollector(FakePsutil(WINDOWS)).collect())[("users_sessions_count", ())] == 1
    assert by_name(UsersCollector(FakePsutil(LINUX)).collect())[("users_sessions_count", ())] == 0


def test_processes_top_five_by_cpu_and_memory() -> None:
    ps = FakePsutil(WINDOWS)
    c = ProcessesCollector(ps, source="psutil")
    ps.advance()
    samples = c.collect()
    got = by_name(samples)
    assert got[("processes_count", ())] == 9
    tops: dict[str, list[str]] = {"cpu": [], "memory": []}
    for s in samples:
        if s.name == "process_cpu_percent":
            labels = dict(s.labels)
            tops[labels["top"]].append(labels["name"])
    assert tops["cpu"][:3] == ["EasiNote5.exe", "chrome.exe", "MsMpEng.exe"]  # the idle process is not a hog
    assert len(tops["cpu"]) == 5 and len(tops["memory"]) == 5
    assert tops["memory"][0] == "EasiNote5.exe"
    assert "svchost.exe" not in tops["memory"]  # access denied: no numbers, not ranked first


def test_processes_linux_recording() -> None:
    got = by_name(ProcessesCollector(FakePsutil(LINUX), source="psutil").collect())
    assert got[("processes_count", ())] == 40


STAT = {
    # recorded /proc/<pid>/stat lines; utime/stime (fields 14/15) and rss (24) are what is read
    1: "1 (systemd) S 0 0 0 0 -1 4194560 78018 4811980 0 1001 {t} 1479 27804 7291 20 0 14 0 25 49061888 4015 "
    "18446744073709551615 1 1 0 0 0 0 0 4096 1256 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
    812: "812 (Web Content (x)) R 3692 3692 8530 0 -1 4194304 99 0 0 0 {t} 0 0 0 20 0 1 0 404038 3133440 "
    "90000 "
    "18446744073709551615 94887831556096 94887831575977 140725457799568 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0",
    2300: "2300 (EasiNote) S 1 2300 2300 0 -1 4194304 99 0 0 0 {t} 50 0 0 20 0 1 0 500000 3133440 20000 "
    "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0",
}


def write_proc(root: Path, ticks: dict[int, int]) -> None:
    for pid, line in STAT.items():
        (root / str(pid)).mkdir(parents=True, exist_ok=True)
        (root / str(pid) / "stat").write_text(line.format(t=ticks[pid]) + "\n", encoding="ascii")
    (root / "self").mkdir(exist_ok=True)
    (root / "meminfo").write_text("MemTotal: 1 kB\n", encoding="ascii")


def test_processes_from_proc(tmp_path: Path) -> None:
    clock = FakeClock()
    write_proc(tmp_path, {1: 280, 812: 1000, 2300: 0})
    c = ProcessesCollector(
        None, source="proc", proc_root=tmp_path, clock=clock, ticks_per_second=100, page_size=4096
    )
    write_proc(tmp_path, {1: 290, 812: 1150, 2300: 0})
    clock.now += 10
    samples = c.collect()
    got = {
        (dict(s.labels).get("top"), dict(s.labels).get("name"), s.name): s.value for s in samples if s.labels
    }
    assert by_name(samples)[("processes_count", ())] == 3
    assert got[("cpu", "Web Content (x)", "process_cpu_percent")] == 15.0  # 150 ticks in 10 s at 100 Hz
    assert got[("cpu", "systemd", "process_cpu_percent")] == 1.0
    assert got[("memory", "Web Content (x)", "process_memory_rss_bytes")] == 90000 * 4096
    assert got[("memory", "EasiNote", "process_memory_rss_bytes")] == 20000 * 4096


def test_sensors_laptop() -> None:
    got = by_name(SensorsCollector(FakePsutil("psutil-linux-laptop-sensors.json")).collect())
    assert got[("temperature_celsius", (("chip", "coretemp"), ("sensor", "Package id 0")))] == 54.0
    assert got[("temperature_celsius", (("chip", "coretemp"), ("sensor", "2")))] == 49.5
    assert got[("fan_speed_rpm", (("chip", "thinkpad"), ("fan", "0")))] == 2130
    assert got[("battery_percent", ())] == 100.0 and got[("battery_plugged", ())] == 1.0
    assert ("battery_left_seconds", ()) not in got  # plugged in: no estimate


def test_sensors_windows_battery_only() -> None:
    got = by_name(SensorsCollector(FakePsutil(WINDOWS)).collect())
    assert got == {
        ("battery_percent", ()): 87.0,
        ("battery_plugged", ()): 0.0,
        ("battery_left_seconds", ()): 9000.0,
    }


def test_sensors_none_is_unavailable() -> None:
    with pytest.raises(CollectorUnavailable, match="no temperature"):
        SensorsCollector(FakePsutil(LINUX)).collect()


class Broken:
    name: ClassVar[str] = "broken"

    def __init__(self, ps: Any) -> None:
        pass

    def collect(self) -> list[Sample]:
        raise OSError("EIO reading /proc")


def test_failing_collector_is_reported_and_nan_dropped() -> None:
    ps = FakePsutil("psutil-linux-laptop-sensors.json")
    report = build_report(
        {"broken": Broken(ps), "sensors": SensorsCollector(ps)},
        campus="main",
        device="pc-1",
        seq=3,
        interval=30,
        ts=1.0,
    )
    assert report["unavailable"] == {"broken": "OSError: EIO reading /proc"}
    temps = [i for i in report["metrics"]["sensors"] if i.get("chip") == "acpitz"]
    assert temps == []  # NaN is not a measurement (and not JSON)
