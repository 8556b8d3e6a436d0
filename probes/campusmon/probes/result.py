"""What one check found: a result code (never an exception), metric groups and, for SNMP, inventory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from campusmon.contract import Group

Code = Literal[
    "ok",
    # the target did not answer at all: its status becomes `lost`
    "timeout",
    "unreachable",
    # the target answered, but the check failed: `probe_failing` = 1
    "auth_failed",
    "refused",
    "protocol_error",
    "bad_status",
    "content_mismatch",
    "tls_error",
    "cert_expiring",
    "packet_loss",
    "port_fault",
    # the runner itself cannot do the check here (no ICMP permission, bad address)
    "permission_denied",
    "config_error",
]
#: codes that mean nothing answered: the target is reported `lost`, not `probe_failing`
UNREACHABLE: Final = frozenset({"timeout", "unreachable"})
#: codes about the runner, not the target: the check is failing but the target's state is unknown
LOCAL: Final = frozenset({"permission_denied", "config_error"})


@dataclass
class ProbeResult:
    kind: str
    code: Code
    message: str = ""
    duration_seconds: float = 0.0
    #: metric groups for the `metrics` payload (label values are strings, metrics are numbers)
    groups: dict[str, Group] = field(default_factory=dict)
    #: a full inventory (SNMP: system, ENTITY-MIB, ports, forwarding table), when one was read
    inventory: dict[str, Any] | None = None
    identity: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code == "ok"

    @property
    def reachable(self) -> bool | None:
        """True: it answered; False: it did not; None: the runner could not tell (local problem)."""
        if self.code in LOCAL:
            return None
        return self.code not in UNREACHABLE

    def probe_group(self) -> dict[str, str | float | int | bool | None]:
        """The `probe` metric group every check reports: up and failing as 0/1, duration."""
        group: dict[str, str | float | int | bool | None] = {
            "check": self.kind,
            "probe_up": 1 if self.reachable else 0,
            "probe_duration_seconds": round(self.duration_seconds, 6),
        }
        # an unreachable target is a `lost` status (device down), not a second ticket for the check
        if self.reachable is not False:
            group["probe_failing"] = 0 if self.ok else 1
        return group
