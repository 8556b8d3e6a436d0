"""A real VictoriaMetrics (Debian package `victoria-metrics`) on 127.0.0.1 for tests and benchmarks:
its own data directory, a free port, stopped by PID; `stop()` then `start()` keeps port and data."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.mosquitto import free_port

BINARY = "victoria-metrics"


class VictoriaMetricsProcess:
    def __init__(
        self, workdir: Path, port: int | None = None, retention: str = "100y", extra: tuple[str, ...] = ()
    ) -> None:
        if shutil.which(BINARY) is None:
            raise RuntimeError("victoria-metrics is not installed (apt-get install -y victoria-metrics)")
        self.workdir = workdir
        self.data = workdir / "data"
        self.port = port or free_port()
        self.retention = retention
        #: more flags, e.g. -dedup.minScrapeInterval=1ms (a sample written twice is kept once)
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> VictoriaMetricsProcess:
        log = (self.workdir / "victoria-metrics.log").open("ab")
        self.proc = subprocess.Popen(
            [
                BINARY,
                f"-storageDataPath={self.data}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-retentionPeriod={self.retention}",
                "-loggerLevel=WARN",
                *self.extra,
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"victoria-metrics not healthy after {timeout} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # a clean stop flushes its in-memory buffers
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def log_tail(self, n: int = 2000) -> str:
        path = self.workdir / "victoria-metrics.log"
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    # -- HTTP API --------------------------------------------------------------------------------------
    def _get(self, path: str, params: list[tuple[str, str]] | None = None, timeout: float = 30) -> bytes:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=timeout) as resp:
            body: bytes = resp.read()
            return body

    def flush(self) -> None:
        """Make everything written so far visible to queries."""
        self._get("/internal/force_flush")

    def export(
        self, match: str, start: float | None = None, end: float | None = None
    ) -> list[dict[str, Any]]:
        """`/api/v1/export`: one JSON object per series ({metric, values, timestamps (ms)})."""
        params = [("match[]", match)]
        if start is not None:
            params.append(("start", str(int(start))))
        if end is not None:
            params.append(("end", str(int(end))))
        body = self._get("/api/v1/export", params)
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def query(self, promql: str, at: float, **extra: str) -> dict[str, Any]:
        params = [("query", promql), ("time", str(at)), *extra.items()]
        out: dict[str, Any] = json.loads(self._get("/api/v1/query", params))
        return out

    def query_range(self, promql: str, start: float, end: float, step: str) -> dict[str, Any]:
        params = [("query", promql), ("start", str(start)), ("end", str(end)), ("step", step)]
        out: dict[str, Any] = json.loads(self._get("/api/v1/query_range", params))
        return out

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.data.rglob("*") if p.is_file())
