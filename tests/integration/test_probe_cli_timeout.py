"""`campusmon probe snmp|tcp|http --timeout N`: N seconds for the whole check, retries included, against
a peer on 127.0.0.1 that never answers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def silent_udp() -> Iterator[int]:
    """A UDP port that receives SNMP requests and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def silent_http() -> Iterator[int]:
    """A TCP port that accepts and then says nothing."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def probe(*args: str) -> tuple[dict[str, object], float]:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "campusmon", "probe", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ),
    )
    elapsed = time.monotonic() - started
    assert out.returncode == 1, out.stderr  # a check that failed
    assert "Traceback" not in out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result, elapsed


@pytest.mark.parametrize("timeout", [1, 2])
def test_snmp_timeout_bounds_the_whole_check(silent_udp: int, timeout: int) -> None:
    result, _ = probe("snmp", "127.0.0.1", "--port", str(silent_udp), "--timeout", str(timeout))
    assert result["code"] == "timeout"
    took = float(result["duration_seconds"])  # type: ignore[arg-type]
    # the old one-off check ignored N and took 4.1 s (2 s per request, one retry)
    assert timeout * 0.4 <= took <= timeout + 0.5, took


def test_snmp_timeout_longer_than_the_retries_still_ends_by_itself(silent_udp: int) -> None:
    result, elapsed = probe("snmp", "127.0.0.1", "--port", str(silent_udp), "--timeout", "5")
    assert result["code"] == "timeout"
    assert float(result["duration_seconds"]) <= 5.5  # type: ignore[arg-type]
    assert elapsed < 30


def test_http_timeout_bounds_the_whole_check(silent_http: int) -> None:
    result, _ = probe("http", f"http://127.0.0.1:{silent_http}/", "--timeout", "1")
    assert result["code"] == "timeout"
    assert float(result["duration_seconds"]) <= 1.5  # type: ignore[arg-type]
