"""Inspections: what is due, starting one with the checklist pre-filled, recording, finishing.

Used by the CLI and meant for the console's phone page: every function takes plain arguments and
returns plain dataclasses. A failed item opens a ticket (source `inspection`) or adds a note to the one
already open for that device and problem; finishing stamps the last and next date of the room and of
each asset it covered.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased, selectinload

from ..db import Database, as_utc
from ..models import ACTIVE_STATES, Ticket
from ..register.fields import RegisterError
from ..register.models import Asset, Building, Campus, Room
from ..register.service import RegisterService
from ..tickets import SYSTEM_ACTOR, TicketService
from .due import DueStatus, due_status, next_due
from .live import LatestMetrics, facts_for
from .models import ITEM_RESULTS, Inspection, InspectionItem, InspectionMark
from .plans import Lang, Plans, PlanSpec
from .prefill import suggest

_log = logging.getLogger(__name__)
OVERDUE_PROBLEM = "inspection_overdue"
#: asset states an inspection plan covers
COVERED_STATUSES = ("in_use", "in_repair")


class InspectionError(ValueError):
    """An inspection request that cannot be done (unknown plan, room, item; finished already …)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A room (per-room plans) or an asset (per-asset plans) one plan covers."""

    plan: str
    kind: Literal["room", "asset"]
    room_id: int | None
    asset_id: int | None
    campus: str
    #: the campus's MQTT id (its code), or its name when it has none: what tickets carry
    campus_code: str
    building: str
    room: str
    #: the asset's tag or name (asset targets)
    asset: str
    #: the covered assets
    assets: tuple[int, ...]
    #: the day the plan first covered it (its oldest covered asset was registered)
    since: date

    @property
    def key(self) -> str:
        return f"room:{self.room_id}" if self.kind == "room" else f"asset:{self.asset_id}"

    @property
    def place(self) -> str:
        where = "/".join(p for p in (self.campus, self.building, self.room) if p)
        return f"{where} {self.asset}".strip() if self.kind == "asset" else where


@dataclass(frozen=True, slots=True)
class DueEntry:
    target: Target
    last_done: date | None
    next_due: date
    status: DueStatus
    #: an inspection of it that was started and not finished
    in_progress: int | None


@dataclass(frozen=True, slots=True)
class ItemView:
    id: int
    position: int
    asset_id: int | None
    asset: str
    device_type: str
    device: str
    key: str
    label_zh: str
    label_en: str
    problem: str
    prefill: str | None
    evidence: str
    known_ticket_id: int | None
    result: str
    note: str
    photo: str
    recorded_at: datetime | None
    recorded_by: str
    ticket_id: int | None

    def label(self, lang: Lang) -> str:
        return self.label_zh if lang == "zh" else self.label_en


@dataclass(frozen=True, slots=True)
class InspectionView:
    id: int
    plan: str
    target: str
    place: str
    status: str
    due_on: date | None
    started_at: datetime
    started_by: str
    finished_at: datetime | None
    finished_by: str
    note: str
    items: tuple[ItemView, ...]
    #: tickets opened (True) or noted (False) by finishing, {ticket id: opened}
    tickets: dict[int, bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Covered:
    """One asset a plan covers, with where it is (the room's campus when it is in a room)."""

    asset_id: int
    label: str
    created_at: datetime | None
    room_id: int | None
    room: str
    building: str
    campus: str
    campus_code: str


def _asset_label(a: Asset) -> str:
    return a.asset_tag or a.name or f"#{a.id}"


def _view(insp: Inspection, tickets: dict[int, bool] | None = None) -> InspectionView:
    return InspectionView(
        id=insp.id,
        plan=insp.plan,
        target=insp.target,
        place=insp.place,
        status=insp.status,
        due_on=insp.due_on,
        started_at=as_utc(insp.started_at) or insp.started_at,
        started_by=insp.started_by,
        finished_at=as_utc(insp.finished_at),
        finished_by=insp.finished_by,
        note=insp.note,
        items=tuple(
            ItemView(
                id=i.id,
                position=i.position,
                asset_id=i.asset_id,
                asset=i.asset_label,
                device_type=i.device_type,
                device=f"{i.link_campus}/{i.link_device}" if i.link_device else "",
                key=i.key,
                label_zh=i.label_zh,
                label_en=i.label_en,
                problem=i.problem,
                prefill=i.prefill,
                evidence=i.evidence,
                known_ticket_id=i.known_ticket_id,
                result=i.result,
                note=i.note,
                photo=i.photo,
                recorded_at=as_utc(i.recorded_at),
                recorded_by=i.recorded_by,
                ticket_id=i.ticket_id,
            )
            for i in insp.items
        ),
        tickets=dict(tickets or {}),
    )


class InspectionService:
    def __init__(
        self,
        db: Database,
        plans: Plans,
        tickets: TicketService,
        *,
        tz: ZoneInfo,
        latest: LatestMetrics | None = None,
        clock: Callable[[], float] = time.time,
        notify_overdue: bool = True,
        overdue_severity: str = "info",
    ) -> None:
        self.db = db
        self.plans = plans
        self.tickets = tickets
        self.tz = tz
        self.latest = latest
        self.clock = clock
        self.notify_overdue = notify_overdue
        self.overdue_severity = overdue_severity

    # -- time ------------------------------------------------------------------------------------
    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    def today(self) -> date:
        return self.local_day(self._now())

    # -- what each plan covers ---------------------------------------------------------------------
    def _covered_assets(self, s: Session, plan: PlanSpec, room_id: int | None = None) -> list[_Covered]:
        """The assets `plan` covers, as plain rows: the overview asks this of 10,000 assets once a
        minute, and ORM objects with their eager loads cost ~0.6 s there; these columns ~60 ms."""
        room_campus = aliased(Campus)
        q = (
            select(
                Asset.id,
                Asset.asset_tag,
                Asset.name,
                Asset.created_at,
                Room.id,
                Room.name,
                Building.name,
                room_campus.name,
                room_campus.code,
                Campus.name,
                Campus.code,
            )
            .outerjoin(Room, Asset.room_id == Room.id)
            .outerjoin(Building, Room.building_id == Building.id)
            .outerjoin(room_campus, Building.campus_id == room_campus.id)
            .outerjoin(Campus, Asset.campus_id == Campus.id)
            .where(
                Asset.type.in_(plan.device_types),
                Asset.status.in_(COVERED_STATUSES),
                Asset.merged_into.is_(None),
            )
            .order_by(Asset.id)
        )
        if room_id is not None:
            q = q.where(Asset.room_id == room_id)
        out: list[_Covered] = []
        for aid, tag, name, created, in_room, rname, bname, rc_name, rc_code, c_name, c_code in s.execute(q):
            label = tag or name or f"#{aid}"
            rid: int | None = in_room  # outer joins: no room, no campus are possible
            registered: str | None = c_name
            if rid is not None:  # in a room: the room's campus is the asset's campus
                if not plan.covers(rc_name, bname, rname):
                    continue
                out.append(_Covered(aid, label, created, rid, rname, bname, rc_name, rc_code or rc_name))
            elif plan.per == "room" or plan.buildings or plan.rooms:
                continue  # not in a room: only a per-asset plan scoped by campus at most covers it
            elif registered is None or (plan.campuses and registered not in plan.campuses):
                continue
            else:
                out.append(_Covered(aid, label, created, None, "", "", registered, c_code or registered))
        return out

    def _since(self, c: _Covered) -> date:
        return self.local_day(as_utc(c.created_at) or self._now())

    def targets(self, s: Session, name: str, plan: PlanSpec, room_id: int | None = None) -> list[Target]:
        """What `plan` covers (in one room: `room_id`)."""
        covered = self._covered_assets(s, plan, room_id)
        if plan.per == "asset":
            return [
                Target(
                    plan=name,
                    kind="asset",
                    room_id=c.room_id,
                    asset_id=c.asset_id,
                    campus=c.campus,
                    campus_code=c.campus_code,
                    building=c.building,
                    room=c.room,
                    asset=c.label,
                    assets=(c.asset_id,),
                    since=self._since(c),
                )
                for c in covered
            ]
        by_room: dict[int, list[_Covered]] = defaultdict(list)
        for c in covered:
            assert c.room_id is not None
            by_room[c.room_id].append(c)
        out = []
        for rid, assets in by_room.items():
            first = assets[0]
            out.append(
                Target(
                    plan=name,
                    kind="room",
                    room_id=rid,
                    asset_id=None,
                    campus=first.campus,
                    campus_code=first.campus_code,
                    building=first.building,
                    room=first.room,
                    asset="",
                    assets=tuple(a.asset_id for a in assets),
                    since=min(self._since(a) for a in assets),
                )
            )
        return sorted(out, key=lambda t: t.place)

    def all_targets(self, plan: str | None = None) -> list[Target]:
        if plan:
            self.plans.get(plan)
        names = [plan] if plan else list(self.plans.plans)
        with self.db.session() as s:
            return [t for n in names for t in self.targets(s, n, self.plans.plans[n])]

    # -- due and overdue -----------------------------------------------------------------------
    def schedule(
        self,
        *,
        today: date | None = None,
        within_days: int = 0,
        plan: str | None = None,
        room_id: int | None = None,
    ) -> list[DueEntry]:
        """Every covered room and asset (of one room: `room_id`) with its last and next inspection
        date, soonest first."""
        today = today or self.today()
        names = [plan] if plan else list(self.plans.plans)
        if plan:
            self.plans.get(plan)
        out: list[DueEntry] = []
        with self.db.session() as s:
            marks = {(m.plan, m.target): m for m in s.scalars(select(InspectionMark))}
            open_rounds = {
                (i.plan, i.target): i.id
                for i in s.scalars(select(Inspection).where(Inspection.status == "in_progress"))
            }
            for name in names:
                spec = self.plans.plans[name]
                for t in self.targets(s, name, spec, room_id):
                    mark = marks.get((name, t.key))
                    last = mark.last_done_on if mark is not None else None
                    due_on = next_due(last, spec.interval_days, t.since)
                    out.append(
                        DueEntry(
                            t,
                            last,
                            due_on,
                            due_status(due_on, today, within_days),
                            open_rounds.get((name, t.key)),
                        )
                    )
        return sorted(out, key=lambda e: (e.next_due, e.target.plan, e.target.place))

    def due(
        self, *, today: date | None = None, within_days: int = 7, plan: str | None = None
    ) -> list[DueEntry]:
        """What is overdue or falls due within `within_days`."""
        return [e for e in self.schedule(today=today, within_days=within_days, plan=plan) if e.status != "ok"]

    def overdue(self, *, today: date | None = None, plan: str | None = None) -> list[DueEntry]:
        return [e for e in self.schedule(today=today, plan=plan) if e.status == "overdue"]

    # -- starting --------------------------------------------------------------------------------
    def _target_for(
        self, s: Session, plan: str | None, room: str | None, asset: str | None
    ) -> tuple[str, Target]:
        if (room is None) == (asset is None):
            raise InspectionError("name a room (CAMPUS/BUILDING/ROOM) or an asset (id or tag)")
        try:
            if room is not None:
                wanted = RegisterService(self.db).find_room(s, room)
                key, kind = f"room:{wanted.id}", "room"
            else:
                assert asset is not None
                found = RegisterService.resolve(s, asset)
                key, kind = f"asset:{found.id}", "asset"
        except RegisterError as exc:
            raise InspectionError(str(exc)) from None
        names = [plan] if plan else list(self.plans.plans)
        if plan:
            self.plans.get(plan)
        hits = []
        for name in names:
            spec = self.plans.plans[name]
            if spec.per != kind:
                continue
            hits += [(name, t) for t in self.targets(s, name, spec) if t.key == key]
        if not hits:
            what = f"room {room}" if room is not None else f"asset {asset}"
            which = f"plan {plan!r}" if plan else "any plan"
            raise InspectionError(f"{which} covers no {what} (plans: {', '.join(self.plans.plans)})")
        if len(hits) > 1:
            raise InspectionError(
                "more than one plan covers it; choose with --plan: " + ", ".join(n for n, _ in hits)
            )
        return hits[0]

    def start(
        self,
        *,
        actor: str,
        room: str | None = None,
        asset: str | None = None,
        plan: str | None = None,
        at: datetime | None = None,
    ) -> InspectionView:
        """Start (or resume) the inspection of a room or asset, its checklist pre-filled from live data."""
        at = (at or self._now()).astimezone(UTC)
        with self.db.session() as s:
            name, target = self._target_for(s, plan, room, asset)
            spec = self.plans.plans[name]
            running = s.scalars(
                select(Inspection)
                .where(
                    Inspection.plan == name,
                    Inspection.target == target.key,
                    Inspection.status == "in_progress",
                )
                .options(selectinload(Inspection.items))
            ).first()
            if running is not None:
                return _view(running)
            mark = s.scalars(
                select(InspectionMark).where(InspectionMark.plan == name, InspectionMark.target == target.key)
            ).first()
            due_on = next_due(mark.last_done_on if mark else None, spec.interval_days, target.since)
            insp = Inspection(
                plan=name,
                target=target.key,
                room_id=target.room_id,
                asset_id=target.asset_id,
                place=target.place[:400],
                status="in_progress",
                due_on=due_on if due_on <= self.local_day(at) else None,
                started_at=at,
                started_by=actor[:100],
                finished_by="",
                note="",
            )
            assets = sorted(
                (s.get(Asset, i) for i in target.assets),
                key=lambda a: (a.type, _asset_label(a)) if a else ("", ""),
            )
            position = 0
            for a in assets:
                if a is None:
                    continue
                facts = facts_for(s, a, self.latest, at.timestamp())
                for item in self.plans.checklist(a.type):
                    hint = suggest(item, facts)
                    position += 1
                    insp.items.append(
                        InspectionItem(
                            position=position,
                            asset_id=a.id,
                            asset_label=_asset_label(a)[:200],
                            device_type=a.type,
                            link_campus=a.link_campus or "",
                            link_device=a.link_device or "",
                            key=item.key,
                            label_zh=item.zh,
                            label_en=item.en,
                            problem=item.problem,
                            subject=item.subject,
                            severity=item.severity,
                            prefill=hint.result,
                            evidence=hint.evidence[:2000],
                            known_ticket_id=hint.ticket_id,
                            result="pending",
                            note="",
                            photo="",
                            recorded_by="",
                        )
                    )
            s.add(insp)
            s.flush()
            _log.info("inspection #%s of %s (%s) started by %s", insp.id, target.place, name, actor)
            return _view(insp)

    # -- recording -------------------------------------------------------------------------------
    @staticmethod
    def _load(s: Session, inspection_id: int) -> Inspection:
        insp = s.scalars(
            select(Inspection).where(Inspection.id == inspection_id).options(selectinload(Inspection.items))
        ).first()
        if insp is None:
            raise InspectionError(f"no inspection #{inspection_id}")
        return insp

    @staticmethod
    def _item(insp: Inspection, ref: str | int) -> InspectionItem:
        """An item by its id, by KEY (when one device has it) or by ASSET:KEY."""
        text = str(ref).strip()
        if text.isdigit():
            hit = next((i for i in insp.items if i.id == int(text)), None)
            if hit is not None:
                return hit
        asset, sep, key = text.rpartition(":")
        found = [i for i in insp.items if i.key == key and (not sep or i.asset_label == asset)]
        if len(found) == 1:
            return found[0]
        if not found:
            keys = sorted({f"{i.asset_label}:{i.key}" for i in insp.items})
            raise InspectionError(f"inspection #{insp.id} has no item {text!r} (items: {', '.join(keys)})")
        raise InspectionError(
            f"{text!r} is on several devices; say which: "
            + ", ".join(f"{i.asset_label}:{i.key}" for i in found)
        )

    def record(
        self,
        inspection_id: int,
        item: str | int,
        result: str,
        *,
        actor: str,
        note: str = "",
        photo: str = "",
        at: datetime | None = None,
    ) -> ItemView:
        """The technician confirms (pass), fails or skips one item, with an optional note and photo."""
        if result not in ITEM_RESULTS or result == "pending":
            raise InspectionError(f"a result is pass, fail or skip, not {result!r}")
        if len(note) > 2000 or len(photo) > 500:
            raise InspectionError("a note is at most 2000 characters, a photo reference at most 500")
        at = (at or self._now()).astimezone(UTC)
        with self.db.session() as s:
            insp = self._load(s, inspection_id)
            if insp.status != "in_progress":
                raise InspectionError(f"inspection #{inspection_id} is finished")
            row = self._item(insp, item)
            row.result = result
            row.note = note
            if photo:
                row.photo = photo
            row.recorded_at = at
            row.recorded_by = actor[:100]
            view = next(v for v in _view(insp).items if v.id == row.id)
        return view

    def get(self, inspection_id: int) -> InspectionView:
        with self.db.session() as s:
            return _view(self._load(s, inspection_id))

    def rounds(
        self, *, status: str | None = None, plan: str | None = None, limit: int = 100
    ) -> list[InspectionView]:
        with self.db.session() as s:
            q = select(Inspection).options(selectinload(Inspection.items)).order_by(Inspection.id.desc())
            if status:
                q = q.where(Inspection.status == status)
            if plan:
                q = q.where(Inspection.plan == plan)
            return [_view(i) for i in s.scalars(q.limit(limit))]

    # -- finishing -------------------------------------------------------------------------------
    def _existing_ticket(self, s: Session, row: InspectionItem, campus: str, device: str) -> Ticket | None:
        if row.known_ticket_id is not None:
            known = s.get(Ticket, row.known_ticket_id)
            if known is not None and known.status in ACTIVE_STATES:
                return known
        spec_subjects: Sequence[str] = ()
        for spec in self.plans.checklist(row.device_type):
            if spec.key == row.key:
                spec_subjects = spec.subjects
        subjects = {row.subject, *spec_subjects}
        return s.scalars(
            select(Ticket)
            .where(
                Ticket.campus == campus,
                Ticket.device == device,
                Ticket.problem == row.problem,
                Ticket.subject.in_(sorted(subjects)),
                Ticket.status.in_(ACTIVE_STATES),
            )
            .order_by(Ticket.id)
        ).first()

    def _ticket_for(
        self, insp: Inspection, row: InspectionItem, actor: str, at: datetime
    ) -> tuple[int, bool]:
        """Open a ticket for a failed item, or note the open one for that device and problem."""
        text = f"inspection #{insp.id} ({insp.plan}): {row.label_zh} / {row.label_en} failed"
        if row.note:
            text += f": {row.note}"
        if row.photo:
            text += f" [photo: {row.photo}]"
        with self.db.session() as s:
            target_room = s.get(Room, insp.room_id) if insp.room_id else None
            if row.link_device:
                campus, device, subject = row.link_campus, row.link_device, row.subject
            else:
                asset = s.get(Asset, row.asset_id) if row.asset_id else None
                camp = asset.campus if asset is not None and asset.campus is not None else None
                if camp is None and target_room is not None:
                    camp = target_room.building.campus
                campus = (camp.code or camp.name) if camp is not None else ""
                device, subject = "", f"{row.asset_label}: {row.key}"[:200]
            room = f"{target_room.building.name}/{target_room.name}" if target_room else ""
            existing = self._existing_ticket(s, row, campus, device)
            existing_id = existing.id if existing is not None else None
        if existing_id is not None:
            self.tickets.note(existing_id, text, actor=actor, at=at)
            return existing_id, False
        opened = self.tickets.open(
            campus=campus,
            device=device,
            problem=row.problem,
            subject=subject,
            severity=row.severity,
            summary=f"{row.asset_label}: {row.label_en} failed in inspection #{insp.id}"
            + (f" ({row.note})" if row.note else ""),
            actor=actor,
            note=text,
            room=room,
            at=at,
            source="inspection",
        )
        return opened.ticket_id, opened.created

    def finish(
        self,
        inspection_id: int,
        *,
        actor: str,
        note: str = "",
        skip_rest: bool = False,
        at: datetime | None = None,
    ) -> InspectionView:
        """Close the round: pending items take their pre-filled result (or are skipped with
        `skip_rest`), failed items go to tickets, and the room and its assets get their dates."""
        at = (at or self._now()).astimezone(UTC)
        with self.db.session() as s:
            insp = self._load(s, inspection_id)
            if insp.status != "in_progress":
                raise InspectionError(f"inspection #{inspection_id} is finished already")
            spec = self.plans.plans.get(insp.plan)
            if spec is None:
                raise InspectionError(
                    f"inspection #{inspection_id}: plan {insp.plan!r} is no longer in force"
                )
            open_items = [i for i in insp.items if i.result == "pending" and i.prefill is None]
            if open_items and not skip_rest:
                names = ", ".join(f"{i.asset_label}:{i.key}" for i in open_items[:10])
                raise InspectionError(
                    f"{len(open_items)} item(s) not checked yet: {names}"
                    + (" …" if len(open_items) > 10 else "")
                    + "; record them, or finish with --skip-rest"
                )
            for i in insp.items:
                if i.result != "pending":
                    continue
                i.result = i.prefill or "skip"
                i.recorded_at = at
                i.recorded_by = actor[:100] if i.prefill else ""
                if i.prefill:
                    i.note = i.note or f"from live data: {i.evidence}"[:2000]
            failed = [i.id for i in insp.items if i.result == "fail" and i.ticket_id is None]
        tickets: dict[int, bool] = {}
        for item_id in failed:
            with self.db.session() as s:
                insp = self._load(s, inspection_id)
                row = next(i for i in insp.items if i.id == item_id)
            ticket_id, created = self._ticket_for(insp, row, actor, at)
            tickets[ticket_id] = tickets.get(ticket_id, False) or created
            with self.db.session() as s:
                item = s.get(InspectionItem, item_id)
                assert item is not None
                item.ticket_id = ticket_id
        day = self.local_day(at)
        with self.db.session() as s:
            insp = self._load(s, inspection_id)
            insp.status = "done"
            insp.finished_at = at
            insp.finished_by = actor[:100]
            insp.note = note[:2000]
            targets = [(insp.target, insp.room_id, insp.asset_id)]
            targets += [
                (f"asset:{a}", None, a) for a in sorted({i.asset_id for i in insp.items if i.asset_id})
            ]
            for key, room_id, asset_id in dict.fromkeys(targets):
                mark = s.scalars(
                    select(InspectionMark).where(
                        InspectionMark.plan == insp.plan, InspectionMark.target == key
                    )
                ).first()
                if mark is None:
                    mark = InspectionMark(plan=insp.plan, target=key, room_id=room_id, asset_id=asset_id)
                    s.add(mark)
                mark.last_done_on = day
                mark.last_inspection_id = insp.id
                mark.next_due_on = day + timedelta(days=spec.interval_days)
                mark.updated_at = at
            view = _view(insp, tickets)
        self.check_overdue(at)  # the reminder shrinks, or resolves when this was the last one overdue
        _log.info("inspection #%s finished by %s (%d tickets)", view.id, actor, len(tickets))
        return view

    # -- last/next dates -------------------------------------------------------------------------
    def marks(self, *, asset_id: int | None = None, room_id: int | None = None) -> list[InspectionMark]:
        """The last and next inspection dates stamped on an asset or a room (every plan)."""
        with self.db.session() as s:
            q = select(InspectionMark).order_by(InspectionMark.plan)
            if asset_id is not None:
                q = q.where(InspectionMark.target == f"asset:{asset_id}")
            if room_id is not None:
                q = q.where(InspectionMark.target == f"room:{room_id}")
            return list(s.scalars(q))

    # -- overdue reminders -----------------------------------------------------------------------
    def check_overdue(self, at: datetime | None = None) -> list[int]:
        """One reminder ticket per campus and plan while anything of it is overdue (so an upgrade or a
        holiday does not flood the channels), kept current, and resolved once nothing is overdue.
        Notified through the outbox like any ticket; returns the ids of tickets opened or reopened."""
        if not self.notify_overdue:
            return []
        at = (at or self._now()).astimezone(UTC)
        today = self.local_day(at)
        groups: dict[tuple[str, str], list[DueEntry]] = defaultdict(list)
        for e in self.overdue(today=today):
            groups[(e.target.campus_code, e.target.plan)].append(e)
        opened = []
        for (campus, plan), entries in sorted(groups.items()):
            spec = self.plans.plans[plan]
            worst = min(e.next_due for e in entries)
            places = ", ".join(e.target.place for e in entries[:5]) + (" …" if len(entries) > 5 else "")
            summary = (
                f"巡检逾期 / inspections overdue: {spec.zh} / {spec.en}: {len(entries)} "
                f"(since {worst.isoformat()}): {places}"
            )[:500]
            res = self.tickets.open(
                campus=campus,
                device="",
                problem=OVERDUE_PROBLEM,
                subject=plan,
                severity=self.overdue_severity,
                summary=summary,
                actor=SYSTEM_ACTOR,
                at=at,
                source="inspection",
            )
            if res.event is not None:
                opened.append(res.ticket_id)
            elif not res.created:
                with self.db.session() as s:
                    ticket = s.get(Ticket, res.ticket_id)
                    changed = ticket is not None and ticket.summary != summary
                    if ticket is not None and changed:
                        ticket.summary = summary
                if changed:
                    self.tickets.note(res.ticket_id, summary, actor=SYSTEM_ACTOR, at=at)
        with self.db.session() as s:
            stale = [
                (t.campus, t.subject)
                for t in s.scalars(
                    select(Ticket).where(Ticket.problem == OVERDUE_PROBLEM, Ticket.status.in_(ACTIVE_STATES))
                )
                if (t.campus, t.subject) not in groups
            ]
        for campus, plan in stale:
            self.tickets.resolve_auto(
                campus=campus,
                device="",
                problem=OVERDUE_PROBLEM,
                subject=plan,
                note="resolved automatically: nothing of this plan is overdue any more",
                at=at,
            )
        if opened:
            _log.info("inspections overdue: reminder tickets %s", opened)
        return opened
