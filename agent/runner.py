"""The agent process: connect, publish `online`, report every interval, `shutdown` on a clean stop."""

from __future__ import annotations

import logging
import signal
import ssl
import threading
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from campusmon import __version__
from campusmon.contract import Metrics, Status, encode, topic

from .collectors import REGISTRY, Collector, PsutilLike
from .config import AgentConfig
from .report import build_report
from .state import SeqCounter

_log = logging.getLogger(__name__)
AGENT_NAME = f"campusmon-agent/{__version__}"


def make_collectors(names: list[str], ps: PsutilLike) -> dict[str, Collector]:
    return {name: REGISTRY[name](ps) for name in names}


class Agent:
    """One device's agent. `run()` blocks until `stop()` (or SIGTERM/SIGINT)."""

    def __init__(self, config: AgentConfig, ps: PsutilLike | None = None) -> None:
        if ps is None:
            import psutil

            ps = psutil
        self.config = config
        self.campus = config.agent.campus
        self.device = config.agent.device_id
        self.interval = config.agent.interval
        self.collectors = make_collectors(config.agent.collectors, ps)
        self.seq = SeqCounter(config.agent.state_dir / f"{self.device}.seq")
        self._stop = threading.Event()
        self._stop_reason = "stopped"
        self._connected = threading.Event()
        root = config.mqtt.root
        self._status_topic = topic(self.campus, self.device, "status", root)
        self._metrics_topic = topic(self.campus, self.device, "metrics", root)
        self._client = self._make_client()

    def _status(self, state: str, reason: str | None = None) -> bytes:
        return encode(
            Status(
                campus=self.campus,
                device=self.device,
                ts=time.time(),
                state=state,  # type: ignore[arg-type]
                reason=reason,
                interval=self.interval,
                agent=AGENT_NAME,
            )
        )

    def _make_client(self) -> mqtt.Client:
        m = self.config.mqtt
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"campusmon-agent-{self.campus}-{self.device}",
            protocol=mqtt.MQTTv5,
        )
        if m.username:
            client.username_pw_set(m.username, m.password)
        if m.tls_ca is not None:
            client.tls_set(
                ca_certs=str(m.tls_ca),
                certfile=str(m.tls_cert) if m.tls_cert else None,
                keyfile=str(m.tls_key) if m.tls_key else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        # the will: a crash, power cut or pulled cable shows as `lost`
        client.will_set(self._status_topic, self._status("lost"), qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.max_queued_messages_set(10_000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if reason.is_failure:
            _log.error("broker refused the connection: %s", reason)
            return
        _log.info(
            "connected to %s:%s as %s/%s",
            self.config.mqtt.host,
            self.config.mqtt.port,
            self.campus,
            self.device,
        )
        client.publish(self._status_topic, self._status("online"), qos=1, retain=True)
        self._connected.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            _log.warning("disconnected from broker (%s); reconnecting", reason)

    def report(self) -> Metrics:
        return build_report(
            self.collectors,
            campus=self.campus,
            device=self.device,
            seq=self.seq.take(),
            interval=self.interval,
            ts=time.time(),
        )

    def publish_report(self) -> None:
        payload = encode(self.report(), compress=self.config.agent.compress)
        info = self._client.publish(self._metrics_topic, payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            _log.warning("report not queued: %s", mqtt.error_string(info.rc))

    def stop(self, reason: str = "stopped") -> None:
        self._stop_reason = reason
        self._stop.set()

    def install_signal_handlers(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            self.stop(f"signal {signal.Signals(signum).name}")

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        if hasattr(signal, "SIGBREAK"):  # Windows console close / service stop via CTRL_BREAK
            signal.signal(signal.SIGBREAK, handler)

    def run(self) -> None:
        m = self.config.mqtt
        self._client.connect_async(m.host, m.port, keepalive=m.keepalive)
        self._client.loop_start()
        try:
            next_at = time.monotonic()
            while not self._stop.is_set():
                if self._connected.is_set():
                    self.publish_report()
                    next_at += self.interval
                else:
                    next_at = time.monotonic() + 1  # the first report waits for the first connection
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        _log.info("stopping: %s", self._stop_reason)
        if self._connected.is_set():
            info = self._client.publish(
                self._status_topic, self._status("shutdown", self._stop_reason), qos=1, retain=True
            )
            try:
                info.wait_for_publish(timeout=5)
            except (RuntimeError, ValueError) as exc:
                _log.warning("shutdown status not confirmed: %s", exc)
        # a clean DISCONNECT: the broker discards the will
        self._client.disconnect()
        self._client.loop_stop()


def once(config: AgentConfig, ps: PsutilLike | None = None) -> Mapping[str, Any]:
    """One report, collected twice a second apart so rates are filled in."""
    import msgspec

    if ps is None:
        import psutil

        ps = psutil
    collectors = make_collectors(config.agent.collectors, ps)
    build_report(
        collectors,
        campus=config.agent.campus,
        device=config.agent.device_id,
        seq=0,
        interval=config.agent.interval,
        ts=time.time(),
    )
    time.sleep(1.0)
    report = build_report(
        collectors,
        campus=config.agent.campus,
        device=config.agent.device_id,
        seq=SeqCounter(config.agent.state_dir / f"{config.agent.device_id}.seq").peek,
        interval=config.agent.interval,
        ts=time.time(),
    )
    result: Mapping[str, Any] = msgspec.to_builtins(report)
    return result
