"""Id rules of the MQTT contract: a campus, a device or a probe runner is named by one id.

Standard library only: the agent checks its ids with this module and never loads msgspec.
"""

from __future__ import annotations

import re
from typing import Final

#: \Z, not $: "$" also matches before a trailing newline ("pc-1\n")
ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}\Z"
ID_RE: Final = re.compile(ID_PATTERN)


def is_id(value: str) -> bool:
    """True when `value` may be a campus or device id (lower case, digits, `_`, `-`; 1-64 long)."""
    return ID_RE.match(value) is not None


def id_problem(what: str, value: str) -> str | None:
    """Why `value` cannot be the id `what` names (None when it can), in the words every role uses."""
    if is_id(value):
        return None
    return f"{what} {value!r} does not match {ID_PATTERN}"
