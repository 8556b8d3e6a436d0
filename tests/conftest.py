"""Shared fixtures: a real Mosquitto per test, and a campusmon server wired to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import MosquittoProcess


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    broker = MosquittoProcess(tmp_path / "broker").start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def server_factory(tmp_path: Path, mosquitto: MosquittoProcess):
    """Build (and always stop) campusmon servers against the test broker; data in tmp_path."""
    from campusmon.server.config import BrokerSettings, ScheduleSettings, ServerConfig, StorageSettings
    from campusmon.server.service import Server

    started: list[Server] = []

    def make(start: bool = True, client_id: str = "campusmon-server-test", **overrides: object) -> Server:
        cfg = ServerConfig(
            broker=BrokerSettings(
                managed=False, host=mosquitto.host, port=mosquitto.port, client_id=client_id
            ),
            storage=StorageSettings(data_dir=tmp_path / "server"),
            # tests that do not test school hours run at any wall-clock time: always expected on
            schedule=ScheduleSettings(default="always"),
        )
        for key, value in overrides.items():
            section, _, name = key.partition("__")
            setattr(getattr(cfg, section), name, value)
        srv = Server(cfg)
        started.append(srv)
        if start:
            srv.start()
            assert srv.connected, "server did not connect to the test broker"
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """SQLAlchemy URL of a private PostgreSQL server (one per test session; tests use own schemas/data)."""
    from tests.support.postgres import PostgresProcess

    pg = PostgresProcess().start()
    try:
        yield pg.url
    finally:
        pg.stop()
