"""Every probe kind, one line each: kind -> factory(target, env) -> object with `async check()`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .config import TargetSettings
from .result import ProbeResult

if TYPE_CHECKING:
    from .snmp import SnmpEnv

_log = logging.getLogger(__name__)
#: errors a buggy or surprised check may raise; they become a result code, never a dead target
CHECK_ERRORS = (OSError, ValueError, RuntimeError, LookupError, TypeError, ArithmeticError, AttributeError)


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


async def bounded_check(
    probe: Probe, target: TargetSettings, clock: Callable[[], float] = time.monotonic
) -> ProbeResult:
    """One check bounded by the target's `timeout` (for the whole check, retries included): the
    timeout and any error become result codes."""
    started = clock()
    try:
        return await asyncio.wait_for(probe.check(), timeout=target.timeout)
    except TimeoutError:
        took = clock() - started
        return ProbeResult(target.kind, "timeout", f"no result within {target.timeout:g} s", took)
    except CHECK_ERRORS as exc:
        _log.warning("check of %s failed unexpectedly: %s: %s", target.id, type(exc).__name__, exc)
        return ProbeResult(target.kind, "protocol_error", f"{type(exc).__name__}: {exc}", clock() - started)
