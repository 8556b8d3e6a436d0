"""The `[metrics]` section of the server config: rollups, background work, the InfluxDB writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from campusmon.config import ConfigError, Range


@dataclass
class InfluxSettings:
    """Where raw samples go with `storage.metrics_backend = "influx"` (InfluxDB 2 or VictoriaMetrics,
    through influxdb-client's write API and the InfluxDB line protocol)."""

    #: e.g. "http://127.0.0.1:8086" (InfluxDB 2) or "http://127.0.0.1:8428" (VictoriaMetrics)
    url: str = ""
    token: str = ""
    org: str = ""
    bucket: str = "campusmon"
    #: at most this many lines per write request
    batch_size: Annotated[int, Range(1, 100_000, "lines")] = 5000
    #: a partly filled batch waits this long for more reports
    flush_interval_seconds: Annotated[float, Range(0.05, 300, "seconds")] = 1.0
    #: after a failed write: retry_interval x exponential_base^n, at most max_retry_delay, plus jitter
    retry_interval_seconds: Annotated[float, Range(0.1, 600, "seconds")] = 1.0
    exponential_base: Annotated[float, Range(1, 10)] = 2.0
    max_retry_delay_seconds: Annotated[float, Range(1, 3600, "seconds")] = 60.0
    jitter_seconds: Annotated[float, Range(0, 60, "seconds")] = 1.0
    timeout_seconds: Annotated[float, Range(1, 600, "seconds")] = 10.0
    #: reports kept in the local spool while the database is unreachable (~1 KiB each on disk);
    #: past this the oldest are dropped and counted. 500,000 is ~58 hours of 143 devices at 30 s.
    spool_max_reports: Annotated[int, Range(1000, 50_000_000, "reports")] = 500_000
    gzip: bool = True
    verify_ssl: bool = True
    #: CA file for an https url (default: the system store)
    ssl_ca_cert: Path | None = None

    def validate(self) -> None:
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"metrics.influx.url: {self.url!r} is not an http(s) URL")
        if not self.bucket:
            raise ConfigError("metrics.influx.bucket must not be empty")


@dataclass
class MetricsSettings:
    """The embedded store's rollups and background work (raw retention: `storage.metrics_retention_days`)."""

    #: 5-minute rollups (count, min, avg, max per series) are kept this many days
    rollup_retention_days: Annotated[int, Range(1, 3660, "days")] = 366
    #: an hour of reports is packed into its compressed block this long after the hour ends
    compact_delay_seconds: Annotated[float, Range(0, 3600, "seconds")] = 300.0
    #: how often the background job compacts, prunes and vacuums (one small step each time)
    maintenance_seconds: Annotated[float, Range(0.1, 600, "seconds")] = 5.0
    #: rows deleted per transaction while pruning (small: ingest never waits long)
    prune_batch_rows: Annotated[int, Range(100, 100_000, "rows")] = 2000
    influx: InfluxSettings = field(default_factory=InfluxSettings)
