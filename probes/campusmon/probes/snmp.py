"""SNMP (v2c, v3) switches and APs: system group, IF-MIB ports, ENTITY-MIB and forwarding table.

pysnmp asyncio with numeric OIDs (`lookupMib=False`: no MIB files needed). Every failure becomes a
result code; nothing escapes `check()`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config as engine_config
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
)
from pysnmp.hlapi.v3arch.asyncio import auth as usm
from pysnmp.hlapi.v3arch.asyncio.lcd import CommandGeneratorLcdConfigurator
from pysnmp.proto import errind, rfc1905
from pysnmp.proto.rfc1902 import Null, ObjectName

from .config import SnmpOptions, TargetSettings
from .ifmib import (
    HC_COUNTERS,
    LABEL_COLUMNS,
    LEGACY_COLUMNS,
    LEGACY_COUNTERS,
    LEGACY_LABEL_COLUMNS,
    MAIN_COLUMNS,
    STATE_COLUMNS,
    CounterTracker,
    Port,
    PortClassifier,
    port_rows,
    ports_from_columns,
    text,
)
from .result import Code, ProbeResult
from .schedule import SchoolHours
from .snmp_inventory import ENTITY_COLUMNS, FDB_COLUMNS, chassis_summary, entities, forwarding_table

_log = logging.getLogger(__name__)

SYSTEM: Final = {
    "descr": "1.3.6.1.2.1.1.1.0",
    "object_id": "1.3.6.1.2.1.1.2.0",
    "uptime": "1.3.6.1.2.1.1.3.0",
    "name": "1.3.6.1.2.1.1.5.0",
}
_END: Final = (rfc1905.EndOfMibView, rfc1905.NoSuchObject, rfc1905.NoSuchInstance)
_AUTH: Final = {
    "md5": usm.USM_AUTH_HMAC96_MD5,
    "sha": usm.USM_AUTH_HMAC96_SHA,
    "sha224": usm.USM_AUTH_HMAC128_SHA224,
    "sha256": usm.USM_AUTH_HMAC192_SHA256,
    "sha384": usm.USM_AUTH_HMAC256_SHA384,
    "sha512": usm.USM_AUTH_HMAC384_SHA512,
}
_PRIV: Final = {
    "des": usm.USM_PRIV_CBC56_DES,
    "3des": usm.USM_PRIV_CBC168_3DES,
    "aes": usm.USM_PRIV_CFB128_AES,
    "aes192": usm.USM_PRIV_CFB192_AES,
    "aes256": usm.USM_PRIV_CFB256_AES,
}
#: the agent answered with a report PDU: it is there, but does not accept our credentials
_AUTH_ERRORS: Final = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.DecryptionError,
    errind.UnsupportedSecurityLevel,
    errind.UnknownSecurityName,
    errind.AuthenticationError,
    errind.AuthenticationFailure,
    errind.NotInTimeWindow,
    errind.UnknownCommunityName,
)
MAX_WALK_REQUESTS: Final = 2000
_LCD: Final = CommandGeneratorLcdConfigurator()
#: one UDP socket carries every poll: a burst of 64 bulk responses overflows the default buffer
RECEIVE_BUFFER_BYTES: Final = 4 * 1024 * 1024
_GET: Final = cmdgen.GetCommandGenerator()
_BULK: Final = cmdgen.BulkCommandGenerator()


class SnmpFailure(Exception):
    """One SNMP request failed; `code` is the result code for the check."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code: Code = code


def _oid(text_oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text_oid.split("."))


def _value(v: Any) -> object:
    """pysnmp value -> int, bytes, dotted str, or None for noSuch*/endOfMibView."""
    if isinstance(v, _END):
        return None
    if isinstance(v, univ.Integer):
        return int(v)
    if isinstance(v, univ.OctetString):
        return bytes(v.asOctets())
    if isinstance(v, univ.ObjectIdentifier):
        return ".".join(str(x) for x in v.asTuple())
    return str(v)


def auth_data(opts: SnmpOptions) -> CommunityData | UsmUserData:
    if opts.version == "2c":
        return CommunityData(opts.community, mpModel=1)
    return UsmUserData(
        opts.user,
        authKey=opts.auth_key or None,
        privKey=opts.priv_key or None,
        authProtocol=_AUTH[opts.auth_protocol] if opts.auth_key else usm.USM_AUTH_NONE,
        privProtocol=_PRIV[opts.priv_protocol] if opts.priv_key else usm.USM_PRIV_NONE,
    )


class SnmpSession:
    """GET and multi-column GETBULK walks against one agent."""

    def __init__(self, engine: SnmpEngine, host: str, opts: SnmpOptions) -> None:
        self.engine = engine
        self.host = host
        self.opts = opts
        self.auth = auth_data(opts)
        self.context = ContextData(contextName=opts.context) if opts.context else ContextData()
        self._transport: UdpTransportTarget | None = None
        self.requests = 0
        self.varbinds = 0

    async def transport(self) -> UdpTransportTarget:
        if self._transport is None:
            try:
                self._transport = await UdpTransportTarget.create(
                    (self.host, self.opts.port), timeout=self.opts.request_timeout, retries=self.opts.retries
                )
            except PySnmpError as exc:
                raise SnmpFailure("unreachable", f"cannot resolve {self.host}: {exc}") from exc
        return self._transport

    def _check(self, indication: Any, status: Any, index: Any) -> None:
        if indication:
            if isinstance(indication, errind.RequestTimedOut):
                hint = " (host down, or wrong community)" if self.opts.version == "2c" else ""
                raise SnmpFailure("timeout", f"no SNMP response from {self.host}{hint}")
            if isinstance(indication, _AUTH_ERRORS):
                raise SnmpFailure("auth_failed", f"{self.host} refused the credentials: {indication}")
            raise SnmpFailure("protocol_error", f"{self.host}: {indication}")
        if status and int(status) != 0:
            raise SnmpFailure("protocol_error", f"{self.host}: {status.prettyPrint()} at {index}")

    async def _request(self, oids: Sequence[tuple[int, ...]], repetitions: int | None) -> list[Any]:
        """One GET (repetitions None) or GETBULK. The low-level API skips pysnmp's MIB lookups of
        request OIDs, which cost more than the request itself on a poller."""
        target = await self.transport()
        try:
            addr, _params = _LCD.configure(self.engine, self.auth, target, self.context.contextName)
        except PySnmpError as exc:
            raise SnmpFailure("config_error", f"{self.host}: {exc}") from exc
        future: asyncio.Future[tuple[Any, Any, Any, list[Any]]] = asyncio.get_running_loop().create_future()

        def done(
            engine: Any, handle: Any, indication: Any, status: Any, index: Any, vbs: Any, ctx: Any
        ) -> None:
            if not future.done():
                future.set_result((indication, status, index, list(vbs or ())))

        varbinds = [(ObjectName(o), Null("")) for o in oids]
        engine_id, name = self.context.contextEngineId, self.context.contextName
        try:
            if repetitions is None:
                _GET.send_varbinds(self.engine, addr, engine_id, name, varbinds, done)
            else:
                _BULK.send_varbinds(self.engine, addr, engine_id, name, 0, repetitions, varbinds, done)
        except PySnmpError as exc:
            raise SnmpFailure("protocol_error", f"{self.host}: {exc}") from exc
        indication, status, index, vbs = await future
        self.requests += 1
        self._check(indication, status, index)
        self.varbinds += len(vbs)
        return vbs

    async def get(self, oids: Mapping[str, str]) -> dict[str, object]:
        vbs = await self._request([_oid(o) for o in oids.values()], None)
        by_oid = {".".join(map(str, oid.asTuple())): _value(v) for oid, v in vbs}
        return {name: by_oid.get(o) for name, o in oids.items()}

    async def walk(self, columns: Mapping[str, str]) -> dict[str, dict[tuple[int, ...], object]]:
        """Walk several table columns side by side with GETBULK; each stops at its column's end."""
        roots = {name: _oid(o) for name, o in columns.items()}
        out: dict[str, dict[tuple[int, ...], object]] = {name: {} for name in columns}
        cursor = dict(roots)
        for _ in range(MAX_WALK_REQUESTS):
            if not cursor:
                break
            names = list(cursor)
            reps = max(1, min(self.opts.max_repetitions, 1000 // len(names)))
            vbs = await self._request([cursor[n] for n in names], reps)
            if not vbs:
                break
            finished: set[str] = set()
            for i, (oid, raw) in enumerate(vbs):
                name = names[i % len(names)]
                if name in finished:
                    continue
                t = tuple(oid.asTuple())
                root = roots[name]
                if isinstance(raw, _END) or t[: len(root)] != root or t <= cursor[name]:
                    finished.add(name)
                    continue
                out[name][t[len(root) :]] = _value(raw)
                cursor[name] = t
            for name in finished:
                cursor.pop(name, None)
        return out


Columns = dict[str, dict[tuple[int, ...], object]]


@dataclass
class PortLabels:
    """Port names and descriptions from the last full walk, and whether the device lacks ifXTable."""

    legacy: bool
    indexes: frozenset[int]
    columns: Columns


@dataclass
class SnmpPoll:
    """What one poll read (kept for the next poll's rates and for the one-off command)."""

    system: dict[str, object]
    ports: list[Port]
    inventory: dict[str, Any] | None = None
    requests: int = 0
    varbinds: int = 0
    #: monotonic time the counters were read (the middle of the interface walk)
    at: float = 0.0
    labels: PortLabels | None = None


def _uptime_ticks(value: object) -> int:
    return value if isinstance(value, int) else 0


def _indexes(cols: Columns) -> frozenset[int]:
    return frozenset(s[0] for s in cols.get("admin", {}) if len(s) == 1)


async def _walk_interfaces(
    session: SnmpSession, labels: PortLabels | None, full: bool
) -> tuple[Columns, PortLabels]:
    if full or labels is None:
        cols = await session.walk(MAIN_COLUMNS)
        legacy = not cols["name"] and not cols["hc_in"]
        if legacy:
            cols.update(await session.walk(LEGACY_COLUMNS))
        keys = LEGACY_LABEL_COLUMNS if legacy else LABEL_COLUMNS
        return cols, PortLabels(legacy, _indexes(cols), {k: cols.get(k, {}) for k in keys})
    cols = await session.walk({**STATE_COLUMNS, **(LEGACY_COUNTERS if labels.legacy else HC_COUNTERS)})
    if _indexes(cols) != labels.indexes:  # a port (or a module) came or went: read the names again
        keys = LEGACY_LABEL_COLUMNS if labels.legacy else LABEL_COLUMNS
        labels = PortLabels(labels.legacy, _indexes(cols), await session.walk(keys))
    cols.update(labels.columns)
    return cols, labels


async def poll_device(
    session: SnmpSession,
    *,
    with_inventory: bool,
    with_fdb: bool = True,
    clock: Callable[[], float] = time.monotonic,
    labels: PortLabels | None = None,
) -> SnmpPoll:
    """System group and interfaces; names and descriptions come from `labels` unless an inventory
    round (or a change in the set of ports) asks for a full walk."""
    system = await session.get(SYSTEM)
    walk_started = clock()
    cols, labels = await _walk_interfaces(session, labels, full=with_inventory)
    at = (walk_started + clock()) / 2
    ports = ports_from_columns(cols)
    inventory: dict[str, Any] | None = None
    if with_inventory:
        ent = entities(await session.walk(ENTITY_COLUMNS))
        inventory = {
            "type": "switch",
            "sys_descr": text(system.get("descr")),
            "sys_name": text(system.get("name")),
            "sys_object_id": text(system.get("object_id")),
            **chassis_summary(ent),
            "entities": ent,
            "ports": [
                {"if_index": p.index, "name": p.name, "alias": p.alias, "speed_bps": p.speed_bps}
                for p in ports
            ],
        }
        if with_fdb:
            inventory["fdb"] = forwarding_table(await session.walk(FDB_COLUMNS), ports)
    return SnmpPoll(system, ports, inventory, session.requests, session.varbinds, at, labels)


@dataclass
class SnmpEnv:
    """What SNMP checks share: one engine, the school-hours predicate, the port class patterns."""

    engine: SnmpEngine = field(default_factory=SnmpEngine)
    school_hours: SchoolHours | None = None
    patterns: Sequence[tuple[str, Any]] = ()
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = lambda: datetime.now(UTC)
    _ready: asyncio.Future[None] | None = None

    async def prepare(self) -> None:
        """Give the engine its UDP socket with a large receive buffer, once, before any request."""
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._open_transport())
        await asyncio.shield(self._ready)

    async def _open_transport(self) -> None:
        if engine_config.get_transport(self.engine, udp.DOMAIN_NAME):
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # the kernel caps it at net.core.rmem_max
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            sock.bind(("0.0.0.0", 0))
            sock.setblocking(False)
            transport = udp.UdpAsyncioTransport()
            await asyncio.get_running_loop().create_datagram_endpoint(lambda: transport, sock=sock)
        except OSError as exc:  # pysnmp opens its own socket (default buffer) on the first request
            _log.warning("SNMP socket with a large receive buffer not available: %s", exc)
            sock.close()
            return
        engine_config.add_transport(self.engine, udp.DOMAIN_NAME, transport)


class SnmpProbe:
    """Polls one switch or AP; keeps the previous counters so each poll yields rates."""

    kind = "snmp"

    def __init__(self, target: TargetSettings, env: SnmpEnv) -> None:
        self.target = target
        self.env = env
        self.tracker = CounterTracker()
        self.classifier = PortClassifier(target.snmp.port_classes, env.patterns)
        self.last: SnmpPoll | None = None
        self._inventory_at: float | None = None

    async def check(self) -> ProbeResult:
        opts = self.target.snmp
        started = self.env.clock()
        due = self._inventory_at is None or started - self._inventory_at >= opts.inventory_interval
        session = SnmpSession(self.env.engine, self.target.host, opts)
        try:
            await self.env.prepare()
            poll = await poll_device(
                session,
                with_inventory=due,
                with_fdb=opts.fdb,
                clock=self.env.clock,
                labels=self.last.labels if self.last else None,
            )
        except SnmpFailure as exc:
            return ProbeResult("snmp", exc.code, str(exc), self.env.clock() - started)
        except (OSError, ValueError) as exc:
            elapsed = self.env.clock() - started
            return ProbeResult("snmp", "unreachable", f"{self.target.host}: {exc}", elapsed)
        finished = self.env.clock()
        if poll.inventory is not None:
            self._inventory_at = started
        self.last = poll
        ticks = _uptime_ticks(poll.system.get("uptime"))
        rates = self.tracker.update(poll.at, ticks, poll.ports)
        school_open = self.env.school_hours.is_open(self.env.wall()) if self.env.school_hours else True
        rows = port_rows(poll.ports, rates, self.classifier, school_open)
        faults = [str(r["port"]) for r in rows if r["port_fault"]]
        result = ProbeResult(
            "snmp",
            "port_fault" if faults else "ok",
            f"ports down: {', '.join(faults)}" if faults else f"{len(rows)} ports",
            finished - started,
            inventory=poll.inventory,
        )
        probe = result.probe_group()
        # a port fault has its own rule (one ticket per port); the SNMP check itself works
        probe["probe_failing"] = 0
        probe.update(
            {
                "sys_uptime_seconds": ticks / 100,
                "snmp_varbinds": poll.varbinds,
                "ports_total": len(rows),
                "ports_up": sum(int(r["port_oper_up"] or 0) for r in rows),
                "ports_fault": len(faults),
            }
        )
        result.groups = {"probe": probe, "ports": rows}
        if poll.inventory is not None:
            serial = poll.inventory.get("serial")
            if serial:
                result.identity = {"serial": str(serial), "source": "entity_serial"}
        return result
