"""District pure parts: fair shares, what a worker hands back, the campus link topic, the config."""

from __future__ import annotations

import pytest

from campusmon.config import ConfigError
from campusmon.server.config import DistrictSettings, ServerConfig, StorageSettings
from campusmon.server.district import bridge_topic, fair_share, is_bridge_topic, to_shed


@pytest.mark.parametrize(
    ("items", "workers", "share"),
    [(12, 3, 4), (12, 2, 6), (13, 3, 5), (5, 3, 2), (1, 3, 1), (0, 2, 0), (12, 0, 12)],
)
def test_fair_share(items: int, workers: int, share: int) -> None:
    assert fair_share(items, workers) == share
    assert share * max(1, workers) >= items  # every campus can be owned


@pytest.mark.parametrize(
    ("owned", "share", "shed"),
    [({"a", "b", "c"}, 2, ["c"]), ({"a", "b"}, 2, []), ({"c", "a", "d", "b"}, 1, ["b", "c", "d"])],
)
def test_to_shed(owned: set[str], share: int, shed: list[str]) -> None:
    assert to_shed(owned, share) == shed


@pytest.mark.parametrize(
    ("topic", "campus"),
    [
        ("campusmon/$bridge/east/state", "east"),
        ("campusmon/$bridge/East/state", None),  # not a campus id
        ("campusmon/$bridge//state", None),
        ("campusmon/east/$bridge/state", None),
        ("campusmon/$bridge/east/status", None),
        ("other/$bridge/east/state", None),
        ("campusmon/$bridge/east/state/x", None),
    ],
)
def test_bridge_topic(topic: str, campus: str | None) -> None:
    assert is_bridge_topic("campusmon", topic) == campus
    if campus is not None:
        assert bridge_topic("campusmon", campus) == topic


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (DistrictSettings(lease_seconds=6, renew_seconds=3), "renew at least three times"),
        (DistrictSettings(campuses=["East"]), "not a campus id"),
        (DistrictSettings(campuses=["a", "a"]), "listed twice"),
        (DistrictSettings(worker_id="w 1"), "worker_id"),
    ],
)
def test_district_settings_refused(settings: DistrictSettings, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings.validate()


def test_district_needs_postgres_and_an_external_broker() -> None:
    cfg = ServerConfig(district=DistrictSettings(enabled=True))
    with pytest.raises(ConfigError, match="PostgreSQL"):
        cfg.validate()
    cfg.storage = StorageSettings(database_url="postgresql+psycopg://u@h/db")
    with pytest.raises(ConfigError, match="central broker"):
        cfg.validate()
    cfg.broker.managed = False
    cfg.validate()
