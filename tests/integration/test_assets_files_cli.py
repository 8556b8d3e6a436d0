"""`campusmon assets export --out` and `assets import` with files that are not what they should be:
a clear one-line error and a non-zero exit, never a traceback, never a file written through a link
or over an existing one unasked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from campusmon.cli import app

FIXTURES = Path(__file__).parent.parent / "fixtures" / "assets"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CAMPUSMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CAMPUSMON_SERVER_CONFIG", raising=False)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> tuple[str, str]:
        result = runner.invoke(app, ["assets", *args])
        assert result.exit_code == code, (args, result.output, result.exception)
        assert "Traceback" not in result.output
        return result.stdout, result.stderr

    run("import", str(FIXTURES / "school_utf8.csv"), code=1)  # 7 good rows, 7 bad ones
    return run


def error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_export_writes_a_new_file_and_leaves_no_temporary_file(cli, tmp_path: Path) -> None:
    out = tmp_path / "out" / "a.csv"
    out.parent.mkdir()
    cli("export", "--out", str(out))
    assert out.read_text(encoding="utf-8-sig").count("\n") == 8
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.csv"]


def test_an_existing_file_is_kept_unless_forced(cli, tmp_path: Path) -> None:
    out = tmp_path / "a.xlsx"
    out.write_bytes(b"precious")
    _, err = cli("export", "--out", str(out), code=1)
    assert f"{out} exists; use --force to replace it" in error_line(err)
    assert out.read_bytes() == b"precious"
    cli("export", "--out", str(out), "--force")
    assert zipfile.is_zipfile(out)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("force", [False, True])
def test_a_symlink_is_never_followed(cli, tmp_path: Path, force: bool) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch", encoding="utf-8")
    link = tmp_path / "export.csv"
    link.symlink_to(victim)
    _, err = cli("export", "--out", str(link), *(["--force"] if force else []), code=1)
    assert "is a symbolic link: not followed" in error_line(err)
    assert victim.read_text(encoding="utf-8") == "do not touch" and link.is_symlink()


def test_a_dangling_symlink_is_not_followed_either(cli, tmp_path: Path) -> None:
    link = tmp_path / "export.csv"
    link.symlink_to(tmp_path / "created-through-the-link.csv")
    cli("export", "--out", str(link), code=1)
    assert not (tmp_path / "created-through-the-link.csv").exists()


Case = Callable[[Path], tuple[list[str], str]]
CASES: list[tuple[str, Case]] = [
    ("missing-dir", lambda d: (["--out", str(d / "nope" / "a.csv")], "directory")),
    ("a-directory", lambda d: (["--out", str(d), "--format", "csv"], "is a directory")),
    ("dev-full", lambda d: (["--out", "/dev/full", "--format", "csv", "--force"], "no space left")),
    ("dev-full-unforced", lambda d: (["--out", "/dev/full", "--format", "xlsx"], "use --force")),
]


@pytest.mark.parametrize(("case", "make"), CASES, ids=[c for c, _ in CASES])
def test_export_to_a_place_it_cannot_write(cli, tmp_path: Path, case: str, make: Case) -> None:
    if case.startswith("dev-full") and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    args, expected = make(tmp_path)
    _, err = cli("export", *args, code=1)
    assert expected in error_line(err)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _broken_sheet(path: Path, tmp: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["asset_tag"])
    ws.append(["ZX-1"])
    wb.save(tmp / "good.xlsx")
    with zipfile.ZipFile(tmp / "good.xlsx") as src:
        members = {n: src.read(n) for n in src.namelist()}
    members = {n: (b"<worksheet><sheetData><row>" if "sheet1" in n else v) for n, v in members.items()}
    return _zip(path, members)


GARBAGE: list[tuple[str, Callable[[Path, Path], Path]]] = [
    ("random-bytes", lambda p, t: (p.write_bytes(os.urandom(4096)), p)[1]),
    ("zip-header-only", lambda p, t: (p.write_bytes(b"PK\x03\x04garbage"), p)[1]),
    ("empty", lambda p, t: (p.write_bytes(b""), p)[1]),
    ("zip-not-a-workbook", lambda p, t: _zip(p, {"hello.txt": b"hi"})),
    ("broken-sheet-xml", _broken_sheet),
    ("csv-named-xlsx", lambda p, t: (p.write_text("asset_tag\nA1\n", encoding="utf-8"), p)[1]),
]


@pytest.mark.parametrize(("case", "make"), GARBAGE, ids=[c for c, _ in GARBAGE])
def test_a_garbage_xlsx_is_a_clear_error(cli, tmp_path: Path, case: str, make) -> None:
    path = make(tmp_path / "register.xlsx", tmp_path)
    _, err = cli("import", str(path), "--dry-run", code=1)
    assert "cannot read register.xlsx as XLSX" in error_line(err)


@pytest.mark.slow
def test_a_big_csv_dry_run_is_streamed(tmp_path: Path) -> None:
    """100,000 rows (3.3 MiB): the importer once held the file, its rows and every new asset in
    memory (~500 MiB here, 979 MiB for 200,000 rows) and inserted them only to roll back. Speed is
    measured by bench/assets_bench.py --big-dry-run; this checks the memory, which does not depend on load."""
    src = tmp_path / "big.csv"
    with src.open("w", encoding="utf-8", newline="") as fh:
        fh.write("资产编号,名称,序列号\n")
        fh.writelines(f"ZC-{i:07d},PC{i:07d},SN{i:09d}\n" for i in range(100_000))
    # a parent of its own, so RUSAGE_CHILDREN is this one process's peak
    wrapper = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(r.stdout)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "sys.stderr.write(r.stderr + '\\npeak_kib=%d' % peak)\n"
        "sys.exit(r.returncode)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, sys.executable, "-m", "campusmon", "assets", "import", "--dry-run"]
        + ["--json", str(src)],
        env=dict(os.environ, CAMPUSMON_DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert (report["created"], report["errors"], report["dry_run"]) == (100_000, [], True)
    peak_kib = int(out.stderr.rsplit("peak_kib=", 1)[1])
    assert peak_kib < 250 * 1024, f"peak RSS {peak_kib // 1024} MiB"
