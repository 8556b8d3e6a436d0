"""What to do while the agent waits for something slow (a PowerShell/WMI query): serve MQTT.

A short keepalive would otherwise see a slow query as a hung device. Standard library only: the agent
imports this at start, before anything heavy."""

from __future__ import annotations

from collections.abc import Callable

_hook: Callable[[], None] | None = None


def set_idle(fn: Callable[[], None] | None) -> None:
    """`fn` is called about every half second while something slow runs (None: nothing)."""
    global _hook
    _hook = fn


def idle() -> None:
    if _hook is not None:
        _hook()
