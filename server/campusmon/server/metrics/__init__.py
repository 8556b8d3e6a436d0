"""Metric storage: the `MetricStore` interface, the embedded SQLite store, the InfluxDB-protocol writer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import (
    AGGREGATES,
    MetricStore,
    MetricStoreError,
    Placement,
    SeriesPoint,
    StorageInfo,
    parse_series_key,
    series_key,
)
from .settings import InfluxSettings, MetricsSettings
from .sqlite import ROLLUP_STEP, MaintenanceStep, SqliteMetricStore

if TYPE_CHECKING:
    from campusmon.server.config import StorageSettings

__all__ = [
    "AGGREGATES",
    "ROLLUP_STEP",
    "MaintenanceStep",
    "MetricStore",
    "MetricStoreError",
    "Placement",
    "SeriesPoint",
    "SqliteMetricStore",
    "StorageInfo",
    "InfluxSettings",
    "MetricsSettings",
    "open_store",
    "parse_series_key",
    "series_key",
]


def open_store(storage: StorageSettings, metrics: MetricsSettings) -> SqliteMetricStore:
    """The configured store: embedded only, or embedded plus the spool to an InfluxDB-protocol database."""
    from .influx import InfluxMetricStore

    path = storage.metrics_path
    raw, rollups = storage.metrics_retention_days, metrics.rollup_retention_days
    delay, batch = metrics.compact_delay_seconds, metrics.prune_batch_rows
    if storage.metrics_backend == "influx":
        return InfluxMetricStore(
            path,
            influx=metrics.influx,
            raw_retention_days=raw,
            rollup_retention_days=rollups,
            compact_delay_seconds=delay,
            batch_rows=batch,
        )
    return SqliteMetricStore(
        path,
        raw_retention_days=raw,
        rollup_retention_days=rollups,
        compact_delay_seconds=delay,
        batch_rows=batch,
    )
