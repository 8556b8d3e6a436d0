"""What every metric store offers (the console, the CLI and ingest code against this), and the
naming of series: a metric name plus its labels, written the Prometheus way
(`disk_used_percent{mount="C:\\\\"}`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Final, Literal, Protocol

from campusmon.contract import Group, Metrics

#: the aggregates a chart may ask for
AGGREGATES: Final = ("avg", "min", "max", "sum", "count")
Aggregate = Literal["avg", "min", "max", "sum", "count"]


class MetricStoreError(ValueError):
    """A request the store cannot answer (an unknown aggregate, a range backwards)."""


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    #: unix seconds, start of the step bucket
    ts: float
    #: the aggregate over the bucket
    value: float
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a device sits, written as tags next to its samples (InfluxDB line protocol)."""

    building: str | None = None
    room: str | None = None
    device_type: str | None = None


@dataclass(frozen=True, slots=True)
class StorageInfo:
    """What `campusmon metrics storage` shows: size, contents, age of the data, retention in force."""

    backend: str
    path: str
    size_bytes: int
    devices: int
    series: int
    reports: int
    #: samples kept at full resolution (compacted blocks and the not yet compacted head)
    raw_samples: int
    #: reports waiting in the head table for compaction into blocks
    head_reports: int
    oldest_raw: float | None
    newest_raw: float | None
    oldest_rollup: float | None
    newest_rollup: float | None
    raw_retention_days: int
    rollup_retention_days: int
    rollup_step_seconds: int
    #: influx backend: reports in the local spool not yet written, and the writer's counters
    spool_reports: int | None = None
    spool_oldest: float | None = None
    influx_url: str | None = None
    counters: Mapping[str, float] | None = None

    @property
    def bytes_per_sample(self) -> float | None:
        return self.size_bytes / self.raw_samples if self.raw_samples else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["counters"] = dict(self.counters or {})
        d["bytes_per_sample"] = self.bytes_per_sample
        return d


class MetricStore(Protocol):
    def record(
        self, report: Metrics, received: float | None = None, placement: Placement | None = None
    ) -> bool:
        """Store one report; idempotent by (campus, device, seq): False on a duplicate."""
        ...

    def latest(self, campus: str, device: str) -> dict[str, float]:
        """Series key (name + labels) -> value in the device's newest report."""
        ...

    def series(
        self,
        campus: str,
        device: str,
        name: str,
        *,
        since: float,
        until: float | None = None,
        step: float | None = None,
        labels: Mapping[str, str] | None = None,
        agg: str = "avg",
    ) -> list[SeriesPoint]:
        """One point per step bucket over every series of `name` whose labels include `labels`."""
        ...

    def storage_info(self) -> StorageInfo: ...

    def report_count(self, campus: str | None = None, device: str | None = None) -> int:
        """Reports kept (within raw retention): all, or one device's."""
        ...

    def seqs(self, campus: str, device: str) -> list[int]:
        """A device's stored sequence numbers, in the order they arrived."""
        ...

    def close(self) -> None: ...


# -- series names ---------------------------------------------------------------------------------
_ESCAPE = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE_RE = re.compile(r"\\(.)")


def format_labels(labels: Mapping[str, str]) -> str:
    """`k="v",…` sorted by key, escaped like Prometheus (backslash, quote, newline)."""
    return ",".join(f'{k}="{labels[k].translate(_ESCAPE)}"' for k in sorted(labels))


def parse_labels(text: str) -> dict[str, str]:
    """The inverse of `format_labels`."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _LABEL_RE.match(text, pos)
        if m is None:
            raise MetricStoreError(f"bad labels {text!r} at {pos}")
        out[m.group(1)] = _UNESCAPE_RE.sub(lambda u: "\n" if u.group(1) == "n" else u.group(1), m.group(2))
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                raise MetricStoreError(f"bad labels {text!r} at {pos}")
            pos += 1
    return out


def series_key(name: str, labels: str) -> str:
    return f"{name}{{{labels}}}" if labels else name


def parse_series_key(key: str) -> tuple[str, dict[str, str]]:
    """`name` or `name{k="v",…}` -> (name, labels)."""
    brace = key.find("{")
    if brace < 0:
        return key, {}
    if not key.endswith("}"):
        raise MetricStoreError(f"bad series {key!r}: no closing brace")
    return key[:brace], parse_labels(key[brace + 1 : -1])


@lru_cache(maxsize=65536)
def _labels_text(pairs: tuple[tuple[str, str], ...]) -> str:
    return format_labels(dict(pairs))


def flatten(group: Group) -> list[tuple[str, str, float]]:
    """(metric name, labels as `format_labels`, value) of one metric group: string values are labels,
    numbers and booleans are metrics; None is no sample."""
    rows: list[tuple[str, str, float]] = []
    for inst in [group] if isinstance(group, dict) else group:
        # the same label sets come in every report: their text is formatted once
        labels = _labels_text(tuple((k, v) for k, v in inst.items() if isinstance(v, str)))
        for key, value in inst.items():
            if isinstance(value, bool):
                rows.append((key, labels, 1.0 if value else 0.0))
            elif isinstance(value, int | float):
                try:
                    rows.append((key, labels, float(value)))
                except OverflowError:  # an integer beyond any float: not a measurement
                    continue
    return rows
