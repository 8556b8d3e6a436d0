"""A site's `[rules.thresholds.X]` tables override or extend the shipped rules key by key, the server
runs what `campusmon server check-config` prints, and the effective rules raise tickets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from campusmon.contract import Metrics, encode
from campusmon.server.config import load_server_config
from campusmon.server.db import Database
from campusmon.server.ingest import Ingestor
from campusmon.server.metrics import SqliteMetricStore
from campusmon.server.tickets import TicketService

SITE = """
[schedule]
default = "always"

[rules.thresholds.disk_full]
for_seconds = 0

[rules.thresholds.memory_saturated]
above = 90

[rules.thresholds.cpu_saturated]
enabled = false

[rules.thresholds.lab_temperature]
metric = "sensor_temperature_celsius"
above = 80
recover_below = 70
subject_label = "sensor"
severity = "critical"
[rules.thresholds.lab_temperature.scope]
rooms = ["lab301"]
"""


def check_config(cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campusmon", "server", "check-config", "--config", str(cfg)],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env=dict(os.environ, COLUMNS="200"),
    )


def test_check_config_prints_the_effective_rule_set(tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n' + SITE, encoding="utf-8")
    out = check_config(cfg)
    assert out.returncode == 0, out.stderr
    lines = {ln.split()[0]: ln for ln in out.stdout.splitlines() if ln.startswith("  ")}
    # a shipped rule with one key changed keeps every other shipped key
    assert "disk_used_percent > 90 for 0 s (recovers below 85), per mount, warning" in lines["disk_full"]
    assert "[shipped, changed: for_seconds]" in lines["disk_full"]
    # a new threshold without a recovery keeps the shipped hysteresis gap (95 → 85: 10)
    assert "memory_used_percent > 90 for 600 s (recovers below 80)" in lines["memory_saturated"]
    assert "off (cpu_usage_percent)" in lines["cpu_saturated"]
    # the runner's rules the site did not mention are still there
    assert "port_fault > 0.5 for 0 s" in lines["port_down"] and "[shipped]" in lines["port_down"]
    assert "probe_failing > 0.5 for 120 s" in lines["probe_failing"]
    assert (
        "sensor_temperature_celsius > 80 for 300 s (recovers below 70), per sensor, critical"
        in lines["lab_temperature"]
    )
    assert "only rooms lab301" in lines["lab_temperature"] and "[site]" in lines["lab_temperature"]
    assert "effective threshold rules (6):" in out.stdout


def test_a_site_rule_without_a_metric_and_a_bad_override_are_clear_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text("[rules.thresholds.lab_temperature]\nabove = 80\n", encoding="utf-8")
    out = check_config(cfg)
    assert out.returncode == 2 and "missing key 'rules.thresholds.lab_temperature.metric'" in out.stderr
    cfg.write_text("[rules.thresholds.disk_full]\nrecover_below = 95\n", encoding="utf-8")
    out = check_config(cfg)
    assert out.returncode == 2 and "recover_below must not be above `above`" in out.stderr
    cfg.write_text("[rules.thresholds.disk_full]\nfor_second = 60\n", encoding="utf-8")
    out = check_config(cfg)
    assert out.returncode == 2 and "did you mean 'for_seconds'" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_server_runs_the_merged_rules(tmp_path: Path) -> None:
    cfg_file = tmp_path / "site.toml"
    cfg_file.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n' + SITE, encoding="utf-8")
    cfg = load_server_config(cfg_file)
    db = Database(cfg.storage.db_url)
    store = SqliteMetricStore(cfg.storage.metrics_path)
    try:
        ing = Ingestor(cfg, db, store, clock=lambda: 1_800_000_000.0)
        groups: dict[str, Any] = {
            "disk": [{"mount": "C:", "disk_used_percent": 97.0}],
            "memory": {"memory_used_percent": 50.0},
            "cpu": {"cpu_usage_percent": 99.0},
        }
        for seq in (1, 2):
            m = Metrics(
                campus="main", device="pc-1", ts=1_800_000_000.0, seq=seq, interval=30, metrics=groups
            )
            ing.handle("campusmon/main/pc-1/metrics", encode(m), received=1_800_000_000.0)
        got = [(t.problem, t.subject) for t in TicketService(db).list()]
        # disk_full at once (for_seconds = 0, the rest shipped), no CPU ticket (turned off)
        assert got == [("disk_full", "C:")]
    finally:
        store.close()
        db.dispose()
