"""The collector registry: one line per collector (a test checks every module is registered)."""

from __future__ import annotations

from .base import Collector, CollectorFactory, CollectorUnavailable, PsutilLike, Sample
from .cpu import CpuCollector
from .disk import DiskCollector
from .memory import MemoryCollector
from .network import NetworkCollector
from .peripherals import PeripheralsCollector
from .processes import ProcessesCollector
from .sensors import SensorsCollector
from .uptime import UptimeCollector
from .users import UsersCollector

REGISTRY: dict[str, CollectorFactory] = {
    CpuCollector.name: CpuCollector,
    MemoryCollector.name: MemoryCollector,
    DiskCollector.name: DiskCollector,
    NetworkCollector.name: NetworkCollector,
    UptimeCollector.name: UptimeCollector,
    SensorsCollector.name: SensorsCollector,
    ProcessesCollector.name: ProcessesCollector,
    UsersCollector.name: UsersCollector,
    PeripheralsCollector.name: PeripheralsCollector,
}

__all__ = ["REGISTRY", "Collector", "CollectorFactory", "CollectorUnavailable", "PsutilLike", "Sample"]
