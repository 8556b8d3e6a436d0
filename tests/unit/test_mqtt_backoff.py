"""Reconnect waits of every MQTT client: a table per situation (jitter pinned to its low and high ends)."""

from __future__ import annotations

import pytest

from campusmon.mqtt.client import Backoff


def waits(b: Backoff, n: int) -> list[float]:
    return [b.next() for _ in range(n)]


def healthy_then_dropped(b: Backoff, lasted: float) -> Backoff:
    b.connected(100.0)
    b.disconnected(100.0 + lasted)
    return b


@pytest.mark.parametrize(
    ("situation", "make", "expected"),
    [
        # never connected (first start, wrong host): doubles from min to max
        ("cold, longest", lambda: Backoff(1, 30, rng=lambda: 1.0), [1, 2, 4, 8, 16, 30, 30, 30]),
        ("cold, shortest", lambda: Backoff(1, 30, rng=lambda: 0.0), [0.5, 1, 2, 4, 8, 15, 15, 15]),
        # a healthy connection dropped (the broker restarts): 12 retries at most 5 s apart, then growth
        (
            "after healthy",
            lambda: healthy_then_dropped(Backoff(1, 30, rng=lambda: 1.0, fast_s=5), 60),
            [1, 2, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 10, 20, 30, 30],
        ),
        (
            "after healthy, fast cap 3 s",
            lambda: healthy_then_dropped(Backoff(0.5, 60, rng=lambda: 1.0, fast_s=3, fast_tries=4), 60),
            [0.5, 1, 2, 3, 6, 12, 24, 48, 60],
        ),
        # the old default (max 60 s) no longer sets the wait after a healthy connection
        (
            "after healthy, max 60",
            lambda: healthy_then_dropped(Backoff(1, 60, rng=lambda: 1.0), 3600),
            [1, 2, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 10, 20, 40, 60],
        ),
    ],
)
def test_waits(situation: str, make, expected: list[float]) -> None:
    b = make()
    assert waits(b, len(expected)) == expected, situation


def test_jitter_spreads_within_half_to_full_wait() -> None:
    b = Backoff(1, 30, rng=lambda: 0.5)
    assert waits(b, 3) == [0.75, 1.5, 3.0]


def test_a_connection_that_drops_before_it_was_healthy_keeps_the_growth() -> None:
    """A login refused right after CONNACK or a flapping link must not become a tight reconnect loop."""
    b = Backoff(1, 30, rng=lambda: 1.0, healthy_after=10)
    assert waits(b, 4) == [1, 2, 4, 8]
    b.connected(50.0)
    b.disconnected(52.0)  # 2 s: not healthy
    assert waits(b, 2) == [16, 30]


def test_each_healthy_connection_restarts_the_fast_phase() -> None:
    b = Backoff(1, 30, rng=lambda: 1.0)
    waits(b, 20)  # a long outage: at the cap
    assert b.cap() == 30
    healthy_then_dropped(b, 10.0)
    assert waits(b, 4) == [1, 2, 4, 5]
    b.connected(500.0)
    b.disconnected(505.0)  # short: no restart of the fast phase
    assert b.next() == 5
    healthy_then_dropped(b, 11.0)
    assert b.next() == 1


def test_fast_cap_never_exceeds_max() -> None:
    b = healthy_then_dropped(Backoff(0.2, 2, rng=lambda: 1.0, fast_s=5), 60)
    assert max(waits(b, 30)) == 2
