"""Real SNMP agents on 127.0.0.1 for tests and benchmarks: snmpsim (one community per .snmprec) and
net-snmp snmpd. Free UDP ports, private directories, stopped by PID."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "snmprec"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _answers(port: int, community: str, timeout: float) -> bool:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        get_cmd,
    )

    target = await UdpTransportTarget.create(("127.0.0.1", port), timeout=timeout, retries=0)
    indication, _, _, _ = await get_cmd(
        SnmpEngine(),
        CommunityData(community),
        target,
        ContextData(),
        ObjectType(ObjectIdentity("1.3.6.1.2.1.1.3.0")),
        lookupMib=False,
    )
    return not indication


def wait_snmp(port: int, community: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if asyncio.run(_answers(port, community, 0.5)):
            return
    raise TimeoutError(f"no SNMP agent answers on 127.0.0.1:{port} (community {community!r})")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class Snmpsim:
    """snmpsim-command-responder serving `scenarios` (file stems under FIXTURES, or paths)."""

    def __init__(self, workdir: Path, scenarios: Iterable[str | Path], ports: int = 1) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        (workdir / "cache").mkdir(exist_ok=True)
        self.communities: list[str] = []
        for s in scenarios:
            src = Path(s) if isinstance(s, Path) else FIXTURES / f"{s}.snmprec"
            shutil.copyfile(src, self.data / src.name)
            self.communities.append(src.stem)
        self.ports = [free_udp_port() for _ in range(ports)]
        self.port = self.ports[0]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Snmpsim:
        exe = Path(sys.executable).with_name("snmpsim-command-responder")
        cmd = [
            str(exe),
            f"--data-dir={self.data}",
            f"--cache-dir={self.workdir / 'cache'}",
            "--log-level=error",
            f"--logging-method=file:{self.workdir / 'snmpsim.log'}",
        ] + [f"--agent-udpv4-endpoint=127.0.0.1:{p}" for p in self.ports]
        env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        try:
            for p in self.ports:
                wait_snmp(p, self.communities[0])
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None


class Snmpd:
    """net-snmp snmpd in the foreground with a private config and persistent dir."""

    def __init__(
        self, workdir: Path, community: str = "campus-ro", v3_user: tuple[str, str, str] | None = None
    ) -> None:
        self.bin = shutil.which("snmpd") or "/usr/sbin/snmpd"
        if not os.path.exists(self.bin):
            raise RuntimeError("snmpd is not installed (apt-get install -y snmpd)")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.community = community
        self.v3_user = v3_user
        self.port = free_udp_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Snmpd:
        conf = [
            f"agentAddress udp:127.0.0.1:{self.port}",
            f"rocommunity {self.community} 127.0.0.1",
            "sysName campusmon-test-snmpd",
            "sysLocation test",
        ]
        if self.v3_user:
            user, auth, priv = self.v3_user
            conf += [f"createUser {user} SHA {auth} AES {priv}", f"rouser {user} priv"]
        (self.workdir / "snmpd.conf").write_text("\n".join(conf) + "\n", encoding="utf-8")
        env = dict(os.environ, SNMP_PERSISTENT_DIR=str(self.workdir), MIBS="")
        self.proc = subprocess.Popen(
            [
                self.bin,
                "-f",
                "-C",
                "-c",
                str(self.workdir / "snmpd.conf"),
                "-Lf",
                str(self.workdir / "log"),
                "-p",
                str(self.workdir / "snmpd.pid"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            wait_snmp(self.port, self.community, timeout=15)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _stop(self.proc)
        self.proc = None
