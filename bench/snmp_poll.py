"""Poll 50 simulated 48-port switches (system + IF-MIB) concurrently from one probe runner.

    .venv/bin/python -m bench.snmp_poll [--switches 50] [--simulators 2] [--rounds 3]

Prints wall time, CPU seconds of the runner and varbinds/s per round, then the same against a real
net-snmp snmpd. Target: a full round under 5 s wall. The first round also reads ENTITY-MIB and the
forwarding table (the inventory); later rounds are the steady state.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

from campusmon.config import build
from campusmon.probes.config import ProbeConfig
from campusmon.probes.runner import ProbeRunner
from campusmon.probes.snmp import SnmpProbe
from tests.support.snmp_agents import FIXTURES, Snmpd, Snmpsim


def runner_for(
    state: Path, endpoints: list[tuple[int, str]], concurrency: int, max_repetitions: int = 25
) -> ProbeRunner:
    targets = [
        {
            "id": f"sw{i:02d}",
            "kind": "snmp",
            "host": "127.0.0.1",
            "interval": 300,
            "timeout": 60,
            "snmp": {
                "port": port,
                "community": community,
                "request_timeout": 10,
                "retries": 0,
                "max_repetitions": max_repetitions,
            },
        }
        for i, (port, community) in enumerate(endpoints, 1)
    ]
    cfg = build(
        ProbeConfig,
        {
            "runner": {"state_dir": str(state), "concurrency": concurrency},
            "school_hours": {"mode": "always"},
            "targets": targets,
        },
    )
    return ProbeRunner(cfg)


def agent_cpu(pids: list[int]) -> float:
    """CPU seconds the SNMP agents (simulators, snmpd) have used, from /proc."""
    total = 0.0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat", encoding="ascii").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def rounds(runner: ProbeRunner, n: int, label: str, pids: list[int]) -> list[float]:
    walls = []
    for r in range(1, n + 1):
        probes = [st.probe for st in runner.targets.values()]
        cpu0, wall0, agents0 = time.process_time(), time.perf_counter(), agent_cpu(pids)
        results = await runner.check_once()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        agents = agent_cpu(pids) - agents0
        varbinds = sum(p.last.varbinds for p in probes if isinstance(p, SnmpProbe) and p.last)
        ok = sum(1 for res in results.values() if res.reachable)
        codes = sorted({res.code for res in results.values()})
        print(
            f"{label} round {r}: {len(results)} devices ({ok} answered, codes {codes}), wall {wall:.2f} s, "
            f"runner CPU {cpu:.2f} s, agents CPU {agents:.2f} s, {varbinds} varbinds, "
            f"{varbinds / wall:,.0f} varbinds/s"
        )
        walls.append(wall)
    return walls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--switches", type=int, default=50)
    ap.add_argument("--simulators", type=int, default=2, help="snmpsim processes (each one core at most)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--max-repetitions", type=int, default=25, help="GETBULK rows per column per request")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="campusmon-bench-snmp-"))
    sims: list[Snmpsim] = []
    snmpd: Snmpd | None = None
    try:
        endpoints: list[tuple[int, str]] = []
        per_sim = -(-args.switches // args.simulators)
        for s in range(args.simulators):
            files = []
            for i in range(s * per_sim, min(args.switches, (s + 1) * per_sim)):
                f = work / f"src{s}" / f"sw{i + 1:02d}.snmprec"
                f.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(FIXTURES / "healthy.snmprec", f)
                files.append(f)
            if not files:
                continue
            sim = Snmpsim(work / f"sim{s}", files).start()
            sims.append(sim)
            endpoints += [(sim.port, f.stem) for f in files]
        print(f"{len(endpoints)} simulated 48-port switches on {len(sims)} snmpsim processes")
        pids = [s.proc.pid for s in sims if s.proc is not None]
        runner = runner_for(work / "state", endpoints, args.concurrency, args.max_repetitions)
        walls = asyncio.run(rounds(runner, args.rounds, "snmpsim", pids))
        print(f"snmpsim steady-state round: {min(walls[1:] or walls):.2f} s wall (target < 5 s)")

        snmpd = Snmpd(work / "snmpd").start()
        real = [(snmpd.port, snmpd.community)] * args.switches
        pids = [snmpd.proc.pid] if snmpd.proc is not None else []
        runner = runner_for(work / "state-snmpd", real, args.concurrency, args.max_repetitions)
        walls = asyncio.run(rounds(runner, args.rounds, "snmpd", pids))
        print(f"snmpd steady-state round: {min(walls[1:] or walls):.2f} s wall for {args.switches} polls")
    finally:
        for sim in sims:
            sim.stop()
        if snmpd is not None:
            snmpd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
