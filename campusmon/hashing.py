"""Content hashes: one canonical form of an inventory, hashed the same way by every producer.

An inventory's `hash` (docs/protocol.md) is `sha256:<hex>` of its canonical JSON: keys sorted, no
spaces, UTF-8 as is. The agent, the probe runner and the simulator all call `content_hash`, so equal
content gives an equal hash whoever sent it, and an unchanged inventory is not resent.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any


def sha256_hex(data: bytes) -> str:
    """SHA-256 without hashlib's OpenSSL backend (libcrypto, ~3.5 MiB): CPython's own implementation.

    The same digest as hashlib.sha256; the built-in module is what hashlib itself falls back to. Builds
    without it (--with-builtin-hashlib-hashes leaving sha256 out) use hashlib.
    """
    if "_hashlib" not in sys.modules:  # OpenSSL not loaded yet: keep it that way
        for builtin in ("_sha2", "_sha256"):  # Python 3.12+, 3.11
            try:
                module = importlib.import_module(builtin)
            except ImportError:
                continue
            return str(module.sha256(data).hexdigest())
    import hashlib

    return hashlib.sha256(data).hexdigest()


def canonical_json(data: Any) -> bytes:
    """The bytes a content hash covers: sorted keys, compact separators, UTF-8 (no \\u escapes)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def content_hash(data: Any) -> str:
    """`sha256:<hex>` of `data`'s canonical JSON (the contract's HASH_PATTERN)."""
    return "sha256:" + sha256_hex(canonical_json(data))
