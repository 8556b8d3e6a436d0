"""Every probe kind, one line each: kind -> factory(target, env) -> object with `async check()`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .config import TargetSettings
from .result import ProbeResult

if TYPE_CHECKING:
    from .snmp import SnmpEnv


class Probe(Protocol):
    kind: str

    async def check(self) -> ProbeResult: ...


@dataclass
class ProbeEnv:
    """What probes of one runner share; the SNMP part is built on first use (pysnmp is heavy)."""

    school_hours: Any = None
    patterns: list[tuple[str, Any]] = field(default_factory=list)
    _snmp: SnmpEnv | None = None

    @property
    def snmp(self) -> SnmpEnv:
        if self._snmp is None:
            from .snmp import SnmpEnv

            self._snmp = SnmpEnv(school_hours=self.school_hours, patterns=self.patterns)
        return self._snmp


def _snmp(target: TargetSettings, env: ProbeEnv) -> Probe:
    from .snmp import SnmpProbe

    return SnmpProbe(target, env.snmp)


def _icmp(target: TargetSettings, env: ProbeEnv) -> Probe:
    from .icmp import IcmpProbe

    return IcmpProbe(target)


def _tcp(target: TargetSettings, env: ProbeEnv) -> Probe:
    from .tcp import TcpProbe

    return TcpProbe(target)


def _http(target: TargetSettings, env: ProbeEnv) -> Probe:
    from .http import HttpProbe

    return HttpProbe(target)


REGISTRY: dict[str, Callable[[TargetSettings, ProbeEnv], Probe]] = {
    "snmp": _snmp,
    "icmp": _icmp,
    "tcp": _tcp,
    "http": _http,
}


def make_probe(target: TargetSettings, env: ProbeEnv) -> Probe:
    return REGISTRY[target.kind](target, env)
