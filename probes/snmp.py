"""SNMP (v2c, v3) switches and APs: system group, IF-MIB ports, ENTITY-MIB and forwarding table.

pysnmp asyncio with numeric OIDs (`lookupMib=False`: no MIB files needed). Every failure becomes a
result code; nothing escapes `check()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from pyasn1.type import univ
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
)
from pysnmp.hlapi.v3arch.asyncio import auth as usm
from pysnmp.proto import errind, rfc1905

from .config import SnmpOptions, TargetSettings
from .ifmib import (
    LEGACY_COLUMNS,
    MAIN_COLUMNS,
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

    async def get(self, oids: Mapping[str, str]) -> dict[str, object]:
        target = await self.transport()
        try:
            indication, status, index, vbs = await get_cmd(
                self.engine,
                self.auth,
                target,
                self.context,
                *(ObjectType(ObjectIdentity(o)) for o in oids.values()),
                lookupMib=False,
            )
        except PySnmpError as exc:
            raise SnmpFailure("protocol_error", f"{self.host}: {exc}") from exc
        self.requests += 1
        self._check(indication, status, index)
        self.varbinds += len(vbs)
        by_oid = {".".join(map(str, oid.asTuple())): _value(v) for oid, v in vbs}
        return {name: by_oid.get(o) for name, o in oids.items()}

    async def walk(self, columns: Mapping[str, str]) -> dict[str, dict[tuple[int, ...], object]]:
        """Walk several table columns side by side with GETBULK; each stops at its column's end."""
        roots = {name: _oid(o) for name, o in columns.items()}
        out: dict[str, dict[tuple[int, ...], object]] = {name: {} for name in columns}
        cursor = dict(roots)
        target = await self.transport()
        for _ in range(MAX_WALK_REQUESTS):
            if not cursor:
                break
            names = list(cursor)
            reps = max(1, min(self.opts.max_repetitions, 1000 // len(names)))
            try:
                indication, status, index, vbs = await bulk_cmd(
                    self.engine,
                    self.auth,
                    target,
                    self.context,
                    0,
                    reps,
                    *(ObjectType(ObjectIdentity(".".join(map(str, cursor[n])))) for n in names),
                    lookupMib=False,
                )
            except PySnmpError as exc:
                raise SnmpFailure("protocol_error", f"{self.host}: {exc}") from exc
            self.requests += 1
            self._check(indication, status, index)
            self.varbinds += len(vbs)
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


def _uptime_ticks(value: object) -> int:
    return value if isinstance(value, int) else 0


async def poll_device(
    session: SnmpSession,
    *,
    with_inventory: bool,
    with_fdb: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> SnmpPoll:
    system = await session.get(SYSTEM)
    walk_started = clock()
    cols = await session.walk(MAIN_COLUMNS)
    if not cols["name"] and not cols["hc_in"]:
        # no ifXTable (an old or minimal agent): 32-bit counters, ifDescr, ifSpeed
        cols.update(await session.walk(LEGACY_COLUMNS))
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
    return SnmpPoll(system, ports, inventory, session.requests, session.varbinds, at)


@dataclass
class SnmpEnv:
    """What SNMP checks share: one engine, the school-hours predicate, the port class patterns."""

    engine: SnmpEngine = field(default_factory=SnmpEngine)
    school_hours: SchoolHours | None = None
    patterns: Sequence[tuple[str, Any]] = ()
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = lambda: datetime.now(UTC)


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
            poll = await poll_device(session, with_inventory=due, with_fdb=opts.fdb, clock=self.env.clock)
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
