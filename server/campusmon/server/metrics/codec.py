"""Compact, lossless encodings for stored samples (pure functions, no I/O).

A column of values is stored as decimal integers when every value is an exact decimal with at most
`MAX_SCALE` digits after the point (what agents and probes send: `63.2`, `8451055616`, `0.000123`):
deltas of the scaled integers, zigzag varints. Anything else (a float with 17 significant digits) is
stored as the XOR of consecutive IEEE-754 bit patterns in varints. Blocks are zlib-compressed as a whole,
so a constant series (a disk's size, a core count) costs next to nothing.

Raw block (one device, one hour): row timestamps and seqs, then one column per series with a
directory (series id, byte length) so a chart decodes only the series it draws.

Rollup block (one device, one hour): per series, the 5-minute buckets present and, per bucket, count,
min, max and sum (the average is sum / count, and buckets merge exactly into coarser steps).
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

#: at most this many decimal digits after the point for the integer encoding
MAX_SCALE = 9
_FLOAT_MODE = 0xFF
_RAW_VERSION = 1
_ROLLUP_VERSION = 1
_LIMIT = 1 << 62
_D = struct.Struct("<d")
_Q = struct.Struct("<Q")


class CodecError(ValueError):
    """A stored block that does not decode (a damaged file, or a newer format)."""


# -- varints ----------------------------------------------------------------------------------------
def put_uvarint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def get_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        try:
            b = buf[pos]
        except IndexError:
            raise CodecError("truncated varint") from None
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def zigzag(n: int) -> int:
    return n * 2 if n >= 0 else -n * 2 - 1


def unzigzag(n: int) -> int:
    return n >> 1 if not n & 1 else -((n + 1) >> 1)


def put_ints(out: bytearray, values: Iterable[int]) -> None:
    """Delta + zigzag varints."""
    prev = 0
    for v in values:
        put_uvarint(out, zigzag(v - prev))
        prev = v


def get_ints(buf: bytes, pos: int, n: int) -> tuple[list[int], int]:
    out: list[int] = []
    prev = 0
    for _ in range(n):
        z, pos = get_uvarint(buf, pos)
        prev += unzigzag(z)
        out.append(prev)
    return out, pos


# -- value columns ----------------------------------------------------------------------------------
def decimal_scale(values: Iterable[float]) -> int | None:
    """The fewest decimal digits that write every value exactly, or None (not decimal, too big)."""
    k = 0
    for v in values:
        if v.is_integer():
            if abs(v) >= _LIMIT:
                return None
            continue
        r = repr(v)
        if "e" in r or "n" in r:  # 1e-07, nan, inf
            return None
        k = max(k, len(r) - r.index(".") - 1)
        if k > MAX_SCALE:
            return None
    return k


def scaled(values: Sequence[float], k: int) -> list[int] | None:
    """The values as integer multiples of 10^-k, or None when one of them is not exactly that."""
    p = 10**k
    ints = [round(v * p) for v in values]
    if k:
        for m, v in zip(ints, values, strict=True):
            if m / p != v or abs(m) >= _LIMIT:
                return None
    return ints


def put_values(out: bytearray, values: Sequence[float], scale: int | None = -1) -> None:
    """`scale`: the column's `decimal_scale` when the caller knows it already (-1: find it)."""
    k = decimal_scale(values) if scale == -1 else scale
    ints = scaled(values, k) if k is not None else None
    if k is not None and ints is not None:
        out.append(k)
        put_ints(out, ints)
        return
    out.append(_FLOAT_MODE)
    prev = 0
    for v in values:
        bits: int = _Q.unpack(_D.pack(v))[0]
        put_uvarint(out, bits ^ prev)
        prev = bits


def get_values(buf: bytes, pos: int, n: int) -> tuple[list[float], int]:
    try:
        mode = buf[pos]
    except IndexError:
        raise CodecError("truncated column") from None
    pos += 1
    if mode == _FLOAT_MODE:
        out: list[float] = []
        prev = 0
        for _ in range(n):
            x, pos = get_uvarint(buf, pos)
            prev ^= x
            out.append(_D.unpack(_Q.pack(prev))[0])
        return out, pos
    if mode > MAX_SCALE:
        raise CodecError(f"unknown column mode {mode}")
    ints, pos = get_ints(buf, pos, n)
    if mode == 0:
        return [float(m) for m in ints], pos
    p = 10**mode
    return [m / p for m in ints], pos


def _put_mask(out: bytearray, present: Sequence[int], n: int) -> None:
    """Which rows a series has: 0 (all of them) or 1 + a bitmap."""
    if len(present) == n:
        out.append(0)
        return
    out.append(1)
    bits = bytearray((n + 7) // 8)
    for i in present:
        bits[i >> 3] |= 1 << (i & 7)
    out += bits


def _get_mask(buf: bytes, pos: int, n: int) -> tuple[list[int], int]:
    mode = buf[pos]
    pos += 1
    if mode == 0:
        return list(range(n)), pos
    if mode != 1:
        raise CodecError(f"unknown presence mode {mode}")
    size = (n + 7) // 8
    bits = buf[pos : pos + size]
    if len(bits) != size:
        raise CodecError("truncated presence bitmap")
    return [i for i in range(n) if bits[i >> 3] >> (i & 7) & 1], pos + size


def _directory(out: bytearray, parts: list[tuple[int, bytes]]) -> None:
    put_uvarint(out, len(parts))
    prev = 0
    for sid, payload in parts:
        put_uvarint(out, sid - prev)
        put_uvarint(out, len(payload))
        prev = sid
    for _, payload in parts:
        out += payload


def _read_directory(buf: bytes, pos: int) -> tuple[list[tuple[int, int, int]], int]:
    """(series id, start, end) of each payload, and the end of the block."""
    n, pos = get_uvarint(buf, pos)
    entries: list[tuple[int, int]] = []
    sid = 0
    for _ in range(n):
        d, pos = get_uvarint(buf, pos)
        size, pos = get_uvarint(buf, pos)
        sid += d
        entries.append((sid, size))
    out: list[tuple[int, int, int]] = []
    for sid, size in entries:
        out.append((sid, pos, pos + size))
        pos += size
    if pos > len(buf):
        raise CodecError("truncated block")
    return out, pos


def _inflate(data: bytes) -> bytes:
    try:
        return zlib.decompress(data)
    except zlib.error as exc:
        raise CodecError(f"zlib: {exc}") from exc


# -- raw blocks -------------------------------------------------------------------------------------
@dataclass(slots=True)
class RawRows:
    """Reports of one device: row i is (ts[i], seq[i]); `columns[sid]` = (row indexes, values)."""

    ts: list[int] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    columns: dict[int, tuple[list[int], list[float]]] = field(default_factory=dict)

    def add(self, ts: int, seq: int, sids: Sequence[int], values: Sequence[float]) -> None:
        row = len(self.ts)
        self.ts.append(ts)
        self.seq.append(seq)
        for sid, v in zip(sids, values, strict=True):
            col = self.columns.get(sid)
            if col is None:
                col = self.columns[sid] = ([], [])
            if col[0] and col[0][-1] == row:  # the same series twice in one report: keep the last
                col[1][-1] = v
                continue
            col[0].append(row)
            col[1].append(v)

    @property
    def samples(self) -> int:
        return sum(len(rows) for rows, _ in self.columns.values())

    def sorted(self) -> RawRows:
        """Rows by (ts, seq), one per seq (the first kept)."""
        order = sorted(range(len(self.ts)), key=lambda i: (self.ts[i], self.seq[i]))
        keep: list[int] = []
        seen: set[int] = set()
        for i in order:
            if self.seq[i] not in seen:
                seen.add(self.seq[i])
                keep.append(i)
        if keep == list(range(len(self.ts))):
            return self
        new_index = {old: new for new, old in enumerate(keep)}
        out = RawRows([self.ts[i] for i in keep], [self.seq[i] for i in keep])
        for sid, (rows, values) in self.columns.items():
            pairs = sorted((new_index[r], v) for r, v in zip(rows, values, strict=True) if r in new_index)
            if pairs:
                out.columns[sid] = ([r for r, _ in pairs], [v for _, v in pairs])
        return out


def encode_raw(rows: RawRows, level: int = 6, scales: dict[int, int | None] | None = None) -> bytes:
    """`scales`: each series' `decimal_scale`, when the caller has it."""
    rows = rows.sorted()
    out = bytearray([_RAW_VERSION])
    n = len(rows.ts)
    put_uvarint(out, n)
    put_ints(out, rows.ts)
    put_ints(out, rows.seq)
    parts: list[tuple[int, bytes]] = []
    for sid in sorted(rows.columns):
        present, values = rows.columns[sid]
        payload = bytearray()
        _put_mask(payload, present, n)
        put_values(payload, values, -1 if scales is None else scales.get(sid, -1))
        parts.append((sid, bytes(payload)))
    _directory(out, parts)
    return zlib.compress(bytes(out), level)


def _raw_header(data: bytes) -> tuple[bytes, int, list[int], list[int], int]:
    buf = _inflate(data)
    if not buf or buf[0] != _RAW_VERSION:
        raise CodecError("not a raw block of a known version")
    n, pos = get_uvarint(buf, 1)
    ts, pos = get_ints(buf, pos, n)
    seq, pos = get_ints(buf, pos, n)
    return buf, n, ts, seq, pos


def decode_raw(data: bytes) -> RawRows:
    buf, n, ts, seq, pos = _raw_header(data)
    rows = RawRows(ts, seq)
    directory, _ = _read_directory(buf, pos)
    for sid, start, _end in directory:
        present, p = _get_mask(buf, start, n)
        values, _ = get_values(buf, p, len(present))
        rows.columns[sid] = (present, values)
    return rows


def raw_series(data: bytes, wanted: set[int]) -> list[tuple[int, int, float]]:
    """(ts, series id, value) of the wanted series only."""
    buf, n, ts, _seq, pos = _raw_header(data)
    directory, _ = _read_directory(buf, pos)
    out: list[tuple[int, int, float]] = []
    for sid, start, _end in directory:
        if sid not in wanted:
            continue
        present, p = _get_mask(buf, start, n)
        values, _ = get_values(buf, p, len(present))
        out.extend((ts[i], sid, v) for i, v in zip(present, values, strict=True))
    return out


def raw_seqs(data: bytes) -> list[int]:
    return _raw_header(data)[3]


def raw_last(data: bytes) -> tuple[int, dict[int, float]]:
    """The newest report of a block: its ts and values by series id."""
    rows = decode_raw(data)
    last = len(rows.ts) - 1
    values: dict[int, float] = {}
    for sid, (present, col) in rows.columns.items():
        if present and present[-1] == last:
            values[sid] = col[-1]
    return rows.ts[last], values


# -- rollups ----------------------------------------------------------------------------------------
@dataclass(slots=True)
class Bucket:
    """Aggregates of one series over one time bucket."""

    count: int
    total: float
    low: float
    high: float

    def merge(self, other: Bucket) -> None:
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)


def rollup_buckets(
    ts: Sequence[int], values: Sequence[float], step: int, scale: int | None = -1
) -> dict[int, Bucket]:
    """bucket start -> count, sum, min, max of one series; sums are exact for decimal values."""
    k = decimal_scale(values) if scale == -1 else scale
    ints = scaled(values, k) if k is not None else None
    groups: dict[int, list[int]] = {}
    for i, t in enumerate(ts):
        groups.setdefault(t - t % step, []).append(i)
    out: dict[int, Bucket] = {}
    for start, idx in groups.items():
        vals = [values[i] for i in idx]
        if ints is not None and k is not None:
            total = sum(ints[i] for i in idx) / 10**k
        else:
            total = math.fsum(vals)
        out[start] = Bucket(len(idx), total, min(vals), max(vals))
    return out


def encode_rollup(hour_start: int, step: int, series: dict[int, dict[int, Bucket]], level: int = 6) -> bytes:
    """`series[sid][bucket start]` for the buckets of one hour starting at `hour_start`."""
    out = bytearray([_ROLLUP_VERSION])
    put_uvarint(out, step)
    parts: list[tuple[int, bytes]] = []
    for sid in sorted(series):
        buckets = series[sid]
        starts = sorted(buckets)
        payload = bytearray()
        put_uvarint(payload, len(starts))
        put_ints(payload, [(s - hour_start) // step for s in starts])
        bs = [buckets[s] for s in starts]
        put_ints(payload, [b.count for b in bs])
        put_values(payload, [b.low for b in bs])
        put_values(payload, [b.high for b in bs])
        put_values(payload, [b.total for b in bs])
        parts.append((sid, bytes(payload)))
    _directory(out, parts)
    return zlib.compress(bytes(out), level)


def decode_rollup(
    data: bytes, hour_start: int, wanted: set[int] | None = None
) -> dict[int, dict[int, Bucket]]:
    buf = _inflate(data)
    if not buf or buf[0] != _ROLLUP_VERSION:
        raise CodecError("not a rollup block of a known version")
    step, pos = get_uvarint(buf, 1)
    directory, _ = _read_directory(buf, pos)
    out: dict[int, dict[int, Bucket]] = {}
    for sid, start, _end in directory:
        if wanted is not None and sid not in wanted:
            continue
        n, p = get_uvarint(buf, start)
        offsets, p = get_ints(buf, p, n)
        counts, p = get_ints(buf, p, n)
        lows, p = get_values(buf, p, n)
        highs, p = get_values(buf, p, n)
        totals, p = get_values(buf, p, n)
        buckets: dict[int, Bucket] = {}
        for i, off in enumerate(offsets):
            s = hour_start + off * step
            buckets[s] = Bucket(counts[i], totals[i], lows[i], highs[i])
        out[sid] = buckets
    return out
