"""deploy/ansible for real: site.yml against localhost into a throw-away prefix.

Broker, server and agents are separate inventory hosts with `connection: local`; the services run
under the roles' pid-file supervisor (no systemd here). The agent's report must reach the server
through the installed TLS broker with the generated credentials; a second run must change nothing;
a new PC must change only what it needs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.support.mosquitto import free_port
from tests.support.mqtt import wait_until

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "deploy" / "ansible"
BIN = Path(sys.executable).parent
CAMPUS = "main"


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ANSIBLE_DIR / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}{os.pathsep}/usr/sbin{os.pathsep}/sbin",
    )
    return env


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in the dev environment (pip install -e '.[dev]')")
    return str(path)


def test_ansible_lint_and_syntax_check() -> None:
    """ansible-lint (production profile, offline: .ansible-lint) and a syntax check of site.yml."""
    lint = subprocess.run(
        [tool("ansible-lint"), "deploy/ansible"],
        cwd=REPO,
        env=ansible_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Profile 'production' was required, and it passed" in lint.stdout + lint.stderr
    syntax = subprocess.run(
        [tool("ansible-playbook"), "--syntax-check", "-i", "inventories/example", "site.yml"],
        cwd=ANSIBLE_DIR,
        env=ansible_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    district = subprocess.run(
        [tool("ansible-playbook"), "--syntax-check", "-i", "inventories/district", "site.yml"],
        cwd=ANSIBLE_DIR,
        env=ansible_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert district.returncode == 0, district.stdout + district.stderr


def retained_as(rollout: Rollout, port: int, user: str, topic: str) -> bytes | None:
    """The retained message on `topic`, read over TLS with `user`'s generated credentials."""
    got: list[bytes] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-read-{user}", protocol=mqtt.MQTTv5)
    client.username_pw_set(user, rollout.password(user))
    client.tls_set(ca_certs=str(rollout.credentials / "tls/ca.crt"), cert_reqs=ssl.CERT_REQUIRED)

    def on_message(c: Any, u: Any, msg: mqtt.MQTTMessage) -> None:
        got.append(bytes(msg.payload))
        done.set()

    client.on_message = on_message
    client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    try:
        done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0] if got else None


class Rollout:
    """A localhost inventory in tmp_path, and runs of site.yml against it.

    Two campuses: `main` connects to the central broker (with the server), `east` has its own
    broker bridged to the central one. Every host is this machine (`connection: local`), each with
    its own paths, ports and service names.
    """

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.prefix = tmp_path / "root"
        self.inventory = tmp_path / "inventory"
        self.credentials = self.inventory / "credentials"
        self.port = free_port()
        self.east_port = free_port()
        self.pcs: dict[str, str] = {}  # device -> campus
        self.run_dir = self.prefix / "var/lib/campusmon/run"
        self.wheel = self.build_wheel()

    def build_wheel(self) -> Path:
        """campusmon as a wheel file (what a school copies to a share), built once for every venv."""
        out = self.tmp / "wheels"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--wheel-dir",
                str(out),
                str(REPO),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        return next(out.glob("campusmon-*.whl"))

    def agent_vars(self, name: str, campus: str) -> dict[str, Any]:
        return {
            "campusmon_campus": campus,
            "campusmon_mqtt_port": self.east_port if campus == "east" else self.port,
            "campusmon_agent_config_dir": f"{self.prefix}/etc/campusmon/agents/{name}",
            "campusmon_agent_state_dir": f"{self.prefix}/var/lib/campusmon-agent/{name}",
            "campusmon_agent_service_name": f"campusmon-agent-{name}",
        }

    def write_inventory(self) -> None:
        self.inventory.mkdir(parents=True, exist_ok=True)
        common = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "ansible_become": False,
            "campusmon_prefix": str(self.prefix),
            "campusmon_init_system": "process",
            "campusmon_credentials_dir": str(self.credentials),
            "campusmon_mqtt_host": "127.0.0.1",
            "campusmon_mqtt_central_host": "127.0.0.1",
            "campusmon_mqtt_port": self.port,
            "campusmon_broker_install_package": False,
            "campusmon_broker_mosquitto_bin": shutil.which("mosquitto") or "/usr/sbin/mosquitto",
            "campusmon_broker_user": "root",
            "campusmon_broker_group": "root",
            "campusmon_broker_tls_bind": "127.0.0.1",
            "campusmon_server_install_packages": False,
            "campusmon_server_create_user": False,
            "campusmon_server_user": "root",
            "campusmon_server_group": "root",
            "campusmon_server_python": sys.executable,
            "campusmon_server_pip_requirement": f"{self.wheel}[server]",
            "campusmon_agent_install_packages": False,
            "campusmon_agent_python": sys.executable,
            "campusmon_agent_pip_requirement": f"{self.wheel}[agent]",
            "campusmon_agent_interval": 2,
        }
        central = {"campusmon_broker_campuses": [CAMPUS], "campusmon_broker_address": "127.0.0.1"}
        east = {
            "campusmon_campus": "east",
            "campusmon_broker_campuses": ["east"],
            "campusmon_broker_bridge_to": "broker",
            "campusmon_broker_server_username": "",
            "campusmon_broker_tls_port": self.east_port,
            "campusmon_broker_config_dir": f"{self.prefix}/etc/campusmon/broker-east",
            "campusmon_broker_data_dir": f"{self.prefix}/var/lib/campusmon/broker-east",
            "campusmon_broker_service_name": "campusmon-broker-east",
        }
        pcs = {pc: self.agent_vars(pc, campus) for pc, campus in self.pcs.items()}
        inventory = {
            "all": {
                "vars": common,
                "children": {
                    "campusmon_brokers": {"hosts": {"broker": central, "broker-east": east}},
                    "campusmon_server": {"hosts": {"server": None}},
                    "campusmon_agents": {"children": {"campusmon_pcs": {"hosts": pcs}}},
                    "campusmon_probes": {"hosts": {"probe-main": {"campusmon_campus": CAMPUS}}},
                },
            }
        }
        # JSON is YAML: the inventory plugin reads it as hosts.yml
        (self.inventory / "hosts.yml").write_text(json.dumps(inventory, indent=2), encoding="utf-8")

    def run(self) -> dict[str, Any]:
        """One `ansible-playbook site.yml`; returns the JSON callback's result."""
        self.write_inventory()
        env = ansible_env()
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
        # the probe runner's own checks live with the probes; here its host only gets broker rights
        proc = subprocess.run(
            [tool("ansible-playbook"), "-i", str(self.inventory), "site.yml", "--skip-tags", "probe"],
            cwd=ANSIBLE_DIR,
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=600,
        )
        try:
            result: dict[str, Any] = json.loads(proc.stdout[proc.stdout.index("{") :])
        except ValueError:
            pytest.fail(f"no JSON from ansible-playbook (rc {proc.returncode}): {proc.stdout} {proc.stderr}")
        if proc.returncode != 0:
            failed = [
                (task["task"]["name"], host, res.get("msg") or res.get("stderr") or res)
                for play in result["plays"]
                for task in play["tasks"]
                for host, res in task["hosts"].items()
                if res.get("failed") or res.get("unreachable")
            ]
            pytest.fail(f"site.yml failed (rc {proc.returncode}): {failed}\n{proc.stderr[-3000:]}")
        return result

    def pid(self, service: str) -> int:
        return int((self.run_dir / f"{service}.pid").read_text().strip())

    def password(self, user: str) -> str:
        return (self.credentials / "mqtt" / user).read_text().strip()

    def stop_all(self) -> None:
        for ctl in sorted(self.run_dir.glob("*-ctl")) if self.run_dir.exists() else []:
            subprocess.run([str(ctl), "stop"], capture_output=True, timeout=60, check=False)
        for pidfile in self.run_dir.glob("*.pid") if self.run_dir.exists() else []:
            try:
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def changed_tasks(result: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for play in result["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if res.get("changed"):
                    # "campusmon_broker : Write the ACL" -> "Write the ACL"
                    out.setdefault(host, []).append(task["task"]["name"].split(" : ", 1)[-1])
    return out


def device_row(rollout: Rollout, device: str) -> dict[str, Any] | None:
    proc = subprocess.run(
        [
            str(rollout.prefix / "opt/campusmon/server/bin/campusmon"),
            "devices",
            "--json",
            "--config",
            str(rollout.prefix / "etc/campusmon/server.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for row in json.loads(proc.stdout):
        if row["device"] == device:
            return dict(row)
    return None


def publish_as(rollout: Rollout, port: int, user: str, topic: str) -> ReasonCode:
    """Publish one QoS 1 message over TLS with `user`'s generated credentials; the PUBACK's reason."""
    done = threading.Event()
    connected = threading.Event()
    reasons: list[ReasonCode] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{user}", protocol=mqtt.MQTTv5)
    client.username_pw_set(user, rollout.password(user))
    client.tls_set(ca_certs=str(rollout.credentials / "tls/ca.crt"), cert_reqs=ssl.CERT_REQUIRED)

    def on_connect(c: Any, u: Any, flags: Any, reason: ReasonCode, props: Properties | None) -> None:
        reasons.append(reason)
        connected.set()

    def on_publish(c: Any, u: Any, mid: int, reason: ReasonCode, props: Properties | None) -> None:
        reasons.append(reason)
        done.set()

    client.on_connect = on_connect
    client.on_publish = on_publish
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    try:
        assert connected.wait(10), "no CONNACK"
        assert not reasons[0].is_failure, f"{user} was refused: {reasons[0]}"
        client.publish(topic, b'{"v":1}', qos=1)
        assert done.wait(10), "no PUBACK"
        return reasons[1]
    finally:
        client.disconnect()
        client.loop_stop()


def users_of(passwd: Path) -> set[str]:
    return {line.split(":")[0] for line in passwd.read_text().splitlines() if ":" in line}


def reports_arrived(rollout: Rollout, device: str) -> bool:
    return wait_until(
        lambda: (row := device_row(rollout, device)) is not None and row["last_seq"] is not None,
        timeout=90,
        every=1.0,
    )


SERVICES = ("campusmon-broker", "campusmon-broker-east", "campusmon-server", "campusmon-agent-pc-1")


@pytest.mark.timeout(900)
def test_site_yml_rollout_on_localhost(tmp_path: Path) -> None:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed (apt-get install -y mosquitto)")
    rollout = Rollout(tmp_path)
    rollout.pcs = {"pc-1": CAMPUS}
    try:
        # first run: everything installed and started
        first = rollout.run()
        assert first["stats"]["broker"]["changed"] > 0
        for service in SERVICES:
            os.kill(rollout.pid(service), 0)
        pc1_password = rollout.password("pc-1")
        ca = (rollout.credentials / "tls/ca.crt").read_bytes()

        # the agent's reports reach the server through the TLS broker with its generated password
        assert reports_arrived(rollout, "pc-1"), "no report of pc-1 reached the server"
        row = device_row(rollout, "pc-1")
        assert row is not None and row["campus"] == CAMPUS and row["state"] == "online"

        # second run: nothing changes
        second = rollout.run()
        assert {h: s["changed"] for h, s in second["stats"].items()} == {
            "broker": 0,
            "broker-east": 0,
            "server": 0,
            "pc-1": 0,
        }, changed_tasks(second)

        # two new PCs, one per campus: one inventory entry each; elsewhere only the password file of
        # their campus's broker and its ACL change (and that broker reloads them); no service restarts
        pids = {s: rollout.pid(s) for s in SERVICES}
        central_passwd = rollout.prefix / "etc/campusmon/broker/passwd"
        east_passwd = rollout.prefix / "etc/campusmon/broker-east/passwd"
        central_users, east_users = users_of(central_passwd), users_of(east_passwd)
        rollout.pcs.update({"pc-2": "east", "pc-3": CAMPUS})
        third = rollout.run()
        changed = changed_tasks(third)
        assert set(changed) == {"broker", "broker-east", "pc-2", "pc-3"}, changed
        for broker in ("broker", "broker-east"):
            assert sorted(changed[broker]) == [
                "Reload campusmon broker",
                "Write the ACL",
                "Write the password file (one generated password per user, kept on the controller)",
            ], changed
        assert pids == {s: rollout.pid(s) for s in pids}, "a service was restarted"
        assert users_of(east_passwd) - east_users == {"pc-2"}
        assert users_of(central_passwd) - central_users == {"pc-3"}

        # reports arrive, pc-2's through its campus broker and the bridge to the central broker
        for device, campus in (("pc-2", "east"), ("pc-3", CAMPUS)):
            assert reports_arrived(rollout, device), f"no report of {device} reached the server"
            row = device_row(rollout, device)
            assert row is not None and row["campus"] == campus

        # the bridge tells the central broker its link is up (the server's campus link ticket reads it)
        state = retained_as(rollout, rollout.port, "campusmon-server", "campusmon/$bridge/east/state")
        assert state == b"1", state

        # ACL: a device may write its own topics, not another device's (MQTT v5 PUBACK 135)
        own = publish_as(rollout, rollout.port, "pc-3", f"campusmon/{CAMPUS}/pc-3/events")
        assert not own.is_failure, own
        denied = publish_as(rollout, rollout.port, "pc-3", f"campusmon/{CAMPUS}/pc-1/metrics")
        assert denied.value == 135, denied
        for topic in ("campusmon/east/pc-1/metrics", f"campusmon/{CAMPUS}/pc-1/metrics"):
            denied = publish_as(rollout, rollout.east_port, "pc-2", topic)
            assert denied.value == 135, (topic, denied)
        # ... nor its own id under another campus (on either broker)
        denied = publish_as(rollout, rollout.port, "pc-3", "campusmon/east/pc-3/status")
        assert denied.value == 135, denied
        denied = publish_as(rollout, rollout.east_port, "pc-2", f"campusmon/{CAMPUS}/pc-2/status")
        assert denied.value == 135, denied
        own = publish_as(rollout, rollout.east_port, "pc-2", "campusmon/east/pc-2/status")
        assert not own.is_failure, own
        # a probe runner writes any device of its campus, nothing elsewhere
        own = publish_as(rollout, rollout.port, "probe-main", f"campusmon/{CAMPUS}/switch-1/status")
        assert not own.is_failure, own
        denied = publish_as(rollout, rollout.port, "probe-main", "campusmon/east/switch-9/status")
        assert denied.value == 135, denied
        # and on the central broker the server only reads
        denied = publish_as(rollout, rollout.port, "campusmon-server", f"campusmon/{CAMPUS}/pc-1/metrics")
        assert denied.value == 135, denied
        assert len({rollout.password(pc) for pc in ("pc-1", "pc-2", "pc-3")}) == 3

        # credentials and the CA are generated once and kept across runs
        assert rollout.password("pc-1") == pc1_password
        assert (rollout.credentials / "tls/ca.crt").read_bytes() == ca

        # unit files for production (systemd) are written too: systemd-analyze checks them
        analyze = shutil.which("systemd-analyze")
        if analyze:
            units = sorted((rollout.prefix / "etc/systemd/system").glob("*.service"))
            assert len(units) == 6
            verify = subprocess.run(
                [analyze, "verify", *map(str, units)], capture_output=True, text=True, timeout=60, check=False
            )
            assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        rollout.stop_all()
