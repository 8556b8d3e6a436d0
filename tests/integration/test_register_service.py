"""The register against real databases (SQLite and PostgreSQL): automatic registration, matching,
component changes, review/merge/split, learned upstreams, manual changes, filters, and history."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from campusmon.contract import Inventory
from campusmon.server.db import Database
from campusmon.server.register.fields import RegisterError
from campusmon.server.register.models import Asset, AssetHistory
from campusmon.server.register.service import AssetFilter, InventoryOutcome, RegisterService
from campusmon.server.register.topology import RegisterTopology
from campusmon.server.topology import Topology, Upstream
from tests.support.databases import fresh_database

GIB = 2**30
UUID_A = "4c4c4544-0042-3510-8052-b7c04f4e4432"
UUID_B = "4c4c4544-0042-3510-8052-c8c04f4e9999"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    with fresh_database(request.param, tmp_path, url) as database:
        yield database


@pytest.fixture
def reg(db: Database) -> RegisterService:
    return RegisterService(db)


def pc(
    device: str = "lab301-pc07",
    *,
    uuid: str = UUID_A,
    serial: str = "PF2ABCD1",
    macs: tuple[str, ...] = ("AA:BB:CC:00:00:01",),
    hostname: str = "LAB301-PC07",
    os_version: str = "10.0.19045",
    modules: int = 2,
    disk_serial: str = "WD-WCC1",
    camera: bool = True,
    ip: str = "10.1.3.7",
    campus: str = "main",
) -> Inventory:
    inv: dict[str, Any] = {
        "hostname": hostname,
        "os": {"name": "Windows", "version": os_version},
        "cpu": {"model": "Intel(R) Core(TM) i5-10500", "cores": 6},
        "memory": {
            "total_bytes": modules * 8 * GIB,
            "modules": [
                {"slot": f"DIMM{i + 1}", "size_bytes": 8 * GIB, "serial": f"1A2B3C{i}D"}
                for i in range(modules)
            ],
        },
        "disks": [{"name": "PhysicalDrive0", "model": "WDC WD10EZEX", "serial": disk_serial}],
        "nics": [{"name": f"Ethernet {i}", "mac": m, "ips": [ip]} for i, m in enumerate(macs)],
        "smbios": {"vendor": "LENOVO", "product": "ThinkCentre M720t", "serial": serial, "uuid": uuid},
        "bios": {"vendor": "LENOVO", "version": "M1UKT4BA"},
        "monitors": [{"manufacturer": "LEN", "model": "T24i-10", "serial": "V5A12345"}],
        "usb": [{"id": "0c45:6366", "name": "Document Camera"}] if camera else [],
    }
    digest = hashlib.sha256(json.dumps(inv, sort_keys=True).encode()).hexdigest()
    return Inventory(
        campus=campus,
        device=device,
        ts=1763884800.0,
        hash=f"sha256:{digest}",
        identity={"smbios_uuid": uuid, "source": "smbios_uuid"},
        inventory=inv,
    )


def switch(device: str, fdb: list[dict[str, str]], mac: str = "00:11:22:33:44:01") -> Inventory:
    inv = {
        "type": "switch",
        "hostname": device,
        "smbios": {"vendor": "H3C", "product": "S5130"},
        "nics": [{"name": "vlan1", "mac": mac}],
        "ip": "10.1.0.2",
        "fdb": fdb,
    }
    return Inventory(
        campus="main",
        device=device,
        ts=1763884800.0,
        hash=f"h-{len(fdb)}-{fdb[:1]}",
        identity={"source": "snmp"},
        inventory=inv,
    )


def assets(db: Database) -> list[Asset]:
    with db.session() as s:
        return list(s.scalars(select(Asset).where(Asset.merged_into.is_(None)).order_by(Asset.id)))


def fields_changed(reg: RegisterService, ref: int | str) -> list[tuple[str, str | None, str | None]]:
    return [(h.field, h.old, h.new) for h in reg.history(ref)]


def test_first_inventory_registers_the_device(reg: RegisterService, db: Database) -> None:
    out = reg.record_inventory(pc())
    assert (out.decision, out.created, out.changes) == ("new", True, [])
    (a,) = assets(db)
    assert (a.status, a.room_id, a.type, a.vendor, a.serial) == ("in_use", None, "pc", "LENOVO", "PF2ABCD1")
    assert (a.link_campus, a.link_device, a.ip, a.os_family) == ("main", "lab301-pc07", "10.1.3.7", "windows")
    assert [m.mac for m in reg.get(a.id).macs] == ["aa:bb:cc:00:00:01"]
    hist = reg.history(a.id)
    assert hist[0].field == "created" and hist[0].actor == "agent:main/lab301-pc07"
    again = reg.record_inventory(pc())
    assert (again.decision, again.asset_id, again.changes) == ("match", a.id, [])
    assert len(reg.history(a.id)) == len(hist), "a repeated inventory writes no history"


def test_renamed_and_reimaged_pc_keeps_its_asset_and_history(reg: RegisterService, db: Database) -> None:
    first = reg.record_inventory(pc())
    reg.set(first.asset_id, actor="user:admin", values={"asset_tag": "ZX-0001"})
    renamed = reg.record_inventory(pc("pc-new-name", hostname="JIAOSHI-01"))
    reimaged = reg.record_inventory(pc("pc-new-name", hostname="WIN11-7F3A", os_version="10.0.22631"))
    assert renamed.asset_id == reimaged.asset_id == first.asset_id
    assert len(assets(db)) == 1
    got = fields_changed(reg, "ZX-0001")
    assert ("device", "main/lab301-pc07", "main/pc-new-name") in got
    assert ("inventory.hostname", "LAB301-PC07", "JIAOSHI-01") in got
    assert ("inventory.os", "Windows 10.0.19045", "Windows 10.0.22631") in got
    assert ("asset_tag", None, "ZX-0001") in got


def test_cloned_image_never_merges_two_pcs(reg: RegisterService, db: Database) -> None:
    one = reg.record_inventory(pc("lab-pc"))
    # the image carried the configured device id and hostname to a second PC
    two = reg.record_inventory(
        pc("lab-pc", uuid=UUID_B, serial="PF2ZZZZ9", macs=("AA:BB:CC:00:00:77",), disk_serial="WD-777")
    )
    assert two.created and two.asset_id != one.asset_id
    assert two.decision == "review" and two.review_id is not None
    assert reg.record_inventory(pc("lab-pc")).asset_id == one.asset_id
    assert (
        reg.record_inventory(
            pc("lab-pc", uuid=UUID_B, serial="PF2ZZZZ9", macs=("AA:BB:CC:00:00:77",), disk_serial="WD-777")
        ).asset_id
        == two.asset_id
    )
    assert len(assets(db)) == 2
    (review,) = reg.reviews()
    assert (review.asset_id, review.candidate_id) == (two.asset_id, one.asset_id)
    # a cloned image with a device id from hardware: a plain new asset, nothing to review
    three = reg.record_inventory(
        pc(
            "pc-three",
            uuid="9c4c4544-0042-3510-8052-c8c04f4e0003",
            serial="PF2THREE",
            macs=("AA:BB:CC:00:00:03",),
            disk_serial="WD-3",
        )
    )
    assert three.decision == "new" and len(reg.reviews()) == 1


def test_junk_serials_do_not_join_machines(reg: RegisterService, db: Database) -> None:
    a = reg.record_inventory(
        pc(
            "pc-a",
            uuid="03000200-0400-0500-0006-000700080009",
            serial="To Be Filled By O.E.M.",
            macs=("10:00:00:00:00:0a",),
            disk_serial="D-A",
        )
    )
    b = reg.record_inventory(
        pc(
            "pc-b",
            uuid="03000200-0400-0500-0006-000700080009",
            serial="To Be Filled By O.E.M.",
            macs=("10:00:00:00:00:0b",),
            disk_serial="D-B",
        )
    )
    assert a.asset_id != b.asset_id and b.decision == "new"
    assert all(x.serial is None for x in assets(db))


def test_nic_swapped_keeps_the_asset(reg: RegisterService) -> None:
    first = reg.record_inventory(pc())
    out = reg.record_inventory(pc(macs=("AA:BB:CC:99:00:01",)))
    assert (out.decision, out.asset_id) == ("match", first.asset_id)
    assert ("nic", "removed") in [(c.component, c.action) for c in out.changes]
    assert ("macs", "aa:bb:cc:00:00:01", "aa:bb:cc:99:00:01") in fields_changed(reg, first.asset_id)


def test_component_changes_go_to_history_and_to_listeners(reg: RegisterService) -> None:
    heard: list[InventoryOutcome] = []
    reg.listeners.append(heard.append)
    first = reg.record_inventory(pc())
    out = reg.record_inventory(pc(modules=1, camera=False, disk_serial="S3Z9NB0K"))
    got = sorted((c.component, c.action) for c in out.changes)
    assert got == [("disk", "changed"), ("memory_module", "removed"), ("usb", "removed")]
    assert [o.asset_id for o in heard] == [first.asset_id, first.asset_id]
    assert heard[-1].changes == out.changes
    hist = [h for h in reg.history(first.asset_id) if h.field.startswith("inventory.")]
    assert {h.actor for h in hist} == {"agent:main/lab301-pc07"}
    assert {h.field for h in hist} == {"inventory.disk", "inventory.memory_module", "inventory.usb"}
    camera = next(h for h in hist if h.field == "inventory.usb")
    assert camera.old == "Document Camera [0c45:6366]" and camera.new is None


def test_spreadsheet_asset_is_claimed_by_the_agent(
    reg: RegisterService, db: Database, tmp_path: Path
) -> None:
    from campusmon.server.register.spreadsheet import Importer

    csv_file = tmp_path / "a.csv"
    csv_file.write_text(
        "资产编号,名称,类型,校区,楼栋,房间,序列号\nZX-9,教师机,台式机,main,实验楼,301,pf2abcd1\n",
        encoding="utf-8",
    )
    Importer(reg, "import:a.csv").run(csv_file)
    out = reg.record_inventory(pc())
    assert out.decision == "match" and not out.created
    (a,) = assets(db)
    assert (a.asset_tag, a.link_device, a.room.name if a.room else None) == ("ZX-9", "lab301-pc07", "301")
    assert ("device", None, "main/lab301-pc07") in fields_changed(reg, "ZX-9")
    topo: Topology = RegisterTopology(db, ttl=0)
    assert topo.room_of("main", "lab301-pc07") == "实验楼/301"


def test_review_merge_split_and_dismiss_keep_history(reg: RegisterService, db: Database) -> None:
    old = reg.record_inventory(pc("pc-old"))
    reg.set(old.asset_id, actor="user:admin", values={"asset_tag": "ZX-1", "price": "4599"})
    # the motherboard was replaced: new UUID, serial and onboard MAC; the disk and hostname remain
    new = reg.record_inventory(pc("pc-newboard", uuid=UUID_B, serial="NEWBOARD", macs=("AA:BB:CC:00:00:99",)))
    assert new.decision == "review"
    (review,) = reg.reviews()
    assert (review.asset_id, review.candidate_id) == (new.asset_id, old.asset_id)
    kept = reg.merge("ZX-1", new.asset_id, "user:admin")
    assert kept == old.asset_id and reg.reviews() == []
    assert len(assets(db)) == 1
    merged = reg.get(kept)
    assert merged.link_device == "pc-newboard" and merged.asset_tag == "ZX-1"
    hist = fields_changed(reg, kept)
    assert ("merged", None, f"#{new.asset_id} merged into this asset") in hist
    assert ("created", None, "LAB301-PC07") in hist and ("price", None, "4599.00") in hist
    # B's own history moved to A; B keeps a pointer
    assert fields_changed(reg, new.asset_id) == [("merged_into", None, f"#{kept}")]
    again = reg.record_inventory(
        pc("pc-newboard", uuid=UUID_B, serial="NEWBOARD", macs=("AA:BB:CC:00:00:99",))
    )
    assert (again.decision, again.asset_id) == ("match", kept)
    with pytest.raises(RegisterError, match="already merged"):
        reg.merge(kept, new.asset_id, "user:admin")

    split_id = reg.split("ZX-1", "user:admin")
    assert reg.get(split_id).link_device == "pc-newboard" and reg.get("ZX-1").link_device is None
    assert ("split", None, f"reporting device moved to #{split_id}") in fields_changed(reg, "ZX-1")
    assert ("split_from", None, f"#{kept}") in fields_changed(reg, split_id)
    out = reg.record_inventory(pc("pc-newboard", uuid=UUID_B, serial="NEWBOARD", macs=("AA:BB:CC:00:00:99",)))
    assert out.asset_id == split_id

    other = reg.record_inventory(
        pc("pc-x", uuid="9c4c4544-0042-3510-8052-c8c04f4e0001", serial="X-1", macs=("AA:BB:CC:00:00:55",))
    )
    assert other.decision == "review" and other.review_id is not None
    reg.dismiss(other.review_id, "user:admin")
    assert reg.reviews() == [] and [r.status for r in reg.reviews("dismissed")] == ["dismissed"]
    assert fields_changed(reg, other.asset_id)[-1][0] == "review"
    with pytest.raises(RegisterError):
        reg.dismiss(other.review_id, "user:admin")


def test_switch_forwarding_table_teaches_upstreams(reg: RegisterService, db: Database) -> None:
    a = reg.record_inventory(pc("pc-a", macs=("AA:BB:CC:00:00:0A",)))
    b = reg.record_inventory(
        pc("pc-b", uuid=UUID_B, serial="S-B", macs=("AA:BB:CC:00:00:0B",), disk_serial="D-B")
    )
    reg.record_inventory(switch("sw-core", [], mac="00:11:22:33:44:00"))
    uplink = [{"mac": f"02:00:00:00:{i // 256:02x}:{i % 256:02x}", "port": "Gi1/0/48"} for i in range(40)]
    fdb = [
        {"mac": "aa-bb-cc-00-00-0a", "port": "Gi1/0/3"},
        {"mac": "AA:BB:CC:00:00:0B", "port": "Gi1/0/7"},
        {"mac": "00:11:22:33:44:00", "port": "Gi1/0/49"},  # the core switch: an uplink
        {"mac": "junk", "port": "Gi1/0/9"},
        *uplink,
    ]
    out = reg.record_inventory(switch("sw-a1", fdb))
    assert out.upstreams_learned == 2
    topo = RegisterTopology(db, ttl=0)
    assert topo.upstream_of("main", "pc-a") == Upstream("sw-a1", "Gi1/0/3")
    assert topo.upstream_of("main", "pc-b") == Upstream("sw-a1", "Gi1/0/7")
    assert topo.upstream_of("main", "sw-core") is None
    assert topo.devices_behind("main", "sw-a1") == ["pc-a", "pc-b"]
    assert topo.room_of("main", "pc-a") is None and topo.upstream_of("main", "nobody") is None
    assert ("upstream", None, "sw-a1:Gi1/0/3") in fields_changed(reg, a.asset_id)
    # an admin's upstream is never overwritten by learning; clearing it lets learning back in
    reg.set(b.asset_id, actor="user:admin", upstream="sw-b2:5")
    moved = [{"mac": "AA:BB:CC:00:00:0A", "port": "Gi1/0/4"}, {"mac": "AA:BB:CC:00:00:0B", "port": "Gi1/0/8"}]
    assert reg.record_inventory(switch("sw-a1", moved)).upstreams_learned == 1
    assert topo.upstream_of("main", "pc-a") == Upstream("sw-a1", "Gi1/0/4")
    assert topo.upstream_of("main", "pc-b") == Upstream("sw-b2", "5")
    (sw,) = [x for x in assets(db) if x.link_device == "sw-a1"]
    assert sw.type == "switch" and sw.ip == "10.1.0.2"
    assert reg.history(sw.id)[0].actor == "probe:main/sw-a1"


def test_manual_changes_are_validated_and_recorded(reg: RegisterService) -> None:
    a = reg.record_inventory(pc()).asset_id
    b = reg.record_inventory(
        pc("pc-b", uuid=UUID_B, serial="S-B", macs=("AA:BB:CC:00:00:0B",), disk_serial="D-B")
    ).asset_id
    reg.add_room("main/实验楼/301")
    reg.add_room("main/教学楼A/203")
    with pytest.raises(RegisterError, match=r"unknown room '302'.*rooms add"):
        reg.set(a, actor="user:t", room="302")
    with pytest.raises(RegisterError, match=r"did you mean 'main/实验楼/301'"):
        reg.set(a, actor="user:t", room="main/实验楼/30l")
    with pytest.raises(RegisterError, match="unknown status"):
        reg.set(a, actor="user:t", values={"status": "broken"})
    with pytest.raises(RegisterError, match="not a date"):
        reg.set(a, actor="user:t", values={"warranty_end": "next year"})
    reg.set(b, actor="user:t", values={"asset_tag": "ZX-2"})
    with pytest.raises(RegisterError, match="already belongs"):
        reg.set(a, actor="user:t", values={"asset_tag": "ZX-2"})
    assert [h.field for h in reg.history(a)] == ["created"], "a refused change writes nothing"
    n = reg.set(
        a,
        actor="user:t",
        room="301",
        values={"status": "in_repair", "warranty_end": "2027-08-31"},
        custom={"资产来源": "捐赠"},
    )
    assert n == 4
    assert reg.set(a, actor="user:t", room="301") == 0
    reg.set(a, actor="user:u", custom={"资产来源": ""})
    got = [(h.actor, h.field, h.old, h.new) for h in reg.history(a)][1:]
    assert got == [
        ("user:t", "status", "in_use", "in_repair"),
        ("user:t", "warranty_end", None, "2027-08-31"),
        ("user:t", "room", None, "main/实验楼/301"),
        ("user:t", "custom.资产来源", None, "捐赠"),
        ("user:u", "custom.资产来源", "捐赠", None),
    ]


def test_list_filters(reg: RegisterService, tmp_path: Path) -> None:
    from campusmon.server.register.spreadsheet import Importer

    rows = [
        "asset_tag,name,type,campus,building,room,serial,warranty_end,status,notes",
        "T-1,教师机,pc,main,实验楼,301,S-1,2024-08-31,in_use,",
        "T-2,学生机,pc,main,实验楼,302,S-2,2027-08-31,spare,靠窗",
        "T-3,平板,panel,main,教学楼A,203,S-3,2026-01-01,in_use,",
        "T-4,交换机,switch,east,综合楼,弱电间,S-4,,in_use,100% 上联",
    ]
    (tmp_path / "l.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert Importer(reg, "import:l.csv").run(tmp_path / "l.csv").errors == []

    def tags(**kw: Any) -> list[str]:
        return sorted(a.asset_tag or "" for a in reg.list_assets(AssetFilter(**kw)))

    assert tags() == ["T-1", "T-2", "T-3", "T-4"]
    assert tags(campus="east") == ["T-4"]
    assert tags(building="实验楼") == ["T-1", "T-2"]
    assert tags(room="302") == ["T-2"] and tags(room="实验楼/301") == ["T-1"]
    assert tags(type="pc", status="spare") == ["T-2"]
    assert tags(search="靠窗") == ["T-2"] and tags(search="s-3") == ["T-3"]
    assert tags(search="100%") == ["T-4"] and tags(search="t_") == []
    assert tags(search="学生 实验楼") == ["T-2"]
    assert tags(warranty_before=date(2026, 6, 1)) == ["T-1", "T-3"]


def test_history_rows_are_only_ever_appended(reg: RegisterService, db: Database) -> None:
    out = reg.record_inventory(pc())
    reg.set(out.asset_id, actor="user:a", values={"name": "X"})
    reg.record_inventory(pc(modules=1))
    with db.session() as s:
        ids = list(s.scalars(select(AssetHistory.id).order_by(AssetHistory.id)))
        assert ids == sorted(ids) and s.scalar(select(func.count(AssetHistory.id))) == len(ids) >= 3


def test_hostile_inventory_values_are_stored_safely(reg: RegisterService, db: Database) -> None:
    inv = pc()
    data = dict(inv.inventory)
    data["hostname"] = "PC\x00" + "x" * 500
    data["smbios"] = {"serial": "SN\x00-1" + "9" * 300, "vendor": "V" * 300, "product": None}
    data["nics"] = [
        {"name": None, "mac": 12345},
        "not a nic",
        {"mac": "AA:BB:CC:00:00:01", "ips": "10.0.0.1/24"},
    ]
    data["disks"] = {"not": "a list"}
    data["fdb"] = [
        {"mac": "AA:BB:CC:00:00:01"},
        {"port": 3},
        "x",
        {"mac": "aa:bb:cc:00:00:01", "port": "p" * 200},
    ]
    bad = Inventory(
        campus="main", device="pc-x", ts=1.0, hash="h" * 300, identity={"smbios_uuid": "\x00"}, inventory=data
    )
    out = reg.record_inventory(bad)
    (a,) = assets(db)
    assert out.created and "\x00" not in a.name and len(a.name) <= 200 and a.ip == "10.0.0.1"


def test_a_duplicate_in_the_register_is_matched_once_and_put_up_for_review(reg: RegisterService) -> None:
    from campusmon.server.db import utcnow

    with reg.db.session() as s:
        first = reg.create(s, "user:a", utcnow(), asset_tag="ZX-1", serial="PF2ABCD1")
        second = reg.create(s, "user:a", utcnow(), asset_tag="ZX-1-DUP", serial="PF2ABCD1")
        ids = (first.id, second.id)
    out = reg.record_inventory(pc())
    assert (out.decision, out.asset_id, out.created) == ("match", ids[0], False)
    (review,) = reg.reviews()
    assert (review.asset_id, review.candidate_id) == (ids[1], ids[0])
    reg.record_inventory(pc(hostname="AGAIN"))
    assert len(reg.reviews()) == 1


def test_campus_code_links_the_spreadsheet_campus_to_the_topic_id(reg: RegisterService) -> None:
    reg.add_room("主校区/实验楼/301")
    early = reg.record_inventory(pc()).asset_id
    assert reg.campuses() == [("main", "main"), ("主校区", None)]
    with pytest.raises(RegisterError, match="did you mean '主校区'"):
        reg.set_campus_code("主校", "main", "user:a")
    assert reg.set_campus_code("主校区", "main", "user:a") == 1
    assert reg.campuses() == [("主校区", "main")]
    assert ("campus", "main", "主校区") in fields_changed(reg, early)
    later = reg.record_inventory(
        pc("pc-2", uuid=UUID_B, serial="S-2", macs=("AA:BB:CC:00:00:02",), disk_serial="D2")
    )
    assert reg.get(later.asset_id).campus is not None
    assert [a.asset_tag or a.link_device for a in reg.list_assets(AssetFilter(campus="主校区"))] == [
        "lab301-pc07",
        "pc-2",
    ]
    reg.set(later.asset_id, actor="user:a", room="301")
    reg.add_room("东校区/综合楼/101")
    reg.add_room("east/综合楼/102")  # a campus named like a topic id, with rooms of its own
    with pytest.raises(RegisterError, match="has rooms"):
        reg.set_campus_code("东校区", "east", "user:a")
    with pytest.raises(RegisterError, match="does not match"):  # not a topic id at all
        reg.set_campus_code("东校区", "主校区", "user:a")
