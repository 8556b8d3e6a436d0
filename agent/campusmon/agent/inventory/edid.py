"""The few EDID fields an asset register wants: maker, model name, serial (VESA E-EDID 1.3/1.4)."""

from __future__ import annotations

HEADER = bytes.fromhex("00ffffffffffff00")


def parse_edid(raw: bytes) -> dict[str, str]:
    """{} for anything that is not a valid base EDID block."""
    if len(raw) < 128 or raw[:8] != HEADER or sum(raw[:128]) % 256 != 0:
        return {}
    word = (raw[8] << 8) | raw[9]
    maker = "".join(chr(((word >> shift) & 0x1F) + 64) for shift in (10, 5, 0))
    out = {"maker": maker, "product_code": f"{raw[10] | (raw[11] << 8):04x}"}
    serial_number = int.from_bytes(raw[12:16], "little")
    if serial_number:
        out["serial"] = str(serial_number)
    for start in (54, 72, 90, 108):
        block = raw[start : start + 18]
        if block[:3] != b"\x00\x00\x00":
            continue
        text = block[5:18].split(b"\x0a", 1)[0].decode("cp437").strip()
        if block[3] == 0xFC and text:
            out["model"] = text
        elif block[3] == 0xFF and text:
            out["serial"] = text
    return out
