"""Hardware identity and scored matching: the table of cases the register must get right."""

from __future__ import annotations

import pytest

from campusmon.server.register.identity import (
    Candidate,
    Fingerprint,
    clean,
    clean_uuid,
    decide,
    fingerprint,
    nic_macs,
    normalize_mac,
)

UUID_A = "4c4c4544-0042-3510-8052-b7c04f4e4432"
UUID_B = "4c4c4544-0042-3510-8052-c8c04f4e9999"


@pytest.mark.parametrize(
    "value",
    [
        "Default string",
        "To Be Filled By O.E.M.",
        "System Serial Number",
        "0123456789",
        "00000000-0000-0000-0000-000000000000",
        "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
        "  ",
        None,
        "N/A",
        "xxxxxxxx",
    ],
)
def test_junk_identity_values_are_ignored(value: str | None) -> None:
    assert clean(value) is None


@pytest.mark.parametrize("value", ["PF2ABCD1", "CN1234567", UUID_A])
def test_real_identity_values_are_kept(value: str) -> None:
    assert clean(value) == value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AA-BB-CC-DD-EE-01", "aa:bb:cc:dd:ee:01"),
        ("aabb.ccdd.ee02", "aa:bb:cc:dd:ee:02"),
        ("00:00:00:00:00:00", None),
        ("ff:ff:ff:ff:ff:ff", None),
        ("01:00:5e:00:00:01", None),  # multicast
        ("not a mac", None),
    ],
)
def test_mac_normalization(raw: str, expected: str | None) -> None:
    assert normalize_mac(raw) == expected


def test_virtual_and_usb_nics_do_not_identify_a_machine() -> None:
    inv = {
        "nics": [
            {"name": "Ethernet", "mac": "AA:BB:CC:00:00:01"},
            {"name": "vEthernet (Default Switch)", "mac": "AA:BB:CC:00:00:02"},
            {"name": "docker0", "mac": "AA:BB:CC:00:00:03"},
            {"name": "enx001", "mac": "AA:BB:CC:00:00:04", "usb": True},
            {"name": "VirtualBox Host-Only", "mac": "AA:BB:CC:00:00:05"},
            {"name": "broken"},
        ]
    }
    assert nic_macs(inv) == ["aa:bb:cc:00:00:01"]


def fp(
    uuid: str | None = UUID_A,
    serial: str | None = "PF2ABCD1",
    macs: tuple[str, ...] = ("aa:bb:cc:00:00:01",),
    disks: tuple[str, ...] = ("WD-001",),
    hostname: str = "LAB301-PC07",
    link: tuple[str, str] | None = ("main", "lab301-pc07"),
) -> Fingerprint:
    return Fingerprint(uuid, serial, None, frozenset(macs), frozenset(disks), hostname, link)


REGISTERED = fp()


@pytest.mark.parametrize(
    ("case", "new", "expected"),
    [
        ("same machine, same message", fp(), "match"),
        ("renamed (hostname and device id changed)", fp(hostname="PC-NEW", link=("main", "pc-new")), "match"),
        ("re-imaged (new OS, hostname, disk wiped but same disk)", fp(hostname="WIN11-XYZ"), "match"),
        ("disk replaced while re-imaging", fp(disks=("SAMSUNG-9",), hostname="WIN11"), "match"),
        ("NIC swapped (onboard NIC dead, PCIe card)", fp(macs=("aa:bb:cc:99:99:99",)), "match"),
        (
            "cloned image, other PC (same hostname and configured device id)",
            fp(UUID_B, "PF2ZZZZ9", ("aa:bb:cc:00:00:77",), ("WD-777",)),
            "review",
        ),
        (
            "cloned image, other PC (own device id from hardware)",
            fp(UUID_B, "PF2ZZZZ9", ("aa:bb:cc:00:00:77",), ("WD-777",), link=("main", "pc-b")),
            "new",
        ),
        (
            "other PC, nothing shared",
            fp(UUID_B, "XYZ", ("aa:bb:cc:00:00:78",), ("D-2",), "X", ("m", "x")),
            "new",
        ),
        (
            "motherboard replaced: only the disk and hostname remain",
            fp(UUID_B, "NEWBOARD", ("aa:bb:cc:00:00:79",), link=("main", "pc-c")),
            "review",
        ),
        (
            "USB NIC moved to another PC: MAC shared, hardware differs",
            fp(UUID_B, "OTHER-1", ("aa:bb:cc:00:00:01",), ("D-3",), "OTHER", ("main", "other")),
            "review",
        ),
    ],
)
def test_matching_table(case: str, new: Fingerprint, expected: str) -> None:
    result = decide(new, [Candidate(1, REGISTERED)])
    assert result.decision == expected, f"{case}: {result.reason}"
    if expected != "new":
        assert result.asset_id == 1


def test_junk_serials_never_match_two_machines() -> None:
    """Two boards that both say 'To Be Filled By O.E.M.' and have no UUID are different machines."""
    inv_a = {
        "smbios": {"serial": "To Be Filled By O.E.M.", "uuid": "03000200-0400-0500-0006-000700080009"},
        "nics": [{"name": "eth0", "mac": "10:00:00:00:00:01"}],
        "hostname": "pc-a",
    }
    inv_b = {
        "smbios": {"serial": "To Be Filled By O.E.M.", "uuid": "03000200-0400-0500-0006-000700080009"},
        "nics": [{"name": "eth0", "mac": "10:00:00:00:00:02"}],
        "hostname": "pc-b",
    }
    a = fingerprint({}, inv_a, ("main", "pc-a"))
    b = fingerprint({}, inv_b, ("main", "pc-b"))
    assert a.serial is None and a.smbios_uuid is None  # the vendor-default UUID is junk too
    assert decide(b, [Candidate(1, a)]).decision == "new"


def test_junk_serial_alone_is_no_evidence() -> None:
    old = Fingerprint(serial=clean("Default string"), macs=frozenset({"10:00:00:00:00:01"}))
    new = fingerprint({}, {"smbios": {"serial": "Default string"}, "nics": [{"mac": "10:00:00:00:00:02"}]})
    assert decide(new, [Candidate(1, old)]).decision == "new"


def test_same_board_wins_over_a_weaker_candidate() -> None:
    spreadsheet_row = Fingerprint(serial="PF2ABCD1")  # imported, no agent yet
    linked = fp(serial=None)
    result = decide(fp(), [Candidate(1, spreadsheet_row), Candidate(2, linked)])
    assert (result.decision, result.asset_id) == ("match", 2)


def test_a_spreadsheet_asset_is_found_by_its_serial() -> None:
    spreadsheet_row = Fingerprint(serial="pf2abcd1")
    result = decide(fp(), [Candidate(7, spreadsheet_row)])
    assert (result.decision, result.asset_id) == ("match", 7)


def test_fingerprint_reads_identity_and_inventory_tolerantly() -> None:
    got = fingerprint(
        {"smbios_uuid": UUID_A.upper(), "board_serial": "Default string", "source": "smbios_uuid"},
        {
            "smbios": {"serial": "PF2ABCD1", "vendor": "LENOVO"},
            "disks": [{"serial": "WD-1"}, {}],
            "nics": "garbage",
            "hostname": " LAB ",
        },
    )
    assert got.smbios_uuid == UUID_A and got.serial == "PF2ABCD1" and got.board_serial is None
    assert got.disks == frozenset({"WD-1"}) and got.macs == frozenset() and got.hostname == "LAB"
    assert fingerprint({}, {}).has_hardware is False


def test_two_assets_with_the_same_evidence_match_the_older_and_flag_the_other() -> None:
    twin = Fingerprint(serial="PF2ABCD1")
    result = decide(fp(), [Candidate(9, twin), Candidate(4, twin)])
    assert (result.decision, result.asset_id, result.tied_with) == ("match", 4, 9)


def test_a_linked_asset_without_hardware_takes_the_first_inventory() -> None:
    """A spreadsheet row or probe target linked to a device id, with no hardware yet, is that device."""
    blank = Fingerprint(None, None, None, frozenset(), frozenset(), "", ("main", "sw-b1-f3"))
    switch = Fingerprint(
        None, "FOC1234X0AB", None, frozenset({"00:11:22:33:44:55"}), frozenset(), "", ("main", "sw-b1-f3")
    )
    assert decide(switch, [Candidate(7, blank)]).decision == "match"
    # the same link with hardware that contradicts is still no match (a cloned, configured id)
    registered = Fingerprint(None, "FOC0000ZZZZ", None, frozenset(), frozenset(), "", ("main", "sw-b1-f3"))
    assert decide(switch, [Candidate(7, registered)]).decision == "review"
    # a blank asset with another link proves nothing
    other = Fingerprint(None, None, None, frozenset(), frozenset(), "", ("main", "sw-x"))
    assert decide(switch, [Candidate(7, other)]).decision == "new"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (UUID_A, UUID_A),
        (UUID_A.upper(), UUID_A),
        ("{" + UUID_A + "}", UUID_A),
        (UUID_A.replace("-", ""), UUID_A),
        ("zzzz-not-a-uuid", None),
        ("u" * 300, None),
        ("4c4c4544-0042-3510-8052", None),
        ("00000000-0000-0000-0000-000000000000", None),
    ],
)
def test_clean_uuid_takes_uuids_only(value: str, expected: str | None) -> None:
    """A nonsense `smbios_uuid` is no evidence: it must neither match nor separate assets."""
    assert clean_uuid(value) == expected
