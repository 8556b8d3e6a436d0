"""Every network interface: link, speed, and rx/tx/error/drop rates."""

from __future__ import annotations

from typing import ClassVar

from .base import CounterRates, PsutilLike, Sample

VIRTUAL_PREFIXES = ("lo", "docker", "veth", "br-", "virbr", "vmnet", "vboxnet", "tun", "tap")


class NetworkCollector:
    name: ClassVar[str] = "network"

    def __init__(self, ps: PsutilLike) -> None:
        self._ps = ps
        self._rates = CounterRates()

    def collect(self) -> list[Sample]:
        stats = self._ps.net_if_stats()
        counters = self._ps.net_io_counters(pernic=True)
        samples: list[Sample] = []
        for nic in sorted(stats):
            if nic.startswith(VIRTUAL_PREFIXES) or "Loopback" in nic:
                continue
            st = stats[nic]
            labels = (("nic", nic),)
            samples.append(Sample("net_link_up", 1.0 if st.isup else 0.0, labels))
            samples.append(Sample("net_speed_mbps", float(st.speed), labels))
            io = counters.get(nic)
            if io is None:
                continue
            for metric, counter in (
                ("net_rx_bytes_per_second", io.bytes_recv),
                ("net_tx_bytes_per_second", io.bytes_sent),
                ("net_errors_per_second", io.errin + io.errout),
                ("net_drops_per_second", io.dropin + io.dropout),
            ):
                rate = self._rates.rate(metric, labels, float(counter))
                if rate is not None:
                    samples.append(Sample(metric, round(rate, 2), labels))
        return samples
