"""The web console on a fresh database, with one user per role, and clients that log in like a browser."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from fastapi.testclient import TestClient
from httpx import Response

from campusmon.server.config import ScheduleSettings, ServerConfig, StorageSettings
from campusmon.server.db import Database
from campusmon.server.metrics import SqliteMetricStore
from campusmon.server.services import Actor
from campusmon.server.web.app import create_app
from campusmon.server.web.context import WebContext

PASSWORD = "correct horse battery"
ROLES = ("admin", "technician", "viewer")
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    m = _TOKEN.search(html)
    assert m, "no csrf_token in the page"
    return m.group(1)


@dataclass
class WebHarness:
    tmp: Path
    config: ServerConfig = field(init=False)
    db: Database = field(init=False)
    metrics: SqliteMetricStore = field(init=False)
    ctx: WebContext = field(init=False)

    def __post_init__(self) -> None:
        self.config = ServerConfig(
            storage=StorageSettings(data_dir=self.tmp / "server"), schedule=ScheduleSettings(default="always")
        )
        self.db = Database(self.config.storage.db_url)
        self.metrics = SqliteMetricStore(self.config.storage.metrics_path)
        self.ctx = WebContext(self.config, self.db, self.metrics, secret=b"k" * 48)
        for role in ROLES:
            self.ctx.users.add(
                role, PASSWORD, role, actor=Actor("cli:test"), display_name=f"{role.title()} Name"
            )
        self.app = create_app(self.ctx)

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def login(self, username: str, password: str = PASSWORD) -> LoggedIn:
        c = self.client()
        page = c.get("/login")
        r = c.post(
            "/login",
            data={
                "username": username,
                "password": password,
                "csrf_token": form_token(page.text),
                "next": "/",
            },
        )
        assert r.status_code == 303, r.text
        return LoggedIn(c, self.csrf(c))

    @staticmethod
    def csrf(c: TestClient) -> str:
        return form_token(c.get("/tickets").text)

    def close(self) -> None:
        self.metrics.close()
        self.db.dispose()


@dataclass
class LoggedIn:
    client: TestClient
    csrf: str

    def post(self, url: str, data: dict[str, str] | None = None) -> Response:
        r: Response = self.client.post(url, data={"csrf_token": self.csrf, **(data or {})})
        return r
