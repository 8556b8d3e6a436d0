"""Temperatures, fans and battery, where psutil has them (temperatures/fans: Linux and FreeBSD)."""

from __future__ import annotations

from typing import Any, ClassVar

from .base import CollectorUnavailable, PsutilLike, Sample

#: psutil.POWER_TIME_UNLIMITED / POWER_TIME_UNKNOWN are negative enums
_NO_ESTIMATE = -1


class SensorsCollector:
    name: ClassVar[str] = "sensors"

    def __init__(self, ps: PsutilLike) -> None:
        self._ps = ps

    def _call(self, fn_name: str) -> Any:
        fn = getattr(self._ps, fn_name, None)
        if fn is None:
            return None
        try:
            return fn()
        except (OSError, RuntimeError, NotImplementedError):
            return None

    def collect(self) -> list[Sample]:
        samples: list[Sample] = []
        for chip, entries in sorted((self._call("sensors_temperatures") or {}).items()):
            for i, t in enumerate(entries):
                if t.current is None:
                    continue
                labels = (("chip", chip), ("sensor", t.label or str(i)))
                samples.append(Sample("temperature_celsius", round(float(t.current), 1), labels))
        for chip, entries in sorted((self._call("sensors_fans") or {}).items()):
            for i, f in enumerate(entries):
                labels = (("chip", chip), ("fan", f.label or str(i)))
                samples.append(Sample("fan_speed_rpm", float(f.current), labels))
        battery = self._call("sensors_battery")
        if battery is not None:
            samples.append(Sample("battery_percent", round(float(battery.percent), 1)))
            if battery.power_plugged is not None:
                samples.append(Sample("battery_plugged", 1.0 if battery.power_plugged else 0.0))
            secs = int(battery.secsleft)
            if secs >= 0 and not battery.power_plugged:
                samples.append(Sample("battery_left_seconds", float(secs)))
        if not samples:
            raise CollectorUnavailable("no temperature, fan or battery sensors on this machine")
        return samples
