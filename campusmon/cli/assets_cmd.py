"""`campusmon assets …`: the asset register from the command line."""

from __future__ import annotations

import csv
import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .server_cmd import ConfigOpt, JsonOpt, load_config, open_db

if TYPE_CHECKING:
    from campusmon.server.models import Ticket
    from campusmon.server.register.models import Asset
    from campusmon.server.register.service import AssetFilter, RegisterService
    from campusmon.server.services.devices import DeviceStatus

app = typer.Typer(help="The asset register: campus → building → room → device.", no_args_is_help=True)
rooms_app = typer.Typer(help="Campuses, buildings and rooms.", invoke_without_command=True)
app.add_typer(rooms_app, name="rooms")

CampusOpt = typer.Option(None, "--campus", help="Only this campus.")
BuildingOpt = typer.Option(None, "--building", help="Only this building.")
RoomOpt = typer.Option(None, "--room", help="Only this room (ROOM or BUILDING/ROOM).")
TypeOpt = typer.Option(None, "--type", help="Only this type (pc, panel, switch, ap, …).")
StatusOpt = typer.Option(None, "--status", help="Only this status (in_use, in_repair, spare, retired, lost).")
SearchOpt = typer.Option(None, "--search", "-s", help="Words that must all appear (tag, name, serial, MAC…).")
WarrantyOpt = typer.Option(None, "--warranty-before", help="Warranty ends before this date (YYYY-MM-DD).")


def actor() -> str:
    return "user:" + (os.environ.get("SUDO_USER") or getpass.getuser())


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def register(config: Path | None) -> Iterator[RegisterService]:
    from campusmon.server.register.fields import RegisterError
    from campusmon.server.register.service import RegisterService

    db = open_db(config)
    try:
        yield RegisterService(db)
    except RegisterError as exc:
        raise fail(str(exc)) from None
    finally:
        db.dispose()


def make_filter(
    campus: str | None,
    building: str | None,
    room: str | None,
    type_: str | None,
    status: str | None,
    search: str | None,
    warranty_before: str | None,
) -> AssetFilter:
    from campusmon.server.register.fields import RegisterError, parse_date, parse_status, parse_type
    from campusmon.server.register.service import AssetFilter

    try:
        return AssetFilter(
            campus=campus,
            building=building,
            room=room,
            type=parse_type(type_) if type_ else None,
            status=parse_status(status) if status else None,
            search=search,
            warranty_before=parse_date(warranty_before) if warranty_before else None,
        )
    except RegisterError as exc:
        raise fail(str(exc), 2) from None


def where(a: Asset) -> str:
    if a.room is not None:
        return a.room.path
    return a.campus.name if a.campus else ""


def asset_dict(a: Asset, full: bool = False) -> dict[str, Any]:
    from campusmon.server.db import as_utc
    from campusmon.server.register.fields import show

    out: dict[str, Any] = {
        "id": a.id,
        "asset_tag": a.asset_tag,
        "name": a.name,
        "type": a.type,
        "status": a.status,
        "campus": a.room.building.campus.name if a.room else (a.campus.name if a.campus else None),
        "building": a.room.building.name if a.room else None,
        "room": a.room.name if a.room else None,
        "position": a.position,
        "vendor": a.vendor,
        "model": a.model,
        "serial": a.serial,
        "macs": [m.mac for m in a.macs],
        "ip": a.ip,
        "os_family": a.os_family,
        "purchase_date": show(a.purchase_date),
        "price": show(a.price),
        "warranty_end": show(a.warranty_end),
        "department": a.department,
        "upstream": {"switch": a.upstream_switch, "port": a.upstream_port, "source": a.upstream_source}
        if a.upstream_switch
        else None,
        "device": f"{a.link_campus}/{a.link_device}" if a.link_device else None,
        "notes": a.notes,
        "custom": a.custom or {},
    }
    if full:
        at = as_utc(a.inventory_at)
        out["hostname"] = a.hostname
        out["smbios_uuid"] = a.smbios_uuid
        out["inventory_at"] = at.isoformat() if at else None
        out["inventory"] = a.inventory
        out["merged_into"] = a.merged_into
    return out


LIST_COLUMNS = ("id", "tag", "name", "type", "status", "where", "serial", "ip", "device")


def record_json(r: dict[str, Any]) -> dict[str, Any]:
    """A row of `RegisterService.records` in the JSON shape of `assets show --json`."""
    from campusmon.server.register.fields import show

    return {
        "id": r["id"],
        "asset_tag": r["asset_tag"],
        "name": r["name"],
        "type": r["type"],
        "status": r["status"],
        "campus": r["campus"],
        "building": r["building"],
        "room": r["room"],
        "position": r["position"],
        "vendor": r["vendor"],
        "model": r["model"],
        "serial": r["serial"],
        "macs": r["macs"],
        "ip": r["ip"],
        "os_family": r["os_family"],
        "purchase_date": show(r["purchase_date"]),
        "price": show(r["price"]),
        "warranty_end": show(r["warranty_end"]),
        "department": r["department"],
        "upstream": {
            "switch": r["upstream_switch"],
            "port": r["upstream_port"],
            "source": r["upstream_source"],
        }
        if r["upstream_switch"]
        else None,
        "device": f"{r['link_campus']}/{r['link_device']}" if r["link_device"] else None,
        "notes": r["notes"],
        "custom": r["custom"] or {},
    }


def list_row(r: dict[str, Any]) -> list[str]:
    place = "/".join(p for p in (r["campus"], r["building"], r["room"]) if p)
    return [
        str(r["id"]),
        r["asset_tag"] or "",
        r["name"],
        r["type"],
        r["status"],
        place,
        r["serial"] or "",
        r["ip"],
        r["link_device"] or "",
    ]


@app.command("list")
def list_assets(
    config: Path | None = ConfigOpt,
    campus: str | None = CampusOpt,
    building: str | None = BuildingOpt,
    room: str | None = RoomOpt,
    type_: str | None = TypeOpt,
    status: str | None = StatusOpt,
    search: str | None = SearchOpt,
    warranty_before: str | None = WarrantyOpt,
    as_json: bool = JsonOpt,
    as_csv: bool = typer.Option(False, "--csv", help="CSV on standard output."),
) -> None:
    """List assets (a table; --json or --csv for scripts)."""
    flt = make_filter(campus, building, room, type_, status, search, warranty_before)
    with register(config) as reg:
        assets = reg.records(flt)
    if as_json:
        typer.echo(json.dumps([record_json(a) for a in assets], ensure_ascii=False, indent=2))
    elif as_csv:
        from campusmon.server.register.formulas import neutralise

        writer = csv.writer(sys.stdout)
        writer.writerow(LIST_COLUMNS)
        writer.writerows([neutralise(c) for c in list_row(a)] for a in assets)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{len(assets)} assets")
        for col in LIST_COLUMNS:
            table.add_column(col, overflow="fold")
        for a in assets:
            table.add_row(*list_row(a))
        Console().print(table)


def _live(reg: RegisterService, a: Asset) -> tuple[DeviceStatus | None, list[Ticket]]:
    """The live device and its open tickets, when the asset reports as a device."""
    from campusmon.server.services.devices import device_status
    from campusmon.server.services.tickets import open_tickets_of

    if not a.link_device or not a.link_campus:
        return None, []
    return (
        device_status(reg.db, a.link_campus, a.link_device),
        open_tickets_of(reg.db, a.link_campus, a.link_device),
    )


@app.command("show")
def show_asset(
    ref: str = typer.Argument(..., metavar="ID|TAG"),
    config: Path | None = ConfigOpt,
    as_json: bool = JsonOpt,
) -> None:
    """One asset: fields, live status, open tickets, last inventory and recent history."""
    from campusmon.server.services.tickets import ticket_json

    from .server_cmd import fmt_time as _fmt_time

    with register(config) as reg:
        a = reg.get(ref)
        dev, tickets = _live(reg, a)
        history = reg.history(a.id, limit=15)
    if as_json:
        out = asset_dict(a, full=True)
        out["live"] = dev.as_json() if dev is not None else None
        out["open_tickets"] = [ticket_json(t) for t in tickets]
        out["history"] = [history_dict(h) for h in history]
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    d = asset_dict(a)
    console.print(f"[bold]Asset #{a.id}[/] {a.asset_tag or '(no tag)'} — {a.name} [{a.type}, {a.status}]")
    if a.merged_into:
        console.print(f"  [yellow]merged into #{a.merged_into}[/]")
    for key in (
        "vendor",
        "model",
        "serial",
        "ip",
        "os_family",
        "department",
        "position",
        "purchase_date",
        "price",
        "warranty_end",
        "device",
        "notes",
    ):
        if d.get(key):
            console.print(f"  {key:14} {d[key]}")
    console.print(f"  {'where':14} {where(a) or '(room unknown)'}")
    if d["macs"]:
        console.print(f"  {'macs':14} {' '.join(d['macs'])}")
    if a.upstream_switch:
        console.print(f"  {'upstream':14} {a.upstream_switch}:{a.upstream_port} ({a.upstream_source})")
    for k, v in sorted((a.custom or {}).items()):
        console.print(f"  {k:14} {v}")
    if dev is not None:
        console.print(
            f"  {'live':14} {dev.state} since {_fmt_time(dev.state_since)}, "
            f"last seen {_fmt_time(dev.last_seen)}"
        )
    for t in tickets:
        console.print(f"  [red]ticket #{t.id}[/] {t.status} {t.problem}: {t.summary}")
    if a.inventory:
        inv = a.inventory
        os_ = inv.get("os")
        os_text = " ".join(str(v) for v in os_.values()) if isinstance(os_, dict) else str(os_ or "")
        console.print(f"  {'inventory':14} {_fmt_time(a.inventory_at)}: {inv.get('hostname', '')} {os_text}")
    table = Table(title="recent history")
    for col in ("when", "who", "field", "old", "new"):
        table.add_column(col)
    for h in history:
        table.add_row(_fmt_time(h.at), h.actor, h.field, h.old or "", h.new or "")
    console.print(table)


def history_dict(h: Any) -> dict[str, Any]:
    from campusmon.server.db import as_utc

    at = as_utc(h.at)
    return {
        "at": at.isoformat() if at else None,
        "actor": h.actor,
        "field": h.field,
        "old": h.old,
        "new": h.new,
    }


@app.command("history")
def history(
    ref: str = typer.Argument(..., metavar="ID|TAG"),
    config: Path | None = ConfigOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every change of an asset (who, when, field, old → new)."""
    from .server_cmd import fmt_time as _fmt_time

    with register(config) as reg:
        rows = reg.history(ref)
    if as_json:
        typer.echo(json.dumps([history_dict(h) for h in rows], ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} changes")
    for col in ("when", "who", "field", "old", "new"):
        table.add_column(col)
    for h in rows:
        table.add_row(_fmt_time(h.at), h.actor, h.field, h.old or "", h.new or "")
    Console().print(table)


@app.command("set")
def set_fields(
    ref: str = typer.Argument(..., metavar="ID|TAG"),
    config: Path | None = ConfigOpt,
    room: str | None = typer.Option(
        None, "--room", help="CAMPUS/BUILDING/ROOM, BUILDING/ROOM or ROOM; '' for unknown."
    ),
    tag: str | None = typer.Option(None, "--tag", help="Asset tag (unique)."),
    status: str | None = typer.Option(None, "--status", help="in_use, in_repair, spare, retired, lost."),
    upstream: str | None = typer.Option(
        None, "--upstream", help="SWITCH:PORT set by hand (never overwritten by learning); '' to learn."
    ),
    field: list[str] = typer.Option(
        [], "--field", "-f", help="k=v: a register field (name, type, vendor, price…) or a custom field."
    ),
) -> None:
    """Change an asset; every change is written to its history."""
    from campusmon.config import did_you_mean
    from campusmon.server.register.fields import EDITABLE

    values: dict[str, str] = {}
    custom: dict[str, str] = {}
    for item in field:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise fail(f"--field wants KEY=VALUE, not {item!r}", 2)
        if key not in EDITABLE and (hint := did_you_mean(key, EDITABLE)):
            raise fail(f"{key!r} is not a register field{hint}; custom fields need a distinct name", 2)
        (values if key in EDITABLE else custom)[key] = value
    if tag is not None:
        values["asset_tag"] = tag
    if status is not None:
        values["status"] = status
    with register(config) as reg:
        n = reg.set(ref, actor=actor(), values=values, room=room, upstream=upstream, custom=custom)
    typer.echo(f"{n} field(s) changed" if n else "nothing changed")


@app.command("import")
def import_file(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV (UTF-8 or GB18030) or XLSX."),
    config: Path | None = ConfigOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and report; write nothing."),
    campus: str | None = typer.Option(None, "--campus", help="Campus for rows without a 校区 column."),
    as_json: bool = JsonOpt,
) -> None:
    """Import the school's spreadsheet; bad rows are reported by line, good rows kept."""
    from campusmon.server.register.spreadsheet import Importer

    with register(config) as reg:
        report = Importer(reg, f"import:{file.name} ({actor()})", default_campus=campus).run(
            file, dry_run=dry_run
        )
    if as_json:
        out = {
            "file": report.source,
            "encoding": report.encoding,
            "dry_run": report.dry_run,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "errors": [{"line": e.line, "reason": e.reason} for e in report.errors],
            "warnings": report.warnings,
            "other_rows": [{"line": n, "category": w} for n, w in report.other_rows],
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        for w in report.warnings:
            typer.echo(f"warning: {w}", err=True)
        for e in report.errors:
            typer.echo(f"{file.name}:{e.line}: {e.reason}", err=True)
        verb = "would be" if dry_run else ""
        typer.echo(
            f"{report.source} ({report.encoding}): {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged {verb}".rstrip()
            + f"; {len(report.errors)} bad row(s) skipped"
        )
    if report.errors:
        raise typer.Exit(1)


@app.command("export")
def export(
    out: Path = typer.Option(..., "--out", "-o", help="File to write (a new file; --force to replace one)."),
    fmt: str = typer.Option("", "--format", help="csv or xlsx (default: from the file name)."),
    force: bool = typer.Option(False, "--force", help="Replace the file if it exists."),
    lang: str = typer.Option("en", "--lang", help="Header language: en or zh."),
    config: Path | None = ConfigOpt,
    campus: str | None = CampusOpt,
    building: str | None = BuildingOpt,
    room: str | None = RoomOpt,
    type_: str | None = TypeOpt,
    status: str | None = StatusOpt,
    search: str | None = SearchOpt,
    warranty_before: str | None = WarrantyOpt,
) -> None:
    """Export assets as CSV (UTF-8) or XLSX; `assets import` reads both back."""
    from campusmon.server.register.spreadsheet import export_csv, export_records, export_xlsx

    from .output import OutputError, write_output

    kind = (fmt or out.suffix.lstrip(".")).lower()
    if kind not in ("csv", "xlsx"):
        raise fail(f"--format must be csv or xlsx, not {kind!r}", 2)
    if lang not in ("en", "zh"):
        raise fail(f"--lang must be en or zh, not {lang!r}", 2)
    flt = make_filter(campus, building, room, type_, status, search, warranty_before)
    with register(config) as reg:
        records = export_records(reg, flt)
    writer = export_xlsx if kind == "xlsx" else export_csv
    try:
        n = write_output(out, lambda fh: writer(records, fh, "zh" if lang == "zh" else "en"), force=force)
    except OutputError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{n} assets written to {out}")


@app.command("ansible-inventory")
def ansible_inventory(
    config: Path | None = ConfigOpt,
    campus: str | None = CampusOpt,
    ini: bool = typer.Option(False, "--ini", help="INI instead of dynamic-inventory JSON."),
    list_: bool = typer.Option(False, "--list", help="Ansible calls a dynamic inventory with --list."),
    host: str | None = typer.Option(None, "--host", help="Variables of one host (Ansible's --host)."),
) -> None:
    """Ansible inventory grouped by campus, building, room and type (IP and OS family as hints)."""
    from campusmon.server.register.ansible import build_inventory, render_ini
    from campusmon.server.register.service import AssetFilter

    with register(config) as reg:
        assets = reg.list_assets(AssetFilter(campus=campus))
    inv = build_inventory(assets)
    if host is not None:
        typer.echo(json.dumps(inv["_meta"]["hostvars"].get(host, {}), ensure_ascii=False, indent=2))
    elif ini:
        typer.echo(render_ini(inv))
    else:
        typer.echo(json.dumps(inv, ensure_ascii=False, indent=2))


@app.command("probe-targets")
def probe_targets(
    campus: str = typer.Option(..., "--campus", help="The campus id its devices use in MQTT topics."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="TOML file for the runner's runner.targets_files (default: print)."
    ),
    types: list[str] = typer.Option(
        [],
        "--type",
        help="Asset types to include (repeat; default: switch ap printer projector camera server).",
    ),
    link: bool = typer.Option(
        True, "--link/--no-link", help="Link assets without a device link to their target id."
    ),
    config: Path | None = ConfigOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Devices a campus's probe runner should check: in-use assets with an IP address, written as
    a targets file (assets tables) the runner turns into SNMP, ICMP or TCP checks (docs/en/probes.md)."""
    import dataclasses

    from campusmon.config import did_you_mean
    from campusmon.probes.config import default_register_checks
    from campusmon.probes.targets import render_assets_toml
    from campusmon.server.register.fields import RegisterError, parse_type
    from campusmon.server.services.probes import ProbeService, register_assets

    try:
        wanted = [parse_type(t) for t in types] if types else list(default_register_checks())
    except RegisterError as exc:
        raise fail(str(exc), 2) from None
    with register(config) as reg:
        known = ProbeService(reg.db).campuses()
        if campus not in known:
            raise fail(f"unknown campus {campus!r}{did_you_mean(campus, known)}", 2)
        entries = register_assets(reg.db, campus, wanted, link=link, actor=actor())
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(e) for e in entries], ensure_ascii=False, indent=2))
        return
    text = render_assets_toml(
        entries,
        f"campusmon probe targets for campus {campus}, from the asset register; do not edit:\n"
        f"written by `campusmon assets probe-targets --campus {campus}`, read by the probe runner\n"
        "(runner.targets_files), which gives each asset the check [register] names for its type.",
    )
    if out is None or str(out) == "-":
        typer.echo(text, nl=False)
        return
    if out.exists() and out.read_text(encoding="utf-8", errors="replace") == text:
        typer.echo(f"{len(entries)} targets, {out} unchanged")
        return
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)  # the runner never reads half a file
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc}") from None
    typer.echo(f"{len(entries)} targets written to {out}")


@app.command("labels")
def labels(
    out: Path = typer.Option(..., "--out", "-o", help="FILE.pdf or FILE.png (one PNG per A4 sheet)."),
    config: Path | None = ConfigOpt,
    campus: str | None = CampusOpt,
    building: str | None = BuildingOpt,
    room: str | None = RoomOpt,
    type_: str | None = TypeOpt,
    status: str | None = StatusOpt,
    search: str | None = SearchOpt,
    warranty_before: str | None = WarrantyOpt,
    font: str | None = typer.Option(None, "--font", help="A TTF/TTC font with Chinese glyphs."),
    rooms: bool = typer.Option(
        False, "--rooms", help="One label per room instead: its QR code opens the teacher fault report."
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", help="The console's address for --rooms (default: [http] public_url)."
    ),
) -> None:
    """Printable asset-tag labels with a QR code (tag, name, room), 3 × 7 per A4 sheet; with --rooms,
    one label per room whose QR code opens the teacher's fault report (/r/<room token>)."""
    from campusmon.server.register.labels import Label, write_labels

    if out.suffix.lower() not in (".pdf", ".png"):
        raise fail("--out must end in .pdf or .png", 2)
    if rooms:
        from campusmon.server.services.assets import AssetService

        cfg = load_config(config)
        url = base_url or cfg.http.public_url
        if not url.startswith(("http://", "https://")):
            raise fail("--rooms needs the console's address: --base-url https://… or [http] public_url", 2)
        with register(config) as reg:
            tokens = AssetService(reg.db).room_tokens()
        room_labels = [
            Label(
                f"{r.building} {r.room}",
                "扫码报修 Report a fault",
                r.campus,
                qr=f"{url.rstrip('/')}/r/{token}",
            )
            for r, token in tokens
        ]
        if not room_labels:
            raise fail("no room in the register")
        files = write_labels(room_labels, out, font)
        typer.echo(
            f"{len(room_labels)} room labels on {len(files)} page(s): {', '.join(str(f) for f in files)}"
        )
        return
    flt = make_filter(campus, building, room, type_, status, search, warranty_before)
    with register(config) as reg:
        assets = reg.list_assets(flt)
    items = [
        Label(
            a.asset_tag or f"#{a.id}",
            a.name,
            f"{a.room.building.name} {a.room.name}" if a.room else where(a),
        )
        for a in assets
    ]
    if not items:
        raise fail("no asset matches the filters")
    files = write_labels(items, out, font)
    typer.echo(f"{len(items)} labels on {len(files)} page(s): {', '.join(str(f) for f in files)}")


@app.command("review")
def review(
    config: Path | None = ConfigOpt,
    dismiss: int | None = typer.Option(
        None, "--dismiss", metavar="N", help="Review N: they are different machines."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Uncertain matches the server would not decide alone (fix with merge or --dismiss)."""
    with register(config) as reg:
        if dismiss is not None:
            reg.dismiss(dismiss, actor())
            typer.echo(f"review #{dismiss} dismissed")
            return
        items = reg.reviews()
    if as_json:
        rows = [
            {
                "id": r.id,
                "asset_id": r.asset_id,
                "candidate_id": r.candidate_id,
                "score": r.score,
                "reason": r.reason,
            }
            for r in items
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not items:
        typer.echo("nothing to review")
        return
    for r in items:
        typer.echo(f"#{r.id}: asset #{r.asset_id} may be #{r.candidate_id} ({r.reason})")
        typer.echo(f"    same machine: campusmon assets merge {r.candidate_id} {r.asset_id}")
        typer.echo(f"    different:    campusmon assets review --dismiss {r.id}")


@app.command("merge")
def merge(
    keep: str = typer.Argument(..., metavar="A", help="The asset that stays (ID or TAG)."),
    other: str = typer.Argument(..., metavar="B", help="The asset folded into A."),
    config: Path | None = ConfigOpt,
) -> None:
    """Merge B into A (one machine registered twice); B's history moves to A."""
    with register(config) as reg:
        kept = reg.merge(keep, other, actor())
    typer.echo(f"merged {other} into asset #{kept}")


@app.command("split")
def split(ref: str = typer.Argument(..., metavar="ID|TAG"), config: Path | None = ConfigOpt) -> None:
    """Undo a wrong match: the reporting machine moves to a new asset; the register fields stay."""
    with register(config) as reg:
        new_id = reg.split(ref, actor())
    typer.echo(f"reporting device of {ref} is now asset #{new_id}")


def _rooms_config(ctx: typer.Context, config: Path | None) -> Path | None:
    """`assets rooms --config X add …` means X too: the subcommand's own --config, else the group's."""
    if config is not None or ctx.parent is None:
        return config
    parent = ctx.parent.params.get("config")
    return Path(parent) if parent else None


@rooms_app.callback()
def rooms(ctx: typer.Context, config: Path | None = ConfigOpt, as_json: bool = JsonOpt) -> None:
    """List rooms as CAMPUS/BUILDING/ROOM."""
    if ctx.invoked_subcommand is not None:
        return
    with register(config) as reg:
        paths = reg.rooms()
    if as_json:
        typer.echo(json.dumps(paths, ensure_ascii=False, indent=2))
    else:
        for p in paths:
            typer.echo(p)


@rooms_app.command("add")
def rooms_add(
    ctx: typer.Context,
    path: str = typer.Argument(..., metavar="CAMPUS/BUILDING/ROOM"),
    config: Path | None = ConfigOpt,
) -> None:
    """Add a room (and its campus and building when they are new)."""
    with register(_rooms_config(ctx, config)) as reg:
        typer.echo(f"room {reg.add_room(path)}")


@rooms_app.command("code")
def rooms_code(
    ctx: typer.Context,
    campus: str = typer.Argument(..., help="Campus name as in the register (校区)."),
    code: str = typer.Argument(..., help="The campus id its devices use in MQTT topics."),
    config: Path | None = ConfigOpt,
) -> None:
    """Link a campus to the id its devices report (e.g. 主校区 → main)."""
    with register(_rooms_config(ctx, config)) as reg:
        moved = reg.set_campus_code(campus, code, actor())
    typer.echo(f"campus {campus} is {code} in topics" + (f"; {moved} asset(s) moved to it" if moved else ""))


@rooms_app.command("campuses")
def rooms_campuses(ctx: typer.Context, config: Path | None = ConfigOpt, as_json: bool = JsonOpt) -> None:
    """Campuses and the id their devices report."""
    parent_json = bool(ctx.parent.params.get("as_json")) if ctx.parent is not None else False
    as_json = as_json or parent_json
    with register(_rooms_config(ctx, config)) as reg:
        rows = reg.campuses()
    if as_json:
        typer.echo(json.dumps([{"name": n, "code": c} for n, c in rows], ensure_ascii=False, indent=2))
    else:
        for name, code in rows:
            typer.echo(f"{name}\t{code or '-'}")
