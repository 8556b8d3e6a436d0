"""Device and campus ids follow `[a-z0-9][a-z0-9_-]{0,63}` exactly: "$" would also take a trailing
newline ("pc-1\\n"), so every check uses the anchored pattern (\\Z) — contract, agent, probes, register."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from campusmon import contract
from campusmon.agent import wire
from campusmon.cli import app

BAD = ["pc-1\n", "pc-1\r\n", "\npc-1", "pc 1", "PC-1", "", "-pc", "a" * 65]
GOOD = ["pc-1", "0", "c302-panel_2", "a" * 64]


@pytest.mark.parametrize("value", BAD)
def test_bad_ids_are_refused_everywhere(value: str) -> None:
    assert not contract.ID_RE.match(value)
    assert not wire.ID_RE.match(value)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(value, contract.Ident)
    with pytest.raises(ValueError, match="does not match"):
        wire.topic("campusmon", "main", value, "metrics")


@pytest.mark.parametrize("value", GOOD)
def test_good_ids_pass(value: str) -> None:
    assert contract.ID_RE.match(value) and wire.ID_RE.match(value)
    assert msgspec.convert(value, contract.Ident) == value


def test_a_payload_naming_a_device_with_a_newline_is_rejected() -> None:
    raw = msgspec.json.encode(
        {"v": 1, "campus": "main", "device": "pc-1\n", "ts": 1763884800.0, "state": "online"}
    )
    with pytest.raises(contract.ContractError):
        contract.decode(contract.parse_topic("campusmon/main/pc-1/status"), raw)


def test_cli_refuses_ids_with_a_trailing_newline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPUSMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CAMPUSMON_SERVER_CONFIG", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["tickets", "open", "--summary", "投影仪不亮", "--device", "pc-1\n"])
    assert result.exit_code != 0 and "device id 'pc-1\\n' is not valid" in result.stderr
    result = runner.invoke(app, ["tickets", "open", "--summary", "x", "--room", "101", "--campus", "main\n"])
    assert result.exit_code != 0 and "campus id 'main\\n' is not valid" in result.stderr
    assert runner.invoke(app, ["assets", "rooms", "add", "主校区/A栋/101"]).exit_code == 0
    result = runner.invoke(app, ["assets", "rooms", "code", "主校区", "main\n"])
    assert result.exit_code == 1 and "campus id 'main\\n' does not match" in result.stderr
    assert runner.invoke(app, ["assets", "rooms", "code", "主校区", "main"]).exit_code == 0
