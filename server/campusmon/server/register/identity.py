"""Hardware identity of a device and the scored matching of a new inventory to registered assets.

Pure logic, no I/O: the register service feeds it fingerprints read from the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

#: values vendors leave in SMBIOS/board fields; they identify nothing
JUNK_VALUES = frozenset(
    {
        "default string",
        "to be filled by o.e.m.",
        "to be filled by oem",
        "system serial number",
        "system product name",
        "base board serial number",
        "chassis serial number",
        "serial number",
        "serialnumber",
        "not specified",
        "not applicable",
        "not available",
        "none",
        "null",
        "n/a",
        "na",
        "oem",
        "o.e.m.",
        "invalid",
        "unknown",
        "empty",
        "default",
        "0123456789",
        "123456789",
        "1234567890",
        "12345678",
        "x.x",
        # vendor-default SMBIOS UUIDs shared by many boards
        "03000200-0400-0500-0006-000700080009",
        "00020003-0004-0005-0006-000700080009",
        "12345678-1234-5678-90ab-cddeefaabbcc",
    }
)
_HEX12 = re.compile(r"^[0-9a-f]{12}$")
#: an SMBIOS UUID as Windows and Linux print it (dashes optional, braces allowed): nothing else is one
_UUID = re.compile(r"^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$")
#: interface names of virtual, tunnel and USB-tethered NICs: their MACs say nothing about the machine
_VIRTUAL_NIC = re.compile(
    r"^(lo|docker|veth|br-|virbr|vmnet|vboxnet|tun|tap|wg|zt|utun|vethernet|npcap|loopback)|"
    r"(virtual|hyper-v|vpn|tap-windows|bluetooth|usb|rndis|wan miniport)",
    re.IGNORECASE,
)

MATCH_POINTS = 50
REVIEW_POINTS = 20


def clean(value: Any) -> str | None:
    """A usable identity value, or None for empty and known junk ("Default string", "0000…")."""
    if value is None:
        return None
    text = str(value).strip()
    low = text.lower()
    if len(low) < 4 or low in JUNK_VALUES:
        return None
    compact = low.replace("-", "").replace(" ", "").replace(":", "")
    if not compact or len(set(compact)) == 1:  # 0000…, FFFF…, xxxx…
        return None
    return text[:100]


def clean_uuid(value: Any) -> str | None:
    """The UUID in its usual form, or None for junk and for anything that is not a UUID at all."""
    text = clean(value)
    if not text or not _UUID.match(text.lower()):
        return None
    digits = text.lower().strip("{}").replace("-", "")
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def normalize_mac(value: Any) -> str | None:
    """aa:bb:cc:dd:ee:ff, or None for malformed, all-zero, broadcast and multicast addresses."""
    if not isinstance(value, str):
        return None
    hexdigits = re.sub(r"[^0-9a-fA-F]", "", value).lower()
    if not _HEX12.match(hexdigits) or len(set(hexdigits)) == 1:
        return None
    if int(hexdigits[:2], 16) & 0x01:
        return None
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


def _as_list(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _section(inv: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = inv.get(name)
    return value if isinstance(value, Mapping) else {}


def nic_macs(inventory: Mapping[str, Any]) -> list[str]:
    """MACs of the physical NICs in an inventory (virtual, tunnel and USB adapters left out)."""
    out: list[str] = []
    for nic in _as_list(inventory.get("nics")):
        if nic.get("virtual") is True or nic.get("usb") is True:
            continue
        label = " ".join(str(nic.get(k, "")) for k in ("name", "description") if nic.get(k))
        if label and _VIRTUAL_NIC.search(label):
            continue
        mac = normalize_mac(nic.get("mac"))
        if mac and mac not in out:
            out.append(mac)
    return sorted(out)


def disk_serials(inventory: Mapping[str, Any]) -> list[str]:
    out = {s for d in _as_list(inventory.get("disks")) if (s := clean(d.get("serial")))}
    return sorted(out)


@dataclass(frozen=True)
class Fingerprint:
    """What identifies one machine. Empty fields are unknown, never evidence."""

    smbios_uuid: str | None = None
    serial: str | None = None
    board_serial: str | None = None
    macs: frozenset[str] = frozenset()
    disks: frozenset[str] = frozenset()
    hostname: str = ""
    link: tuple[str, str] | None = None

    @property
    def has_hardware(self) -> bool:
        return bool(self.smbios_uuid or self.serial or self.board_serial or self.macs or self.disks)


def fingerprint(
    identity: Mapping[str, Any], inventory: Mapping[str, Any], link: tuple[str, str] | None = None
) -> Fingerprint:
    """Read the identity fields an agent or probe reports; tolerant of any missing key."""
    smbios = _section(inventory, "smbios")
    uuid = clean_uuid(identity.get("smbios_uuid")) or clean_uuid(smbios.get("uuid"))
    serial = (
        clean(identity.get("system_serial"))
        or clean(identity.get("serial"))
        or clean(smbios.get("serial"))
        or clean(inventory.get("serial"))
    )
    board = clean(identity.get("board_serial")) or clean(smbios.get("board_serial"))
    macs = set(nic_macs(inventory))
    for key in ("mac", "macs"):
        for raw in str(identity.get(key, "")).replace(";", ",").split(","):
            mac = normalize_mac(raw.strip())
            if mac:
                macs.add(mac)
    hostname = str(inventory.get("hostname") or "").strip()
    return Fingerprint(
        smbios_uuid=uuid,
        serial=serial,
        board_serial=board,
        macs=frozenset(macs),
        disks=frozenset(disk_serials(inventory)),
        hostname=hostname,
        link=link,
    )


@dataclass(frozen=True)
class Candidate:
    asset_id: int
    fingerprint: Fingerprint


@dataclass
class Score:
    asset_id: int
    points: int = 0
    conflicts: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    #: the same SMBIOS UUID: the very same board, whatever else differs
    same_board: bool = False
    #: linked to this device id and registered with no hardware evidence yet (an admin's spreadsheet
    #: row, a probe target): nothing can contradict, the link is the identity
    linked_blank: bool = False

    def describe(self) -> str:
        parts = [*self.reasons, *(f"but {c}" for c in self.conflicts)]
        return f"{self.points} points: " + ", ".join(parts) if parts else "0 points"


def score(new: Fingerprint, old: Fingerprint, asset_id: int = 0) -> Score:
    s = Score(asset_id)

    def compare(name: str, a: str | None, b: str | None, points: int) -> None:
        if a is None or b is None:
            return
        if a.lower() == b.lower():
            s.points += points
            s.reasons.append(f"same {name}")
        else:
            s.conflicts.append(f"different {name} ({b} vs {a})")

    compare("SMBIOS UUID", new.smbios_uuid, old.smbios_uuid, 100)
    s.same_board = bool(new.smbios_uuid and old.smbios_uuid and new.smbios_uuid == old.smbios_uuid)
    compare("serial", new.serial, old.serial, 80)
    compare("board serial", new.board_serial, old.board_serial, 60)
    if shared := new.macs & old.macs:
        s.points += 50
        s.reasons.append("same MAC " + ", ".join(sorted(shared)))
    if shared := new.disks & old.disks:
        s.points += 30
        s.reasons.append("same disk " + ", ".join(sorted(shared)))
    if new.link is not None and new.link == old.link:
        s.points += 20
        s.reasons.append(f"same device id {new.link[0]}/{new.link[1]}")
        blank = not (old.smbios_uuid or old.serial or old.board_serial or old.macs or old.disks)
        s.linked_blank = blank and not s.conflicts
    if new.hostname and new.hostname.lower() == old.hostname.lower():
        s.points += 5
        s.reasons.append(f"same hostname {new.hostname}")
    return s


Decision = Literal["match", "review", "new"]


@dataclass(frozen=True)
class MatchResult:
    decision: Decision
    asset_id: int | None = None
    score: Score | None = None
    #: another asset with exactly the same evidence (a duplicate in the register): worth a review
    tied_with: int | None = None

    @property
    def reason(self) -> str:
        return self.score.describe() if self.score else "no registered asset shares this hardware"


def decide(new: Fingerprint, candidates: Sequence[Candidate] | Iterable[Candidate]) -> MatchResult:
    """Match when one asset clearly is this machine; review when unsure; otherwise a new asset.

    Hardware that contradicts (another SMBIOS UUID or serial) never matches, unless the SMBIOS UUID
    itself is the same: two PCs from one cloned image differ there, a re-imaged PC does not.
    """
    scores = sorted((score(new, c.fingerprint, c.asset_id) for c in candidates), key=lambda s: s.asset_id)
    sure = sorted(
        (
            s
            for s in scores
            if s.linked_blank or ((s.same_board or not s.conflicts) and s.points >= MATCH_POINTS)
        ),
        key=lambda s: (s.same_board, s.points),
        reverse=True,
    )
    if sure:
        best = sure[0]
        if len(sure) > 1 and (sure[1].same_board, sure[1].points) == (best.same_board, best.points):
            return MatchResult("match", best.asset_id, best, tied_with=sure[1].asset_id)
        return MatchResult("match", best.asset_id, best)
    doubtful = sorted((s for s in scores if s.points >= REVIEW_POINTS), key=lambda s: s.points, reverse=True)
    if doubtful:
        return MatchResult("review", doubtful[0].asset_id, doubtful[0])
    return MatchResult("new")
