"""IF-MIB interfaces: rows from walked columns, counters to rates, port classes and port faults.

Pure logic (no I/O) so counter wrap, reboots and classes are tested with tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from campusmon.contract import Scalar

IF: Final = "1.3.6.1.2.1.2.2.1"
IFX: Final = "1.3.6.1.2.1.31.1.1.1"

#: what changes between polls: status, errors and discards (ifTable)
STATE_COLUMNS: Final[dict[str, str]] = {
    "admin": f"{IF}.7",
    "oper": f"{IF}.8",
    "in_discards": f"{IF}.13",
    "in_errors": f"{IF}.14",
    "out_discards": f"{IF}.19",
    "out_errors": f"{IF}.20",
}
#: traffic where ifXTable exists: 64-bit counters, speed in Mbit/s
HC_COUNTERS: Final[dict[str, str]] = {"hc_in": f"{IFX}.6", "hc_out": f"{IFX}.10", "high_speed": f"{IFX}.15"}
#: traffic on devices without ifXTable (old switches): 32-bit counters, ifSpeed
LEGACY_COUNTERS: Final[dict[str, str]] = {
    "speed": f"{IF}.5",
    "in_octets": f"{IF}.10",
    "out_octets": f"{IF}.16",
}
#: names rarely change: read on inventory rounds (and when ports appear), not on every poll
LABEL_COLUMNS: Final[dict[str, str]] = {"name": f"{IFX}.1", "alias": f"{IFX}.18"}
LEGACY_LABEL_COLUMNS: Final[dict[str, str]] = {"descr": f"{IF}.2"}
MAIN_COLUMNS: Final[dict[str, str]] = {**STATE_COLUMNS, **LABEL_COLUMNS, **HC_COUNTERS}
LEGACY_COLUMNS: Final[dict[str, str]] = {**LEGACY_LABEL_COLUMNS, **LEGACY_COUNTERS}
PORT_CLASSES: Final = ("uplink", "ap", "classroom", "other")
#: classes whose port being down is a fault at any time
ALWAYS_MATTER: Final = frozenset({"uplink", "ap"})
COUNTER32: Final = 2**32
COUNTER64: Final = 2**64
TIMETICKS: Final = 2**32
#: a rate above line speed by this factor is a counter discontinuity, not traffic
SPEED_SLACK: Final = 1.1

Column = Mapping[tuple[int, ...], object]


def text(value: object) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8").rstrip("\x00").strip()
        except UnicodeDecodeError:
            return value.decode("latin-1").rstrip("\x00").strip()
    return "" if value is None else str(value)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Port:
    index: int
    name: str
    alias: str
    admin_up: bool
    oper_up: bool
    speed_bps: int
    in_octets: int | None
    out_octets: int | None
    #: octet counters are 64-bit (ifHC*) rather than 32-bit
    hc: bool
    in_errors: int | None = None
    out_errors: int | None = None
    in_discards: int | None = None
    out_discards: int | None = None


def ports_from_columns(cols: Mapping[str, Column]) -> list[Port]:
    """Build ports from walked columns (keyed by column name, then index suffix)."""
    indexes: set[int] = set()
    for column in ("admin", "oper", "name", "descr"):
        indexes.update(suffix[0] for suffix in cols.get(column, {}) if len(suffix) == 1)

    def get(column: str, i: int) -> object:
        return cols.get(column, {}).get((i,))

    ports = []
    for i in sorted(indexes):
        hc_in, hc_out = _int(get("hc_in", i)), _int(get("hc_out", i))
        hc = hc_in is not None and hc_out is not None
        high = _int(get("high_speed", i))
        speed = high * 1_000_000 if high else (_int(get("speed", i)) or 0)
        ports.append(
            Port(
                index=i,
                name=text(get("name", i)) or text(get("descr", i)) or f"if{i}",
                alias=text(get("alias", i)),
                admin_up=_int(get("admin", i)) == 1,
                # up(1) and dormant(5) carry traffic on demand; everything else is down
                oper_up=_int(get("oper", i)) in (1, 5),
                speed_bps=speed,
                in_octets=hc_in if hc else _int(get("in_octets", i)),
                out_octets=hc_out if hc else _int(get("out_octets", i)),
                hc=hc,
                in_errors=_int(get("in_errors", i)),
                out_errors=_int(get("out_errors", i)),
                in_discards=_int(get("in_discards", i)),
                out_discards=_int(get("out_discards", i)),
            )
        )
    return ports


def rebooted(prev_ticks: int, prev_at: float, ticks: int, at: float) -> bool:
    """sysUpTime went back: a reboot, unless it is the 497-day TimeTicks wrap."""
    if ticks >= prev_ticks:
        return False
    expected = (prev_ticks + (at - prev_at) * 100) % TIMETICKS
    # a wrap lands close to where the clock says it should; a reboot lands near zero
    return abs(ticks - expected) > max(1000.0, (at - prev_at) * 100 * 0.1)


def counter_delta(old: int, new: int, modulus: int, max_delta: float | None) -> int | None:
    """Increase of a counter, across one wrap; None where it is a reset or implausible."""
    if new < old and modulus == COUNTER64:
        return None  # a 64-bit counter takes decades to wrap: a decrease is a reset
    delta = new - old if new >= old else new + modulus - old
    if max_delta is not None and delta > max_delta:
        return None  # faster than the line: a discontinuity (module reset, counter cleared)
    if max_delta is None and new < old and delta > modulus // 2:
        return None  # "wrapped" by more than half the range: more likely a reset
    return delta


@dataclass
class PortRates:
    in_bps: float | None = None
    out_bps: float | None = None
    in_errors_per_second: float | None = None
    out_errors_per_second: float | None = None
    in_discards_per_second: float | None = None
    out_discards_per_second: float | None = None


@dataclass
class _Snapshot:
    at: float
    ticks: int
    ports: dict[int, Port]


@dataclass
class CounterTracker:
    """Per device: the previous poll, so the next one yields rates; reboots reset the baseline."""

    last: _Snapshot | None = None
    reboots: int = 0
    discarded: int = 0
    _rates: dict[int, PortRates] = field(default_factory=dict)

    def update(self, at: float, ticks: int, ports: Iterable[Port]) -> dict[int, PortRates]:
        snap = _Snapshot(at, ticks, {p.index: p for p in ports})
        prev, self.last = self.last, snap
        if prev is None or at <= prev.at:
            return {}
        if rebooted(prev.ticks, prev.at, ticks, at):
            self.reboots += 1
            return {}
        elapsed = at - prev.at
        rates: dict[int, PortRates] = {}
        for index, port in snap.ports.items():
            old = prev.ports.get(index)
            if old is None:
                continue
            r = PortRates()
            modulus = COUNTER64 if port.hc and old.hc else COUNTER32
            line = port.speed_bps / 8 * elapsed * SPEED_SLACK if port.speed_bps else None
            for attr, out in (("in_octets", "in_bps"), ("out_octets", "out_bps")):
                a, b = getattr(old, attr), getattr(port, attr)
                if a is None or b is None or port.hc != old.hc:
                    continue
                d = counter_delta(a, b, modulus, line)
                if d is None:
                    self.discarded += 1
                else:
                    setattr(r, out, d * 8 / elapsed)
            for attr in ("in_errors", "out_errors", "in_discards", "out_discards"):
                a, b = getattr(old, attr), getattr(port, attr)
                if a is None or b is None:
                    continue
                d = counter_delta(a, b, COUNTER32, None)
                if d is not None:
                    setattr(r, f"{attr}_per_second", d / elapsed)
            rates[index] = r
        return rates


@dataclass(frozen=True)
class PortClassifier:
    """Explicit classes (by ifName, ifDescr or ifIndex) win; otherwise the first alias pattern."""

    explicit: Mapping[str, str] = field(default_factory=dict)
    patterns: Sequence[tuple[str, re.Pattern[str]]] = ()

    def classify(self, port: Port) -> str:
        for key in (port.name, str(port.index)):
            if key in self.explicit:
                return self.explicit[key]
        for cls, pattern in self.patterns:
            if port.alias and pattern.search(port.alias):
                return cls
        return "other"


def port_fault(port: Port, cls: str, school_open: bool) -> bool:
    """An enabled port that should carry traffic is down. Ports shut on purpose never count."""
    if not port.admin_up or port.oper_up:
        return False
    return cls in ALWAYS_MATTER or (cls == "classroom" and school_open)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def port_rows(
    ports: Sequence[Port],
    rates: Mapping[int, PortRates],
    classifier: PortClassifier,
    school_open: bool,
) -> list[dict[str, Scalar]]:
    """One metric object per port (labels `port`, `class`); rates only where they are known."""
    rows: list[dict[str, Scalar]] = []
    for p in ports:
        cls = classifier.classify(p)
        row: dict[str, Scalar] = {
            "port": p.name,
            "class": cls,
            "port_admin_up": int(p.admin_up),
            "port_oper_up": int(p.oper_up),
            "port_speed_bps": p.speed_bps,
            "port_fault": int(port_fault(p, cls, school_open)),
        }
        r = rates.get(p.index)
        if r is not None:
            for key in ("in_bps", "out_bps"):
                bps = getattr(r, key)
                if bps is None:
                    continue
                row[f"port_{key}"] = _round(bps)
                if p.speed_bps:
                    direction = key.split("_", 1)[0]
                    row[f"port_{direction}_utilisation_percent"] = _round(100 * bps / p.speed_bps)
            for key in (
                "in_errors_per_second",
                "out_errors_per_second",
                "in_discards_per_second",
                "out_discards_per_second",
            ):
                v = getattr(r, key)
                if v is not None:
                    row[f"port_{key}"] = _round(v, 4)
        rows.append(row)
    return rows
