"""Targets beyond the runner's own TOML: include files and any other `TargetSource` (the server's
asset register, through campusmon.server.probing).

A register asset (in use, with an IP address, of a type listed in `[register] checks`) becomes one
target. Its id — the device id in MQTT topics — is the asset's device link when it has one, else the
slug of its asset tag (`SW-B1-F3` → `sw-b1-f3`), else `asset-<number>`; two assets whose tags give the
same slug: the older asset keeps it, the newer gets `-<number>` appended. The runner's TOML wins: a
register asset is skipped when a TOML target has the same id or the same host.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from campusmon.config import ConfigError, build, did_you_mean, read_toml
from campusmon.contract import ID_PATTERN, ID_RE

from .config import ASSET_TYPES, ProbeConfig, TargetSettings, build_target

_log = logging.getLogger(__name__)
_NOT_ID = re.compile(r"[^a-z0-9_-]+")


class TargetSource(Protocol):
    """Where extra targets come from; `poll()` returns None when nothing changed since last time.

    The runner owns this interface: include files implement it here (TargetFiles), and the server
    implements it over its asset register (campusmon.server.probing.RegisterTargets) without the
    runner knowing the register.
    """

    def poll(self) -> list[TargetSettings] | None: ...


@dataclass
class AssetEntry:
    """One register device to probe, as `campusmon assets probe-targets` writes it."""

    id: str
    type: str
    host: str
    tag: str = ""
    name: str = ""

    def validate(self) -> None:
        if not ID_RE.match(self.id):
            raise ConfigError(f"assets: id {self.id!r} does not match {ID_PATTERN}")
        if self.type not in ASSET_TYPES:
            raise ConfigError(f"asset {self.id}: type {self.type!r} is not one of {', '.join(ASSET_TYPES)}")
        if not self.host or any(c.isspace() for c in self.host):
            raise ConfigError(f"asset {self.id}: host {self.host!r} is not an address")


def slug(text: str) -> str:
    """A contract-valid device id from an asset tag, or "" when nothing usable is left."""
    s = _NOT_ID.sub("-", text.strip().lower())
    s = re.sub(r"-{2,}", "-", s).strip("-_")[:64].rstrip("-_")
    return s if ID_RE.match(s) else ""


@dataclass(frozen=True)
class AssetRow:
    """What the register says about one asset (plain values: no database session needed)."""

    asset_id: int
    type: str
    ip: str
    tag: str | None = None
    name: str = ""
    #: the asset's linked device id in this campus, if any
    link_device: str | None = None


def assign_ids(rows: Iterable[AssetRow], reserved: Iterable[str] = ()) -> list[AssetEntry]:
    """Stable ids: the device link, else the tag's slug (the older asset keeps a shared slug)."""
    rows = sorted(rows, key=lambda r: r.asset_id)
    taken = set(reserved)
    taken.update(r.link_device for r in rows if r.link_device and ID_RE.match(r.link_device))
    out: list[AssetEntry] = []
    for r in rows:
        if r.link_device and ID_RE.match(r.link_device):
            device = r.link_device
        else:
            base = slug(r.tag or "") or f"asset-{r.asset_id}"
            device = base
            if device in taken:
                device = f"{base[: 63 - len(str(r.asset_id))]}-{r.asset_id}"
            taken.add(device)
        out.append(AssetEntry(id=device, type=r.type, host=r.ip.strip(), tag=r.tag or "", name=r.name))
    return out


def asset_target(asset: AssetEntry, config: ProbeConfig) -> TargetSettings | None:
    """The default check for one register device, per `[register]`; None for types not probed."""
    reg = config.register
    kind = reg.checks.get(asset.type)
    if kind is None:
        return None
    raw: dict[str, Any] = {
        "id": asset.id,
        "kind": kind,
        "host": asset.host,
        "interval": reg.interval,
        "timeout": reg.timeout,
        "lost_after": reg.lost_after,
    }
    if kind == "snmp":
        raw["snmp_profile"] = reg.snmp_profile
    elif kind == "tcp":
        raw["tcp"] = {"port": reg.tcp_port}
    return build_target(raw, config, f"asset {asset.id}")


def asset_targets(assets: Iterable[AssetEntry], config: ProbeConfig) -> list[TargetSettings]:
    out = []
    for a in assets:
        try:
            t = asset_target(a, config)
        except ConfigError as exc:
            _log.error("register device %s is not probed: %s", a.id, exc)
            continue
        if t is not None:
            out.append(t)
    return out


def merge_targets(
    own: Sequence[TargetSettings], extra: Iterable[TargetSettings], runner_id: str
) -> list[TargetSettings]:
    """The runner's own targets, then extra ones whose id is new and whose host no own target
    checks already (the TOML wins); the first of two extra targets with one id wins."""
    ids = {runner_id, *(t.id for t in own)}
    hosts = {t.host for t in own if t.host}
    out = list(own)
    for t in extra:
        if t.id in ids or t.host in hosts:
            _log.debug("target %s (%s) is already defined; the first definition wins", t.id, t.host)
            continue
        ids.add(t.id)
        out.append(t)
    return out


# -- include files -------------------------------------------------------------------------------
_FILE_KEYS = ("targets", "assets")


def parse_targets_file(
    data: Mapping[str, Any], config: ProbeConfig, where: str
) -> tuple[list[TargetSettings], list[str]]:
    """Targets of one include file; a bad entry is reported and skipped, the good ones kept."""
    errors: list[str] = []
    for key in data:
        if key not in _FILE_KEYS:
            errors.append(f"{where}: unknown key {key!r}{did_you_mean(key, _FILE_KEYS)}")
    targets: list[TargetSettings] = []
    raw_targets = data.get("targets", [])
    raw_assets = data.get("assets", [])
    for key, value in (("targets", raw_targets), ("assets", raw_assets)):
        if not isinstance(value, list):
            errors.append(f"{where}: {key} must be a list of tables ([[{key}]])")
    if isinstance(raw_targets, list):
        for i, raw in enumerate(raw_targets):
            try:
                targets.append(build_target(raw, config, f"{where}: targets[{i}]"))
            except ConfigError as exc:
                errors.append(str(exc))
    if isinstance(raw_assets, list):
        for i, raw in enumerate(raw_assets):
            if not isinstance(raw, Mapping):
                errors.append(f"{where}: assets[{i}]: expected a table")
                continue
            try:
                entry = build(AssetEntry, raw, f"assets[{i}]")
                t = asset_target(entry, config)
            except ConfigError as exc:
                errors.append(f"{where}: {exc}")
                continue
            if t is not None:
                targets.append(t)
    return targets, errors


class TargetFiles:
    """`runner.targets_files`: re-read a file when its modification time or size changes; a file
    that cannot be read or parsed keeps its previous targets."""

    def __init__(self, config: ProbeConfig, paths: Sequence[Path] | None = None) -> None:
        self.config = config
        self.paths = list(config.runner.targets_files if paths is None else paths)
        self._seen: dict[Path, tuple[float, int] | None] = {}
        self._targets: dict[Path, list[TargetSettings]] = {p: [] for p in self.paths}
        #: entries or files rejected so far
        self.errors_total = 0

    def _signature(self, path: Path) -> tuple[float, int] | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return (st.st_mtime, st.st_size)

    def poll(self) -> list[TargetSettings] | None:
        changed = False
        for path in self.paths:
            sig = self._signature(path)
            if path in self._seen and sig == self._seen[path]:
                continue
            self._seen[path] = sig
            if sig is None:
                _log.warning("targets file %s is missing; keeping its previous targets", path)
                self.errors_total += 1
                continue
            try:
                data = read_toml(path)
            except ConfigError as exc:
                _log.error("%s; keeping its previous targets", exc)
                self.errors_total += 1
                continue
            targets, errors = parse_targets_file(data, self.config, str(path))
            for e in errors:
                _log.error("skipped: %s", e)
            self.errors_total += len(errors)
            _log.info("targets file %s: %d targets", path, len(targets))
            self._targets[path] = targets
            changed = True
        if not changed:
            return None
        return [t for p in self.paths for t in self._targets[p]]


def render_assets_toml(entries: Sequence[AssetEntry], header: str) -> str:
    """The `[[assets]]` include file `campusmon assets probe-targets` writes."""
    import json

    def q(v: str) -> str:
        # a JSON string is a TOML basic string, but for DEL, which TOML wants escaped
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")

    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for e in entries:
        lines += ["", "[[assets]]", f"id = {q(e.id)}", f"type = {q(e.type)}", f"host = {q(e.host)}"]
        if e.tag:
            lines.append(f"tag = {q(e.tag)}")
        if e.name:
            lines.append(f"name = {q(e.name)}")
    return "\n".join(lines) + "\n"
