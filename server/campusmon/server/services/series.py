"""Chart data for the console: the one place that knows which metric store the server has.

It speaks the interface of the metrics store (`series(campus, device, name, *, since, until, step,
labels, agg) -> [SeriesPoint]`, `latest(campus, device) -> {name: value}`) over today's embedded
`SqliteMetricStore`; when the store offers it itself, `metric_source()` returns the store.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ..metrics_store import SqliteMetricStore

_AGGS = ("avg", "min", "max", "last")


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    ts: float
    value: float
    min: float
    max: float


class MetricSource(Protocol):
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
    ) -> list[SeriesPoint]: ...

    def latest(self, campus: str, device: str) -> dict[str, float]: ...


def _labels(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(",") if text else []:
        k, _, v = part.partition("=")
        out[k] = v
    return out


class SqliteSeries:
    """Buckets raw samples into `step`-second points (avg/min/max/last per bucket)."""

    #: at most this many raw samples read per series (7 days of 30 s reports with a few labels)
    MAX_SAMPLES = 200_000

    def __init__(self, store: SqliteMetricStore) -> None:
        self.store = store

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
        if agg not in _AGGS:
            raise ValueError(f"agg must be one of {_AGGS}")
        until = time.time() if until is None else until
        step = step or max(60.0, (until - since) / 300)
        buckets: dict[int, list[float]] = {}
        for p in self.store.series(campus, device, name, since=since, limit=self.MAX_SAMPLES):
            if p.ts > until:
                break
            if labels and any(_labels(p.labels).get(k) != v for k, v in labels.items()):
                continue
            buckets.setdefault(int((p.ts - since) // step), []).append(p.value)
        out = []
        for i in sorted(buckets):
            vals = buckets[i]
            value = {
                "avg": sum(vals) / len(vals),
                "min": min(vals),
                "max": max(vals),
                "last": vals[-1],
            }[agg]
            out.append(SeriesPoint(since + (i + 0.5) * step, value, min(vals), max(vals)))
        return out

    def latest(self, campus: str, device: str) -> dict[str, float]:
        """Latest value of every metric; labelled ones as `name{k=v,...}`."""
        return {(f"{n}{{{lab}}}" if lab else n): v for n, lab, v in self.store.latest(campus, device)}


def metric_source(store: SqliteMetricStore) -> MetricSource:
    return SqliteSeries(store)
