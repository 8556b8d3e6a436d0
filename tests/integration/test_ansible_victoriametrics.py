"""The campusmon_server role's VictoriaMetrics option, for real on localhost: the service runs on
loopback under the pid-file supervisor, answers, is left alone by a second run, and the server config
the role writes sends raw samples to it (and passes `campusmon server check-config`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest

from tests.integration.test_ansible import ANSIBLE_DIR, ansible_env, tool
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.slow

ROLE = ANSIBLE_DIR / "roles" / "campusmon_server"


def playbook(tmp_path: Path, port: int) -> Path:
    prefix = tmp_path / "root"
    variables = {
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "campusmon_prefix": str(prefix),
        "campusmon_init_system": "process",
        "campusmon_credentials_dir": str(tmp_path / "credentials"),
        "campusmon_mqtt_central_host": "127.0.0.1",
        "campusmon_server_user": "root",
        "campusmon_server_group": "root",
        "campusmon_server_victoriametrics": True,
        "campusmon_server_victoriametrics_install_package": False,
        "campusmon_server_victoriametrics_bin": shutil.which("victoria-metrics")
        or "/usr/bin/victoria-metrics",
        "campusmon_server_victoriametrics_listen": f"127.0.0.1:{port}",
    }
    play = [
        {
            "name": "VictoriaMetrics for campusmon",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": True,
            # the role's defaults for the template task too (the test's settings come as extra vars)
            "vars_files": [str(ROLE / "defaults" / "main.yml")],
            "tasks": [
                {
                    "name": "Run VictoriaMetrics",
                    "ansible.builtin.include_role": {
                        "name": "campusmon_server",
                        "tasks_from": "victoriametrics.yml",
                    },
                },
                {
                    "name": "Write the server configuration",
                    "ansible.builtin.template": {
                        "src": str(ROLE / "templates" / "server.toml.j2"),
                        "dest": str(tmp_path / "server.toml"),
                        "mode": "0600",
                    },
                },
            ],
        }
    ]
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(play, indent=2), encoding="utf-8")
    (tmp_path / "vars.json").write_text(json.dumps(variables), encoding="utf-8")
    return path


def run(path: Path) -> dict[str, int]:
    env = ansible_env()
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    proc = subprocess.run(
        [tool("ansible-playbook"), "-i", "localhost,", "-e", f"@{path.parent / 'vars.json'}", str(path)],
        cwd=ANSIBLE_DIR,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout[proc.stdout.index("{") :])
    return {host: stats["changed"] for host, stats in result["stats"].items()}


def test_role_runs_victoriametrics_and_points_the_server_at_it(tmp_path: Path) -> None:
    if shutil.which("victoria-metrics") is None:
        pytest.fail("victoria-metrics is not installed (apt-get install -y victoria-metrics)")
    port = free_port()
    path = playbook(tmp_path, port)
    ctl = tmp_path / "root/var/lib/campusmon/run/campusmon-victoriametrics-ctl"
    try:
        assert run(path)["localhost"] > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            assert resp.status == 200
        data_dir = tmp_path / "root/var/lib/victoria-metrics/campusmon"
        assert data_dir.is_dir() and (data_dir.stat().st_mode & 0o777) == 0o700
        config = tomllib.loads((tmp_path / "server.toml").read_text(encoding="utf-8"))
        assert config["storage"]["metrics_backend"] == "influx"
        assert config["metrics"]["influx"]["url"] == f"http://127.0.0.1:{port}"
        check = subprocess.run(
            [
                sys.executable,
                "-m",
                "campusmon",
                "server",
                "check-config",
                "--config",
                str(tmp_path / "server.toml"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, check.stderr
        assert run(path) == {"localhost": 0}
    finally:
        if ctl.exists():
            subprocess.run([str(ctl), "stop"], capture_output=True, timeout=60, check=False)
