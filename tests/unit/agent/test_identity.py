"""Identity derivation, table-driven: junk ignored, hostname never used when hardware speaks."""

from __future__ import annotations

import pytest

from campusmon.agent.identity import (
    HardwareFacts,
    Nic,
    clean_mac,
    clean_serial,
    clean_uuid,
    derive,
    hash_id,
    usable_facts,
)
from campusmon.agent.wire import ID_RE

UUID = "4c4c4544-0038-3910-8047-b4c04f565331"
PCI = Nic("eth0", "00:e0:4c:68:01:02", builtin=True)
PCI2 = Nic("eth1", "00:e0:4c:68:01:01", builtin=True)
USB = Nic("wlan0", "00:0f:00:aa:bb:cc", builtin=False)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("Default string", False),
        ("To Be Filled By O.E.M.", False),
        ("System Serial Number", False),
        ("0123456789", False),
        ("00000000", False),
        ("  ", False),
        (None, False),
        ("abc", False),
        ("PC1XYZ12", True),
        ("M80-E9012345678", True),
    ],
)
def test_clean_serial(value: str | None, ok: bool) -> None:
    assert (clean_serial(value) is not None) is ok


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("00000000-0000-0000-0000-000000000000", None),
        ("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", None),
        ("03000200-0400-0500-0006-000700080009", None),
        ("not-a-uuid", None),
        ("1A2B3C4D-5E6F-11EB-8000-D8BBC1A2B3C4", "1a2b3c4d-5e6f-11eb-8000-d8bbc1a2b3c4"),
        ("1a2b3c4d5e6f11eb8000d8bbc1a2b3c4", "1a2b3c4d-5e6f-11eb-8000-d8bbc1a2b3c4"),
    ],
)
def test_clean_uuid(value: str, expected: str | None) -> None:
    assert clean_uuid(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("D8-BB-C1-A2-B3-C4", "d8:bb:c1:a2:b3:c4"),
        ("00:00:00:00:00:00", None),
        ("ff:ff:ff:ff:ff:ff", None),
        ("02:42:ac:11:00:01", None),  # locally administered (docker, VPN, randomised Wi-Fi)
        ("01:00:5e:00:00:01", None),  # multicast
        ("", None),
    ],
)
def test_clean_mac(value: str, expected: str | None) -> None:
    assert clean_mac(value) == expected


@pytest.mark.parametrize(
    ("facts", "source", "value"),
    [
        (HardwareFacts(smbios_uuid=UUID, board_serial="L1HF0AB01CD", nics=(PCI,)), "smbios_uuid", UUID),
        (
            HardwareFacts(smbios_uuid="03000200-0400-0500-0006-000700080009", board_serial="M80-E90123"),
            "board_serial",
            "M80-E90123",
        ),
        (HardwareFacts(board_serial="Default string", system_serial="PC1XYZ12"), "system_serial", "PC1XYZ12"),
        (
            HardwareFacts(board_serial="To Be Filled By O.E.M.", nics=(USB, PCI, PCI2)),
            "mac",
            "00:e0:4c:68:01:01",
        ),
        (
            HardwareFacts(nics=(USB, Nic("docker0", "02:42:ac:11:00:01", True))),
            "hostname",
            "C302-Panel.school.local",
        ),
    ],
)
def test_derive(facts: HardwareFacts, source: str, value: str) -> None:
    ident = derive(facts, hostname="C302-Panel.school.local")
    assert (ident.source, ident.value) == (source, value)
    assert ID_RE.match(ident.device_id)
    if source != "hostname":
        assert ident.device_id == hash_id(source, value.lower())
        # renaming the PC changes nothing
        assert derive(facts, hostname="renamed").device_id == ident.device_id
    else:
        assert ident.device_id == "c302-panel"


def test_clones_get_different_ids_and_reimaging_keeps_it() -> None:
    a = derive(HardwareFacts(smbios_uuid=UUID), hostname="clone")
    b = derive(HardwareFacts(smbios_uuid="4c4c4544-0038-3910-8047-b4c04f565332"), hostname="clone")
    assert a.device_id != b.device_id
    assert derive(HardwareFacts(smbios_uuid=UUID.upper()), hostname="fresh-image").device_id == a.device_id


def test_configured_id_wins_and_rejections_are_explained() -> None:
    assert derive(HardwareFacts(smbios_uuid=UUID), configured="c302-panel").source == "config"
    ident = derive(HardwareFacts(board_serial="Default string", nics=(USB, PCI)))
    assert ident.rejected["board_serial"] == "placeholder value 'Default string'"
    assert ident.rejected["smbios_uuid"] == "missing or unreadable"
    assert "not a built-in NIC" in ident.rejected["mac:wlan0"]


def test_usable_facts_leave_junk_out() -> None:
    facts = HardwareFacts(
        smbios_uuid=UUID.upper(),
        board_serial="Default string",
        system_serial="PC1XYZ12",
        nics=(USB, PCI, PCI2),
    )
    assert usable_facts(facts) == {
        "smbios_uuid": UUID,
        "system_serial": "PC1XYZ12",
        "macs": "00:e0:4c:68:01:01,00:e0:4c:68:01:02",
    }
