"""Operations endpoints: /healthz for load balancers and service managers, /metrics for Prometheus."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .auth import ctx_of
from .context import WebContext

router = APIRouter(tags=["operations"])
#: what the metric store's counters mean (campusmon_metrics_*)
METRIC_STORE_HELP = {
    "campusmon_metrics_spool_reports": "Reports in the local spool, not yet in the time-series database",
    "campusmon_metrics_written_reports_total": "Reports written to the time-series database",
    "campusmon_metrics_written_lines_total": "Line-protocol lines written to the time-series database",
    "campusmon_metrics_write_failures_total": "Failed writes to the time-series database (retried)",
    "campusmon_metrics_rejected_reports_total": "Reports the time-series database refused as invalid",
    "campusmon_metrics_spool_dropped_reports_total": "Reports dropped from a full spool (oldest first)",
    "campusmon_metrics_compacted_hours_total": "Device-hours packed into blocks and rollups",
    "campusmon_metrics_pruned_rows_total": "Rows deleted by retention",
    "campusmon_metrics_vacuumed_pages_total": "Free pages given back to the file system",
}
#: ingest lag above this many seconds makes /healthz say "degraded"
LAG_DEGRADED_SECONDS = 60.0


def _database_ok(ctx: WebContext) -> bool:
    try:
        with ctx.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    h = ctx.health()
    db_ok = _database_ok(ctx)
    ok = db_ok and h.broker_connected and h.ingest_lag_seconds < LAG_DEGRADED_SECONDS
    body = {
        "status": "ok" if ok else "degraded",
        "database": db_ok,
        "broker_connected": h.broker_connected,
        "ingest_backlog": h.ingest_backlog,
        "ingest_lag_seconds": round(h.ingest_lag_seconds, 3),
    }
    return JSONResponse(body, status_code=200 if ok else 503)


class _Collector:
    """Read at scrape time from the server's counters and the database (no state of its own)."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        ctx = self.ctx
        h = ctx.health()
        reports = GaugeMetricFamily(
            "campusmon_ingest_messages", "MQTT messages handled since start, by outcome", labels=["outcome"]
        )
        for outcome, n in sorted(h.counters.items()):
            reports.add_metric([outcome], float(n))
        yield reports
        yield GaugeMetricFamily(
            "campusmon_ingest_backlog_messages", "Received, not yet stored", value=h.ingest_backlog
        )
        yield GaugeMetricFamily(
            "campusmon_ingest_lag_seconds",
            "Age of the oldest message waiting to be stored",
            value=h.ingest_lag_seconds,
        )
        yield GaugeMetricFamily(
            "campusmon_broker_connected", "1 when subscribed to the broker", value=float(h.broker_connected)
        )
        open_ = GaugeMetricFamily("campusmon_tickets_open", "Active tickets by severity", labels=["severity"])
        counts = ctx.tickets.counts()
        for sev in ("info", "warning", "critical"):
            open_.add_metric([sev], float(counts.get(sev, 0)))
        yield open_
        outbox = ctx.tickets.outbox_counts()
        yield GaugeMetricFamily(
            "campusmon_notify_outbox_pending",
            "Notifications waiting to be sent",
            value=outbox.get("pending", 0),
        )
        yield GaugeMetricFamily(
            "campusmon_notify_outbox_failed",
            "Notifications given up after retries",
            value=outbox.get("failed", 0),
        )
        probes = CounterMetricFamily(
            "campusmon_probe_results",
            "Checks of the server's probe runner since start, by check kind and result code "
            "(ok, timeout, unreachable, auth_failed, refused, bad_status, port_fault, ...)",
            labels=["check", "code"],
        )
        for (check, code), n in sorted(h.probe_results.items()):
            probes.add_metric([check, code], float(n))
        yield probes
        if ctx.metrics is not None:
            for name, value in sorted(ctx.metrics.counters().items()):
                help_ = METRIC_STORE_HELP.get(name, name)
                if name.endswith("_total"):
                    yield CounterMetricFamily(name.removesuffix("_total"), help_, value=value)
                else:
                    yield GaugeMetricFamily(name, help_, value=value)
        devices = GaugeMetricFamily("campusmon_devices", "Devices by tile colour", labels=["color"])
        for color, n in ctx.devices.overview().counts.items():
            devices.add_metric([color], float(n))
        yield devices


@router.get("/metrics")
def metrics(request: Request) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(ctx_of(request)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
