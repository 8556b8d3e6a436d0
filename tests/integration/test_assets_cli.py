"""`campusmon assets …` end to end on a SQLite register in a temp data dir."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from campusmon.cli import app
from campusmon.contract import Inventory
from campusmon.server.db import Database
from campusmon.server.register.service import RegisterService

FIXTURES = Path(__file__).parent.parent / "fixtures" / "assets"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CAMPUSMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CAMPUSMON_SERVER_CONFIG", raising=False)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["assets", *args])
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    run("import", str(FIXTURES / "school_utf8.csv"), code=1)  # 7 bad rows → exit 1, good rows kept
    return run


def agent_inventory(tmp_path: Path, device: str, serial: str, mac: str, os_name: str = "Windows") -> None:
    db = Database(f"sqlite:///{tmp_path / 'data' / 'campusmon.db'}")
    try:
        RegisterService(db).record_inventory(
            Inventory(
                campus="main",
                device=device,
                ts=1763884800.0,
                hash=device,
                identity={},
                inventory={
                    "hostname": device.upper(),
                    "os": {"name": os_name, "version": "11"},
                    "smbios": {"serial": serial},
                    "nics": [{"name": "eth0", "mac": mac, "ips": ["10.1.3.9"]}],
                },
            )
        )
    finally:
        db.dispose()


def test_list_filters_and_formats(cli) -> None:
    rows = json.loads(cli("list", "--json"))
    assert len(rows) == 7
    assert [
        r["asset_tag"] for r in json.loads(cli("list", "--json", "--room", "301", "--search", "学生机"))
    ] == [
        "ZX-2021-0002",
        "ZX-2021-0003",
    ]
    got = list(csv.reader(cli("list", "--csv", "--type", "投影仪").splitlines()))
    assert got[0][:3] == ["id", "tag", "name"] and [r[1] for r in got[1:]] == ["ZX-2022-0102"]
    assert len(json.loads(cli("list", "--json", "--warranty-before", "2025-01-01"))) == 3
    assert (
        json.loads(cli("list", "--json", "--campus", "主校区", "--building", "教学楼A", "--status", "spare"))[
            0
        ]["asset_tag"]
        == "ZX-2022-0108"
    )
    assert "7 assets" in cli("list")
    assert "unknown status 'brokn'" in cli("list", "--status", "brokn", code=2)
    assert "did you mean 'printer'" in cli("list", "--type", "printr", code=2)


def test_set_show_and_history(cli) -> None:
    out = cli(
        "set",
        "ZX-2021-0003",
        "--room",
        "教学楼A/203",
        "--status",
        "维修中",
        "--field",
        "资产来源=捐赠",
        "--field",
        "price=3888",
    )
    assert "4 field(s) changed" in out
    shown = json.loads(cli("show", "ZX-2021-0003", "--json"))
    assert (shown["room"], shown["status"], shown["price"], shown["custom"]) == (
        "203",
        "in_repair",
        "3888.00",
        {"资产来源": "捐赠"},
    )
    assert shown["live"] is None and shown["open_tickets"] == []
    assert [h["field"] for h in shown["history"]] == ["created", "price", "status", "room", "custom.资产来源"]
    hist = json.loads(cli("history", "ZX-2021-0003", "--json"))
    assert hist[-1]["actor"].startswith("user:") and hist[-1]["new"] == "捐赠"
    assert "ZX-2021-0003" in cli("show", "ZX-2021-0003")
    err = cli("set", "ZX-2021-0003", "--room", "999", code=1)
    assert "unknown room '999'" in err and "assets rooms add" in err
    assert "did you mean 'status'" in cli("set", "1", "--field", "statuss=x", code=2)
    assert "already belongs" in cli("set", "ZX-2021-0003", "--tag", "ZX-2021-0001", code=1)
    assert "no asset with id or tag" in cli("show", "NOPE", code=1)
    assert "--field wants KEY=VALUE" in cli("set", "1", "--field", "novalue", code=2)
    cli("rooms", "add", "东校区/综合楼/101")
    assert "东校区/综合楼/101" in cli("rooms").splitlines()
    assert "campus 东校区 is east in topics" in cli("rooms", "code", "东校区", "east")
    assert {"name": "东校区", "code": "east"} in json.loads(cli("rooms", "campuses", "--json"))
    assert "unknown campus 'west'" in cli("rooms", "code", "west", "w", code=1)


def test_import_dry_run_and_report(cli, tmp_path: Path) -> None:
    out = cli("import", str(FIXTURES / "school_gb18030.csv"), "--dry-run", "--json", code=1)
    report = json.loads(out)
    assert report["encoding"] == "gb18030" and report["unchanged"] == 7 and report["dry_run"]
    assert [e["line"] for e in report["errors"]] == [7, 8, 9, 10, 11, 12, 13]
    text = cli("import", str(FIXTURES / "school_gb18030.csv"), code=1)
    assert "school_gb18030.csv:8: purchase_date: not a date" in text


def test_export_files(cli, tmp_path: Path) -> None:
    cli("export", "--out", str(tmp_path / "a.xlsx"), "--lang", "zh", "--building", "实验楼")
    cli("export", "--format", "csv", "--out", str(tmp_path / "a.txt"))
    assert (tmp_path / "a.xlsx").stat().st_size > 1000
    assert (tmp_path / "a.txt").read_text(encoding="utf-8-sig").startswith("asset_tag,name,type")
    assert "--format must be csv or xlsx" in cli("export", "--out", str(tmp_path / "a.ods"), code=2)
    report = json.loads(cli("import", str(tmp_path / "a.xlsx"), "--json"))
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 4)


def test_ansible_inventory(cli, tmp_path: Path) -> None:
    agent_inventory(tmp_path, "lab301-pc01", "PF2ABCD2", "aa:bb:cc:00:00:02")
    inv = json.loads(cli("ansible-inventory", "--list"))
    hv = inv["_meta"]["hostvars"]
    assert hv["lab301-pc01"]["ansible_host"] == "10.1.3.9"
    assert hv["lab301-pc01"]["campusmon_os_family"] == "windows"
    assert hv["lab301-pc01"]["campusmon_asset_tag"] == "ZX-2021-0002"
    rooms = [g for g, v in inv.items() if g.startswith("room_") and "lab301-pc01" in v.get("hosts", [])]
    assert len(rooms) == 1 and inv[rooms[0]]["vars"]["campusmon_name"] == "主校区/实验楼/301"
    campus = next(g for g in inv["all"]["children"] if g.startswith("campus_"))
    building = next(b for b in inv[campus]["children"] if rooms[0] in inv[b]["children"])
    assert inv[building]["vars"]["campusmon_name"] == "主校区/实验楼"
    assert "lab301-pc01" in inv["type_pc"]["hosts"] and "ZX-2022-0109" in inv["type_switch"]["hosts"]
    assert json.loads(cli("ansible-inventory", "--host", "lab301-pc01"))["ansible_host"] == "10.1.3.9"
    ini = cli("ansible-inventory", "--ini")
    assert f"[{rooms[0]}]" in ini and f"[{campus}:children]" in ini
    assert "lab301-pc01 campusmon_asset_id=" in ini and "ansible_host=10.1.3.9" in ini
    assert json.loads(cli("ansible-inventory", "--campus", "nowhere")) == {
        "all": {},
        "_meta": {"hostvars": {}},
    }


def test_review_merge_split_from_the_cli(cli, tmp_path: Path) -> None:
    agent_inventory(tmp_path, "pc-a", "SN-A", "aa:bb:cc:00:00:0a")
    # the same MAC on a machine with another serial: a USB NIC moved, or the same PC — ask
    agent_inventory(tmp_path, "pc-b", "SN-B", "aa:bb:cc:00:00:0a")
    reviews = json.loads(cli("review", "--json"))
    assert len(reviews) == 1
    r = reviews[0]
    assert f"assets merge {r['candidate_id']} {r['asset_id']}" in cli("review")
    cli("merge", str(r["candidate_id"]), str(r["asset_id"]))
    assert cli("review") == "nothing to review\n"
    assert "merged" in [h["field"] for h in json.loads(cli("history", str(r["candidate_id"]), "--json"))]
    out = cli("split", str(r["candidate_id"]))
    new_id = out.strip().rsplit("#", 1)[1]
    assert json.loads(cli("show", new_id, "--json"))["device"] == "main/pc-b"
    assert "no reporting device" in cli("split", str(r["candidate_id"]), code=1)
    assert "no review #99" in cli("review", "--dismiss", "99", code=1)


def test_labels_png_and_pdf(cli, tmp_path: Path) -> None:
    out = cli("labels", "--out", str(tmp_path / "l.png"), "--building", "实验楼")
    assert "4 labels on 1 page(s)" in out
    img = Image.open(tmp_path / "l.png")
    assert img.size == (2480, 3508)
    dark = sum(img.convert("L").histogram()[:128])
    assert dark > 200_000  # QR codes and text are really drawn
    cli("labels", "--out", str(tmp_path / "l.pdf"))
    assert (tmp_path / "l.pdf").read_bytes().startswith(b"%PDF")
    assert "no asset matches" in cli("labels", "--out", str(tmp_path / "x.png"), "--room", "nowhere", code=1)
    assert "must end in .pdf or .png" in cli("labels", "--out", str(tmp_path / "x.jpg"), code=2)


def test_show_has_live_status_and_open_tickets(cli, tmp_path: Path) -> None:
    from campusmon.server.db import utcnow
    from campusmon.server.models import Device
    from campusmon.server.tickets import TicketService

    agent_inventory(tmp_path, "lab301-pc01", "PF2ABCD2", "aa:bb:cc:00:00:02")
    db = Database(f"sqlite:///{tmp_path / 'data' / 'campusmon.db'}")
    try:
        with db.session() as s:
            s.add(
                Device(
                    campus="main",
                    device="lab301-pc01",
                    state="lost",
                    state_since=utcnow(),
                    first_seen=utcnow(),
                    last_seen=utcnow(),
                )
            )
        TicketService(db).open(campus="main", device="lab301-pc01", problem="device_down", summary="down")
    finally:
        db.dispose()
    shown = json.loads(cli("show", "ZX-2021-0002", "--json"))
    assert shown["live"]["state"] == "lost"
    assert [t["problem"] for t in shown["open_tickets"]] == ["device_down"]
    assert shown["inventory"]["hostname"] == "LAB301-PC01"
    text = cli("show", "ZX-2021-0002")
    assert "ticket #" in text and "lost since" in text
