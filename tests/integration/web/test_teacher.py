"""A teacher reports a fault from the room's QR code, without an account."""

from __future__ import annotations

from httpx import Response

from campusmon.server.services import Actor, PageRequest
from campusmon.server.services.tickets import TicketFilter
from tests.integration.web.conftest import add_device
from tests.support.web import WebHarness, form_token


def report(web: WebHarness, token: str, **form: str) -> Response:
    c = web.client()
    page = c.get(f"/r/{token}")
    assert page.status_code == 200
    r: Response = c.post(f"/r/{token}", data={"csrf_token": form_token(page.text), **form})
    return r


def test_report_opens_a_teacher_ticket_and_a_second_one_adds_a_note(web: WebHarness) -> None:
    add_device(web, "main", "c302-panel", "online", room="teaching/c302")
    token = web.ctx.assets.room_token(1)
    page = web.client().get(f"/r/{token}")
    assert "c302" in page.text and "展台不工作" in page.text and "c302-panel" in page.text
    r = report(web, token, problem="document_camera", device="c302-panel", text="展台没有画面", name="王老师")
    assert r.status_code == 303 and "sent=" in r.headers["location"]
    tickets = web.ctx.tickets.page(TicketFilter(), PageRequest()).items
    assert len(tickets) == 1
    t = tickets[0]
    assert (t.source, t.device, t.room, t.problem) == (
        "teacher",
        "c302-panel",
        "teaching/c302",
        "report_document_camera",
    )
    assert "展台不工作" in t.summary
    r2 = report(web, token, problem="document_camera", device="c302-panel", text="还是不行", name="李老师")
    assert r2.status_code == 303
    detail = web.ctx.tickets.get(t.id)
    assert [h.action for h in detail.history] == ["open", "note"]
    assert detail.history[1].actor == "teacher:李老师" and "还是不行" in detail.history[1].note
    # the teacher sees its state when coming back
    back = web.client().get(r2.headers["location"])
    assert f"#{t.id}" in back.text and "待处理" in back.text


def test_reports_are_rate_limited_per_room_and_tokens_rotate(web: WebHarness) -> None:
    add_device(web, "main", "c302-panel", "online", room="teaching/c302")
    web.ctx.room_limit.per_hour = 2
    token = web.ctx.assets.room_token(1)
    for problem in ("no_sound", "no_picture"):
        assert "sent=" in report(web, token, problem=problem).headers["location"]
    assert report(web, token, problem="network").headers["location"].endswith("error=rate")
    new = web.ctx.assets.rotate_room_token(1, actor=Actor("admin", "admin"))
    assert new != token
    assert web.client().get(f"/r/{token}").status_code == 404
    assert web.client().get(f"/r/{new}").status_code == 200


def test_report_needs_its_form_token_and_a_device_of_the_room(web: WebHarness) -> None:
    add_device(web, "main", "c302-panel", "online", room="teaching/c302")
    add_device(web, "main", "c303-panel", "online", room="teaching/c303")
    token = web.ctx.assets.room_token(1)
    assert web.client().post(f"/r/{token}", data={"problem": "no_sound"}).status_code == 403
    r = report(web, token, problem="no_sound", device="c303-panel")
    assert r.status_code == 422
    r = report(web, token, problem="hacking")
    assert r.status_code == 422
