"""The agent over TLS (private CA, client certificate) with a username/password, against real Mosquitto."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mosquitto import MosquittoProcess, free_port, wait_port
from tests.support.mqtt import wait_until

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d: Path) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", "/CN=campusmon test CA", cwd=d)  # fmt: skip
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n", encoding="ascii")
    for name, ext in (("server", ["-extfile", "san.cnf"]), ("agent", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", *ext, cwd=d)  # fmt: skip


@pytest.fixture
def tls_broker(tmp_path: Path):
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(pki / "passwd"), "pc-tls", "s3cret"], check=True, timeout=30
    )
    tls_port = free_port()
    broker = MosquittoProcess(
        tmp_path / "broker",
        extra_conf=(
            f"password_file {pki / 'passwd'}\n"
            f"listener {tls_port} 127.0.0.1\n"
            f"cafile {pki / 'ca.crt'}\ncertfile {pki / 'server.crt'}\nkeyfile {pki / 'server.key'}\n"
            "require_certificate true\n"
        ),
    ).start()
    wait_port("127.0.0.1", tls_port)
    try:
        yield broker, tls_port, pki
    finally:
        broker.stop()


def run_agent(tmp_path: Path, port: int, pki: Path, password: str) -> tuple[subprocess.Popen[bytes], Path]:
    cfg = tmp_path / f"agent-{password}.toml"
    log = tmp_path / f"agent-{password}.log"
    cfg.write_text(
        f'[agent]\ncampus = "main"\ndevice = "pc-tls"\ninterval = 1\nstate_dir = "{tmp_path / password}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nkeepalive = 5\n'
        f'username = "pc-tls"\npassword = "{password}"\n'
        f'tls_ca = "{pki / "ca.crt"}"\ntls_cert = "{pki / "agent.crt"}"\ntls_key = "{pki / "agent.key"}"\n'
        "reconnect_min_seconds = 0.5\nreconnect_max_seconds = 1.0\n",
        encoding="utf-8",
    )
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "campusmon", "agent", "run", "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=fh,
            env=dict(os.environ),
        )
    return proc, log


def test_tls_client_cert_and_password(tmp_path: Path, tls_broker) -> None:
    from campusmon.agent.buffer import ReportBuffer

    broker, tls_port, pki = tls_broker
    good, good_log = run_agent(tmp_path, tls_port, pki, "s3cret")
    bad, bad_log = run_agent(tmp_path, tls_port, pki, "wrong")
    try:

        def delivered(state: str) -> int:
            db = tmp_path / state / "buffer.sqlite3"
            if not db.exists():
                return -1
            buf = ReportBuffer(db)
            try:
                return buf.next_seq("pc-tls") - len(buf)
            finally:
                buf.close()

        # reports leave the queue only on PUBACK: the good agent's queue drains
        assert wait_until(lambda: delivered("s3cret") >= 3, timeout=30), good_log.read_text()
        # the wrong password is refused; that agent keeps its reports and keeps running
        assert wait_until(
            lambda: "refused" in bad_log.read_text() or "not authorized" in bad_log.read_text().lower(),
            timeout=20,
        ), bad_log.read_text()
        assert bad.poll() is None and delivered("wrong") <= 0
    finally:
        for proc in (good, bad):
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
    assert good.returncode == 0 and bad.returncode == 0
    assert "Traceback" not in good_log.read_text() + bad_log.read_text()
