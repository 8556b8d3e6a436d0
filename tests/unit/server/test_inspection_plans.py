"""Inspection plans as data: the shipped file, a site overlay, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from campusmon.config import ConfigError
from campusmon.server.inspections.plans import load_plans


def test_shipped_plans_cover_the_school_equipment() -> None:
    plans = load_plans()
    assert plans.get("classroom_multimedia").interval_days == 30
    assert plans.get("network_cabinet").interval_days == 7
    panel = {i.key: i for i in plans.checklist("panel")}
    assert {"picture", "touch", "sound", "document_camera", "ops_boots", "cables"} <= set(panel)
    assert panel["document_camera"].problem == "peripheral_missing"
    assert panel["document_camera"].subject == "usb_camera"
    assert panel["document_camera"].label("zh").startswith("展台")
    assert {"temperature", "ups", "link_lights", "tidy_locked"} <= {i.key for i in plans.checklist("switch")}


def test_a_site_file_changes_adds_and_turns_off(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        """
[plans.network_cabinet]
interval_days = 14
[plans.wireless]
enabled = false
[plans.printers]
zh = "打印机巡检"
en = "Printers"
interval_days = 60
per = "asset"
device_types = ["printer"]
buildings = ["A楼"]
[checklists.printer]
items = [{ key = "prints", zh = "能打印", en = "Prints" }]
""",
        encoding="utf-8",
    )
    plans = load_plans(site)
    assert plans.get("network_cabinet").interval_days == 14
    assert plans.get("network_cabinet").device_types == ["switch"]  # the rest stays as shipped
    assert "wireless" not in plans.plans
    assert plans.get("printers").covers("主校区", "A楼", "101")
    assert not plans.get("printers").covers("主校区", "B楼", "101")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[plans.network_cabinet]\ninterval_dayz = 3\n", "interval_dayz' (did you mean 'interval_days'?)"),
        (
            "[plans.network_cabinet]\ninterval_days = 0\n",
            "plans.network_cabinet: interval_days: 0 is not within 1..366",
        ),
        (
            "[plans.x]\nzh = 'x'\nen = 'x'\ninterval_days = 5\ndevice_types = ['printr']\n",
            "did you mean 'printer'",
        ),
        (
            "[plans.x]\nzh = 'x'\nen = 'x'\ninterval_days = 5\ndevice_types = ['printer']\n",
            "no checklist for 'printer'",
        ),
        (
            "[checklists.pc]\nitems = [{ key = 'a', zh = 'a', en = 'a', auto = 'onlin' }]\n",
            "did you mean 'online'",
        ),
        ("[checklists.pc]\nitems = []\n", "at least one item"),
    ],
)
def test_bad_site_files_say_where_and_what(tmp_path: Path, text: str, message: str) -> None:
    site = tmp_path / "site.toml"
    site.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_plans(site)
    assert message in str(err.value) and str(site) in str(err.value)
