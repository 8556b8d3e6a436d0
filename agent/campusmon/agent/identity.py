"""Device identity from hardware: stable across renaming and re-imaging, different on cloned images.

The id is `hw-` + 12 hex digits of SHA-256 over the first usable source, in this order: SMBIOS UUID,
board serial, system serial, the lowest built-in MAC. Known junk values that vendors ship are ignored.
The hostname is never part of it; it is only the last resort when the hardware says nothing usable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from campusmon.hashing import sha256_hex

JUNK_VALUES = frozenset(
    {
        "",
        "default string",
        "to be filled by o.e.m.",
        "to be filled by o.e.m",
        "system serial number",
        "chassis serial number",
        "base board serial number",
        "serial number",
        "0123456789",
        "123456789",
        "1234567890",
        "none",
        "null",
        "n/a",
        "na",
        "not specified",
        "not applicable",
        "not available",
        "unknown",
        "invalid",
        "default",
        "oem",
        "o.e.m.",
        "empty",
        "system product name",
    }
)
#: UUIDs that many boards share (placeholder firmware values)
JUNK_UUIDS = frozenset({"03000200-0400-0500-0006-000700080009"})
_UUID_RE = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_MAC_RE = re.compile(r"^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}$")


@dataclass(frozen=True, slots=True)
class Nic:
    """A network interface, as identity candidates see it."""

    name: str
    mac: str
    #: on the board or a PCI card: not USB, not virtual (bridges, VPNs, hypervisor NICs)
    builtin: bool


@dataclass(frozen=True, slots=True)
class HardwareFacts:
    """The identity sources the hardware reports (None: not available)."""

    smbios_uuid: str | None = None
    board_serial: str | None = None
    system_serial: str | None = None
    nics: tuple[Nic, ...] = ()


@dataclass(frozen=True, slots=True)
class Identity:
    """The device id and where it came from."""

    device_id: str
    #: config | smbios_uuid | board_serial | system_serial | mac | hostname
    source: str
    value: str
    #: candidate -> why it was not used
    rejected: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str]:
        return {"device_id": self.device_id, "source": self.source, "value": self.value}


def clean_serial(value: str | None) -> str | None:
    """A serial number that identifies one machine, or None for vendor placeholders."""
    if value is None:
        return None
    v = value.strip()
    if v.lower() in JUNK_VALUES or len(v) < 4 or len(set(v.replace("-", "").lower())) <= 1:
        return None
    return v


def clean_uuid(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip().lower()
    if not _UUID_RE.match(v):
        return None
    digits = v.replace("-", "")
    if len(set(digits)) <= 1 or v in JUNK_UUIDS:
        return None
    if len(v) == 32:
        v = f"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}"
    return v


def clean_mac(value: str | None) -> str | None:
    """A globally unique unicast MAC in aa:bb:cc:dd:ee:ff form, or None."""
    if value is None:
        return None
    v = value.strip().lower()
    if not _MAC_RE.match(v):
        return None
    digits = v.replace(":", "").replace("-", "")
    first = int(digits[:2], 16)
    if len(set(digits)) <= 1 or first & 0x01 or first & 0x02:  # multicast or locally administered
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def usable_facts(facts: HardwareFacts) -> dict[str, str]:
    """The cleaned hardware facts, for the server's asset matching (junk left out)."""
    out = {
        "smbios_uuid": clean_uuid(facts.smbios_uuid),
        "board_serial": clean_serial(facts.board_serial),
        "system_serial": clean_serial(facts.system_serial),
        "macs": ",".join(sorted({m for n in facts.nics if n.builtin and (m := clean_mac(n.mac))})),
    }
    return {k: v for k, v in out.items() if v}


def hash_id(source: str, value: str) -> str:
    return "hw-" + sha256_hex(f"{source}:{value}".encode())[:12]


def derive(facts: HardwareFacts, *, configured: str = "", hostname: str = "") -> Identity:
    """The device id: the configured one, else the first usable hardware source, else the hostname."""
    if configured:
        return Identity(configured, "config", configured)
    rejected: dict[str, str] = {}
    candidates = (
        ("smbios_uuid", facts.smbios_uuid, clean_uuid),
        ("board_serial", facts.board_serial, clean_serial),
        ("system_serial", facts.system_serial, clean_serial),
    )
    for source, raw, clean in candidates:
        value = clean(raw)
        if value is not None:
            return Identity(hash_id(source, value.lower()), source, value, rejected)
        rejected[source] = "missing or unreadable" if raw is None else f"placeholder value {raw!r}"
    macs = []
    for nic in facts.nics:
        mac = clean_mac(nic.mac)
        if not nic.builtin:
            rejected[f"mac:{nic.name}"] = "not a built-in NIC (USB, virtual)"
        elif mac is None:
            rejected[f"mac:{nic.name}"] = f"not a global unicast MAC ({nic.mac!r})"
        else:
            macs.append(mac)
    if macs:
        mac = min(macs)
        return Identity(hash_id("mac", mac), "mac", mac, rejected)
    from .config import slug

    name = slug(hostname or "device")
    return Identity(name, "hostname", hostname, rejected)
