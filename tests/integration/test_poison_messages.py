"""Every message kind that once stopped the server or stored nonsense, by name, through the real ingest
pipeline on SQLite and on PostgreSQL: refused at the edge with its reason and nothing stored, or (the
valid extremes) stored; and what the database still refuses is parked as a dead letter, never a crash.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from campusmon.contract import MAX_DEPTH, MAX_NUMBER, MAX_SEQ
from campusmon.server.config import ScheduleSettings, ServerConfig, StorageSettings
from campusmon.server.db import Database
from campusmon.server.ingest import DEAD_LETTER_PAYLOAD_BYTES, Ingestor
from campusmon.server.metrics import SqliteMetricStore
from campusmon.server.models import DeadLetter, Device, DeviceHistory, Ticket
from campusmon.server.register.models import Asset
from tests.support import hostile as h

NOW = 1_800_000_000.0
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="module", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One migrated database per backend for the module (the hostile cases store nothing)."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path_factory.mktemp('poison') / 'campusmon.db'}")
        yield db
        db.dispose()
        return
    server = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    db = Database(server.create_database(name))
    yield db
    db.dispose()
    server.drop_database(name)


@pytest.fixture
def ingestor(database: Database, tmp_path: Path) -> Iterator[Ingestor]:
    cfg = ServerConfig(
        storage=StorageSettings(data_dir=tmp_path), schedule=ScheduleSettings(default="always")
    )
    store = SqliteMetricStore(tmp_path / "metrics.db")
    yield Ingestor(cfg, database, store, clock=lambda: NOW)
    store.close()


def stored_for(ing: Ingestor, device: str) -> dict[str, int]:
    """Everything a message about `device` could have left behind."""
    with ing.db.session() as s:
        dev_ids = list(s.scalars(select(Device.id).where(Device.device == device)))
        return {
            "devices": len(dev_ids),
            "history": s.scalar(
                select(func.count()).select_from(DeviceHistory).where(DeviceHistory.device_id.in_(dev_ids))
            )
            or 0,
            "tickets": s.scalar(select(func.count()).select_from(Ticket).where(Ticket.device == device)) or 0,
            "assets": s.scalar(select(func.count()).select_from(Asset).where(Asset.link_device == device))
            or 0,
            "reports": ing.metrics.report_count("main", device),
        }


NOTHING = {"devices": 0, "history": 0, "tickets": 0, "assets": 0, "reports": 0}


@pytest.mark.parametrize("name", sorted(h.BUILDERS))
def test_hostile_kind_is_refused_with_its_reason_and_leaves_nothing(ingestor: Ingestor, name: str) -> None:
    device = f"{h.HOSTILE_PREFIX}{name.replace('_', '-')[:40]}"
    expected: Counter[str] = Counter()
    for seed in range(3):  # the kind, with three draws of its random parts
        bad = h.named(name, NOW, seed, device=device)
        assert ingestor.handle(bad.topic, bad.payload, received=NOW) == f"rejected_{bad.reason}"
        expected[f"rejected_{bad.reason}"] += 1
    assert {k: ingestor.snapshot()[k] for k in expected} == expected
    assert stored_for(ingestor, device) == NOTHING
    assert stored_for(ingestor, device + "x") == NOTHING  # the device_mismatch kind names this one
    # and the pipeline goes on: a good report right after is stored
    good = f"good-after-{name.replace('_', '-')[:40]}"
    assert ingestor.handle(h.topic_of(good, "metrics"), h.good_metrics(good, 1, NOW), received=NOW) == (
        "accepted_metrics"
    )
    assert ingestor.metrics.report_count("main", good) == 1


def _valid_extremes() -> list[tuple[str, str, dict[str, Any]]]:
    deep: Any = 1
    for _ in range(MAX_DEPTH - 2):  # the payload (1) and `inventory` (2) count: exactly MAX_DEPTH
        deep = [deep]
    return [
        ("seq_2_31_bigint", "metrics", h.metrics_doc("", NOW, seq=2**31)),
        ("seq_2_53", "metrics", h.metrics_doc("", NOW, seq=MAX_SEQ)),
        ("value_2_53", "metrics", h.metrics_doc("", NOW, metrics={"m": {"x_bytes": MAX_NUMBER, "y": -1e15}})),
        ("replay_29_days_old", "metrics", h.metrics_doc("", NOW - 29 * 86400)),
        ("clock_299_s_ahead", "metrics", h.metrics_doc("", NOW + 299)),
        ("label_200", "metrics", h.metrics_doc("", NOW, metrics={"d": [{"mount": "m" * 200, "x": 1}]})),
        ("reason_200", "status", h.status_doc("", NOW, state="shutdown", reason="r" * 200)),
        ("agent_100", "status", h.status_doc("", NOW, agent="a" * 100)),
        ("old_retained_status", "status", h.status_doc("", NOW - 300 * 86400)),
        ("event_message_2000", "events", h.event_doc("", NOW, message="m" * 2000)),
        (
            "inventory_depth_max",
            "inventory",
            h.inventory_doc("", NOW, inventory={"hostname": "X", "d": deep}),
        ),
        ("inventory_identity_only", "inventory", h.inventory_doc("", NOW, inventory={"os": "Linux"})),
    ]


@pytest.mark.parametrize(("name", "kind", "doc"), _valid_extremes(), ids=[c[0] for c in _valid_extremes()])
def test_valid_extremes_are_stored(ingestor: Ingestor, name: str, kind: str, doc: dict[str, Any]) -> None:
    """The bounds are inclusive, and the database takes every value they let through."""
    device = f"edge-{name.replace('_', '-')}"
    doc["device"] = device
    outcome = ingestor.handle(h.topic_of(device, kind), h._js(doc), received=NOW)
    assert outcome.startswith("accepted_"), outcome
    ingestor.flush_liveness()
    got = stored_for(ingestor, device)
    assert got["devices"] == 1
    if kind == "metrics":
        assert got["reports"] == 1
        with ingestor.db.session() as s:
            dev = s.scalars(select(Device).where(Device.device == device)).one()
            assert dev.last_seq == doc["seq"]
    if kind == "inventory":
        assert got["assets"] == 1


# -- what the database still refuses: a dead letter, acknowledged, counted ----------------------------
def add_poison_trigger(db: Database) -> None:
    h.add_poison_trigger(db.engine)


def poison_status(device: str, reason: str = "x") -> bytes:
    return h.poison_status(device, NOW, reason)


def dead_letters(db: Database) -> list[DeadLetter]:
    with db.session() as s:
        return list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))


@pytest.fixture
def fresh(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Ingestor]:
    """An ingestor on its own new database (these tests store and change things)."""
    from tests.support.databases import fresh_database

    kind = request.param
    url = request.getfixturevalue("postgres") if kind == "postgresql" else None
    with fresh_database(kind, tmp_path, url) as db:
        cfg = ServerConfig(
            storage=StorageSettings(data_dir=tmp_path), schedule=ScheduleSettings(default="always")
        )
        store = SqliteMetricStore(tmp_path / "metrics.db")
        yield Ingestor(cfg, db, store, clock=lambda: NOW)
        store.close()


@pytest.mark.parametrize("fresh", BACKENDS, indirect=True)
def test_a_message_the_database_refuses_is_parked_and_ingest_goes_on(fresh: Ingestor) -> None:
    ing = fresh
    add_poison_trigger(ing.db)
    topic = h.topic_of("pc-poison", "status")
    assert ing.handle(topic, poison_status("pc-poison"), received=NOW) == "dead_lettered"
    assert ing.handle(topic, poison_status("pc-poison"), received=NOW + 5) == "dead_lettered"  # redelivery
    assert ing.handle(topic, poison_status("pc-poison", "other"), received=NOW + 6) == "dead_lettered"
    rows = dead_letters(ing.db)
    assert [r.count for r in rows] == [2, 1]
    first = rows[0]
    assert first.topic == topic and first.payload == poison_status("pc-poison")
    assert first.payload_bytes == len(first.payload) and "refused by trigger" in first.error
    assert first.last_at > first.first_at
    assert ing.snapshot()["dead_lettered"] == 3
    assert stored_for(ing, "pc-poison")["devices"] == 0  # its transaction was rolled back whole
    # every other message still goes through
    assert ing.handle(h.topic_of("pc-ok", "status"), h.good_status("pc-ok", NOW), received=NOW) == (
        "accepted_status"
    )
    assert ing.handle(h.topic_of("pc-ok", "metrics"), h.good_metrics("pc-ok", 1, NOW), received=NOW) == (
        "accepted_metrics"
    )


@pytest.mark.parametrize("fresh", BACKENDS, indirect=True)
def test_a_bug_met_by_one_message_parks_it_and_a_database_outage_does_not(
    fresh: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    ing = fresh

    def broken(*_: object) -> str:
        raise KeyError("a bug this payload walks into")

    monkeypatch.setattr(ing, "_event", broken)
    big = h._js(h.event_doc("pc-1", NOW, message="m" * 2000, data={f"k{i}": "v" * 4000 for i in range(40)}))
    assert len(big) > DEAD_LETTER_PAYLOAD_BYTES
    assert ing.handle(h.topic_of("pc-1", "events"), big, received=NOW) == "dead_lettered"
    (row,) = dead_letters(ing.db)
    assert row.payload == big[:DEAD_LETTER_PAYLOAD_BYTES] and row.payload_bytes == len(big)
    assert row.error.startswith("KeyError")

    def unavailable(*_: object) -> str:
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    monkeypatch.setattr(ing, "_event", unavailable)
    with pytest.raises(OperationalError):  # the caller keeps the message and retries it
        ing.handle(h.topic_of("pc-1", "events"), h.good_event("pc-1", NOW), received=NOW)
    assert len(dead_letters(ing.db)) == 1


@pytest.mark.parametrize("fresh", BACKENDS, indirect=True)
def test_one_refused_liveness_row_does_not_hold_back_the_others(fresh: Ingestor) -> None:
    ing = fresh
    for i in range(3):
        d = f"pc-{i}"
        assert ing.handle(h.topic_of(d, "metrics"), h.good_metrics(d, 1, NOW), received=NOW) == (
            "accepted_metrics"
        )
    with ing.db.engine.begin() as conn:
        conn.execute(text("UPDATE devices SET agent = 'poison/1' WHERE device = 'pc-1'"))
    add_poison_trigger(ing.db)  # from now on the database refuses every update of pc-1's row
    for i in range(3):
        d = f"pc-{i}"
        ing.handle(h.topic_of(d, "metrics"), h.good_metrics(d, 2, NOW + 30), received=NOW + 30)
    ing.flush_liveness()  # one statement for all three fails; then row by row
    with ing.db.session() as s:
        seqs = {d: seq for d, seq in s.execute(select(Device.device, Device.last_seq))}
    assert seqs == {"pc-0": 2, "pc-1": 1, "pc-2": 2}
    assert ing.snapshot()["liveness_dropped"] == 1
    ing.flush_liveness()  # nothing held any more: the refused row is not retried forever
    assert ing.snapshot()["liveness_dropped"] == 1


def test_dead_letter_count_reaches_the_cli(tmp_path: Path) -> None:
    """`campusmon server dead-letters --json --config` lists what was parked."""
    import json

    from typer.testing import CliRunner

    from campusmon.cli import app

    data = tmp_path / "data"
    cfg = tmp_path / "server.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{data}"\n', encoding="utf-8")
    db = Database(f"sqlite:///{data / 'campusmon.db'}")
    add_poison_trigger(db)
    store = SqliteMetricStore(data / "metrics.db")
    ing = Ingestor(ServerConfig(storage=StorageSettings(data_dir=data)), db, store, clock=lambda: NOW)
    ing.handle(h.topic_of("pc-poison", "status"), poison_status("pc-poison"), received=NOW)
    store.close()
    db.dispose()
    out = CliRunner().invoke(app, ["server", "dead-letters", "--json", "--config", str(cfg)])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.output)
    assert row["topic"] == "campusmon/main/pc-poison/status" and row["count"] == 1
    assert "refused by trigger" in row["error"] and row["payload_bytes"] > 0
    table = CliRunner().invoke(app, ["server", "dead-letters", "--config", str(cfg)])
    assert table.exit_code == 0 and "1 dead letters" in table.output


def test_devices_shows_a_year_9999_time_in_a_zone_east_of_utc(tmp_path: Path, monkeypatch) -> None:
    """The stored time 9999-12-31 23:59:59 UTC is past the end of time in Asia/Shanghai: the list shows
    it in UTC instead of crashing (such a time can no longer be stored, older databases may hold one)."""
    from datetime import UTC, datetime

    from typer.testing import CliRunner

    from campusmon.cli import app

    data = tmp_path / "data"
    cfg = tmp_path / "server.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{data}"\n', encoding="utf-8")
    db = Database(f"sqlite:///{data / 'campusmon.db'}")
    end = datetime.fromtimestamp(h.YEAR_9999, UTC)
    with db.session() as s:
        s.add(
            Device(campus="main", device="pc-9999", state="online", state_since=end, first_seen=end,
                   last_report_ts=end, last_seq=2**53)
        )  # fmt: skip
    db.dispose()
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    monkeypatch.setenv("COLUMNS", "200")
    time.tzset()
    try:
        out = CliRunner().invoke(app, ["devices", "--config", str(cfg)])
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert out.exit_code == 0, out.output
    assert "9999-12-31 23:59:59 UTC" in out.output


@pytest.mark.parametrize("fresh", BACKENDS, indirect=True)
def test_dead_letters_are_bounded_and_their_own_failure_stops_nothing(
    fresh: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campusmon.server import ingest

    ing = fresh
    add_poison_trigger(ing.db)
    monkeypatch.setattr(ingest, "DEAD_LETTER_MAX_ROWS", 2)
    for i in range(4):
        d = f"pc-{i}"
        ing.handle(h.topic_of(d, "status"), poison_status(d), received=NOW)
    assert len(dead_letters(ing.db)) == 2
    assert ing.snapshot()["dead_lettered"] == 2 and ing.snapshot()["dead_letter_dropped"] == 2
    # a redelivery of a parked message still counts up its row
    assert ing.handle(h.topic_of("pc-0", "status"), poison_status("pc-0"), received=NOW) == "dead_lettered"

    def refused(*_: object) -> str:
        raise ValueError("the dead-letter row is refused too")

    monkeypatch.setattr(ing, "_park", refused)
    assert (
        ing.handle(h.topic_of("pc-9", "status"), poison_status("pc-9"), received=NOW) == "dead_letter_failed"
    )
    assert ing.handle(h.topic_of("pc-ok", "status"), h.good_status("pc-ok", NOW), received=NOW) == (
        "accepted_status"
    )
