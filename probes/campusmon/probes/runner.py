"""The probe runner: checks every target on its own schedule and publishes like an agent would.

Each target is a device on MQTT (`<root>/<campus>/<target>/status|metrics|inventory`). The runner has
its own device id too: its status carries the runner's MQTT will, so a dead runner is one `lost`
device (one ticket) rather than every target going dark. See docs/protocol.md, "Probes".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from campusmon import __version__
from campusmon.contract import MAX_UNAVAILABLE, Inventory, Metrics, Status, bounded, encode, topic
from campusmon.hashing import content_hash
from campusmon.mqtt.client import accepted, new_client
from campusmon.seq import SeqCounter

from .config import ProbeConfig, TargetSettings
from .registry import Probe, ProbeEnv, bounded_check, make_probe
from .result import ProbeResult
from .schedule import SchoolHours, school_hours
from .targets import TargetFiles, TargetSource, merge_targets

_log = logging.getLogger(__name__)
RUNNER_NAME = f"campusmon-probe/{__version__}"
#: an unchanged inventory is still resent this often (retained, so it is cheap)
INVENTORY_REFRESH_SECONDS = 86400.0


@dataclass
class TargetState:
    target: TargetSettings
    probe: Probe
    seq: SeqCounter
    status: str | None = None
    status_reason: str | None = None
    inventory_hash: str | None = None
    inventory_sent_at: float = 0.0
    checks: int = 0
    #: unanswered checks in a row
    misses: int = 0
    last: ProbeResult | None = None


class ProbeRunner:
    """`await run(stop)` checks targets until `stop` is set; `check_once()` runs every target once."""

    def __init__(
        self,
        config: ProbeConfig,
        *,
        hours: SchoolHours | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        sources: list[TargetSource] | None = None,
    ) -> None:
        self.config = config
        self.campus = config.runner.campus
        self.root = config.mqtt.root
        self.clock = clock
        self.rng = rng or random.Random()
        self.env = ProbeEnv(
            school_hours=hours or school_hours(config.school_hours), patterns=config.compiled_patterns()
        )
        self.targets = {t.id: self._state(t) for t in config.targets}
        #: where targets beyond config.targets come from (include files, the register)
        self.sources: list[TargetSource] = list(sources or [])
        if config.runner.targets_files:
            self.sources.append(TargetFiles(config))
        self._extra: list[list[TargetSettings]] = [[] for _ in self.sources]
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._limit = asyncio.Semaphore(config.runner.concurrency)
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._status_topic = topic(self.campus, config.runner.id, "status", self.root)
        self.checks_total = 0
        #: checks done since start by (check kind, result code): the server's /metrics exports them
        self._results: Counter[tuple[str, str]] = Counter()
        self.stop_reason = "stopped"
        self._client: mqtt.Client | None = None
        #: when the current (or last) MQTT connection was made
        self._connected_at = 0.0

    def _state(self, target: TargetSettings) -> TargetState:
        seq = SeqCounter(self.config.runner.state_dir / f"{target.id}.seq")
        return TargetState(target, make_probe(target, self.env), seq)

    # -- MQTT ----------------------------------------------------------------------------------
    def _status(
        self,
        device: str,
        state: str,
        reason: str | None,
        interval: int | None,
        via: str | None = None,
        *,
        ts: float | None = None,
        connected: float | None = None,
    ) -> bytes:
        """A target's observed status is ordered by its own `ts` (`connected` = `ts`); the runner's
        own status carries the time of its connection, like an agent's (docs/protocol.md)."""
        now = time.time() if ts is None else ts
        return encode(
            Status(
                campus=self.campus,
                device=device,
                ts=now,
                state=state,  # type: ignore[arg-type]
                reason=reason,
                interval=interval,
                agent=RUNNER_NAME,
                via=via,
                connected=now if connected is None else connected,
            )
        )

    def _own_status(self, state: str, reason: str | None = None, ts: float | None = None) -> bytes:
        return self._status(
            self.config.runner.id, state, reason, None, ts=ts, connected=self._connected_at or None
        )

    def _arm_will(self, client: mqtt.Client, userdata: Any = None) -> None:
        """Called by paho before every (re)connect: the will carries this connection's time."""
        self._connected_at = max(time.time(), self._connected_at + 0.001)
        client.will_set(self._status_topic, self._own_status("lost", ts=self._connected_at), 1, True)

    def _make_client(self) -> mqtt.Client:
        m = self.config.mqtt
        # the will covers the runner's own id only; the server lets the targets follow it (`via`)
        client = new_client(m, f"campusmon-probe-{self.campus}-{self.config.runner.id}")
        self._arm_will(client)
        client.on_pre_connect = self._arm_will
        # paho's own loop thread reconnects, doubling its wait from min to max
        client.reconnect_delay_set(
            min_delay=max(1, round(m.reconnect_min_seconds)), max_delay=max(1, round(m.reconnect_max_seconds))
        )
        client.max_queued_messages_set(50_000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        return client

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Properties | None
    ) -> None:
        if not accepted(reason, self.config.mqtt, f"{self.campus}/{self.config.runner.id}"):
            return
        client.publish(self._status_topic, self._own_status("online"), 1, True)
        with self._lock:
            known = [(s.target, s.status, s.status_reason) for s in self.targets.values() if s.status]
        for target, state, why in known:  # a broker that lost its retained store learns them again
            self._publish_status(target, state, why)
        self._connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Properties | None
    ) -> None:
        self._connected.clear()
        (_log.warning if reason.is_failure else _log.info)("disconnected from broker (%s)", reason)

    def _publish(self, topic_: str, payload: bytes, retain: bool = False) -> None:
        if self._client is None:
            return
        info = self._client.publish(topic_, payload, qos=1, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            _log.warning("message on %s not queued: %s", topic_, mqtt.error_string(info.rc))

    def _publish_status(self, target: TargetSettings, state: str, reason: str | None) -> None:
        self._publish(
            topic(self.campus, target.id, "status", self.root),
            # `via`: the server lets the target follow the runner when the runner stops or dies
            self._status(target.id, state, reason, target.interval, via=self.config.runner.id),
            retain=True,
        )

    # -- results -------------------------------------------------------------------------------
    def record(self, st: TargetState, result: ProbeResult) -> None:
        """Turn one result into status (on change), metrics (always) and inventory (on change)."""
        t = st.target
        now = time.time()
        result.groups.setdefault("probe", result.probe_group())
        st.last = result
        st.checks += 1
        self.checks_total += 1
        with self._lock:
            self._results[(result.kind, result.code)] += 1
        reachable = result.reachable
        if reachable is False:
            st.misses += 1
        elif reachable:
            st.misses = 0
        # one lost UDP answer is not a dead switch: `lost` after `lost_after` silent checks in a row
        if reachable or (reachable is False and st.misses >= t.lost_after):
            state = "online" if reachable else "lost"
            reason = None if reachable else f"{result.code}: {result.message}"[:200]
            with self._lock:
                changed = state != st.status
                st.status, st.status_reason = state, reason
            if changed:
                (_log.info if reachable else _log.warning)("%s is %s (%s)", t.id, state, result.message)
                self._publish_status(t, state, reason)
        why = f"{result.code}: {result.message}"[:MAX_UNAVAILABLE]
        unavailable = {} if result.ok or reachable else {result.kind: why}
        metrics = Metrics(
            campus=self.campus,
            device=t.id,
            ts=now,
            seq=st.seq.take(),
            interval=t.interval,
            metrics=bounded(result.groups),  # a switch's odd port name or counter never costs the report
            unavailable=unavailable,
        )
        self._publish(
            topic(self.campus, t.id, "metrics", self.root),
            encode(metrics, compress=self.config.runner.compress),
        )
        if result.inventory is not None:
            h = content_hash(result.inventory)
            if h != st.inventory_hash or now - st.inventory_sent_at >= INVENTORY_REFRESH_SECONDS:
                inv = Inventory(
                    campus=self.campus,
                    device=t.id,
                    ts=now,
                    hash=h,
                    identity=result.identity,
                    inventory=result.inventory,
                )
                self._publish(
                    topic(self.campus, t.id, "inventory", self.root),
                    encode(inv, compress=self.config.runner.compress),
                    retain=True,
                )
                st.inventory_hash, st.inventory_sent_at = h, now

    def result_counts(self) -> dict[tuple[str, str], int]:
        """Checks done since start by (check kind, result code); safe from any thread."""
        with self._lock:
            return dict(self._results)

    async def check(self, st: TargetState) -> ProbeResult:
        """One bounded check: the timeout and any error become result codes."""
        async with self._limit:
            return await bounded_check(st.probe, st.target, self.clock)

    async def check_once(self) -> dict[str, ProbeResult]:
        ids = list(self.targets)
        results = await asyncio.gather(*(self.check(self.targets[i]) for i in ids))
        for i, r in zip(ids, results, strict=True):
            self.record(self.targets[i], r)
        return dict(zip(ids, results, strict=True))

    async def _schedule(self, st: TargetState, stop: asyncio.Event) -> None:
        interval = st.target.interval
        jitter = self.config.runner.jitter
        # spread first checks so a hundred switches are not polled in the same millisecond
        next_at = self.clock() + self.rng.uniform(0, jitter * interval)
        while not stop.is_set():
            delay = next_at - self.clock()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                    return
                except TimeoutError:
                    pass
            result = await self.check(st)
            try:
                self.record(st, result)
            except (OSError, ValueError) as exc:  # a full disk for the seq file must not end the schedule
                _log.error("cannot publish the result of %s: %s", st.target.id, exc)
            next_at += interval * (1 + self.rng.uniform(-jitter, jitter))
            # fell behind (slow checks, overload): do not burst to catch up
            next_at = max(next_at, self.clock())

    # -- targets that come and go ----------------------------------------------------------------
    def poll_sources(self) -> list[TargetSettings] | None:
        """The wanted targets when a source changed (None: no change). Blocking I/O: run it off-loop."""
        changed = False
        for i, source in enumerate(self.sources):
            got = source.poll()
            if got is not None:
                self._extra[i] = got
                changed = True
        if not changed:
            return None
        extra = [t for part in self._extra for t in part]
        return merge_targets(self.config.targets, extra, self.config.runner.id)

    def apply_targets(self, wanted: list[TargetSettings], stop: asyncio.Event | None = None) -> None:
        """Start new targets, restart changed ones, and retire those no longer wanted: a retired
        target says `shutdown` (a clean stop is never a fault) instead of going silent."""
        new = {t.id: t for t in wanted}
        gone = [i for i in self.targets if i not in new]
        changed = [i for i, t in new.items() if i in self.targets and self.targets[i].target != t]
        added = [i for i in new if i not in self.targets]
        # built first: a seq file that cannot be created leaves the running targets as they were
        fresh = {i: self._state(new[i]) for i in changed + added}
        with self._lock:
            for i in gone + changed:
                task = self._tasks.pop(i, None)
                if task is not None:
                    task.cancel()
            retired = [self.targets.pop(i) for i in gone]
            for i in changed:
                old = self.targets[i]
                fresh[i].status, fresh[i].status_reason = old.status, old.status_reason
            self.targets.update(fresh)
        for st in retired:
            self._publish_status(st.target, "shutdown", "no longer a probe target")
        if stop is not None:
            for i in changed + added:
                self._tasks[i] = asyncio.create_task(self._schedule(self.targets[i], stop), name=f"probe-{i}")
        if gone or changed or added:
            _log.info(
                "targets: %d added, %d changed, %d removed; %d in all",
                len(added),
                len(changed),
                len(gone),
                len(self.targets),
            )

    async def _reload(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        every = self.config.runner.reload_seconds
        while True:
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
                return
            except TimeoutError:
                pass
            try:
                wanted = await loop.run_in_executor(None, self.poll_sources)
                if wanted is not None and not stop.is_set():
                    self.apply_targets(wanted, stop)
            except (OSError, ValueError) as exc:  # keep probing what runs; try again next time
                _log.error("cannot apply new targets: %s", exc)

    # -- lifecycle -----------------------------------------------------------------------------
    def connect(self) -> None:
        m = self.config.mqtt
        self._client = self._make_client()
        self._client.connect_async(m.host, m.port, keepalive=m.keepalive)
        self._client.loop_start()

    def disconnect(self, reason: str) -> None:
        if self._client is None:
            return
        if self._connected.is_set():
            info = self._client.publish(self._status_topic, self._own_status("shutdown", reason), 1, True)
            try:
                info.wait_for_publish(timeout=5)
            except (RuntimeError, ValueError) as exc:
                _log.warning("shutdown status not confirmed: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()
        self._client = None

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        if self.sources:
            wanted = await loop.run_in_executor(None, self.poll_sources)
            if wanted is not None:
                self.apply_targets(wanted)
        self.connect()
        _log.info("probing %d targets for campus %s", len(self.targets), self.campus)
        self._tasks = {
            i: asyncio.create_task(self._schedule(st, stop), name=f"probe-{i}")
            for i, st in self.targets.items()
        }
        reload = asyncio.create_task(self._reload(stop), name="probe-reload") if self.sources else None
        try:
            await stop.wait()
        finally:
            tasks = [*self._tasks.values(), *([reload] if reload else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks = {}
            await loop.run_in_executor(None, self.disconnect, self.stop_reason)


def run_forever(config: ProbeConfig) -> None:
    """The `campusmon probe run` process: SIGTERM/SIGINT stop it cleanly."""

    async def main() -> None:
        runner = ProbeRunner(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):

            def handler(s: signal.Signals = sig) -> None:
                runner.stop_reason = f"signal {s.name}"
                stop.set()

            with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises KeyboardInterrupt
                loop.add_signal_handler(sig, handler)
        await runner.run(stop)

    asyncio.run(main())
