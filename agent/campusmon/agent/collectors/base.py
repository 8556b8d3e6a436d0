"""What a collector is: a small object whose `collect()` returns samples with units in their names."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured value of a report (units in the name)."""

    name: str
    value: float
    labels: Labels = ()


class CollectorUnavailable(Exception):
    """The collector cannot report on this machine right now (permission, missing sensor, ...)."""


class Collector(Protocol):
    name: ClassVar[str]

    def collect(self) -> list[Sample]: ...


#: Collectors receive psutil (or a fake with the same functions) so tests feed recorded data.
PsutilLike = Any
CollectorFactory = Callable[[PsutilLike], Collector]


class CounterRates:
    """Per-second rates from monotonic counters; a counter that goes back (wrap, reset) yields no rate."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[tuple[str, Labels], tuple[float, float]] = {}

    def rate(self, name: str, labels: Labels, counter: float) -> float | None:
        now = self._clock()
        key = (name, labels)
        previous = self._last.get(key)
        self._last[key] = (now, counter)
        if previous is None:
            return None
        then, old = previous
        elapsed = now - then
        if elapsed <= 0 or counter < old:
            return None
        return (counter - old) / elapsed
