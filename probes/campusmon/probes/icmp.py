"""ICMP echo: loss and round-trip times, without root where the OS allows unprivileged ICMP sockets.

Linux allows `socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)` to groups in net.ipv4.ping_group_range;
root may fall back to a raw socket. Anything else is the `permission_denied` code with that hint.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

from .config import IcmpOptions, TargetSettings
from .result import ProbeResult

ECHO_REQUEST: Final = 8
ECHO_REPLY: Final = 0
PING_GROUP_RANGE: Final = "/proc/sys/net/ipv4/ping_group_range"


class IcmpUnavailable(Exception):
    """This process may not send ICMP echo here."""


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def echo_request(ident: int, seq: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, seq)
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, checksum(header + payload), ident, seq) + payload


def parse_reply(packet: bytes, raw: bool) -> tuple[int, int, int] | None:
    """(type, ident, seq) of an ICMP message; raw sockets deliver the IP header too."""
    if raw:
        if len(packet) < 20:
            return None
        packet = packet[(packet[0] & 0x0F) * 4 :]
    if len(packet) < 8:
        return None
    kind, _code, _sum, ident, seq = struct.unpack("!BBHHH", packet[:8])
    return kind, ident, seq


def open_socket(mode: Literal["auto", "dgram", "raw"]) -> tuple[socket.socket, bool]:
    """(socket, is_raw). Raises IcmpUnavailable with the reason and the fix."""
    if mode in ("auto", "dgram"):
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP), False
        except PermissionError as exc:
            if mode == "dgram" or os.geteuid() != 0:
                raise IcmpUnavailable(
                    f"unprivileged ICMP sockets are not allowed for this user ({exc.strerror}); allow the "
                    f"group with sysctl net.ipv4.ping_group_range (now {_group_range()}) or run as root"
                ) from exc
        except OSError as exc:
            raise IcmpUnavailable(f"cannot open an ICMP socket: {exc}") from exc
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), True
    except PermissionError as exc:
        raise IcmpUnavailable(f"raw ICMP sockets need root or CAP_NET_RAW ({exc.strerror})") from exc


def _group_range() -> str:
    try:
        with open(PING_GROUP_RANGE, encoding="ascii") as fh:
            return fh.read().strip().replace("\t", " ")
    except OSError:
        return "unknown"


@dataclass
class PingStats:
    sent: int = 0
    rtts: list[float] = field(default_factory=list)

    @property
    def loss_percent(self) -> float:
        return 100.0 * (self.sent - len(self.rtts)) / self.sent if self.sent else 100.0


async def ping(
    host: str, opts: IcmpOptions, timeout: float, clock: Callable[[], float] = time.monotonic
) -> PingStats:
    """Send `count` echo requests `spacing` apart; replies after `timeout` count as lost."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_DGRAM)
    addr = infos[0][4][0]
    sock, raw = open_socket(opts.socket)
    sock.setblocking(False)
    # raw sockets see every echo reply on the host: a fresh id per check keeps concurrent pings apart
    ident = random.getrandbits(16)
    stats = PingStats()
    sent_at: dict[int, float] = {}
    deadline = clock() + timeout
    try:
        if not raw:
            sock.connect((addr, 0))

        async def receive() -> None:
            while len(stats.rtts) < opts.count:
                data, source = await loop.sock_recvfrom(sock, 2048)
                now = clock()
                parsed = parse_reply(data, raw)
                if parsed is None or parsed[0] != ECHO_REPLY or source[0] != addr:
                    continue
                _kind, rid, seq = parsed
                # the kernel rewrites the id of unprivileged sockets and filters replies itself
                if (raw and rid != ident) or seq not in sent_at:
                    continue
                stats.rtts.append(now - sent_at.pop(seq))

        receiver = asyncio.ensure_future(receive())
        try:
            for seq in range(opts.count):
                packet = echo_request(ident, seq, b"campusmon" + struct.pack("!d", time.time()))
                sent_at[seq] = clock()
                await loop.sock_sendto(sock, packet, (addr, 0))
                stats.sent += 1
                if seq + 1 < opts.count:
                    await asyncio.sleep(opts.spacing)
            left = max(0.0, deadline - clock())
            await asyncio.wait({receiver}, timeout=left)
        finally:
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)
    finally:
        sock.close()
    return stats


class IcmpProbe:
    kind = "icmp"

    def __init__(self, target: TargetSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.target = target
        self.clock = clock

    async def check(self) -> ProbeResult:
        opts = self.target.icmp
        started = self.clock()
        budget = max(0.2, self.target.timeout - opts.spacing * (opts.count - 1))
        try:
            stats = await ping(self.target.host, opts, budget, self.clock)
        except IcmpUnavailable as exc:
            return ProbeResult("icmp", "permission_denied", str(exc), self.clock() - started)
        except socket.gaierror as exc:
            return ProbeResult("icmp", "unreachable", f"cannot resolve {self.target.host}: {exc}")
        except OSError as exc:
            return ProbeResult("icmp", "unreachable", f"{self.target.host}: {exc}", self.clock() - started)
        elapsed = self.clock() - started
        group: dict[str, str | float | int | bool | None] = {
            "icmp_loss_percent": round(stats.loss_percent, 2),
            "icmp_sent": stats.sent,
            "icmp_received": len(stats.rtts),
        }
        if stats.rtts:
            group.update(
                icmp_rtt_min_seconds=round(min(stats.rtts), 6),
                icmp_rtt_avg_seconds=round(sum(stats.rtts) / len(stats.rtts), 6),
                icmp_rtt_max_seconds=round(max(stats.rtts), 6),
            )
            code = "packet_loss" if stats.loss_percent > opts.max_loss_percent else "ok"
            msg = f"{len(stats.rtts)}/{stats.sent} replies"
        else:
            code, msg = "timeout", f"no echo reply from {self.target.host} ({stats.sent} sent)"
        result = ProbeResult("icmp", code, msg, elapsed)  # type: ignore[arg-type]
        result.groups = {"probe": {**result.probe_group(), **group}}
        return result
