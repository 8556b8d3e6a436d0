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
    """One step of a chart (the metrics store's own `SeriesPoint` has the same fields)."""

    ts: float
    value: float
    #: the bucket's extremes (None when the store keeps only the aggregate)
    min: float | None = None
    max: float | None = None


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
        if agg == "last":
            return self._last(campus, device, name, since, until, step, labels)
        # SQLite buckets the samples (per label set); the label sets a filter keeps are merged here
        merged: dict[int, list[float]] = {}
        for b, lab, total, n, lo, hi in self.store.buckets(
            campus, device, name, since=since, until=until, step=step
        ):
            if labels and any(_labels(lab).get(k) != v for k, v in labels.items()):
                continue
            acc = merged.get(b)
            if acc is None:
                merged[b] = [total, float(n), lo, hi]
            else:
                acc[0] += total
                acc[1] += float(n)
                acc[2] = min(acc[2], lo)
                acc[3] = max(acc[3], hi)
        out = []
        for b in sorted(merged):
            total, count, lo, hi = merged[b]
            value = {"avg": total / count, "min": lo, "max": hi}[agg]
            out.append(SeriesPoint(since + (b + 0.5) * step, value, lo, hi))
        return out

    def _last(
        self,
        campus: str,
        device: str,
        name: str,
        since: float,
        until: float,
        step: float,
        labels: Mapping[str, str] | None,
    ) -> list[SeriesPoint]:
        buckets: dict[int, list[float]] = {}
        for p in self.store.series(campus, device, name, since=since, limit=self.MAX_SAMPLES):
            if p.ts > until:
                break
            if labels and any(_labels(p.labels).get(k) != v for k, v in labels.items()):
                continue
            buckets.setdefault(int((p.ts - since) // step), []).append(p.value)
        return [
            SeriesPoint(since + (i + 0.5) * step, buckets[i][-1], min(buckets[i]), max(buckets[i]))
            for i in sorted(buckets)
        ]

    def latest(self, campus: str, device: str) -> dict[str, float]:
        """Latest value of every metric; labelled ones as `name{k=v,...}`."""
        return {(f"{n}{{{lab}}}" if lab else n): v for n, lab, v in self.store.latest(campus, device)}


def metric_source(store: SqliteMetricStore) -> MetricSource:
    return SqliteSeries(store)
