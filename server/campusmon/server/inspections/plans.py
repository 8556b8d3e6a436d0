"""Inspection plans as data: what to inspect, how often, and the checklist per device type.

The shipped plans (plans.toml beside this file) are overlaid by a site file: a plan of the same name
takes the site's keys over the shipped ones, a checklist of the same type is replaced whole, and
`enabled = false` turns a shipped plan off. Every key is checked like the server config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from campusmon.config import ConfigError, build, did_you_mean, read_toml

from ..register.models import ASSET_TYPES

SHIPPED = Path(__file__).with_name("plans.toml")
Lang = Literal["zh", "en"]
#: what live data can say about an item (see prefill.py); "" is a check only a person can do
AUTO_KINDS = ("", "online", "disk", "switch_ports")
AUTO_PREFIXES = ("peripheral:",)
_KEY = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")


def _check_key(what: str, key: str) -> None:
    if not _KEY.match(key):
        raise ConfigError(f"{what} {key!r}: use lower-case letters, digits and _ (at most 64)")


def _check_label(what: str, text: str) -> None:
    if not text.strip() or len(text) > 200:
        raise ConfigError(f"{what}: a label of 1 to 200 characters is needed")


@dataclass
class ItemSpec:
    """One line of a checklist."""

    key: str
    zh: str
    en: str
    auto: str = ""
    #: the ticket problem a failed item opens (or notes, when one is open)
    problem: str = "inspection_failed"
    #: ticket subjects that are the same problem; the first names a new ticket (default: the key)
    subjects: list[str] = field(default_factory=list)
    severity: Literal["info", "warning", "critical"] = "warning"

    def validate(self) -> None:
        _check_key("item", self.key)
        _check_label(f"item {self.key}: zh", self.zh)
        _check_label(f"item {self.key}: en", self.en)
        if self.auto not in AUTO_KINDS and not (
            self.auto.startswith(AUTO_PREFIXES) and _KEY.match(self.auto.split(":", 1)[1])
        ):
            kinds = [k for k in AUTO_KINDS if k] + ["peripheral:<name>"]
            raise ConfigError(
                f"item {self.key}: auto {self.auto!r} is not one of {', '.join(kinds)}"
                f"{did_you_mean(self.auto, kinds)}"
            )
        _check_key(f"item {self.key}: problem", self.problem)
        if any(not s.strip() or len(s) > 200 for s in self.subjects):
            raise ConfigError(f"item {self.key}: subjects are 1 to 200 characters")

    def label(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en

    @property
    def subject(self) -> str:
        """The subject a new ticket for this item gets."""
        return self.subjects[0] if self.subjects else self.key


@dataclass
class ChecklistSpec:
    items: list[ItemSpec]

    def validate(self) -> None:
        if not self.items:
            raise ConfigError("a checklist needs at least one item")
        keys = [i.key for i in self.items]
        dup = next((k for k in keys if keys.count(k) > 1), None)
        if dup is not None:
            raise ConfigError(f"item {dup!r} appears twice in one checklist")


@dataclass
class PlanSpec:
    """What to inspect (asset types within a scope), how often, one inspection per room or asset."""

    zh: str
    en: str
    interval_days: int
    device_types: list[str]
    #: room: one inspection covers the room's assets of these types; asset: one per asset
    per: Literal["room", "asset"] = "room"
    #: scope; empty lists match everything. Register campus names, building names, rooms as
    #: ROOM, BUILDING/ROOM or CAMPUS/BUILDING/ROOM
    campuses: list[str] = field(default_factory=list)
    buildings: list[str] = field(default_factory=list)
    rooms: list[str] = field(default_factory=list)
    enabled: bool = True

    def validate(self) -> None:
        _check_label("zh", self.zh)
        _check_label("en", self.en)
        if not 1 <= self.interval_days <= 366:
            raise ConfigError(f"interval_days: {self.interval_days} is not within 1..366")
        if not self.device_types:
            raise ConfigError("device_types: name at least one asset type")
        for t in self.device_types:
            if t not in ASSET_TYPES:
                hint = did_you_mean(t, ASSET_TYPES)
                raise ConfigError(f"device_types: {t!r} is not one of {', '.join(ASSET_TYPES)}{hint}")

    def label(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en

    def covers(self, campus: str, building: str, room: str) -> bool:
        """Whether a room (by its register names) is in this plan's scope."""
        if self.campuses and campus not in self.campuses:
            return False
        if self.buildings and building not in self.buildings and f"{campus}/{building}" not in self.buildings:
            return False
        if self.rooms:
            names = {room, f"{building}/{room}", f"{campus}/{building}/{room}"}
            if not names & set(self.rooms):
                return False
        return True


@dataclass
class PlansFile:
    plans: dict[str, PlanSpec] = field(default_factory=dict)
    checklists: dict[str, ChecklistSpec] = field(default_factory=dict)

    def validate(self) -> None:
        for name in self.plans:
            _check_key("plan", name)
        for kind in self.checklists:
            if kind not in ASSET_TYPES:
                raise ConfigError(
                    f"checklists.{kind}: not an asset type ({', '.join(ASSET_TYPES)})"
                    f"{did_you_mean(kind, ASSET_TYPES)}"
                )
        for name, plan in self.plans.items():
            if not plan.enabled:
                continue
            for t in plan.device_types:
                if t not in self.checklists:
                    raise ConfigError(f"plans.{name}: no checklist for {t!r}; add [checklists.{t}]")


@dataclass(frozen=True)
class Plans:
    """The plans in force (enabled ones only) and the checklists they use."""

    plans: dict[str, PlanSpec]
    checklists: dict[str, ChecklistSpec]

    def get(self, name: str) -> PlanSpec:
        plan = self.plans.get(name)
        if plan is None:
            raise ConfigError(f"no inspection plan {name!r}{did_you_mean(name, self.plans)}")
        return plan

    def checklist(self, device_type: str) -> list[ItemSpec]:
        spec = self.checklists.get(device_type)
        return list(spec.items) if spec is not None else []


def _overlay(shipped: dict[str, Any], site: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in shipped.items()}
    for section, value in site.items():
        if section == "plans" and isinstance(value, dict):
            plans = dict(out.get("plans", {}))
            for name, plan in value.items():
                base = plans.get(name)
                plans[name] = {**base, **plan} if isinstance(base, dict) and isinstance(plan, dict) else plan
            out["plans"] = plans
        elif section == "checklists" and isinstance(value, dict):
            out["checklists"] = {**out.get("checklists", {}), **value}
        else:
            out[section] = value  # an unknown section: build() names it
    return out


def _build_named(cls: type[Any], entry: dict[str, Any], where: str) -> None:
    """Build one plan or checklist alone, so that its own checks name it."""
    try:
        build(cls, entry, where)
    except ConfigError as exc:
        text = str(exc)
        raise ConfigError(text if where in text else f"{where}: {text}") from None


def load_plans(site: Path | None = None, shipped: Path = SHIPPED) -> Plans:
    """The shipped plans overlaid by the site file; a ConfigError names the file and the key."""
    data = read_toml(shipped)
    where = str(shipped)
    if site is not None:
        data = _overlay(data, read_toml(site))
        where = str(site)
    try:
        for section, cls in (("plans", PlanSpec), ("checklists", ChecklistSpec)):
            entries = data.get(section)
            for name, entry in entries.items() if isinstance(entries, dict) else ():
                if isinstance(entry, dict):
                    _build_named(cls, entry, f"{section}.{name}")
        parsed = build(PlansFile, data)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return Plans({n: p for n, p in parsed.plans.items() if p.enabled}, parsed.checklists)
