"""The JSON API over a real SQLite database: sessions, tokens, the ticket workflow, the register,
problem details, pagination, the audit log, the operations endpoints."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from openpyxl import load_workbook

from campusmon.server.services import Actor
from tests.integration.web.conftest import add_device, open_ticket
from tests.support.web import PASSWORD, WebHarness

FIXTURES = Path(__file__).parents[2] / "fixtures" / "assets"


def test_login_sets_a_signed_httponly_samesite_cookie_and_wrong_password_does_not(web: WebHarness) -> None:
    c = web.client()
    assert c.get("/").status_code == 303
    assert c.get("/").headers["location"].startswith("/login")
    page = c.get("/login")
    from tests.support.web import form_token

    bad = c.post(
        "/login",
        data={"username": "admin", "password": "nope-nope-nope", "csrf_token": form_token(page.text)},
    )
    assert bad.status_code == 401 and "campusmon_session" not in bad.headers.get("set-cookie", "")
    ok = c.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": form_token(page.text)}
    )
    cookie = ok.headers["set-cookie"]
    assert ok.status_code == 303 and "campusmon_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert c.get("/api/v1/me").json()["user"]["username"] == "admin"
    # a forged cookie is nobody
    c.cookies.set("campusmon_session", "eyJ1IjoxfQ.forged.sig")
    assert c.get("/api/v1/me").status_code == 401


def test_api_errors_are_problem_details(web: WebHarness) -> None:
    c = web.client()
    r = c.get("/api/v1/tickets")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 401 and r.json()["instance"] == "/api/v1/tickets"
    s = web.login("viewer").client
    r = s.get("/api/v1/tickets/999")
    assert r.status_code == 404 and r.json()["title"] == "Not found" and "#999" in r.json()["detail"]
    r = s.get("/api/v1/tickets?per_page=1000")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["loc"][-1] == "per_page"


def test_every_workflow_transition_with_history_audit_and_conflicts(web: WebHarness) -> None:
    add_device(web, "main", "c302-panel", "lost", room="teaching/c302")
    tid = open_ticket(web)
    tech = web.login("technician")
    h = {"X-CSRF-Token": tech.csrf}
    c = tech.client
    for action, status in (("ack", "acknowledged"), ("start", "in_progress"), ("resolve", "resolved")):
        r = c.post(f"/api/v1/tickets/{tid}/actions/{action}", json={"note": f"{action} done"}, headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["ticket"]["status"] == status
    r = c.post(f"/api/v1/tickets/{tid}/actions/reopen", json={"note": "came back"}, headers=h)
    assert r.json()["ticket"]["status"] == "open"
    c.post(f"/api/v1/tickets/{tid}/actions/resolve", json={}, headers=h)
    r = c.post(f"/api/v1/tickets/{tid}/actions/close", json={}, headers=h)
    assert r.json()["ticket"]["status"] == "closed" and r.json()["actions"] == []
    r = c.post(f"/api/v1/tickets/{tid}/actions/reopen", json={}, headers=h)
    assert r.status_code == 409 and "closed" in r.json()["detail"]
    steps = [(s["actor"], s["to_status"]) for s in c.get(f"/api/v1/tickets/{tid}").json()["history"]]
    assert ("user:technician", "acknowledged") in steps and ("user:technician", "closed") in steps
    audit = web.login("admin").client.get("/api/v1/audit").json()
    actions = [e["action"] for e in audit["items"] if e["target"] == f"ticket:{tid}"]
    assert actions.count("ticket.resolve") == 2 and "ticket.close" in actions
    first = next(e for e in audit["items"] if e["action"] == "ticket.ack")
    assert first["before"] == {"status": "open"} and first["after"] == {"status": "acknowledged"}


def test_notes_assign_and_manual_tickets(web: WebHarness) -> None:
    tid = open_ticket(web)
    tech = web.login("technician")
    h = {"X-CSRF-Token": tech.csrf}
    c = tech.client
    assert (
        c.post(f"/api/v1/tickets/{tid}/notes", json={"text": "cable replaced"}, headers=h).status_code == 200
    )
    r = c.post(f"/api/v1/tickets/{tid}/assign", json={"assignee": "technician"}, headers=h)
    assert r.json()["ticket"]["assignee"] == "technician"
    assert c.post(f"/api/v1/tickets/{tid}/assign", json={"assignee": "nobody"}, headers=h).status_code == 404
    r = c.post(
        "/api/v1/tickets", json={"campus": "main", "room": "c302", "summary": "projector smells"}, headers=h
    )
    assert r.status_code == 201 and r.json()["ticket"]["source"] == "manual"
    listed = c.get("/api/v1/tickets?source=manual").json()
    assert listed["total"] == 1 and listed["items"][0]["summary"] == "projector smells"


def test_pagination_and_filters(web: WebHarness) -> None:
    for i in range(7):
        open_ticket(web, device=f"pc{i:02d}")
    c = web.login("viewer").client
    p1 = c.get("/api/v1/tickets?per_page=3").json()
    p3 = c.get("/api/v1/tickets?per_page=3&page=3").json()
    assert (p1["total"], p1["pages"], len(p1["items"]), len(p3["items"])) == (7, 3, 3, 1)
    assert c.get("/api/v1/tickets?device=pc03").json()["total"] == 1
    assert c.get("/api/v1/tickets?status=closed").json()["total"] == 0
    assert c.get("/api/v1/tickets?status=bogus").status_code == 422


def test_api_tokens_are_hashed_work_without_csrf_and_die_with_the_user(web: WebHarness) -> None:
    view, secret = web.ctx.users.create_token("technician", "nightly", actor=Actor("cli:test"))
    with web.db.session() as s:
        from sqlalchemy import select

        from campusmon.server.console_models import ApiToken

        stored = s.scalars(select(ApiToken)).one()
        assert (
            stored.token_hash != secret and secret not in stored.token_hash and stored.prefix == secret[:12]
        )
    tid = open_ticket(web)
    c = web.client()
    auth = {"Authorization": f"Bearer {secret}"}
    assert c.post(f"/api/v1/tickets/{tid}/actions/ack", json={}, headers=auth).status_code == 200
    assert (
        c.post(
            f"/api/v1/tickets/{tid}/actions/ack", json={}, headers={"Authorization": "Bearer cmt_x"}
        ).status_code
        == 401
    )
    web.ctx.users.set_disabled("technician", True, actor=Actor("cli:test"))
    assert c.get("/api/v1/me", headers=auth).status_code == 401


def test_disabling_or_new_password_ends_sessions(web: WebHarness) -> None:
    s = web.login("technician").client
    assert s.get("/api/v1/me").status_code == 200
    web.ctx.users.set_password("technician", "another long password", actor=Actor("cli:test"))
    assert s.get("/api/v1/me").status_code == 401


def test_devices_overview_and_device_detail(web: WebHarness) -> None:
    add_device(web, "main", "c302-panel", "online", room="teaching/c302")
    add_device(web, "main", "c303-panel", "lost", room="teaching/c303")
    add_device(web, "main", "lab-pc01", "shutdown", room="science/lab301")
    open_ticket(web, device="c303-panel")
    c = web.login("viewer").client
    tiles = {t["device"]: t["color"] for t in c.get("/api/v1/devices").json()["items"]}
    assert tiles == {"c302-panel": "green", "c303-panel": "red", "lab-pc01": "grey"}
    assert c.get("/api/v1/devices?status=red").json()["total"] == 1
    assert c.get("/api/v1/devices?room=c302").json()["items"][0]["room"] == "c302"
    ov = c.get("/api/v1/overview").json()
    assert ov["counts"] == {"red": 1, "amber": 0, "green": 1, "grey": 1}
    assert [r["room"] for r in ov["rooms"]] == ["lab301", "c302", "c303"]
    d = c.get("/api/v1/devices/main/c303-panel").json()
    assert d["tile"]["open_tickets"] == 1 and d["tickets"][0]["problem"] == "device_down"
    assert c.get("/api/v1/devices/main/nope").status_code == 404
    assert c.get("/devices/main/c303-panel").status_code == 200


def test_assets_search_update_roles_history_and_rooms(web: WebHarness) -> None:
    web.ctx.assets.register.add_room("main/教学楼/302")
    admin = web.login("admin")
    h = {"X-CSRF-Token": admin.csrf}
    r = admin.client.post(
        "/api/v1/assets",
        json={
            "values": {"asset_tag": "ZX-0001", "name": "一体机 302", "type": "一体机"},
            "room": "main/教学楼/302",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    aid = r.json()["asset"]["id"]
    assert r.json()["asset"]["type"] == "panel" and r.json()["asset"]["room"] == "302"
    dup = admin.client.post("/api/v1/assets", json={"values": {"asset_tag": "ZX-0001"}}, headers=h)
    assert dup.status_code == 409
    tech = web.login("technician")
    th = {"X-CSRF-Token": tech.csrf}
    ok = tech.client.patch(f"/api/v1/assets/{aid}", json={"values": {"status": "维修"}}, headers=th)
    assert ok.status_code == 200 and ok.json()["asset"]["status"] == "in_repair"
    no = tech.client.patch(f"/api/v1/assets/{aid}", json={"values": {"serial": "X"}}, headers=th)
    assert no.status_code == 403
    hist = tech.client.get(f"/api/v1/assets/{aid}/history").json()
    assert hist[0]["field"] == "status" and hist[0]["actor"] == "user:technician"
    assert tech.client.get("/api/v1/assets?q=302").json()["total"] == 1
    assert tech.client.get("/api/v1/assets?q=nothing-like-this").json()["total"] == 0
    tree = tech.client.get("/api/v1/rooms").json()
    assert tree[0]["buildings"][0]["rooms"][0] == {"id": 1, "name": "302", "assets": 1}


def test_import_dry_run_reports_bad_rows_then_imports_and_exports(web: WebHarness) -> None:
    admin = web.login("admin")
    h = {"X-CSRF-Token": admin.csrf}
    data = (FIXTURES / "school_gb18030.csv").read_bytes()
    files = {"file": ("台账.csv", data, "text/csv")}
    dry = admin.client.post("/api/v1/assets/import?dry_run=true", files=files, headers=h).json()
    assert dry["dry_run"] and dry["encoding"] == "gb18030" and dry["created"] > 0
    assert admin.client.get("/api/v1/assets").json()["total"] == 0
    real = admin.client.post("/api/v1/assets/import?dry_run=false", files=files, headers=h).json()
    assert real["created"] == dry["created"] and [e["line"] for e in real["errors"]] == [
        e["line"] for e in dry["errors"]
    ]
    xlsx = admin.client.get("/api/v1/assets/export?format=xlsx")
    sheet = load_workbook(BytesIO(xlsx.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 1 + real["created"] and rows[0][0] == "资产编号"
    pdf = admin.client.get("/api/v1/assets/labels")
    assert pdf.content.startswith(b"%PDF")
    bad = admin.client.post(
        "/api/v1/assets/import", files={"file": ("x.txt", b"abc", "text/plain")}, headers=h
    )
    assert bad.status_code == 422


def test_healthz_and_prometheus_metrics(web: WebHarness) -> None:
    open_ticket(web)
    c = web.client()
    r = c.get("/healthz")
    assert r.status_code == 503 and r.json()["database"] is True and r.json()["broker_connected"] is False
    text = c.get("/metrics").text
    assert 'campusmon_tickets_open{severity="critical"} 1.0' in text
    assert "campusmon_notify_outbox_pending 0.0" in text and "campusmon_ingest_lag_seconds" in text


def test_openapi_lists_every_api_route(web: WebHarness) -> None:
    spec = web.client().get("/api/v1/openapi.json").json()
    assert "/api/v1/tickets/{ticket_id}/actions/{action}" in spec["paths"]
    assert "/api/v1/assets/import" in spec["paths"] and "/api/v1/devices/{campus}/{device}" in spec["paths"]
