"""Turn collector samples into one contract `Metrics` payload (a plain dict, see agent/wire.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from . import wire
from .collectors import Collector, CollectorUnavailable, Sample
from .wire import Group, Scalar

_log = logging.getLogger(__name__)


def group_samples(samples: Iterable[Sample]) -> Group:
    """Unlabelled samples form one object; labelled ones one object per label set."""
    flat: dict[str, Scalar] = {}
    by_labels: dict[tuple[tuple[str, str], ...], dict[str, Scalar]] = {}
    for s in samples:
        if not wire.in_range(s.value):
            continue  # a sensor saying NaN or 1e308: not JSON, or not a measurement the server keeps
        value: Scalar = int(s.value) if s.value.is_integer() else s.value
        if not s.labels:
            flat[s.name] = value
        else:
            labels = tuple((k, v[: wire.MAX_LABEL]) for k, v in s.labels)
            inst = by_labels.setdefault(labels, dict(labels))
            inst[s.name] = value
    if not by_labels:
        return flat
    instances = list(by_labels.values())
    if flat:
        instances.insert(0, flat)
    return instances


def collect_all(collectors: Mapping[str, Collector]) -> tuple[dict[str, Group], dict[str, str]]:
    """Run every collector; one that fails is reported unavailable and never stops the others."""
    groups: dict[str, Group] = {}
    unavailable: dict[str, str] = {}
    for name, collector in collectors.items():
        try:
            samples = collector.collect()
        except CollectorUnavailable as exc:
            unavailable[name] = str(exc) or "unavailable"
            continue
        except (OSError, RuntimeError, AttributeError, ValueError, KeyError, TypeError) as exc:
            _log.warning("collector %s failed: %s", name, exc)
            unavailable[name] = f"{type(exc).__name__}: {exc}"
            continue
        if samples:
            groups[name] = group_samples(samples)
    return groups, unavailable


def build_report(
    collectors: Mapping[str, Collector], *, campus: str, device: str, seq: int, interval: int, ts: float
) -> dict[str, Any]:
    groups, unavailable = collect_all(collectors)
    return wire.metrics(
        campus, device, ts, seq=seq, interval=interval, groups=groups, unavailable=unavailable
    )
