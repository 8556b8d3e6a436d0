"""`campusmon probe run|snmp|ping|tcp|http`: the runner, and one-off checks for a technician."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from campusmon.config import ConfigError

if TYPE_CHECKING:
    from campusmon.probes.config import TargetSettings
    from campusmon.probes.result import ProbeResult

app = typer.Typer(
    help="Agentless checks: SNMP switches and APs, ping, TCP ports, websites.", no_args_is_help=True
)

ConfigOpt = typer.Option(
    None,
    "--config",
    "-c",
    help="Probe runner TOML (see probes/sample-probes.toml).",
    envvar="CAMPUSMON_PROBE_CONFIG",
)
JsonOpt = typer.Option(False, "--json", help="Print the result as JSON.")
TimeoutOpt = typer.Option(10.0, "--timeout", help="Seconds for the whole check.")


@app.command()
def run(config: Path | None = ConfigOpt) -> None:
    """Check every target on its interval and publish results over MQTT until stopped."""
    from campusmon.cli import setup_logging
    from campusmon.probes.config import load_probe_config
    from campusmon.probes.runner import run_forever

    try:
        cfg = load_probe_config(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    setup_logging(cfg.runner.log_level)
    os.umask(0o077)  # sequence numbers and state are the runner's own
    try:
        run_forever(cfg)
    except OSError as exc:  # state directory not writable, and the like
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _target(kind: str, host: str, timeout: float, **sections: dict[str, Any]) -> TargetSettings:
    from campusmon.config import build
    from campusmon.probes.config import TargetSettings

    data: dict[str, Any] = {
        "id": "one-off",
        "kind": kind,
        "host": host,
        "timeout": timeout,
        "interval": max(1, int(timeout) + 1),
        **sections,
    }
    try:
        return build(TargetSettings, data)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _show(result: ProbeResult, as_json: bool) -> None:
    result.groups.setdefault("probe", result.probe_group())
    if as_json:
        out = {
            "kind": result.kind,
            "code": result.code,
            "message": result.message,
            "duration_seconds": round(result.duration_seconds, 6),
            "metrics": result.groups,
        }
        if result.inventory is not None:
            out["inventory"] = result.inventory
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False, default=str))
    else:
        ms = result.duration_seconds * 1000
        typer.echo(f"{result.kind}: {result.code} — {result.message} ({ms:.0f} ms)")
        for name, group in result.groups.items():
            if name == "ports":
                continue
            for inst in [group] if isinstance(group, dict) else group:
                for key, value in inst.items():
                    typer.echo(f"  {key}: {value}")
    if not result.ok:
        raise typer.Exit(1)


def _check(probe: Any) -> ProbeResult:
    """The check as the runner does it: `--timeout` bounds the whole of it, retries included."""
    from campusmon.probes.registry import bounded_check

    result: ProbeResult = asyncio.run(bounded_check(probe, probe.target))
    return result


@app.command()
def snmp(
    host: str = typer.Argument(..., help="Switch or AP address."),
    port: int = typer.Option(161, "--port"),
    community: str = typer.Option("public", "--community", help="SNMPv2c community."),
    v3: bool = typer.Option(False, "--v3", help="Use SNMPv3 (with --user, --auth-key, --priv-key)."),
    user: str = typer.Option("", "--user"),
    auth_protocol: str = typer.Option("sha", "--auth-protocol"),
    auth_key: str = typer.Option("", "--auth-key"),
    priv_protocol: str = typer.Option("aes", "--priv-protocol"),
    priv_key: str = typer.Option("", "--priv-key"),
    timeout: float = TimeoutOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Read system, ports, ENTITY-MIB and the forwarding table once and print what was found."""
    import re

    from campusmon.probes.config import default_port_patterns
    from campusmon.probes.registry import ProbeEnv
    from campusmon.probes.schedule import Always
    from campusmon.probes.snmp import SnmpProbe

    opts: dict[str, Any] = {
        # two tries of one request fit in --timeout (the whole check is bounded by it as well)
        "request_timeout": max(0.1, min(2.0, timeout / 2)),
        "retries": 1,
        "version": "3" if v3 else "2c",
        "port": port,
        "community": community,
        "user": user,
        "auth_protocol": auth_protocol,
        "auth_key": auth_key,
        "priv_protocol": priv_protocol,
        "priv_key": priv_key,
    }
    target = _target("snmp", host, timeout, snmp=opts)
    env = ProbeEnv(
        school_hours=Always(True), patterns=[(c, re.compile(p)) for c, p in default_port_patterns().items()]
    )
    probe = SnmpProbe(target, env.snmp)
    result = _check(probe)
    if not as_json and result.inventory is not None:
        inv = result.inventory
        for key in ("sys_name", "sys_descr", "model", "serial", "firmware"):
            if inv.get(key):
                typer.echo(f"{key}: {inv[key]}")
        typer.echo(f"forwarding table: {len(inv.get('fdb', []))} MACs")
        for row in result.groups.get("ports", []):
            if isinstance(row, dict):
                state = "up" if row.get("port_oper_up") else ("down" if row.get("port_admin_up") else "shut")
                fault = "  FAULT" if row.get("port_fault") else ""
                typer.echo(
                    f"  {row.get('port')!s:<24} {row.get('class')!s:<10} {state:<5}"
                    f" {int(row.get('port_speed_bps') or 0) // 1_000_000:>6} Mbit/s{fault}"
                )
    _show(result, as_json)


@app.command()
def ping(
    host: str = typer.Argument(...),
    count: int = typer.Option(3, "--count", "-n"),
    socket_kind: str = typer.Option("auto", "--socket", help="auto | dgram (unprivileged) | raw (root)"),
    timeout: float = TimeoutOpt,
    as_json: bool = JsonOpt,
) -> None:
    """ICMP echo: loss and round-trip times."""
    from campusmon.probes.icmp import IcmpProbe

    _show(
        _check(IcmpProbe(_target("icmp", host, timeout, icmp={"count": count, "socket": socket_kind}))),
        as_json,
    )


@app.command()
def tcp(
    host: str = typer.Argument(...),
    port: int = typer.Argument(...),
    timeout: float = TimeoutOpt,
    as_json: bool = JsonOpt,
) -> None:
    """TCP connect time to HOST PORT."""
    from campusmon.probes.tcp import TcpProbe

    _show(_check(TcpProbe(_target("tcp", host, timeout, tcp={"port": port}))), as_json)


@app.command()
def http(
    url: str = typer.Argument(...),
    contains: str = typer.Option("", "--contains", help="Text the body must contain."),
    no_follow: bool = typer.Option(False, "--no-follow", help="Do not follow redirects."),
    insecure: bool = typer.Option(False, "--insecure", help="Do not verify the TLS certificate."),
    timeout: float = TimeoutOpt,
    as_json: bool = JsonOpt,
) -> None:
    """HTTP(S) status, latency, body text and TLS certificate expiry."""
    from campusmon.probes.http import HttpProbe

    opts = {"url": url, "contains": contains, "follow_redirects": not no_follow, "verify_tls": not insecure}
    _show(_check(HttpProbe(_target("http", "", timeout, http=opts))), as_json)
