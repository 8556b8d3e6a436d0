"""The inspection phone page against a real database fed through the ingest pipeline: a technician who
scans the room's code starts the round, finds the unplugged document camera pre-failed, records the
physical checks (one with a photo), and finishing notes the open peripheral_missing ticket."""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from campusmon.contract import Event, Metrics, Status, encode
from campusmon.server.ingest import Ingestor
from campusmon.server.models import Ticket
from campusmon.server.register.service import RegisterService
from campusmon.server.services.photos import MAX_PHOTO_BYTES, PhotoStore
from campusmon.server.tickets import TicketService
from tests.support.web import LoggedIn, WebHarness

PANEL = "c302-panel"


@dataclass
class School:
    web: WebHarness
    ing: Ingestor
    room_id: int
    other_room_id: int


def _png(size: tuple[int, int] = (64, 48)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def _send(ing: Ingestor, kind: str, msg: object) -> None:
    ing.handle(f"campusmon/main/{PANEL}/{kind}", encode(msg), received=time.time())  # type: ignore[arg-type]


def _report(ing: Ingestor, camera: int, seq: int) -> None:
    now = time.time()
    _send(ing, "status", Status(campus="main", device=PANEL, ts=now, state="online", interval=30))
    peripherals: dict[str, str | float | int | bool | None] = {
        "display_connected_count": 1,
        "touchscreen_count": 1,
        "usb_camera_count": camera,
    }
    _send(
        ing,
        "metrics",
        Metrics(
            campus="main", device=PANEL, ts=now, seq=seq, interval=30, metrics={"peripherals": peripherals}
        ),
    )


@pytest.fixture
def school(tmp_path: Path) -> Iterator[School]:
    web = WebHarness(tmp_path)
    ing = Ingestor(web.config, web.db, web.metrics)
    reg = RegisterService(web.db)
    created = datetime.now(UTC) - timedelta(days=40)  # registered 40 days ago: every room is overdue
    with web.db.session() as s:
        c302 = reg.ensure_room(s, "主校区", "A楼", "302")
        c303 = reg.ensure_room(s, "主校区", "A楼", "303")
        c302.building.campus.code = "main"
        for room, tag, kind, device in (
            (c302, "A302-PANEL", "panel", PANEL),
            (c302, "A302-PROJ", "projector", None),
            (c303, "A303-PANEL", "panel", "c303-panel"),
        ):
            a = reg.create(s, "test", created, asset_tag=tag, name=tag, type=kind, status="in_use",
                           campus_id=room.building.campus.id)  # fmt: skip
            a.room = room
            if device:
                a.link_campus, a.link_device = "main", device
        s.flush()
        ids = (c302.id, c303.id)
    _report(ing, camera=1, seq=1)
    _send(
        ing,
        "events",
        Event(campus="main", device=PANEL, ts=time.time(), kind="peripheral_removed", severity="warning",
              message="document camera (USB video): 1 -> 0",
              data={"peripheral": "usb_camera", "before": 1, "now": 0}),
    )  # fmt: skip
    _report(ing, camera=0, seq=2)
    try:
        yield School(web, ing, *ids)
    finally:
        web.close()


def _tickets(web: WebHarness, problem: str) -> list[Ticket]:
    with web.db.session() as s:
        return list(s.scalars(select(Ticket).where(Ticket.problem == problem).order_by(Ticket.id)))


def _items(html: str) -> dict[str, tuple[int, str, str]]:
    """key -> (item id, prefill, result) of the first device's items on the page (the panel's)."""
    out: dict[str, tuple[int, str, str]] = {}
    for m in re.finditer(r'id="item-(\d+)" data-key="(\w+)" data-prefill="(\w*)" data-result="(\w+)"', html):
        out.setdefault(m.group(2), (int(m.group(1)), m.group(3), m.group(4)))
    return out


def _post_item(tech: LoggedIn, url: str, result: str, note: str = "", photo: bytes | None = None,
               name: str = "p.png") -> int:  # fmt: skip
    files = {"photo": (name, photo, "image/png")} if photo is not None else None
    r = tech.client.post(url, data={"csrf_token": tech.csrf, "result": result, "note": note}, files=files)
    return int(r.status_code)


def test_the_phone_inspection_of_a_room_with_an_unplugged_document_camera(school: School) -> None:
    web = school.web
    (missing,) = _tickets(web, "peripheral_missing")
    assert (missing.device, missing.subject, missing.status) == (PANEL, "usb_camera", "open")

    # the room's code: a teacher sees the report form only; a logged-in technician is offered the round
    token = web.ctx.assets.room_token(school.room_id)
    assert 'id="staff-box"' not in web.client().get(f"/r/{token}").text
    tech = web.login("technician")
    page = tech.client.get(f"/r/{token}").text
    assert f'href="/rooms/{school.room_id}/inspect"' in page and "巡检此房间" in page
    page = tech.client.get(f"/rooms/{school.room_id}/inspect").text
    assert "教室多媒体设备巡检" in page and "已逾期" in page and 'id="start-classroom_multimedia"' in page

    r = tech.post(f"/rooms/{school.room_id}/inspect", {"plan": "classroom_multimedia"})
    assert r.status_code == 303
    url = r.headers["location"]
    inspection_id = int(url.rsplit("/", 1)[1])
    # the code scanned again resumes the same round
    assert tech.client.get(f"/rooms/{school.room_id}/inspect").headers["location"] == url
    page = tech.client.get(url).text
    items = _items(page)
    assert items["document_camera"][1:] == ("fail", "pending")
    assert items["online"][1] == "pass" and items["touch"][1] == "pass" and items["picture"][1] == ""
    assert f'href="/tickets/{missing.id}"' in page  # the known fault is named on the item

    # finishing with physical items unchecked is refused, and says how many
    r = tech.post(f"{url}/finish")
    assert r.status_code == 422 and "not checked yet" in r.text

    # a photo that is not an image is refused, and nothing is recorded
    picture = items["picture"][0]
    assert _post_item(tech, f"{url}/items/{picture}", "pass", photo=b"MZ\x90\x00 not a picture") == 422
    assert _items(tech.client.get(url).text)["picture"][2] == "pending"
    # a form without the CSRF token is refused
    r = tech.client.post(f"{url}/items/{picture}", data={"result": "pass"})
    assert r.status_code == 403
    # the picture is fine, with a photo; the sound is fine
    assert _post_item(tech, f"{url}/items/{picture}", "pass", note="无坏点", photo=_png()) == 303
    assert _post_item(tech, f"{url}/items/{items['sound'][0]}", "pass") == 303
    page = tech.client.get(url).text
    assert _items(page)["picture"][2] == "pass" and "无坏点" in page
    stored, media = web.ctx.photos.find(inspection_id, picture)
    assert media == "image/png" and stored.read_bytes() == _png()
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(stored.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(stored.parent.parent).st_mode) == 0o700
    # anyone logged in may see it, the browser may not guess another type
    shown = web.login("viewer").client.get(f"{url}/items/{picture}/photo")
    assert shown.status_code == 200 and shown.content == _png()
    assert (
        shown.headers["content-type"] == "image/png" and shown.headers["x-content-type-options"] == "nosniff"
    )
    assert web.client().get(f"{url}/items/{picture}/photo").status_code == 303  # anonymous: log in first
    # a viewer may look at the round, not record
    viewer = web.login("viewer")
    assert 'id="finish-form"' not in viewer.client.get(url).text
    assert _post_item(viewer, f"{url}/items/{picture}", "fail") == 403

    # the camera's cable is cut: the technician confirms the failure with a note
    camera = items["document_camera"][0]
    assert _post_item(tech, f"{url}/items/{camera}", "fail", note="USB 线被剪断") == 303
    r = tech.post(f"{url}/finish", {"skip_rest": "1", "note": "除展台外正常"})
    assert r.status_code == 303
    page = tech.client.get(url).text
    assert 'data-status="done"' in page and f'href="/tickets/{missing.id}"' in page
    # the live results taken over are shown once, in Chinese (not the stored English note)
    assert "from live data" not in page and "当前在线" in page

    # exactly what the CLI does: the open ticket gains a note, no second ticket
    (still,) = _tickets(web, "peripheral_missing")
    assert still.id == missing.id and still.status == "open"
    notes = [h for h in TicketService(web.db).get(missing.id).history if h.action == "note"]
    assert (
        len(notes) == 1
        and "USB 线被剪断" in notes[0].note
        and f"inspection #{inspection_id}" in notes[0].note
    )
    assert notes[0].actor == "user:technician"
    done = web.ctx.inspections.get(inspection_id)
    assert done.finished_by == "user:technician" and done.note == "除展台外正常"
    picture_item = next(i for i in done.items if i.id == picture)
    assert picture_item.photo.endswith(f"/inspections/{inspection_id}/items/{picture}/photo")
    with web.db.session() as s:
        assert not s.scalars(select(Ticket).where(Ticket.problem != "peripheral_missing",
                                                  Ticket.source == "inspection",
                                                  Ticket.problem != "inspection_overdue")).all()  # fmt: skip
    # a finished round takes no more records
    assert _post_item(tech, f"{url}/items/{picture}", "fail") == 422


def test_the_overview_shows_overdue_inspections_until_they_are_done(school: School) -> None:
    web = school.web
    tech = web.login("technician")
    page = tech.client.get("/").text
    assert 'id="overdue-inspections"' in page and "巡检逾期：2 项" in page and "主校区/A楼/302" in page
    listed = tech.client.get("/inspections?show=overdue").text
    assert listed.count('data-status="overdue"') == 2
    assert f'href="/rooms/{school.other_room_id}/inspect"' in listed

    url = tech.post(f"/rooms/{school.other_room_id}/inspect").headers["location"]
    assert tech.post(f"{url}/finish", {"skip_rest": "1"}).status_code == 303
    page = tech.client.get("/").text
    assert (
        "巡检逾期：1 项" in page and "主校区/A楼/303" not in page.split('id="overdue-inspections"')[1][:400]
    )
    assert tech.client.get("/inspections?show=overdue").text.count('data-status="overdue"') == 1
    # in English too
    tech.client.get("/lang/en")
    assert "Inspections overdue: 1" in tech.client.get("/").text


def test_photo_store_refuses_what_is_not_a_photo(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)
    from campusmon.server.services import Invalid, NotFound

    for data, why in (
        (b"", "empty"),
        (b"GIF89a" + b"\x00" * 100, "not an image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "not an image"),  # a PNG signature, no picture
        (b"\xff" * (MAX_PHOTO_BYTES + 1), "at most 12 MiB"),
    ):
        with pytest.raises(Invalid, match=why):
            store.save(1, 1, data)
    gif = BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    with pytest.raises(Invalid, match="JPEG, PNG or WebP image, not GIF"):
        store.save(1, 1, gif.getvalue())
    assert not (tmp_path / "inspection-photos" / "1").exists() or not any(
        (tmp_path / "inspection-photos" / "1").iterdir()
    )
    jpeg = BytesIO()
    Image.new("RGB", (8, 8)).save(jpeg, "JPEG")
    first = store.save(1, 1, _png())
    second = store.save(1, 1, jpeg.getvalue())  # a new photo replaces the old one
    assert not first.exists() and second.suffix == ".jpg"
    assert store.find(1, 1) == (second, "image/jpeg")
    store.discard(1, 1)
    with pytest.raises(NotFound):
        store.find(1, 1)


def test_a_request_larger_than_any_form_is_refused_before_it_is_read(school: School) -> None:
    tech = school.web.login("technician")
    r = tech.client.post(
        "/inspections/1/items/1",
        content=b"x" * 10,
        headers={"content-type": "multipart/form-data; boundary=x", "content-length": str(64 * 1024 * 1024)},
    )
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
