"""The MQTT contract's constants and topic names (docs/protocol.md), with the standard library only.

`campusmon.contract` adds the msgspec schema the server and the probe runner decode and encode with;
the agent builds its payloads from these constants without msgspec (agent/campusmon/agent/wire.py).
Both read the numbers from here, so there is one contract.
"""

from __future__ import annotations

from typing import Final, Literal

from campusmon.ids import id_problem

PROTOCOL_VERSION: Final = 1
DEFAULT_ROOT: Final = "campusmon"
KINDS: Final = ("status", "metrics", "inventory", "events")
STATES: Final = ("online", "shutdown", "lost")
#: Default cap on one message, compressed or not (an inventory with many USB devices stays far below).
DEFAULT_MAX_PAYLOAD_BYTES: Final = 256 * 1024

# -- bounds on every field (docs/protocol.md, "Bounds"); the server refuses what lies outside --------
#: `seq`: 0 … 2^53 (a JSON number every language reads exactly)
MAX_SEQ: Final = 2**53
#: any number in a payload: |v| <= 2^53. Metrics are stored as doubles, exact for integers up to there;
#: 1e308, 10^400, NaN and infinity are refused
MAX_NUMBER: Final = 2**53
#: `ts` before 2100-01-01 whatever the server's clock says (the server narrows it further: `ingest.ts_*`)
MAX_TS: Final = 4_102_444_800.0
#: objects and arrays nest at most this deep, counting the payload's own object as 1
MAX_DEPTH: Final = 10
#: string lengths: the database columns they end up in
MAX_REASON: Final = 200  # devices.state_reason
MAX_AGENT: Final = 100  # devices.agent
MAX_LABEL: Final = 200  # a metric label becomes a ticket's subject (tickets.subject)
MAX_NAME: Final = 128  # metric, group, inventory and data keys
MAX_HASH: Final = 100  # reg_assets.inventory_hash
MAX_TEXT: Final = 4096  # any other string in an inventory or an event's data
MAX_MESSAGE: Final = 2000  # an event's message
MAX_UNAVAILABLE: Final = 1000  # why a collector produced nothing
#: collection sizes
MAX_GROUPS: Final = 64  # metric groups in one report
MAX_INSTANCES: Final = 4096  # objects in one metric group (cores, disks, switch ports)
MAX_FIELDS: Final = 256  # labels + metrics in one object of a group
MAX_ITEMS: Final = 10_000  # elements of any other array (a switch's forwarding table)
MAX_KEYS: Final = 1000  # keys of any other object
MAX_IDENTITY: Final = 32  # identity facts of an inventory
MAX_IDENTITY_VALUE: Final = 1024  # `macs` lists every built-in NIC
HASH_PATTERN: Final = r"^[a-z0-9]{1,16}:[0-9a-f]{16,80}$"
IDENTITY_KEY_PATTERN: Final = r"^[a-z][a-z0-9_]{0,31}$"

Kind = Literal["status", "metrics", "inventory", "events"]
State = Literal["online", "shutdown", "lost"]
Severity = Literal["info", "warning", "critical"]


def topic(campus: str, device: str, kind: Kind, root: str = DEFAULT_ROOT) -> str:
    """`<root>/<campus>/<device>/<kind>`; ValueError for an id the contract does not allow."""
    for name, value in (("campus", campus), ("device", device)):
        problem = id_problem(name, value)
        if problem:
            raise ValueError(problem)
    return f"{root}/{campus}/{device}/{kind}"
