"""A managed Mosquitto child process for a one-box school: written config, supervised, stopped with us.

No anonymous client: the server, the probe runners and each device log in with their own user, and the
ACL lets a device write only its own topics (see server/broker_auth.py). The broker's directory is 0700
and its files 0600; Mosquitto runs as the user we are (as root it would otherwise switch to the
`mosquitto` user, which cannot read a private directory).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from .broker_auth import BrokerUsers, Login, private_dir, write_private

_log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The managed broker cannot be started; the message says what to do."""


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def render_config(
    *, data_dir: Path, host: str, port: int, max_queued: int, max_inflight: int, run_as: str | None
) -> str:
    lines = [
        "# written by campusmon; changes are overwritten at the next start",
        "per_listener_settings false",
        f"listener {port} {host}",
        # no anonymous client: every role and every device has its own user (server/broker_auth.py)
        "allow_anonymous false",
        f"password_file {data_dir / 'passwd'}",
        f"acl_file {data_dir / 'acl'}",
        f"pid_file {data_dir / 'mosquitto.pid'}",
        "persistence true",
        f"persistence_location {data_dir}/",
        "autosave_interval 60",
        f"max_queued_messages {max_queued}",
        f"max_inflight_messages {max_inflight}",
        "max_keepalive 600",
        "persistent_client_expiration 14d",
        f"log_dest file {data_dir / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    ]
    if run_as:
        lines.append(f"user {run_as}")
    return "\n".join(lines) + "\n"


class ManagedBroker:
    """Runs `mosquitto -c <data_dir>/mosquitto.conf`; restarts it if it dies; `stop()` ends it."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        binary: str = "mosquitto",
        max_queued: int = 200_000,
        max_inflight: int = 200,
        root: str = "campusmon",
    ) -> None:
        self.data_dir = data_dir
        #: who may log in and what each may write; `server_login` is the server's own
        self.users = BrokerUsers(data_dir, root)
        self.server_login: Login | None = None
        self.host = host
        self.port = port
        self.binary = binary
        self.max_queued = max_queued
        self.max_inflight = max_inflight
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts = 0

    @property
    def config_path(self) -> Path:
        return self.data_dir / "mosquitto.conf"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _write_config(self) -> None:
        private_dir(self.data_dir)
        self.server_login = self.users.ensure()
        for left in ("mosquitto.log", "mosquitto.db"):  # made by an older version, or by hand
            with contextlib.suppress(FileNotFoundError):
                os.chmod(self.data_dir / left, 0o600)
        # as root, mosquitto switches to user `mosquitto` unless told otherwise, and then cannot
        # read a private data dir: run it as the user we are
        run_as = pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None
        write_private(
            self.config_path,
            render_config(
                data_dir=self.data_dir,
                host=self.host,
                port=self.port,
                max_queued=self.max_queued,
                max_inflight=self.max_inflight,
                run_as=run_as,
            ),
        )

    def _spawn(self) -> None:
        self._proc = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            umask=0o077,  # its log and persistence files are private too
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it in order
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise BrokerError(
                    f"mosquitto exited at start (code {self._proc.returncode}): {err.strip()}"
                    f" — see {self.data_dir / 'mosquitto.log'}"
                )
            if port_open(self.host, self.port):
                return
            time.sleep(0.05)
        self._terminate()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} within 10 s")

    def start(self) -> None:
        if shutil.which(self.binary) is None:
            raise BrokerError(
                f"{self.binary!r} not found. Install it (Debian/Ubuntu: apt-get install -y mosquitto) "
                "or set broker.managed = false and point broker.host at your broker."
            )
        if port_open(self.host, self.port):
            raise BrokerError(
                f"{self.host}:{self.port} is already in use (another broker?). Set broker.port to a free "
                "port, or broker.managed = false to use the broker that is running."
            )
        self._write_config()
        self._spawn()
        _log.info("managed mosquitto pid %s on %s:%s", self.pid, self.host, self.port)
        self._watcher = threading.Thread(target=self._watch, name="broker-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            proc = self._proc
            if proc is not None and proc.poll() is not None and not self._stopping.is_set():
                _log.error("managed mosquitto exited with %s; restarting in %.0f s", proc.returncode, backoff)
                if self._stopping.wait(backoff):
                    return
                try:
                    self._spawn()
                    self.restarts += 1
                    backoff = 1.0
                except BrokerError as exc:
                    _log.error("%s", exc)
                    backoff = min(backoff * 2, 30.0)
            self._stopping.wait(0.5)

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=2)
        self._terminate()
        if self._proc is not None and self._proc.stderr is not None:
            self._proc.stderr.close()
