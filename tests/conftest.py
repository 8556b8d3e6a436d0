"""Shared fixtures: a real Mosquitto per test, and a campusmon server wired to it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.mosquitto import MosquittoProcess

if TYPE_CHECKING:
    from tests.support.postgres import PostgresProcess

# every `campusmon server run` a test starts serves its console on a free port: the default 8080 may
# be taken on a test machine, and two servers of one test would collide on it (a test that needs the
# address sets it in code)
os.environ.setdefault("CAMPUSMON_HTTP__PORT", "0")


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
def postgres_server() -> Iterator[PostgresProcess]:
    """One private PostgreSQL server for the test session (initdb + pg_ctl on a free port)."""
    from tests.support.postgres import PostgresProcess

    pg = PostgresProcess().start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture
def postgres(postgres_server: PostgresProcess) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database on the private server; dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)
