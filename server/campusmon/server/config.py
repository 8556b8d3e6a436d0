"""Server configuration (TOML, strict; see server/sample-server.toml)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from campusmon.config import TCP_PORT, ConfigError, Range, load
from campusmon.contract import DEFAULT_MAX_PAYLOAD_BYTES
from campusmon.mqtt.settings import MqttConnection

from .inspections.settings import InspectionSettings
from .metrics.settings import MetricsSettings
from .topology import StaticTopology, Upstream


def default_data_dir() -> Path:
    env = os.environ.get("CAMPUSMON_DATA_DIR")
    if env:
        return Path(env)
    return Path("/var/lib/campusmon") if os.geteuid() == 0 else Path.home() / ".local/share/campusmon"


@dataclass
class BrokerSettings(MqttConnection):
    """`[broker]`: the connection every role shares (campusmon/mqtt/settings.py), and the server's own."""

    #: true: the server runs and supervises its own Mosquitto on 127.0.0.1:port
    managed: bool = True
    #: our own link to the broker: a hung broker is noticed (broker_down) ~1.5x this after it stops
    #: answering; the in-process probe runner uses it too
    keepalive: Annotated[int, Range(5, 3600, "seconds")] = 10
    client_id: str = "campusmon-server"
    #: how long the broker keeps our session (and queues reports) while the server is down
    session_expiry_seconds: Annotated[int, Range(60, 2**32 - 1, "seconds")] = 7 * 86400
    mosquitto_bin: str = "mosquitto"
    #: managed broker limits; the Debian defaults (1000 / 20) drop QoS1 messages under load
    max_queued_messages: Annotated[int, Range(100, 100_000_000)] = 200_000
    #: also our own MQTT 5 Receive Maximum on every session, with any broker: at most this many
    #: unacknowledged messages are handed to us per session; the rest wait in the broker's queue
    #: (a worker far behind never blocks its network threads, which would miss their keepalive)
    max_inflight_messages: Annotated[int, Range(1, 65535)] = 200

    def validate(self) -> None:
        if self.managed and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(
                "broker.host: a managed broker listens on 127.0.0.1 only; "
                "set broker.managed = false to use another broker"
            )
        if self.managed and (self.username or self.password):
            raise ConfigError(
                "broker.username/password: the managed broker makes the server's credentials itself "
                "(in <data_dir>/broker); remove them, or set broker.managed = false for your own broker"
            )
        self.check_connection("broker")


@dataclass
class StorageSettings:
    data_dir: Path = field(default_factory=default_data_dir)
    #: SQLAlchemy URL for devices, tickets and the register; empty: SQLite in data_dir
    database_url: str = ""
    #: "sqlite": metrics in data_dir/metrics.db only; "influx": raw samples also go to InfluxDB 2 or
    #: VictoriaMetrics ([metrics.influx]); the embedded rollups serve the console's charts either way
    metrics_backend: Literal["sqlite", "influx"] = "sqlite"
    #: raw samples (every report) in the embedded store are kept this many days
    metrics_retention_days: Annotated[int, Range(1, 3660, "days")] = 30

    def validate(self) -> None:
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise ConfigError(f"storage.data_dir: {self.data_dir} is a file, not a directory")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'campusmon.db'}"

    @property
    def metrics_path(self) -> Path:
        return self.data_dir / "metrics.db"


@dataclass
class IngestSettings:
    max_payload_bytes: Annotated[int, Range(1024, 256 * 1024 * 1024, "bytes")] = DEFAULT_MAX_PAYLOAD_BYTES
    #: a report older than this many intervals is stored but raises no alert (a buffer replay)
    stale_intervals: Annotated[float, Range(1, 1000, "intervals")] = 3.0
    #: at most this many log lines per rejection reason per minute
    reject_log_per_minute: Annotated[int, Range(1, 10_000)] = 10
    #: reports and events older than this are refused (bad_ts); keep it above the agents'
    #: buffer.max_age_hours, or replays from a long outage are refused
    ts_max_age_days: Annotated[float, Range(1, 400, "days")] = 30.0
    #: no payload may claim a time further ahead of the server's clock (a device with a wrong clock)
    ts_max_ahead_seconds: Annotated[float, Range(0, 7 * 86400, "seconds")] = 300.0


Severity = Literal["info", "warning", "critical"]
#: a metric threshold: any finite value a metric can have
THRESHOLD = Range(-1e15, 1e15)
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")


@dataclass
class RuleScope:
    """Where a rule applies; every non-empty list must match (empty: everywhere). The engine matches
    it (server/engine/scope.py)."""

    campuses: list[str] = field(default_factory=list)
    buildings: list[str] = field(default_factory=list)
    #: room names, or "campus/room"
    rooms: list[str] = field(default_factory=list)
    #: pc, panel, switch, ap, printer, projector, server, other
    device_types: list[str] = field(default_factory=list)
    #: device ids, or "campus/device"
    devices: list[str] = field(default_factory=list)


@dataclass
class ThresholdRuleSettings:
    """`metric` above `above` (or below `below`) for `for_seconds` opens; back past the recovery
    threshold resolves (the gap between the two is the hysteresis)."""

    metric: str
    above: Annotated[float, THRESHOLD] | None = None
    recover_below: Annotated[float, THRESHOLD] | None = None
    below: Annotated[float, THRESHOLD] | None = None
    recover_above: Annotated[float, THRESHOLD] | None = None
    for_seconds: Annotated[float, Range(0, 30 * 86400, "seconds")] = 300.0
    severity: Severity = "warning"
    #: the label that names the subject (e.g. "mount" for disks); empty: the device itself
    subject_label: str = ""
    enabled: bool = True
    #: false: the condition is only recorded in the device history, no ticket
    ticket: bool = True
    scope: RuleScope = field(default_factory=RuleScope)
    description: str = ""

    def validate(self) -> None:
        if (self.above is None) == (self.below is None):
            raise ConfigError(f"rule on {self.metric}: set exactly one of `above` and `below`")
        if self.above is not None:
            if self.recover_above is not None:
                raise ConfigError(f"rule on {self.metric}: `recover_above` goes with `below`")
            if self.recover_below is None:
                self.recover_below = self.above
            if self.recover_below > self.above:
                raise ConfigError(f"rule on {self.metric}: recover_below must not be above `above`")
        if self.below is not None:
            if self.recover_below is not None:
                raise ConfigError(f"rule on {self.metric}: `recover_below` goes with `above`")
            if self.recover_above is None:
                self.recover_above = self.below
            if self.recover_above < self.below:
                raise ConfigError(f"rule on {self.metric}: recover_above must not be below `below`")


def default_threshold_rules() -> dict[str, ThresholdRuleSettings]:
    return {
        "disk_full": ThresholdRuleSettings(
            metric="disk_used_percent",
            above=90.0,
            recover_below=85.0,
            for_seconds=300.0,
            severity="warning",
            subject_label="mount",
            description="disk almost full (per mount)",
        ),
        "memory_saturated": ThresholdRuleSettings(
            metric="memory_used_percent",
            above=95.0,
            recover_below=85.0,
            for_seconds=600.0,
            description="memory saturated",
        ),
        "cpu_saturated": ThresholdRuleSettings(
            metric="cpu_usage_percent",
            above=95.0,
            recover_below=80.0,
            for_seconds=900.0,
            severity="info",
            description="CPU saturated for minutes",
        ),
        # probe runner: an uplink/AP port (or a classroom port in school hours) down, one ticket per port
        "port_down": ThresholdRuleSettings(
            metric="port_fault",
            above=0.5,
            recover_below=0.5,
            for_seconds=0.0,
            severity="critical",
            subject_label="port",
        ),
        # probe runner: the target answers but its check fails (HTTP status, body text, certificate)
        "probe_failing": ThresholdRuleSettings(
            metric="probe_failing",
            above=0.5,
            recover_below=0.5,
            for_seconds=120.0,
            severity="warning",
            subject_label="check",
        ),
    }


@dataclass
class BuiltinRuleSettings:
    """A built-in status/event rule: on or off, how severe, whether it opens tickets, where."""

    enabled: bool = True
    severity: Severity = "warning"
    ticket: bool = True
    scope: RuleScope = field(default_factory=RuleScope)


#: status and event rules the server evaluates itself (thresholds are in `rules.thresholds`)
BUILTIN_RULES: dict[str, str] = {
    "device_down": "went offline without shutting down (`lost`) during expected hours",
    "should_be_on": "not online during expected hours, off since before the school day began",
    "report_stale": "online but no report for `stale_intervals` x interval (half-open connection)",
    "peripheral_missing": "a peripheral (document camera, touch screen) was removed",
    "inventory_changed": "the register found a hardware change: RAM, CPU, a disk, a monitor, a camera",
}


def default_builtin_rules() -> dict[str, BuiltinRuleSettings]:
    return {
        "device_down": BuiltinRuleSettings(severity="critical"),
        "should_be_on": BuiltinRuleSettings(severity="warning"),
        "report_stale": BuiltinRuleSettings(severity="warning"),
        "peripheral_missing": BuiltinRuleSettings(severity="warning"),
        "inventory_changed": BuiltinRuleSettings(severity="info"),
    }


@dataclass
class RulesSettings:
    #: master switch for the status rules (device_down, should_be_on, report_stale)
    device_down: bool = True
    builtin: dict[str, BuiltinRuleSettings] = field(default_factory=default_builtin_rules)
    thresholds: dict[str, ThresholdRuleSettings] = field(default_factory=default_threshold_rules)
    #: report_stale: an online device silent for this many intervals
    stale_intervals: Annotated[float, Range(1, 1000, "intervals")] = 3.0
    #: a problem that comes back within this window reopens its ticket instead of opening a new one
    reopen_window_seconds: Annotated[float, Range(0, 30 * 86400, "seconds")] = 3600.0
    #: a problem that reopens this many times within the flapping window is marked flapping
    flapping_count: Annotated[int, Range(2, 1000)] = 3
    flapping_window_seconds: Annotated[float, Range(1, 7 * 86400, "seconds")] = 1800.0
    #: this many devices of one room (or behind one switch) lost within the window: one ticket
    group_min_devices: Annotated[int, Range(2, 10_000)] = 3
    group_window_seconds: Annotated[float, Range(0.1, 3600, "seconds")] = 60.0
    #: a device in a room or behind a switch waits this long before its own ticket (the group may form)
    group_hold_seconds: Annotated[float, Range(0, 3600, "seconds")] = 5.0
    #: how often expected-hours, stale-report and grouping checks run
    sweep_seconds: Annotated[float, Range(0.1, 3600, "seconds")] = 2.0
    #: a `lost` waits this long before it is acted on: a broker that stops fires every will just
    #: before it drops our own connection, and such losses are held (below), not ticketed
    loss_confirm_seconds: Annotated[float, Range(0, 10, "seconds")] = 0.5
    #: after our link to the broker comes back, devices get this long to reconnect: the `lost` wills
    #: a broker stop fires are held (no ticket for a device back in time), silence is no fault
    link_grace_seconds: Annotated[float, Range(0, 3600, "seconds")] = 60.0
    #: the broker unreachable this long: one `broker_down` ticket (instead of a ticket per device)
    broker_down_after_seconds: Annotated[float, Range(1, 86400, "seconds")] = 60.0
    #: threshold rule -> where it comes from: "shipped", "site" or "shipped, changed: <keys>"
    origins: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def validate(self) -> None:
        for name in self.builtin:
            if name not in BUILTIN_RULES:
                from campusmon.config import did_you_mean

                raise ConfigError(f"rules.builtin.{name}: no such rule{did_you_mean(name, BUILTIN_RULES)}")
        for name, default in default_builtin_rules().items():
            self.builtin.setdefault(name, default)
        clash = set(self.thresholds) & set(BUILTIN_RULES)
        if clash:
            raise ConfigError(f"rules.thresholds: {sorted(clash)[0]!r} is a built-in rule name")


@dataclass
class ScheduleProfile:
    """When devices are expected to be on: school days, lesson hours, holidays, term dates."""

    #: mon … sun
    days: list[str] = field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    #: local "HH:MM-HH:MM" periods; "00:00-24:00" is all day
    hours: list[str] = field(default_factory=lambda: ["07:30-12:00", "13:30-17:30"])
    #: dates "2026-10-01" or ranges "2026-10-01..2026-10-07" with no school
    holidays: list[str] = field(default_factory=list)
    #: files with one date or range per line (# comments), e.g. the education bureau's calendar
    holiday_files: list[Path] = field(default_factory=list)
    #: if set, only dates inside these ranges are school days
    terms: list[str] = field(default_factory=list)
    #: make-up school days on a weekend (调休)
    extra_days: list[str] = field(default_factory=list)


@dataclass
class ScheduleAssign:
    """Which profile applies: the most specific match wins (device > type > room > campus > default)."""

    campuses: dict[str, str] = field(default_factory=dict)
    #: "room" or "campus/room"
    rooms: dict[str, str] = field(default_factory=dict)
    device_types: dict[str, str] = field(default_factory=dict)
    #: "device" or "campus/device"
    devices: dict[str, str] = field(default_factory=dict)


def default_profiles() -> dict[str, ScheduleProfile]:
    return {
        "school": ScheduleProfile(),
        "always": ScheduleProfile(
            days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], hours=["00:00-24:00"]
        ),
    }


@dataclass
class ScheduleSettings:
    timezone: str = "Asia/Shanghai"
    #: profile used when nothing more specific is assigned
    default: str = "school"
    #: minutes after a period starts before a device that is not online is a fault
    grace_minutes: Annotated[float, Range(0, 1440, "minutes")] = 10.0
    profiles: dict[str, ScheduleProfile] = field(default_factory=default_profiles)
    assign: ScheduleAssign = field(default_factory=ScheduleAssign)

    def validate(self) -> None:
        from .schedule import ScheduleError, compile_schedule

        for name, default in default_profiles().items():
            self.profiles.setdefault(name, default)
        try:
            compile_schedule(self)
        except ScheduleError as exc:
            raise ConfigError(f"schedule: {exc}") from None


@dataclass
class UpstreamSettings:
    switch: str
    port: str = ""


@dataclass
class CampusTopologySettings:
    #: device -> room
    rooms: dict[str, str] = field(default_factory=dict)
    #: room -> building
    buildings: dict[str, str] = field(default_factory=dict)
    #: device -> type (pc, panel, switch, ...)
    device_types: dict[str, str] = field(default_factory=dict)
    #: device -> the switch (and port) it hangs off
    upstreams: dict[str, UpstreamSettings] = field(default_factory=dict)


@dataclass
class ChannelSettings:
    """One notification channel."""

    kind: Literal["webhook", "wecom", "dingtalk", "email"]
    #: webhook / WeCom / DingTalk robot URL (with its key or access_token)
    url: str = ""
    #: DingTalk "加签" secret (SEC…): the request is signed with HMAC-SHA256
    secret: str = ""
    language: Literal["", "zh-CN", "en"] = ""
    #: at most this many messages a minute; the rest wait and go out as one digest
    rate_per_minute: Annotated[int, Range(1, 10_000)] = 20
    #: this many tickets waiting at once: one digest message instead of one each
    digest_min: Annotated[int, Range(2, 10_000)] = 5
    timeout_seconds: Annotated[float, Range(0.1, 300, "seconds")] = 10.0
    # email
    smtp_host: str = ""
    smtp_port: Annotated[int, TCP_PORT] = 587
    starttls: bool = True
    username: str = ""
    password: str = ""
    #: CA file to verify the SMTP server's certificate (default: the system store)
    tls_ca: Path | None = None
    sender: str = ""
    recipients: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if self.kind == "email":
            if not (self.smtp_host and self.sender and self.recipients):
                raise ConfigError("email channel needs smtp_host, sender and recipients")
        elif not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"{self.kind} channel needs an http(s) url")


@dataclass
class RouteSettings:
    """Tickets matching every non-empty filter go to `channels`."""

    channels: list[str]
    campuses: list[str] = field(default_factory=list)
    severities: list[Severity] = field(default_factory=list)
    #: opened, reopened, resolved, flapping
    events: list[Literal["opened", "reopened", "resolved", "flapping"]] = field(
        default_factory=lambda: ["opened", "reopened", "resolved", "flapping"]
    )


@dataclass
class NotifySettings:
    language: Literal["zh-CN", "en"] = "zh-CN"
    #: link to a ticket in messages; {id} is the ticket number (empty: no link)
    ticket_url: str = ""
    channels: dict[str, ChannelSettings] = field(default_factory=dict)
    routes: list[RouteSettings] = field(default_factory=list)
    #: retries back off from 2 s up to this, and give up after max_age_hours
    max_backoff_seconds: Annotated[float, Range(0.1, 86400, "seconds")] = 600.0
    max_age_hours: Annotated[float, Range(0.01, 24 * 31, "hours")] = 24.0
    poll_seconds: Annotated[float, Range(0.01, 60, "seconds")] = 1.0

    def validate(self) -> None:
        for i, route in enumerate(self.routes):
            for ch in route.channels:
                if ch not in self.channels:
                    from campusmon.config import did_you_mean

                    raise ConfigError(
                        f"notify.routes[{i}]: no channel {ch!r}{did_you_mean(ch, self.channels)}"
                    )


@dataclass
class ProbesSettings:
    """The probe runner inside the server (off by default; a campus can run its own instead)."""

    enabled: bool = False
    #: a probe runner config file (targets, SNMP profiles, school hours, [register] checks) …
    config: Path | None = None
    #: … or the same settings inline, as [probes.settings.*] tables
    settings: dict[str, Any] = field(default_factory=dict)
    #: the campus (MQTT id) it probes; overrides runner.campus of the probe config
    campus: str = ""
    #: add the campus's in-use switches, APs, printers … with an IP address from the asset register
    register_targets: bool = True
    #: an asset without a device link is linked to its target id (so tickets name the asset)
    link_assets: bool = True


@dataclass
class HttpSettings:
    """The web console and HTTP API, served by `campusmon server run` (see docs/en/console.md)."""

    #: `campusmon server run` serves the console unless a config says `enabled = false`; a Server
    #: built in code (tests, embedding) serves it only when asked
    enabled: bool = False
    #: listen address; keep 127.0.0.1 behind a reverse proxy (nginx/Caddy terminating TLS)
    host: str = "127.0.0.1"
    port: Annotated[int, Range(0, 65535)] = 8080  # 0: any free port (tests)
    #: the address people open, used in notification links (https://monitor.school.cn)
    public_url: str = ""
    #: serve HTTPS directly (both or neither)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: signs session cookies; empty: a random key kept in data_dir/web-secret (0600)
    secret_key: str = ""
    session_hours: Annotated[float, Range(0.5, 720, "hours")] = 12.0
    #: wrong passwords in a row (per user name and per client) before logins are refused …
    login_max_failures: Annotated[int, Range(3, 1000)] = 20
    #: … for this long
    login_lock_minutes: Annotated[float, Range(0.1, 1440, "minutes")] = 15.0
    #: teacher fault reports per room per hour (a QR code on a wall can be abused)
    teacher_reports_per_hour: Annotated[int, Range(1, 10_000)] = 20
    #: overview tiles refresh this often in the browser
    poll_seconds: Annotated[float, Range(1, 300, "seconds")] = 3.0
    #: default console language: zh-CN or en
    language: Literal["zh-CN", "en"] = "zh-CN"

    def validate(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("http.tls_cert and http.tls_key go together")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ConfigError("http.public_url must start with http:// or https://")
        if self.secret_key and len(self.secret_key) < 32:
            raise ConfigError("http.secret_key: use at least 32 random characters")

    def ticket_url(self) -> str:
        """The notification link template for a ticket page, when public_url is known."""
        return f"{self.public_url.rstrip('/')}/tickets/{{id}}" if self.public_url else ""


@dataclass
class DistrictSettings:
    """Several `campusmon server run` workers on one PostgreSQL and one central broker: each campus is
    owned by one worker at a time (a lease in the database) and consumed through its own persistent
    MQTT sessions, so the worker that takes a campus over resumes what the broker queued."""

    enabled: bool = False
    #: this worker's name in the lease table; empty: <hostname>-<pid>
    worker_id: str = ""
    #: campus ids this district consumes (each gets its broker sessions before its first report);
    #: campuses that devices already reported in (the devices table) are added
    campuses: list[str] = field(default_factory=list)
    #: a lease not renewed for this long is free for another worker (the takeover time after a crash)
    lease_seconds: Annotated[float, Range(5, 600, "seconds")] = 15.0
    #: how often a worker renews its leases, notices other workers and rebalances
    renew_seconds: Annotated[float, Range(0.5, 120, "seconds")] = 3.0
    #: a campus link (bridge) reported down raises one `link_down` ticket after this long
    bridge_down_after_seconds: Annotated[float, Range(1, 86400, "seconds")] = 60.0

    def validate(self) -> None:
        from campusmon.contract import ID_RE

        if self.renew_seconds * 3 > self.lease_seconds:
            raise ConfigError("district.renew_seconds: renew at least three times per lease_seconds")
        for campus in self.campuses:
            if not ID_RE.match(campus):
                raise ConfigError(f"district.campuses: {campus!r} is not a campus id ([a-z0-9][a-z0-9_-]*)")
        if len(set(self.campuses)) != len(self.campuses):
            raise ConfigError("district.campuses: a campus is listed twice")
        if self.worker_id and not ID_RE.match(self.worker_id):
            raise ConfigError("district.worker_id: use [a-z0-9][a-z0-9_-]* (at most 64 characters)")


@dataclass
class ServerConfig:
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    rules: RulesSettings = field(default_factory=RulesSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    #: campus -> rooms, buildings, device types and upstream switches (until the register knows them)
    topology: dict[str, CampusTopologySettings] = field(default_factory=dict)
    notify: NotifySettings = field(default_factory=NotifySettings)
    probes: ProbesSettings = field(default_factory=ProbesSettings)
    inspections: InspectionSettings = field(default_factory=InspectionSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    district: DistrictSettings = field(default_factory=DistrictSettings)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def validate(self) -> None:
        if not self.notify.ticket_url:  # notifications link to the console's ticket page
            self.notify.ticket_url = self.http.ticket_url()
        if self.metrics.rollup_retention_days < self.storage.metrics_retention_days:
            raise ConfigError(
                "metrics.rollup_retention_days must be at least storage.metrics_retention_days "
                "(a chart would find raw data with no rollup)"
            )
        if self.storage.metrics_backend == "influx" and not self.metrics.influx.url:
            raise ConfigError('storage.metrics_backend = "influx" needs metrics.influx.url')
        if self.district.enabled:
            if not self.storage.database_url.startswith("postgresql"):
                raise ConfigError(
                    "district.enabled needs storage.database_url on PostgreSQL (the workers share it)"
                )
            if self.broker.managed:
                raise ConfigError(
                    "district.enabled: the workers share one central broker (broker.managed = false)"
                )
        if self.probes.enabled:  # a wrong probe config stops the server at start, not later
            from .probing import server_probe_config

            server_probe_config(self.probes, self.broker, self.storage.data_dir)


def static_topology(cfg: ServerConfig) -> StaticTopology:
    return StaticTopology(
        rooms={c: dict(t.rooms) for c, t in cfg.topology.items()},
        upstreams={
            c: {d: Upstream(u.switch, u.port) for d, u in t.upstreams.items()}
            for c, t in cfg.topology.items()
        },
        buildings={c: dict(t.buildings) for c, t in cfg.topology.items()},
        device_types={c: dict(t.device_types) for c, t in cfg.topology.items()},
    )


def shipped_threshold_tables() -> dict[str, dict[str, Any]]:
    """The shipped threshold rules as TOML tables (what a site file's tables are merged onto)."""
    out: dict[str, dict[str, Any]] = {}
    for name, rule in default_threshold_rules().items():
        table = {k: v for k, v in dataclasses.asdict(rule).items() if v is not None}
        table["scope"] = {k: v for k, v in table["scope"].items() if v}
        out[name] = table
    return out


#: the keys of the other direction, dropped when a site table switches a shipped rule's direction
_DIRECTION = {"above": ("below", "recover_above"), "below": ("above", "recover_below")}
_RECOVER = {"above": "recover_below", "below": "recover_above"}


def merge_threshold_rules(site: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Shipped rules overridden or extended key by key by `[rules.thresholds.X]` tables of a site.

    A key the site sets replaces the shipped value (a `scope` table as a whole); a rule the site adds
    is taken as written. A new `above` (`below`) without its recovery threshold keeps the shipped
    hysteresis gap; setting the other direction drops the shipped one. `enabled = false` turns a
    shipped rule off. Returns the tables and where each rule comes from (for `check-config`)."""
    tables: dict[str, Any] = dict(shipped_threshold_tables())
    origins = dict.fromkeys(tables, "shipped")
    for name, over in site.items():
        base = tables.get(name)
        if base is None or not isinstance(over, Mapping):
            tables[name] = over  # a rule of the site's own (or not a table: the error names it)
            origins[name] = "site"
            continue
        merged = dict(base)
        for side, other in _DIRECTION.items():
            if side in over and side not in base:
                for k in other:
                    merged.pop(k, None)
        for side, recover in _RECOVER.items():
            if side in over and recover not in over and side in base and recover in base:
                gap = float(base[side]) - float(base[recover])
                if isinstance(over[side], int | float) and not isinstance(over[side], bool):
                    merged[recover] = float(over[side]) - gap
        merged.update(over)
        tables[name] = merged
        origins[name] = "shipped, changed: " + ", ".join(sorted(over))
    return tables, origins


def load_server_config(path: Path | None) -> ServerConfig:
    """Read and validate a server process's config: `[rules.thresholds.X]` tables extend the shipped
    rules; the web console is on unless the file switches it off."""
    origins: dict[str, str] = {}

    def prepare(data: dict[str, Any]) -> dict[str, Any]:
        http = data.get("http", {})
        if isinstance(http, Mapping):
            data = {**data, "http": {"enabled": True, **http}}
        rules = data.get("rules")
        if not isinstance(rules, Mapping) or not isinstance(rules.get("thresholds"), Mapping):
            return data
        tables, found = merge_threshold_rules(rules["thresholds"])
        origins.update(found)
        return {**data, "rules": {**rules, "thresholds": tables}}

    cfg = load(ServerConfig, path, merge=prepare)
    cfg.rules.origins = origins or dict.fromkeys(cfg.rules.thresholds, "shipped")
    return cfg
