"""Reports shaped like the real agent's: what `campusmon agent run` sends from a Windows classroom
panel with every collector on (tests/fixtures/agent/psutil-windows-panel.json gives the same groups,
names and labels): 65 samples in 9 groups, ~2.7 KB of JSON.

Values move the way a classroom machine's do (CPU and network bursty, memory drifting, disks filling
slowly, the top-process lists reshuffling), so compression and series churn are not flattered.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from campusmon.contract import Group, Metrics, Scalar

GIB = 2**30
#: (name, typical CPU %, typical RSS MiB) of processes on a classroom PC
PROCESSES: tuple[tuple[str, float, float], ...] = (
    ("explorer.exe", 1.5, 95),
    ("EasiNote.exe", 8.0, 420),
    ("chrome.exe", 12.0, 380),
    ("msedge.exe", 6.0, 260),
    ("POWERPNT.EXE", 4.0, 310),
    ("WINWORD.EXE", 1.0, 180),
    ("SeewoService.exe", 0.8, 75),
    ("svchost.exe", 0.6, 40),
    ("MsMpEng.exe", 3.0, 210),
    ("SearchIndexer.exe", 0.7, 60),
    ("dwm.exe", 2.5, 90),
    ("csrss.exe", 0.2, 6),
    ("RuntimeBroker.exe", 0.3, 25),
    ("WmiPrvSE.exe", 0.5, 18),
    ("campusmon-agent.exe", 0.1, 19),
    ("TeamViewer_Service.exe", 0.4, 30),
    ("EasiCamera.exe", 5.0, 150),
    ("wps.exe", 3.5, 240),
    ("QQ.exe", 1.2, 170),
    ("WeChat.exe", 1.0, 200),
    ("System", 0.9, 1),
    ("audiodg.exe", 0.6, 14),
)


@dataclass
class AgentLikeDevice:
    """One classroom panel reporting every `interval` seconds; `report(ts)` gives its next report."""

    campus: str
    device: str
    interval: int = 30
    seed: int = 0
    seq: int = 0
    boot_time: int = 1_763_856_000
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _cpu: float = 20.0
    _available: int = 3 * GIB
    _swap_used: int = 90 * 2**20
    _c_used: int = 200 * GIB
    _d_used: int = 40 * GIB
    _pids: dict[str, int] = field(default_factory=dict)
    #: per process: CPU % (it persists from one report to the next) and RSS bytes (it drifts)
    _proc_cpu: dict[str, float] = field(default_factory=dict)
    _proc_rss: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng.seed(f"{self.campus}/{self.device}/{self.seed}")
        self._pids = {name: self._rng.randrange(400, 30000, 4) for name, _, _ in PROCESSES}
        self._proc_cpu = {name: cpu for name, cpu, _ in PROCESSES}
        self._proc_rss = {name: int(mib * 2**20) for name, _, mib in PROCESSES}

    def _walk(self, value: float, step: float, lo: float, hi: float) -> float:
        return min(hi, max(lo, value + self._rng.uniform(-step, step)))

    def report(self, ts: float) -> Metrics:
        r = self._rng
        self.seq += 1
        self._cpu = self._walk(self._cpu, 8.0, 2.0, 95.0)
        cores = [round(min(100.0, max(0.0, self._cpu + r.uniform(-15, 15))), 1) for _ in range(4)]
        mem_total = 8_451_055_616
        self._available = int(self._walk(self._available, 64 * 2**20, 0.6 * GIB, 6 * GIB)) // 4096 * 4096
        self._swap_used = int(self._walk(self._swap_used, 2 * 2**20, 0, 1_400_000_000)) // 4096 * 4096
        swap_total = 1_476_395_008
        self._c_used += r.choice((0, 0, 0, 4096, 8192, 65536, -4096)) * r.randint(1, 40)
        self._d_used += r.choice((0, 0, 0, 0, 4096)) * r.randint(1, 10)
        disks: list[dict[str, Scalar]] = []
        for mount, total, used in (
            ("C:\\", 255_369_777_152, self._c_used),
            ("D:\\", 1_000_186_310_656, self._d_used),
        ):
            disks.append(
                {
                    "mount": mount,
                    "disk_total_bytes": total,
                    "disk_used_bytes": used,
                    "disk_free_bytes": total - used,
                    "disk_used_percent": round(100 * used / total, 1),
                }
            )
        busy = r.random() < 0.3
        disks.append(
            {
                "disk": "PhysicalDrive0",
                "disk_read_bytes_per_second": round(r.uniform(0, 5e6), 1) if busy else 0,
                "disk_write_bytes_per_second": round(r.uniform(0, 2e6), 1) if busy or r.random() < 0.5 else 0,
            }
        )
        talking = r.random() < 0.6
        network: list[dict[str, Scalar]] = [
            {
                "nic": "Ethernet",
                "net_link_up": 1,
                "net_speed_mbps": 1000,
                "net_rx_bytes_per_second": round(r.uniform(200, 3e6), 2)
                if talking
                else round(r.uniform(0, 900), 2),
                "net_tx_bytes_per_second": round(r.uniform(100, 4e5), 2)
                if talking
                else round(r.uniform(0, 300), 2),
                "net_errors_per_second": 0,
                "net_drops_per_second": round(r.random() * 0.2, 2) if r.random() < 0.05 else 0,
            },
            {
                "nic": "Wi-Fi",
                "net_link_up": 0,
                "net_speed_mbps": 0,
                "net_rx_bytes_per_second": 0,
                "net_tx_bytes_per_second": 0,
                "net_errors_per_second": 0,
                "net_drops_per_second": 0,
            },
        ]
        procs: list[tuple[str, float, int]] = []
        for name, cpu, _mib in PROCESSES:
            # a process keeps most of its load from one report to the next; its memory drifts by pages
            self._proc_cpu[name] = 0.7 * self._proc_cpu[name] + 0.3 * max(0.0, r.gauss(cpu, cpu * 0.8))
            rss = self._proc_rss[name]
            if r.random() < 0.6:
                rss = max(4096, rss + r.randint(-64, 96) * 4096)
            self._proc_rss[name] = rss
            procs.append((name, round(self._proc_cpu[name], 1), rss))
        processes: list[dict[str, Scalar]] = [{"processes_count": r.randint(95, 140)}]
        for top, key in (("cpu", 1), ("memory", 2)):
            ranked = sorted(procs, key=lambda p: p[key], reverse=True)[:5]
            for rank, (name, cpu, rss) in enumerate(ranked, 1):
                processes.append(
                    {
                        "top": top,
                        "rank": str(rank),
                        "name": name,
                        "pid": str(self._pids[name]),
                        "process_cpu_percent": cpu,
                        "process_memory_rss_bytes": rss,
                    }
                )
        groups: dict[str, Group] = {
            "cpu": [
                {"cpu_usage_percent": round(self._cpu, 1), "cpu_count": 4},
                *(_core(i, v) for i, v in enumerate(cores)),
            ],
            "memory": {
                "memory_total_bytes": mem_total,
                "memory_available_bytes": self._available,
                "memory_used_percent": round(100 * (1 - self._available / mem_total), 1),
                "swap_total_bytes": swap_total,
                "swap_used_bytes": self._swap_used,
                "swap_used_percent": round(100 * self._swap_used / swap_total, 1),
            },
            "disk": disks,
            "network": network,
            "uptime": {"boot_time_seconds": self.boot_time, "uptime_seconds": int(ts) - self.boot_time},
            "sensors": {"battery_percent": 100, "battery_plugged": 1, "battery_left_seconds": 0},
            "processes": processes,
            "users": {"users_sessions_count": 1, "users_distinct_count": 1},
            "peripherals": {"display_connected_count": 1, "touchscreen_count": 1, "usb_camera_count": 1},
        }
        return Metrics(
            campus=self.campus,
            device=self.device,
            ts=float(int(ts)),
            seq=self.seq,
            interval=self.interval,
            metrics=groups,
        )


def _core(i: int, usage: float) -> dict[str, Scalar]:
    return {"core": str(i), "cpu_core_usage_percent": usage}


def school(campus: str = "school", devices: int = 143, interval: int = 30) -> list[AgentLikeDevice]:
    return [AgentLikeDevice(campus, f"pc-{i:03d}", interval=interval, seed=i) for i in range(devices)]
