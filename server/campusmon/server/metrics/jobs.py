"""Background work of the metric store, started and stopped by the server: the maintenance loop
(compaction, retention, vacuum; one small step at a time) and, with the influx backend, the writer."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from .codec import CodecError
from .influx import InfluxMetricStore, InfluxWriter
from .model import MetricStoreError
from .settings import MetricsSettings
from .sqlite import MaintenanceStep, SqliteMetricStore

_log = logging.getLogger(__name__)
#: pause between steps while compaction or retention has a backlog, so ingest gets its turns
BACKLOG_PAUSE = 0.05
#: pause between steps that only give free pages back to the file system (no hurry)
VACUUM_PAUSE = 0.5


class MaintenanceJob:
    def __init__(self, store: SqliteMetricStore, every: float) -> None:
        self.store = store
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        #: steps run, and what the last one did
        self.steps = 0
        self.last: MaintenanceStep | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="metrics-maintenance", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                step = self.store.maintain()
            except (sqlite3.Error, CodecError, MetricStoreError, OSError) as exc:
                if self._stop.is_set():
                    return
                if not self._failing:
                    _log.error("metrics maintenance failed (%s); retrying every %.0f s", exc, self.every)
                self._failing = True
                self._stop.wait(self.every)
                continue
            if self._failing:
                _log.warning("metrics maintenance works again")
                self._failing = False
            self.steps += 1
            self.last = step
            if step.compacted_hours or step.pruned_rows:
                _log.debug("metrics maintenance: %s in %.2f s", step, time.monotonic() - started)
            pause = BACKLOG_PAUSE if step.more else VACUUM_PAUSE if step.vacuum_left else self.every
            self._stop.wait(min(pause, self.every))


class MetricJobs:
    """Everything that runs beside ingest for the metric store."""

    def __init__(self, store: SqliteMetricStore, settings: MetricsSettings) -> None:
        self.store = store
        self.maintenance = MaintenanceJob(store, settings.maintenance_seconds)
        self.writer = InfluxWriter(store) if isinstance(store, InfluxMetricStore) else None

    def start(self) -> None:
        self.maintenance.start()
        if self.writer is not None:
            self.writer.start()

    def stop(self) -> None:
        if self.writer is not None:
            self.writer.stop()
        self.maintenance.stop()
