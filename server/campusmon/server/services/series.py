"""Chart data for the console: the metric store answers itself (`campusmon.server.metrics`).

`series(campus, device, name, *, since, until, step, labels, agg) -> [SeriesPoint]` reads the embedded
store's 5-minute rollups or raw blocks, whatever the metrics backend; `latest(campus, device)` gives
the device's newest report by series key (`disk_used_percent{mount="C:\\"}`).
"""

from __future__ import annotations

from ..metrics import MetricStore, SeriesPoint

#: what the console needs of a metric store
MetricSource = MetricStore

__all__ = ["MetricSource", "SeriesPoint", "metric_source"]


def metric_source(store: MetricStore) -> MetricSource:
    return store
