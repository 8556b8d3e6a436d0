"""Probe runner configuration (TOML, strict; see probes/sample-probes.toml)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from campusmon.config import (
    SECONDS_IN_DAY,
    TCP_PORT,
    ConfigError,
    Range,
    apply_env,
    build,
    did_you_mean,
    read_toml,
)
from campusmon.ids import ID_PATTERN, ID_RE
from campusmon.mqtt.settings import MqttSettings

from .ifmib import PORT_CLASSES
from .schedule import SchoolHoursSettings

Kind = Literal["snmp", "icmp", "tcp", "http"]


def default_state_dir() -> Path:
    return Path("/var/lib/campusmon-probes") if os.geteuid() == 0 else Path.home() / ".campusmon-probes"


@dataclass
class SnmpOptions:
    version: Literal["2c", "3"] = "2c"
    port: Annotated[int, TCP_PORT] = 161
    community: str = "public"
    #: SNMPv3 (authPriv when both keys are set, authNoPriv with only auth_key)
    user: str = ""
    auth_protocol: Literal["md5", "sha", "sha224", "sha256", "sha384", "sha512"] = "sha"
    auth_key: str = ""
    priv_protocol: Literal["des", "3des", "aes", "aes192", "aes256"] = "aes"
    priv_key: str = ""
    context: str = ""
    #: seconds per request and retries per request (the target's timeout bounds the whole poll)
    request_timeout: Annotated[float, Range(0.05, 60, "seconds")] = 2.0
    retries: Annotated[int, Range(0, 10)] = 1
    max_repetitions: Annotated[int, Range(1, 200)] = 25
    #: port name (ifName/ifDescr) or ifIndex -> uplink | ap | classroom | other
    port_classes: dict[str, str] = field(default_factory=dict)
    #: read ENTITY-MIB and the forwarding table this often (and on the first poll)
    inventory_interval: Annotated[int, Range(10, 7 * 86400, "seconds")] = 900
    fdb: bool = True

    def validate(self) -> None:
        if self.version == "3":
            if not self.user:
                raise ConfigError("snmp.user: SNMPv3 needs a user")
            if self.priv_key and not self.auth_key:
                raise ConfigError("snmp.priv_key needs snmp.auth_key (authPriv)")
            for name in ("auth_key", "priv_key"):
                key = getattr(self, name)
                if key and len(key) < 8:
                    raise ConfigError(f"snmp.{name}: SNMPv3 keys are at least 8 characters")
        for port, cls in self.port_classes.items():
            if cls not in PORT_CLASSES:
                raise ConfigError(f"snmp.port_classes.{port}: {cls!r} is not one of {PORT_CLASSES}")


@dataclass
class IcmpOptions:
    count: Annotated[int, Range(1, 100)] = 3
    #: seconds between echo requests
    spacing: Annotated[float, Range(0, 10, "seconds")] = 0.2
    #: "auto": unprivileged ICMP socket where allowed, raw socket as root; or force one
    socket: Literal["auto", "dgram", "raw"] = "auto"
    #: loss above this is a failing check (100 % is `lost`: the target is down)
    max_loss_percent: Annotated[float, Range(0, 100, "%")] = 20.0


@dataclass
class TcpOptions:
    port: Annotated[int, Range(0, 65535)] = 0

    def validate(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"tcp.port: {self.port} is not a TCP port")


@dataclass
class HttpOptions:
    url: str = ""
    method: Literal["GET", "HEAD"] = "GET"
    #: accepted final status codes; empty: 200-399
    expect_status: list[Annotated[int, Range(100, 599)]] = field(default_factory=list)
    #: text the body must contain (empty: not checked)
    contains: str = ""
    follow_redirects: bool = True
    max_redirects: Annotated[int, Range(0, 30)] = 5
    verify_tls: bool = True
    ca_file: Path | None = None
    #: a certificate expiring sooner than this is a failing check
    cert_warning_days: Annotated[float, Range(0, 3650, "days")] = 14.0
    max_body_bytes: Annotated[int, Range(1, 256 * 1024 * 1024, "bytes")] = 1024 * 1024

    def validate(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"http.url: {self.url!r} is not an http:// or https:// URL")


@dataclass
class TargetSettings:
    id: str
    kind: Kind
    #: address or name (for http: taken from the URL when empty)
    host: str = ""
    interval: Annotated[int, SECONDS_IN_DAY] = 60
    #: bound on one whole check
    timeout: Annotated[float, Range(0.01, 600, "seconds")] = 10.0
    #: the target is `lost` after this many unanswered checks in a row
    lost_after: Annotated[int, Range(1, 100, "checks")] = 2
    snmp: SnmpOptions = field(default_factory=SnmpOptions)
    icmp: IcmpOptions = field(default_factory=IcmpOptions)
    tcp: TcpOptions = field(default_factory=TcpOptions)
    http: HttpOptions = field(default_factory=HttpOptions)

    def validate(self) -> None:
        if not ID_RE.match(self.id):
            raise ConfigError(f"targets: id {self.id!r} does not match {ID_PATTERN}")
        if self.kind == "http":
            try:
                self.http.validate()
            except ConfigError as exc:
                raise ConfigError(f"target {self.id}: {exc}") from None
            if not self.host:
                self.host = urlsplit(self.http.url).hostname or ""
        elif not self.host:
            raise ConfigError(f"target {self.id}: host is required for kind {self.kind!r}")
        if self.kind == "tcp":
            try:
                self.tcp.validate()
            except ConfigError as exc:
                raise ConfigError(f"target {self.id}: {exc}") from None


def default_port_patterns() -> dict[str, str]:
    return {
        "uplink": r"(?i)\b(uplink|trunk|core)\b",
        "ap": r"(?i)^(ap|wap|wifi|wlan)\b",
        "classroom": r"(?i)\b(class|classroom|room)\b|^c\d{3}",
    }


@dataclass
class RunnerSettings:
    campus: str = "main"
    #: the runner's own device id (its status carries the MQTT will)
    id: str = "probe-runner"
    state_dir: Path = field(default_factory=default_state_dir)
    #: at most this many checks at once
    concurrency: Annotated[int, Range(1, 4096)] = 64
    #: each target's schedule is shifted by up to this fraction of its interval
    jitter: Annotated[float, Range(0, 0.5, "of the interval")] = 0.1
    compress: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: more targets: TOML files with `[[targets]]` and/or `[[assets]]` (e.g. written by
    #: `campusmon assets probe-targets`); re-read when they change, without a restart
    targets_files: list[Path] = field(default_factory=list)
    #: how often targets_files (and, in the server, the asset register) are looked at again
    reload_seconds: Annotated[float, SECONDS_IN_DAY] = 60.0

    def validate(self) -> None:
        if self.state_dir.exists() and not self.state_dir.is_dir():
            raise ConfigError(f"runner.state_dir: {self.state_dir} is a file, not a directory")
        for name in ("campus", "id"):
            value = getattr(self, name)
            if not ID_RE.match(value):
                raise ConfigError(f"runner.{name}: {value!r} does not match {ID_PATTERN}")


#: the register's asset types (server/register/models.py ASSET_TYPES; a test keeps them equal)
ASSET_TYPES = ("pc", "panel", "switch", "ap", "printer", "projector", "server", "camera", "other")
RegisterKind = Literal["snmp", "icmp", "tcp"]


def default_register_checks() -> dict[str, RegisterKind]:
    return {
        "switch": "snmp",
        "ap": "snmp",
        "printer": "icmp",
        "projector": "icmp",
        "camera": "icmp",
        "server": "icmp",
    }


@dataclass
class RegisterSettings:
    """How assets from the register (in use, with an IP address) become targets."""

    #: asset type -> check; types not listed are not probed
    checks: dict[str, RegisterKind] = field(default_factory=default_register_checks)
    #: SNMP credentials for snmp checks: a name in [snmp_profiles]
    snmp_profile: str = "default"
    #: port for tcp checks
    tcp_port: Annotated[int, TCP_PORT] = 22
    interval: Annotated[int, SECONDS_IN_DAY] = 60
    timeout: Annotated[float, Range(0.01, 600, "seconds")] = 20.0
    lost_after: Annotated[int, Range(1, 100, "checks")] = 2

    def validate(self) -> None:
        for kind in self.checks:
            if kind not in ASSET_TYPES:
                raise ConfigError(
                    f"register.checks.{kind}: not an asset type{did_you_mean(kind, ASSET_TYPES)}"
                )


def default_snmp_profiles() -> dict[str, SnmpOptions]:
    return {"default": SnmpOptions()}


@dataclass
class ProbeConfig:
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    school_hours: SchoolHoursSettings = field(default_factory=SchoolHoursSettings)
    #: port class -> regular expression on the port description (ifAlias); first match wins
    port_patterns: dict[str, str] = field(default_factory=default_port_patterns)
    #: named SNMP credentials (and port, timeouts); a target names one with `snmp_profile`
    snmp_profiles: dict[str, SnmpOptions] = field(default_factory=default_snmp_profiles)
    register: RegisterSettings = field(default_factory=RegisterSettings)
    targets: list[TargetSettings] = field(default_factory=list)

    def validate(self) -> None:
        self.snmp_profiles.setdefault("default", SnmpOptions())
        if self.register.checks and "snmp" in self.register.checks.values():
            self.profile(self.register.snmp_profile, "register.snmp_profile")
        for cls, pattern in self.port_patterns.items():
            if cls not in PORT_CLASSES:
                raise ConfigError(f"port_patterns.{cls}: not a port class ({', '.join(PORT_CLASSES)})")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"port_patterns.{cls}: bad regular expression: {exc}") from None
        seen: set[str] = {self.runner.id}
        for t in self.targets:
            if t.id in seen:
                raise ConfigError(f"targets: id {t.id!r} is used twice (or is the runner's own id)")
            seen.add(t.id)

    def compiled_patterns(self) -> list[tuple[str, re.Pattern[str]]]:
        return [(cls, re.compile(p)) for cls, p in self.port_patterns.items()]

    def profile(self, name: str, where: str) -> SnmpOptions:
        try:
            return self.snmp_profiles[name]
        except KeyError:
            hint = did_you_mean(name, self.snmp_profiles)
            raise ConfigError(f"{where}: no SNMP profile {name!r} in [snmp_profiles]{hint}") from None


def build_target(raw: Any, config: ProbeConfig, where: str) -> TargetSettings:
    """One target from TOML; `snmp_profile = NAME` takes [snmp_profiles.NAME], and the target's own
    [targets.snmp] keys (a port, a community) override the profile's."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table, got {type(raw).__name__}")
    data = dict(raw)
    name = data.pop("snmp_profile", None)
    if name is not None:
        if not isinstance(name, str):
            raise ConfigError(f"{where}.snmp_profile: expected a string, got {name!r}")
        if data.get("kind") != "snmp":
            raise ConfigError(f"{where}.snmp_profile: only snmp targets take an SNMP profile")
        own = data.get("snmp", {})
        if not isinstance(own, Mapping):
            raise ConfigError(f"{where}.snmp: expected a table, got {type(own).__name__}")
        data["snmp"] = {**dataclasses.asdict(config.profile(name, f"{where}.snmp_profile")), **own}
    return build(TargetSettings, data, where)


def build_probe_config(data: Mapping[str, Any], where: str = "config") -> ProbeConfig:
    """A ProbeConfig from parsed TOML (targets may name SNMP profiles)."""
    rest = dict(data)
    raw_targets = rest.pop("targets", [])
    try:
        cfg = build(ProbeConfig, rest)
        if not isinstance(raw_targets, list):
            raise ConfigError(f"targets: expected a list of tables, got {type(raw_targets).__name__}")
        cfg.targets = [build_target(t, cfg, f"targets[{i}]") for i, t in enumerate(raw_targets)]
        cfg.validate()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return cfg


def load_probe_config(path: Path | None) -> ProbeConfig:
    data = read_toml(path) if path is not None else {}
    return build_probe_config(apply_env(data, ProbeConfig), str(path) if path is not None else "config")
