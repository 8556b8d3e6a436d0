"""A fake psutil fed by recorded outputs (tests/fixtures/agent/psutil-*.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

FIXTURES = Path(__file__).parents[2] / "fixtures" / "agent"


def ns(value: Any) -> Any:
    return SimpleNamespace(**value) if isinstance(value, dict) else value


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class FakePsutil:
    """Only the functions present in the recording exist (like getloadavg on Windows: absent)."""

    def __init__(self, fixture: str) -> None:
        doc = json.loads((FIXTURES / fixture).read_text(encoding="utf-8"))
        self.snapshots: list[dict[str, Any]] = doc["snapshots"]
        self.index = 0
        for key in self.snapshots[0]:
            if key not in ("disk_usage", "processes"):
                setattr(self, key, self._getter(key))

    def advance(self) -> None:
        self.index = min(self.index + 1, len(self.snapshots) - 1)

    @property
    def snap(self) -> dict[str, Any]:
        return self.snapshots[self.index]

    def _getter(self, key: str) -> Any:
        def get(*args: Any, **kwargs: Any) -> Any:
            value = self.snap[key]
            if key in ("cpu_percent", "getloadavg", "boot_time"):
                return tuple(value) if key == "getloadavg" else value
            if key in ("disk_partitions", "users"):
                return [ns(v) for v in value]
            if key in ("sensors_temperatures", "sensors_fans"):
                return {chip: [ns(e) for e in entries] for chip, entries in value.items()}
            if key == "net_if_addrs":
                return {nic: [ns(a) for a in addrs] for nic, addrs in value.items()}
            if isinstance(value, dict) and key in ("disk_io_counters", "net_if_stats", "net_io_counters"):
                return {k: ns(v) for k, v in value.items()}
            return ns(value)

        return get

    def disk_usage(self, mount: str) -> Any:
        usage = self.snap["disk_usage"].get(mount)
        if usage is None:
            raise PermissionError(f"no media in {mount}")
        return ns(usage)

    def process_iter(self, attrs: list[str]) -> Iterator[Any]:
        for p in self.snap["processes"]:
            info = dict(p["info"])
            if info.get("memory_info") is not None:
                info["memory_info"] = ns(info["memory_info"])
            yield SimpleNamespace(pid=p["pid"], info=info)
