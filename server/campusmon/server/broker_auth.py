"""Users, passwords and ACL of the managed broker: one user per role, each device bound to its campus.

Everything lives in the broker's directory (0700; files 0600, owned by the user the server and its
Mosquitto run as):

- ``users.json`` — who exists: the passwords of the server and of the probe runners (processes on this
  box log in with them) and, for each device, only the hash of its password (shown once, when added).
- ``passwd`` — Mosquitto's password file (``$7$`` PBKDF2-SHA512, what ``mosquitto_passwd`` writes).
- ``acl`` — Mosquitto's ACL: the server reads ``<root>/#``; the probe runner of a campus writes
  ``<root>/<campus>/+/+``; device ``<campus>.<device>`` writes only ``<root>/<campus>/<device>/+``
  (the contract's four-level topics; ``#`` would also match the level above).

``passwd`` and ``acl`` are written from ``users.json`` at every start and after every change; a
running broker is told to reload them (SIGHUP to the pid in ``mosquitto.pid``).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campusmon.contract import ID_PATTERN, ID_RE

_log = logging.getLogger(__name__)

SERVER_USER = "campusmon-server"
#: Mosquitto's own default (mosquitto_passwd 2.0); the passwords are 192-bit random strings, so the
#: hash is not what protects them, and a boot storm of logins stays cheap for the broker
HASH_ITERATIONS = 101
USERS_FILE = "users.json"
PASSWD_FILE = "passwd"
ACL_FILE = "acl"
PID_FILE = "mosquitto.pid"


class CredentialsError(ValueError):
    """A credential request that cannot be met; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class DeviceUser:
    campus: str
    device: str
    added: float

    @property
    def username(self) -> str:
        return device_username(self.campus, self.device)


def device_username(campus: str, device: str) -> str:
    """`<campus>.<device>`: ids never hold a dot, so it cannot collide with another device or a role."""
    return f"{campus}.{device}"


def probe_username(campus: str) -> str:
    return f"probe-{campus}"


def mosquitto_hash(password: str, *, iterations: int = HASH_ITERATIONS, salt: bytes | None = None) -> str:
    """A Mosquitto 2.x password-file hash (the part after `username:`)."""
    salt = os.urandom(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def new_password() -> str:
    return secrets.token_urlsafe(24)


def _check_id(what: str, value: str) -> None:
    if not ID_RE.fullmatch(value):
        raise CredentialsError(f"{what} {value!r} does not match {ID_PATTERN}")


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with a file only its owner can read (0600)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # an existing leftover kept its old mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def private_dir(path: Path) -> None:
    """Create `path` (and parents) and make it 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


class BrokerUsers:
    """The users of one managed broker (see the module docstring). Safe to use from several processes:
    every change holds a lock on the directory and rewrites the files atomically."""

    def __init__(self, directory: Path, root: str = "campusmon") -> None:
        self.dir = directory
        self.root = root

    @property
    def users_path(self) -> Path:
        return self.dir / USERS_FILE

    @property
    def passwd_path(self) -> Path:
        return self.dir / PASSWD_FILE

    @property
    def acl_path(self) -> Path:
        return self.dir / ACL_FILE

    @property
    def pid_path(self) -> Path:
        return self.dir / PID_FILE

    # -- storage -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, *, render: bool = False) -> Iterator[dict[str, Any]]:
        """The users, read under an exclusive lock; written back (with passwd and acl) if changed."""
        try:
            private_dir(self.dir)
            fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise CredentialsError(
                f"{self.dir}: {exc.strerror}; run this as the user the server runs as"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self._read()
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                write_private(self.users_path, json.dumps(data, indent=2, sort_keys=True) + "\n")
                render = True
            if render or not self.passwd_path.exists():
                self._render(data)
        finally:
            os.close(fd)

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.users_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"version": 1, "server": None, "probes": {}, "devices": {}}
        except OSError as exc:
            raise CredentialsError(
                f"{self.users_path}: {exc.strerror}; run this as the user the server runs as"
            ) from None
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("version") != 1:
                raise ValueError("not a version 1 users file")
        except ValueError as exc:
            raise CredentialsError(
                f"{self.users_path}: unreadable ({exc}); restore it from a backup, or delete it to start "
                "over (every device then needs new credentials)"
            ) from None
        data.setdefault("probes", {})
        data.setdefault("devices", {})
        return data

    # -- roles -------------------------------------------------------------------------------------
    def ensure(self) -> Login:
        """Create the users file at first start (the server's password) and (re)write passwd and acl;
        returns the server's login."""
        with self._locked(render=True) as data:
            if not data.get("server"):
                data["server"] = {"username": SERVER_USER, "password": new_password()}
            server = data["server"]
        return Login(server["username"], server["password"])

    def server_login(self) -> Login:
        server = self._read().get("server")
        if not server:
            return self.ensure()
        return Login(server["username"], server["password"])

    def probe_login(self, campus: str) -> Login:
        """The probe runner of `campus` (created on first use); it may write anything of its campus."""
        _check_id("campus", campus)
        with self._locked() as data:
            entry = data["probes"].get(campus)
            if entry is None:
                entry = {"username": probe_username(campus), "password": new_password()}
                data["probes"][campus] = entry
                created = True
            else:
                created = False
        if created:
            self.reload()
        return Login(entry["username"], entry["password"])

    def add_device(self, campus: str, device: str, *, replace: bool = False) -> Login:
        """A new password for device `device` of `campus`; returned once, only its hash is kept."""
        return self.add_devices(campus, [device], replace=replace)[device]

    def add_devices(self, campus: str, devices: list[str], *, replace: bool = False) -> dict[str, Login]:
        """`add_device` for many devices at once (one rewrite, one reload); all or none are added."""
        _check_id("campus", campus)
        for device in devices:
            _check_id("device", device)
        logins = {d: Login(device_username(campus, d), new_password()) for d in devices}
        with self._locked() as data:
            known = data["devices"].setdefault(campus, {})
            taken = sorted(set(devices) & set(known))
            if taken and not replace:
                raise CredentialsError(
                    f"device {campus}/{taken[0]} already has credentials; add --replace to issue new ones "
                    "(the old password stops working)"
                )
            now = time.time()
            for device, login in logins.items():
                known[device] = {"hash": mosquitto_hash(login.password), "added": now}
        self.reload()
        return logins

    def remove_device(self, campus: str, device: str) -> bool:
        with self._locked() as data:
            devices = data["devices"].get(campus, {})
            found = devices.pop(device, None) is not None
            if not devices:
                data["devices"].pop(campus, None)
        if found:
            self.reload()
        return found

    def devices(self) -> list[DeviceUser]:
        data = self._read()
        return [
            DeviceUser(campus, device, float(devs[device].get("added", 0)))
            for campus, devs in sorted(data["devices"].items())
            for device in sorted(devs)
        ]

    def probe_campuses(self) -> list[str]:
        return sorted(self._read()["probes"])

    # -- Mosquitto's files -----------------------------------------------------------------------------
    def _render(self, data: dict[str, Any]) -> None:
        passwd: list[str] = []
        acl = [
            "# written by campusmon from users.json; changes here are overwritten",
            "# (campusmon server credentials add-device | remove-device | list)",
        ]
        server = data.get("server")
        if server:
            passwd.append(f"{server['username']}:{mosquitto_hash(server['password'])}")
            acl += ["", f"user {server['username']}", f"topic read {self.root}/#"]
        for campus, entry in sorted(data["probes"].items()):
            passwd.append(f"{entry['username']}:{mosquitto_hash(entry['password'])}")
            acl += ["", f"user {entry['username']}", f"topic write {self.root}/{campus}/+/+"]
        for campus, devs in sorted(data["devices"].items()):
            for device, entry in sorted(devs.items()):
                user = device_username(campus, device)
                passwd.append(f"{user}:{entry['hash']}")
                acl += ["", f"user {user}", f"topic write {self.root}/{campus}/{device}/+"]
        write_private(self.passwd_path, "\n".join(passwd) + "\n")
        write_private(self.acl_path, "\n".join(acl) + "\n")

    def reload(self) -> bool:
        """Tell the running managed broker (if any) to re-read passwd and acl; True if one was told."""
        try:
            pid = int(self.pid_path.read_text(encoding="ascii").strip())
            comm = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
        except (OSError, ValueError):
            return False
        if "mosquitto" not in comm:  # a stale pid file, the number reused by another process
            return False
        try:
            os.kill(pid, signal.SIGHUP)
        except OSError as exc:
            _log.warning("cannot signal the broker (pid %s) to reload its users: %s", pid, exc)
            return False
        _log.info("told the broker (pid %s) to reload its users", pid)
        return True
