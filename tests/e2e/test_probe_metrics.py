"""/metrics exports the server's own probe results by check and code: a TCP target that answers and
one that refuses, checked by the in-process runner, counted and scraped over HTTP."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.support.mosquitto import free_port
from tests.support.mqtt import wait_until


@pytest.fixture
def listening() -> Iterator[int]:
    """A TCP service on 127.0.0.1 that accepts (and closes) every connection."""
    srv = socket.create_server(("127.0.0.1", 0), backlog=64)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    t = threading.Thread(target=serve, name="tcp-ok", daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(timeout=5)
        srv.close()


def _counter(text: str, check: str, code: str) -> float:
    m = re.search(rf'^campusmon_probe_results_total\{{check="{check}",code="{code}"\}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


@pytest.mark.slow
def test_metrics_count_probe_results_by_code(server_factory, listening: int) -> None:
    closed = free_port()  # nothing listens there: the check is refused
    settings = {
        "runner": {"id": "probe-main", "reload_seconds": 60, "jitter": 0.0},
        "school_hours": {"mode": "always"},
        "targets": [
            {"id": "svc-up", "kind": "tcp", "host": "127.0.0.1", "interval": 1, "timeout": 5,
             "tcp": {"port": listening}},
            {"id": "svc-closed", "kind": "tcp", "host": "127.0.0.1", "interval": 1, "timeout": 5,
             "tcp": {"port": closed}},
        ],
    }  # fmt: skip
    server = server_factory(
        probes__enabled=True,
        probes__campus="main",
        probes__settings=settings,
        http__enabled=True,
        http__port=free_port(),
    )
    assert server.http is not None and server.probes is not None

    def scrape() -> str:
        r = httpx.get(f"{server.http.url}/metrics", timeout=10)
        assert r.status_code == 200
        return r.text

    def both_seen() -> bool:
        text = scrape()
        return _counter(text, "tcp", "ok") >= 2 and _counter(text, "tcp", "refused") >= 2

    assert wait_until(both_seen, timeout=40, every=0.5), scrape()
    text = scrape()
    assert "# TYPE campusmon_probe_results_total counter" in text
    # the exported figures are the runner's own, at most a few checks behind it
    counts = server.probes.runner.result_counts()
    assert counts[("tcp", "ok")] >= _counter(text, "tcp", "ok") >= 2
    assert counts[("tcp", "refused")] >= _counter(text, "tcp", "refused") >= 2
    assert not {code for (_check, code) in counts} - {"ok", "refused"}
