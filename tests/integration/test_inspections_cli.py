"""`campusmon inspections …` and `campusmon report monthly` as a person runs them, with --config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import school_month as sm


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPUSMON_")}
    env["COLUMNS"] = "220"
    return subprocess.run(
        [sys.executable, "-m", "campusmon", *args], env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cli")
    sm.build(base / "data").close()
    site = base / "plans.toml"
    site.write_text("[plans.network_cabinet]\ninterval_days = 14\n", encoding="utf-8")
    cfg = base / "server.toml"
    cfg.write_text(
        f'[storage]\ndata_dir = "{base / "data"}"\n'
        '[schedule]\ntimezone = "Asia/Shanghai"\n'
        f'[inspections]\nplans_file = "{site}"\ndue_within_days = 3\n',
        encoding="utf-8",
    )
    return cfg


def test_due_overdue_start_record_finish_show(config: Path) -> None:
    overdue = cli("inspections", "overdue", "--json", "--config", str(config))
    assert overdue.returncode == 0, overdue.stderr
    rows = {r["place"]: r for r in json.loads(overdue.stdout)}
    # B楼/101 was never inspected (its assets were registered on 2026-10-01)
    assert rows["主校区/B楼/101"]["last_done"] is None and rows["主校区/B楼/101"]["status"] == "overdue"
    due = json.loads(cli("inspections", "due", "--within", "365", "--json", "--config", str(config)).stdout)
    by_place = {r["place"]: r for r in due}
    assert set(by_place) >= set(rows)
    # the site file makes the cabinet plan fortnightly: due 14 days after its round on Nov 9
    switch = by_place["主校区/A楼/机房 SW-A"]
    assert (switch["last_done"], switch["next_due"], switch["kind"]) == ("2026-11-09", "2026-11-23", "asset")

    started = cli(
        "inspections", "start", "--room", "B楼/101", "--by", "tech:li", "--json", "--config", str(config)
    )
    assert started.returncode == 0, started.stderr
    insp = json.loads(started.stdout)
    assert {i["key"] for i in insp["items"]} == {"boots", "keyboard_mouse", "monitor", "disk"}
    boots = next(i for i in insp["items"] if i["key"] == "boots")
    assert boots["prefill"] == "pass" and "online now" in boots["evidence"]

    rec = cli(
        "inspections",
        "record",
        str(insp["id"]),
        "keyboard_mouse",
        "fail",
        "--note",
        "F键缺失",
        "--by",
        "tech:li",
        "--config",
        str(config),
    )
    assert rec.returncode == 0, rec.stderr
    unfinished = cli("inspections", "finish", str(insp["id"]), "--config", str(config))
    assert unfinished.returncode == 1 and "not checked yet" in unfinished.stderr
    done = cli(
        "inspections",
        "finish",
        str(insp["id"]),
        "--skip-rest",
        "--by",
        "tech:li",
        "--json",
        "--config",
        str(config),
    )
    assert done.returncode == 0, done.stderr
    (ticket,) = json.loads(done.stdout)["tickets"]
    assert ticket["opened"] is True
    shown = cli("inspections", "show", str(insp["id"]), "--lang", "zh", "--config", str(config))
    assert shown.returncode == 0 and "键盘鼠标可用" in shown.stdout and f"#{ticket['id']}" in shown.stdout
    listed = json.loads(cli("tickets", "show", str(ticket["id"]), "--json", "--config", str(config)).stdout)
    assert listed["problem"] == "inspection_failed" and listed["device"] == "b101-pc"
    bad = cli("inspections", "start", "--room", "B楼/999", "--config", str(config))
    assert bad.returncode == 1 and "unknown room" in bad.stderr


def test_report_monthly_files(config: Path, tmp_path: Path) -> None:
    for fmt in ("xlsx", "pdf"):
        out = tmp_path / f"nov.{fmt}"
        run = cli(
            "report",
            "monthly",
            "--month",
            "2026-11",
            "--format",
            fmt,
            "--lang",
            "en",
            "--out",
            str(out),
            "--config",
            str(config),
        )
        assert run.returncode == 0, run.stderr
        assert out.stat().st_size > 4000
        assert "9 tickets opened" in run.stdout
    bad = cli("report", "monthly", "--month", "2026-13", "--config", str(config))
    assert bad.returncode == 2 and "not a month" in bad.stderr
