"""The district shape of deploy/ansible for real, on localhost: a central broker, a campus broker
bridged to it, and two server workers on one PostgreSQL (the suite's) with VictoriaMetrics run by the
first worker's role, each worker in its own prefix. The workers must share the two campuses through
their leases (`campusmon server workers`), and a second run of site.yml must change nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_ansible import CAMPUS, Rollout, changed_tasks
from tests.support.mosquitto import free_port
from tests.support.mqtt import wait_until

pytestmark = pytest.mark.slow

WORKERS = ("worker1", "worker2")


class DistrictRollout(Rollout):
    """Rollout's brokers (central `main`, bridged `east`), no agents, and two workers instead of one
    server."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        super().__init__(tmp_path)
        self.database_url = database_url
        self.vm_port = free_port()

    def worker_prefix(self, worker: str) -> Path:
        return self.tmp / worker

    def worker_config(self, worker: str) -> Path:
        return self.worker_prefix(worker) / "etc/campusmon/server.toml"

    def write_inventory(self) -> None:
        super().write_inventory()
        path = self.inventory / "hosts.yml"
        inventory: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        children = inventory["all"]["children"]
        district = {
            "campusmon_server_district": True,
            "campusmon_server_database_url": self.database_url,
            "campusmon_server_metrics_backend": "influx",
            "campusmon_server_influx_url": f"http://127.0.0.1:{self.vm_port}",
            "campusmon_server_district_lease_seconds": 8,
            "campusmon_server_district_renew_seconds": 1,
        }
        hosts: dict[str, Any] = {}
        for worker in WORKERS:
            hosts[worker] = {
                **district,
                "campusmon_prefix": str(self.worker_prefix(worker)),
                # a PostgreSQL server needs the driver (the role refuses a requirement without it)
                "campusmon_server_pip_requirement": f"{self.wheel}[server,postgres]",
            }
        # the first worker's host also runs the district's VictoriaMetrics (both write to it)
        hosts["worker1"].update(
            {
                "campusmon_server_victoriametrics": True,
                "campusmon_server_victoriametrics_install_package": False,
                "campusmon_server_victoriametrics_listen": f"127.0.0.1:{self.vm_port}",
            }
        )
        children["campusmon_server"] = {"hosts": hosts}
        children["campusmon_agents"] = {"children": {"campusmon_pcs": {"hosts": {}}}}
        path.write_text(json.dumps(inventory, indent=2), encoding="utf-8")

    def workers(self) -> dict[str, Any]:
        """`campusmon server workers --json`, as worker1's installed CLI prints it."""
        proc = subprocess.run(
            [
                str(self.worker_prefix("worker1") / "opt/campusmon/server/bin/campusmon"),
                "server",
                "workers",
                "--json",
                "--config",
                str(self.worker_config("worker1")),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        data: dict[str, Any] = json.loads(proc.stdout)
        return data

    def stop_all(self) -> None:
        super().stop_all()
        for worker in WORKERS:
            run_dir = self.worker_prefix(worker) / "var/lib/campusmon/run"
            if not run_dir.exists():
                continue
            for ctl in sorted(run_dir.glob("*-ctl")):
                subprocess.run([str(ctl), "stop"], capture_output=True, timeout=60, check=False)
            for pidfile in run_dir.glob("*.pid"):
                try:
                    os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
                except (OSError, ValueError):
                    pass


def _shared(rollout: DistrictRollout) -> Counter[str]:
    """Live worker -> how many campuses it owns."""
    data = rollout.workers()
    return Counter(w["worker"] for w in data["workers"] if w["alive"] for _ in w["campuses"])


@pytest.mark.timeout(1200)
def test_district_rollout_on_localhost(tmp_path: Path, postgres: str) -> None:
    rollout = DistrictRollout(tmp_path, postgres)
    try:
        first = rollout.run()
        assert first["stats"]["worker1"]["changed"] > 0
        assert first["stats"]["worker2"]["changed"] > 0
        for worker in WORKERS:
            pid = int(
                (rollout.worker_prefix(worker) / "var/lib/campusmon/run/campusmon-server.pid").read_text()
            )
            os.kill(pid, 0)  # running
        # the two workers share the two campuses (main on the central broker, east bridged)
        assert wait_until(lambda: _shared(rollout) == Counter(worker1=1, worker2=1), timeout=90, every=1.0), (
            rollout.workers()
        )
        owned = {c for w in rollout.workers()["workers"] for c in w["campuses"]}
        assert owned == {CAMPUS, "east"}
        # VictoriaMetrics, started by worker1's role, answers
        assert (
            rollout.worker_prefix("worker1") / "var/lib/campusmon/run/campusmon-victoriametrics.pid"
        ).exists()

        second = rollout.run()
        assert {h: s["changed"] for h, s in second["stats"].items()} == {
            "broker": 0,
            "broker-east": 0,
            "worker1": 0,
            "worker2": 0,
        }, changed_tasks(second)
        assert _shared(rollout) == Counter(worker1=1, worker2=1)
    finally:
        rollout.stop_all()
