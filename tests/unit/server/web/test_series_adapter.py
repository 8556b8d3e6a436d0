"""The console's chart adapter: buckets computed in SQL equal buckets computed from the raw samples."""

from __future__ import annotations

import random

import pytest

from campusmon.contract import Metrics
from campusmon.server.metrics_store import SqliteMetricStore
from campusmon.server.services.series import SqliteSeries

T0 = 1_790_000_000.0


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteMetricStore:
    s = SqliteMetricStore(tmp_path_factory.mktemp("series") / "m.sqlite")
    rng = random.Random(3)
    for k in range(600):  # 5 hours of 30 s reports, two disks
        s.record(
            Metrics(
                campus="c",
                device="d",
                ts=T0 + 30 * k + rng.random(),
                seq=k + 1,
                interval=30,
                metrics={
                    "cpu": {"cpu_usage_percent": rng.uniform(0, 100)},
                    "disk": [
                        {"mount": "C:", "disk_used_percent": rng.uniform(10, 20)},
                        {"mount": "D:", "disk_used_percent": rng.uniform(70, 90)},
                    ],
                },
            )
        )
    return s


def _reference(
    store: SqliteMetricStore, name: str, since: float, until: float, step: float, mount: str | None
) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for p in store.series("c", "d", name, since=since, limit=100_000):
        if p.ts > until or (mount is not None and f"mount={mount}" not in p.labels.split(",")):
            continue
        out.setdefault(int((p.ts - since) // step), []).append(p.value)
    return out


@pytest.mark.parametrize(("name", "mount"), [("cpu_usage_percent", None), ("disk_used_percent", None),
                                              ("disk_used_percent", "D:")])  # fmt: skip
@pytest.mark.parametrize("agg", ["avg", "min", "max", "last"])
def test_sql_buckets_match_the_raw_samples(store: SqliteMetricStore, name: str, mount: str | None,
                                           agg: str) -> None:  # fmt: skip
    since, until, step = T0 + 1000, T0 + 14_000, 300.0
    points = SqliteSeries(store).series(
        "c", "d", name, since=since, until=until, step=step, labels={"mount": mount} if mount else None,
        agg=agg,
    )  # fmt: skip
    ref = _reference(store, name, since, until, step, mount)
    assert len(points) == len(ref) == 44
    for p, (b, vals) in zip(points, sorted(ref.items()), strict=True):
        assert p.ts == pytest.approx(since + (b + 0.5) * step)
        want = {"avg": sum(vals) / len(vals), "min": min(vals), "max": max(vals), "last": vals[-1]}[agg]
        assert p.value == pytest.approx(want)
        assert p.min == pytest.approx(min(vals))
        assert p.max == pytest.approx(max(vals))
    if mount == "D:":
        assert all(p.min is not None and p.min >= 70 for p in points)


def test_unknown_aggregate_is_refused(store: SqliteMetricStore) -> None:
    with pytest.raises(ValueError, match="agg must be one of"):
        SqliteSeries(store).series("c", "d", "cpu_usage_percent", since=T0, agg="median")


def test_a_chart_of_points_without_extremes_draws_the_line_as_its_band() -> None:
    from zoneinfo import ZoneInfo

    from campusmon.server.services.series import SeriesPoint
    from campusmon.server.web.charts import line_chart

    points = [SeriesPoint(T0 + 60 * i, float(i)) for i in range(10)]  # a store that keeps only the average
    svg = str(line_chart(points, title="CPU %", unit="%", since=T0, until=T0 + 600, tz=ZoneInfo("UTC")))
    assert 'class="line"' in svg and 'class="band"' in svg
