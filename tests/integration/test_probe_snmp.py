"""SNMP checks against snmpsim (one .snmprec per scenario) and a real net-snmp snmpd."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campusmon.config import build
from campusmon.probes.config import TargetSettings, default_port_patterns
from campusmon.probes.registry import ProbeEnv
from campusmon.probes.result import ProbeResult
from campusmon.probes.schedule import Always
from campusmon.probes.snmp import SnmpPoll, SnmpProbe
from tests.support.snmp_agents import Snmpd, Snmpsim

SCENARIOS = ["healthy", "uplink-down", "counter-wrap", "reboot", "entity", "fdb"]


def probe_of(result: ProbeResult) -> dict[str, Any]:
    group = result.groups["probe"]
    assert isinstance(group, dict)
    return group


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Iterator[Snmpsim]:
    s = Snmpsim(tmp_path_factory.mktemp("snmpsim"), SCENARIOS).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory) -> Iterator[Snmpd]:
    d = Snmpd(
        tmp_path_factory.mktemp("snmpd"), v3_user=("campusmon", "auth-secret-1", "priv-secret-1")
    ).start()
    try:
        yield d
    finally:
        d.stop()


def env(school_open: bool = True) -> ProbeEnv:
    return ProbeEnv(
        school_hours=Always(school_open),
        patterns=[(c, re.compile(p)) for c, p in default_port_patterns().items()],
    )


def probe(port: int, community: str = "healthy", *, school_open: bool = True, **snmp: Any) -> SnmpProbe:
    target = build(
        TargetSettings,
        {
            "id": "sw-b1-f3",
            "kind": "snmp",
            "host": "127.0.0.1",
            "timeout": 20,
            "snmp": {"port": port, "community": community, **snmp},
        },
    )
    return SnmpProbe(target, env(school_open).snmp)


def last_poll(p: SnmpProbe) -> SnmpPoll:
    assert p.last is not None
    return p.last


def by_port(result: ProbeResult) -> dict[str, dict[str, Any]]:
    rows = result.groups["ports"]
    assert isinstance(rows, list)
    return {str(r["port"]): r for r in rows}


def test_healthy_switch_48_ports_and_traffic_rates(sim) -> None:
    async def scenario() -> None:
        p = probe(sim.port)
        first = await p.check()
        assert first.code == "ok", first.message
        ports = by_port(first)
        assert len(ports) == 48 and probe_of(first)["ports_fault"] == 0
        assert ports["Gi1/0/47"]["class"] == "uplink" and ports["Gi1/0/45"]["class"] == "ap"
        assert ports["Gi1/0/1"]["class"] == "classroom" and ports["Gi1/0/41"]["class"] == "other"
        assert "port_in_bps" not in ports["Gi1/0/47"]  # no rate before a second sample
        assert probe_of(first)["sys_uptime_seconds"] == pytest.approx(1234567.89)
        full_walk = last_poll(p).varbinds
        assert last_poll(p).inventory is not None
        await asyncio.sleep(2.0)  # rates over 2 s: scheduling noise on a loaded machine stays small
        second = by_port(await p.check())
        # steady state: names and descriptions come from the last full walk, traffic is read again
        assert last_poll(p).inventory is None and last_poll(p).varbinds < full_walk * 0.8
        assert second["Gi1/0/47"]["class"] == "uplink"
        # the simulated uplink moves 10 MB/s in and 5 MB/s out: 80 and 40 Mbit/s on a 10 Gbit/s port
        assert second["Gi1/0/47"]["port_in_bps"] == pytest.approx(80e6, rel=0.2)
        assert second["Gi1/0/47"]["port_out_bps"] == pytest.approx(40e6, rel=0.2)
        assert second["Gi1/0/47"]["port_in_utilisation_percent"] == pytest.approx(0.8, rel=0.2)
        assert second["Gi1/0/1"]["port_in_bps"] == 0 and second["Gi1/0/1"]["port_in_errors_per_second"] == 0

    asyncio.run(scenario())


def test_uplink_down_is_a_fault_classroom_only_in_school_hours(sim) -> None:
    async def scenario() -> None:
        classes = {"Gi1/0/41": "classroom"}  # a spare port, down, declared a classroom port
        during = await probe(sim.port, "uplink-down", school_open=True, port_classes=classes).check()
        after = await probe(sim.port, "uplink-down", school_open=False, port_classes=classes).check()
        assert during.code == after.code == "port_fault"
        faults = {name for name, r in by_port(during).items() if r["port_fault"]}
        assert faults == {"Gi1/0/48", "Gi1/0/41"}
        assert {name for name, r in by_port(after).items() if r["port_fault"]} == {"Gi1/0/48"}
        assert by_port(after)["Gi1/0/42"]["port_fault"] == 0  # spare ("other") ports never matter
        assert probe_of(during)["probe_failing"] == 0  # the poll worked; the port has its own rule

    asyncio.run(scenario())


def test_counter_wrap_gives_the_true_rate_not_a_spike(tmp_path: Path) -> None:
    # a simulator of its own: the counter wraps ~6 s after it starts (and every 43 s after that)
    sim = Snmpsim(tmp_path, ["counter-wrap"]).start()

    async def scenario() -> None:
        p = probe(sim.port, "counter-wrap")
        across_wrap: float | None = None
        rates: list[float] = []
        deadline = time.monotonic() + 70
        previous = None
        while time.monotonic() < deadline and across_wrap is None:
            r = await p.check()
            assert r.code == "ok", r.message
            port1 = next(x for x in last_poll(p).ports if x.index == 1)
            assert not port1.hc  # an old switch: 32-bit counters only
            bps = by_port(r)["GigabitEthernet1/0/1"].get("port_in_bps")
            if bps is not None:
                rates.append(float(bps))
            if previous is not None and port1.in_octets is not None and port1.in_octets < previous:
                assert bps is not None, "the poll across the wrap gave no rate"
                across_wrap = float(bps)
            previous = port1.in_octets
            await asyncio.sleep(1.5)
        assert across_wrap is not None, "the simulated counter never wrapped"
        # 100 MB/s = 800 Mbit/s on a 1 Gbit/s port, across the wrap too. Not wrapping right would give
        # about 34 Gbit/s or nothing; the band allows for timing noise on a loaded machine.
        assert 560e6 < across_wrap < 1040e6, across_wrap
        assert all(560e6 < bps < 1040e6 for bps in rates), rates

    try:
        asyncio.run(scenario())
    finally:
        sim.stop()


def test_reboot_resets_the_baseline_without_spikes(sim) -> None:
    async def scenario() -> None:
        p = probe(sim.port, "healthy")
        assert (await p.check()).code == "ok"
        p.target.snmp.community = "reboot"  # the same switch, after a reboot: uptime 42 s, counters near 0
        rebooted = await p.check()
        assert rebooted.code == "ok" and p.tracker.reboots == 1
        assert all("port_in_bps" not in row for row in by_port(rebooted).values())
        after = await p.check()
        assert by_port(after)["Gi1/0/1"]["port_in_bps"] == 0

    asyncio.run(scenario())


def test_entity_mib_inventory(sim) -> None:
    async def scenario() -> None:
        r = await probe(sim.port, "entity").check()
        inv = r.inventory
        assert inv is not None
        assert (inv["model"], inv["serial"], inv["firmware"]) == (
            "WS-C2960X-48FPD-L",
            "FOC2145X1AB",
            "15.2(7)E8",
        )
        assert inv["sys_name"] == "sw-b1-f3" and inv["sys_object_id"] == "1.3.6.1.4.1.9.1.1208"
        assert {e["serial"] for e in inv["entities"]} == {"FOC2145X1AB", "LIT21470Q9Z", "FOC21460ZZZ"}
        assert r.identity == {"serial": "FOC2145X1AB", "source": "entity_serial"}
        assert len(inv["ports"]) == 48

    asyncio.run(scenario())


def test_forwarding_table_in_inventory(sim) -> None:
    async def scenario() -> None:
        p = probe(sim.port, "fdb")
        inv = (await p.check()).inventory
        assert inv is not None
        assert {(e["mac"], e["port"], e["vlan"]) for e in inv["fdb"]} == {
            ("00:1a:2b:3c:4d:01", "Gi1/0/1", 10),
            ("00:1a:2b:3c:4d:02", "Gi1/0/2", 10),
            ("f0:9f:c2:aa:bb:cc", "Gi1/0/45", 20),
            ("00:25:90:11:22:33", "Gi1/0/47", 1),
        }
        assert (await p.check()).inventory is None  # the inventory is read every inventory_interval

    asyncio.run(scenario())


def test_wrong_community_and_dead_port_are_timeouts(sim, tmp_path: Path) -> None:
    async def scenario() -> None:
        r = await probe(sim.port, "no-such-community", request_timeout=0.5, retries=0).check()
        assert r.code == "timeout" and "wrong community" in r.message and r.reachable is False
        from tests.support.snmp_agents import free_udp_port

        r = await probe(free_udp_port(), request_timeout=0.5, retries=0).check()
        assert r.code == "timeout"

    asyncio.run(scenario())


def test_real_snmpd_v2c_and_v3_authpriv(snmpd) -> None:
    async def scenario() -> None:
        r = await probe(snmpd.port, snmpd.community).check()
        assert r.code == "ok", r.message
        assert r.inventory is not None and r.inventory["sys_name"] == "campusmon-test-snmpd"
        assert "lo" in by_port(r)
        v3: dict[str, Any] = {
            "version": "3",
            "user": "campusmon",
            "auth_key": "auth-secret-1",
            "priv_key": "priv-secret-1",
        }
        r = await probe(snmpd.port, **v3).check()
        assert r.code == "ok", r.message
        bad_key = await probe(snmpd.port, **{**v3, "auth_key": "not-the-secret"}).check()
        assert bad_key.code == "auth_failed" and bad_key.reachable is True
        bad_user = await probe(snmpd.port, **{**v3, "user": "intruder"}).check()
        assert bad_user.code == "auth_failed"
        bad_community = await probe(snmpd.port, "wrong", request_timeout=0.5, retries=0).check()
        assert bad_community.code == "timeout"

    asyncio.run(scenario())


def test_cli_snmp_one_off(sim) -> None:
    from typer.testing import CliRunner

    from campusmon.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["probe", "snmp", "127.0.0.1", "--port", str(sim.port), "--community", "fdb"])
    assert res.exit_code == 0, res.output
    assert "sys_name: sw-b1-f3" in res.output and "forwarding table: 4 MACs" in res.output
    assert "Gi1/0/48" in res.output and "uplink" in res.output
    res = runner.invoke(
        app, ["probe", "snmp", "127.0.0.1", "--port", str(sim.port), "--community", "uplink-down", "--json"]
    )
    assert res.exit_code == 1 and '"code": "port_fault"' in res.output
    res = runner.invoke(app, ["probe", "snmp", "127.0.0.1", "--port", str(sim.port), "--v3"])
    assert res.exit_code == 2 and "needs a user" in res.output
