"""The console's charts draw whatever the metric store gives: points with or without min/max."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from campusmon.server.services.series import SeriesPoint
from campusmon.server.web.charts import line_chart

T0 = 1_790_000_000.0


def test_a_chart_of_points_without_extremes_draws_the_line_as_its_band() -> None:
    points = [SeriesPoint(T0 + 60 * i, float(i)) for i in range(10)]  # a store that keeps only the average
    svg = str(line_chart(points, title="CPU %", unit="%", since=T0, until=T0 + 600, tz=ZoneInfo("UTC")))
    assert 'class="line"' in svg and 'class="band"' in svg
    with_band = [SeriesPoint(T0 + 60 * i, 50.0, 10.0, 90.0) for i in range(10)]
    svg = str(line_chart(with_band, title="CPU %", unit="%", since=T0, until=T0 + 600, tz=ZoneInfo("UTC")))
    assert 'class="band"' in svg
