"""Every probe module is registered; ICMP packet helpers."""

from __future__ import annotations

import importlib
import pkgutil
import struct
import typing

import campusmon.probes as probes_pkg
from campusmon.probes.config import Kind
from campusmon.probes.icmp import checksum, echo_request, parse_reply
from campusmon.probes.registry import REGISTRY


def test_every_kind_is_registered_and_every_module_imports() -> None:
    assert set(REGISTRY) == set(typing.get_args(Kind))
    for mod in pkgutil.iter_modules(probes_pkg.__path__):
        importlib.import_module(f"campusmon.probes.{mod.name}")


def test_echo_request_checksum_verifies() -> None:
    packet = echo_request(0x1234, 7, b"campusmon!")
    assert checksum(packet) == 0  # a packet including its checksum sums to zero
    assert parse_reply(packet, raw=False) == (8, 0x1234, 7)
    ip_header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(packet), 0, 0, 64, 1, 0, b"\x7f\0\0\1", b"\x7f\0\0\1"
    )
    assert parse_reply(ip_header + packet, raw=True) == (8, 0x1234, 7)
    assert parse_reply(b"\x00\x01", raw=False) is None
