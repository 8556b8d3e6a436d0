"""Every route of the app, enumerated: write routes refuse viewers (403) and anonymous clients (401 or a
redirect to the login page), the teacher report excepted; forms without the CSRF token are refused;
20 wrong passwords in a row lock further tries."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from campusmon.server.services import Actor
from tests.integration.web.conftest import add_device, open_ticket
from tests.support.web import PASSWORD, WebHarness, form_token

WRITE = {"POST", "PUT", "PATCH", "DELETE"}
#: routes anyone may write to: the login form itself and the teacher's report (room token in the URL)
ANONYMOUS_WRITES = {("POST", "/login"), ("POST", "/r/{token}")}
#: read routes anyone may open
#: write routes every logged-in person may use (on their own session)
OWN_WRITES = {("POST", "/logout")}
ANONYMOUS_READS = {"/login", "/lang/{lang}", "/r/{token}", "/healthz", "/metrics"}
SAMPLE = {
    "ticket_id": "1",
    "asset_id": "1",
    "room_id": "1",
    "review_id": "1",
    "campus": "main",
    "device": "c302-panel",
    "action": "ack",
    "decision": "merge",
    "username": "technician",
    "lang": "en",
    "inspection_id": "1",
    "item_id": "1",
}
ADMIN_ONLY = re.compile(
    r"^/(admin/|api/v1/(users|audit)|assets/import|api/v1/assets/import|api/v1/assets$|assets/reviews/|api/v1/assets/reviews/|rooms/\{room_id\}/token|api/v1/rooms/\{room_id\}/token)"
)


def flat(items: list[object]) -> list[object]:
    """The app's routes, with included routers opened (newer FastAPI keeps them as one entry each)."""
    out: list[object] = []
    for r in items:
        inner = getattr(r, "original_router", None)
        out.extend(flat(list(inner.routes)) if inner is not None else [r])
    return out


def routes(web: WebHarness) -> list[tuple[str, str]]:
    out = []
    r: Any
    for r in flat(list(web.app.routes)):
        if isinstance(r, Mount):
            continue
        assert isinstance(r, APIRoute) or r.path in (
            "/api/v1/openapi.json",
            "/api/docs",
            "/docs/oauth2-redirect",
        ), r
        for method in getattr(r, "methods", set()) - {"HEAD"}:
            out.append((method, r.path))
    return sorted(out)


def url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)


@pytest.fixture
def seeded(web: WebHarness) -> WebHarness:
    add_device(web, "main", "c302-panel", "lost", room="teaching/c302")
    open_ticket(web)
    return web


def test_the_route_table_is_what_this_test_knows(seeded: WebHarness) -> None:
    table = routes(seeded)
    writes = [r for r in table if r[0] in WRITE]
    assert len(writes) >= 24, writes
    assert ("POST", "/api/v1/tickets/{ticket_id}/actions/{action}") in writes
    assert ("POST", "/r/{token}") in writes


def test_every_write_route_refuses_anonymous_and_viewer(seeded: WebHarness) -> None:
    anon = seeded.client()
    viewer = seeded.login("viewer")
    checked = 0
    for method, path in routes(seeded):
        if method not in WRITE or (method, path) in ANONYMOUS_WRITES:
            continue
        target = url(path)
        r = anon.request(method, target, data={"x": "1"} if not path.startswith("/api/") else None)
        if path.startswith("/api/"):
            assert r.status_code == 401, (method, path, r.status_code)
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), (
                method,
                path,
                r.status_code,
            )
        if (method, path) in OWN_WRITES:
            continue
        body = {"csrf_token": viewer.csrf}
        if path.startswith("/api/"):
            r = viewer.client.request(method, target, headers={"X-CSRF-Token": viewer.csrf}, json={})
        else:
            r = viewer.client.request(method, target, data=body)
        assert r.status_code == 403, (method, path, r.status_code, r.text[:200])
        checked += 1
    assert checked >= 21


def test_admin_routes_refuse_technicians(seeded: WebHarness) -> None:
    tech = seeded.login("technician")
    checked = 0
    for method, path in routes(seeded):
        if not ADMIN_ONLY.match(path) or (
            method == "GET"
            and not path.startswith(("/admin", "/api/v1/users", "/api/v1/audit", "/assets/import"))
        ):
            continue
        target = url(path)
        if path.startswith("/api/"):
            r = tech.client.request(method, target, headers={"X-CSRF-Token": tech.csrf}, json={})
        else:
            r = tech.client.request(method, target, data={"csrf_token": tech.csrf})
        assert r.status_code == 403, (method, path, r.status_code)
        checked += 1
    assert checked >= 10


def test_every_read_route_needs_a_login_except_the_public_ones(seeded: WebHarness) -> None:
    anon = seeded.client()
    for method, path in routes(seeded):
        if (
            method != "GET"
            or path in ANONYMOUS_READS
            or path.startswith(("/api/docs", "/docs/"))
            or path.endswith("openapi.json")
        ):
            continue
        r = anon.get(url(path))
        assert r.status_code in (401, 303), (path, r.status_code)


def test_form_posts_without_the_csrf_token_are_refused(seeded: WebHarness) -> None:
    tech = seeded.login("technician")
    r = tech.client.post("/tickets/1/act", data={"action": "ack"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = tech.client.post("/tickets/1/act", data={"action": "ack", "csrf_token": "forged"})
    assert r.status_code == 403
    r = tech.client.post("/api/v1/tickets/1/actions/ack", json={})  # session cookie, no header
    assert r.status_code == 403
    assert (
        tech.client.post("/tickets/1/act", data={"action": "ack", "csrf_token": tech.csrf}).status_code == 303
    )
    # anonymous forms too
    c = seeded.client()
    c.get("/login")
    assert c.post("/login", data={"username": "admin", "password": PASSWORD}).status_code == 403


def test_twenty_wrong_passwords_lock_further_tries(seeded: WebHarness) -> None:
    c = seeded.client()
    token = form_token(c.get("/login").text)
    for _ in range(20):
        r = c.post("/login", data={"username": "admin", "password": "wrong password!", "csrf_token": token})
        assert r.status_code == 401
    r = c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429 and "campusmon_session" not in r.headers.get("set-cookie", "")
    # the lock is for the user name: another address is refused as well …
    other = seeded.client()
    other_token = form_token(other.get("/login").text)
    assert (
        other.post(
            "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": other_token}
        ).status_code
        == 429
    )
    # … and it ends after the lock time
    seeded.ctx.throttle.clock = lambda: 10**9
    assert (
        c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}).status_code
        == 303
    )


def test_a_disabled_user_cannot_log_in(seeded: WebHarness) -> None:
    seeded.ctx.users.set_disabled("viewer", True, actor=Actor("cli:test"))
    c = seeded.client()
    token = form_token(c.get("/login").text)
    assert (
        c.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token}).status_code
        == 401
    )
