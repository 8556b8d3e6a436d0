"""Chart arithmetic: which step a range gets, and samples or rollup buckets binned into points."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

from .codec import Bucket
from .model import AGGREGATES, MetricStoreError, SeriesPoint

#: steps a chart may get when none is asked for (seconds)
NICE_STEPS: Final = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
#: at most this many points when the step is chosen for the caller
TARGET_POINTS: Final = 720
#: no more points than this, whatever step is asked for
MAX_POINTS: Final = 20_000


def choose_step(since: float, until: float, step: float | None) -> float:
    span = max(until - since, 1.0)
    if step is None:
        want = span / TARGET_POINTS
        return float(next((s for s in NICE_STEPS if s >= want), math.ceil(want / 86400) * 86400))
    if not step > 0 or not math.isfinite(step):
        raise MetricStoreError(f"step must be > 0 seconds, not {step}")
    if span / step > MAX_POINTS:
        raise MetricStoreError(f"{span / step:.0f} points asked (step {step:g} s); at most {MAX_POINTS}")
    return float(step)


def check_agg(agg: str) -> None:
    if agg not in AGGREGATES:
        raise MetricStoreError(f"unknown aggregate {agg!r}; one of {', '.join(AGGREGATES)}")


class Binner:
    """Accumulates samples and finer buckets into `step`-second buckets aligned on the epoch."""

    def __init__(self, since: float, until: float, step: float) -> None:
        self.since = since
        self.until = until
        self.step = step
        self.buckets: dict[float, Bucket] = {}

    def _start(self, ts: float) -> float:
        return math.floor(ts / self.step) * self.step

    def sample(self, ts: float, value: float) -> None:
        if not self.since <= ts <= self.until:
            return
        key = self._start(ts)
        b = self.buckets.get(key)
        if b is None:
            self.buckets[key] = Bucket(1, value, value, value)
        else:
            b.add(value)

    def samples(self, rows: Iterable[tuple[float, float]]) -> None:
        for ts, v in rows:
            self.sample(ts, v)

    def bucket(self, start: float, b: Bucket) -> None:
        """A finer bucket starting at `start` (it lies wholly inside one of ours when steps divide)."""
        if not self.since <= start <= self.until:
            return
        key = self._start(start)
        mine = self.buckets.get(key)
        if mine is None:
            self.buckets[key] = Bucket(b.count, b.total, b.low, b.high)
        else:
            mine.merge(b)

    def points(self, agg: str) -> list[SeriesPoint]:
        out: list[SeriesPoint] = []
        for start in sorted(self.buckets):
            b = self.buckets[start]
            if agg == "avg":
                value = b.total / b.count
            elif agg == "min":
                value = b.low
            elif agg == "max":
                value = b.high
            elif agg == "sum":
                value = b.total
            else:
                value = float(b.count)
            out.append(SeriesPoint(start, value, b.low, b.high))
        return out
