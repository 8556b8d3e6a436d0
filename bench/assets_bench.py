"""Asset register at school-district size: import, filtered lists and XLSX export of 10,000 assets.

    .venv/bin/python -m bench.assets_bench [--assets 10000] [--postgres | --database-url URL]
    .venv/bin/python -m bench.assets_bench --big-dry-run [--rows 200000]

Targets: import under 10 s, a filtered list under 100 ms, XLSX export under 5 s. The list figures are
the register query plus JSON rendering, in process (what `assets list --json` does after start-up);
the `campusmon assets list` process as a whole is timed too, for reference.

`--big-dry-run`: a 200,000-row, ~7.4 MiB CSV (tag, name, serial) checked by a separate
`campusmon assets import --dry-run` process on an empty SQLite register: wall time and peak RSS.
Targets: under 15 s and under 256 MiB (it took 45 s and 979 MiB when the importer held the whole file).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from campusmon.cli.assets_cmd import record_json
from campusmon.server.db import Database
from campusmon.server.register.service import AssetFilter, RegisterService
from campusmon.server.register.spreadsheet import Importer, export_records, export_xlsx

HEADER = [
    "资产编号",
    "名称",
    "类型",
    "校区",
    "楼栋",
    "房间",
    "序列号",
    "品牌",
    "型号",
    "购置日期",
    "价格",
    "保修截止",
    "使用部门",
    "状态",
    "备注",
]
TYPES = ["电脑"] * 6 + ["交互平板", "投影仪", "打印机", "交换机", "无线AP", "摄像头"]
VENDORS = [
    ("联想", "启天M430"),
    ("华为", "擎云W515"),
    ("鸿合", "HD-I8677E"),
    ("惠普", "M1136"),
    ("华三", "S5130"),
]


def make_csv(path: Path, n: int, rng: random.Random) -> None:
    campuses = ["主校区", "东校区", "北校区", "实验小学"]
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(n):
            campus = campuses[i % len(campuses)]
            building = f"{rng.choice('ABCDEFGH')}栋"
            room = f"{rng.randint(1, 6)}{rng.randint(1, 30):02d}"
            vendor, model = rng.choice(VENDORS)
            year = rng.randint(2015, 2025)
            w.writerow(
                [
                    f"ZC-{year}-{i:06d}",
                    f"设备{i:05d}",
                    rng.choice(TYPES),
                    campus,
                    building,
                    room,
                    f"SN{rng.getrandbits(40):010X}",
                    vendor,
                    model,
                    f"{year}-{rng.randint(1, 12):02d}-15",
                    f"{rng.randint(800, 30000)}.00",
                    f"{year + 3}-06-30",
                    rng.choice(["信息中心", "教务处", "初二年级组"]),
                    rng.choice(["在用"] * 8 + ["维修中", "备用", "报废"]),
                    "" if i % 7 else "靠窗",
                ]
            )


def big_dry_run(rows: int) -> int:
    """`campusmon assets import --dry-run` of a big, plain CSV as a process of its own."""
    with tempfile.TemporaryDirectory(prefix="campusmon-assets-bench-") as tmp:
        work = Path(tmp)
        src = work / "big.csv"
        with src.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["资产编号", "名称", "序列号"])
            for i in range(rows):
                w.writerow([f"ZC-{i:07d}", f"PC{i:07d}", f"SN{i:09d}"])
        size = src.stat().st_size
        env = dict(os.environ, CAMPUSMON_DATA_DIR=str(work / "data"))
        cmd = [sys.executable, "-m", "campusmon", "assets", "import", "--dry-run", "--json", str(src)]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t0
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        report = json.loads(out.stdout) if out.stdout.startswith("{") else {}
        print(
            f"{rows} rows, {size / 2**20:.1f} MiB: exit {out.returncode}, {seconds:.2f} s, "
            f"peak RSS {peak_mib:.0f} MiB"
        )
        print(f"would create {report.get('created')}, errors {len(report.get('errors', []))}")
        ok = out.returncode == 0 and report.get("created") == rows and seconds < 15 and peak_mib < 256
        print(
            json.dumps(
                {"rows": rows, "bytes": size, "seconds": round(seconds, 2), "peak_rss_mib": round(peak_mib)}
            )
        )
        print("targets (< 15 s, < 256 MiB):", "met" if ok else "MISSED")
        if out.returncode != 0:
            print(out.stderr[-2000:])
        return 0 if ok else 1


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    ap.add_argument(
        "--postgres", action="store_true", help="on a private PostgreSQL started for the run (initdb)"
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--big-dry-run", action="store_true", help="only the big `import --dry-run` process")
    ap.add_argument("--rows", type=int, default=200_000, help="rows for --big-dry-run")
    args = ap.parse_args()
    if args.big_dry_run:
        return big_dry_run(args.rows)
    if args.postgres:
        from tests.support.postgres import PostgresProcess

        pg = PostgresProcess().start()
        try:
            args.database_url = pg.url
            return run(args)
        finally:
            pg.stop()
    return run(args)


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="campusmon-assets-bench-") as tmp:
        work = Path(tmp)
        url = args.database_url or f"sqlite:///{work / 'campusmon.db'}"
        db = Database(url)
        reg = RegisterService(db)
        src = work / "assets.csv"
        make_csv(src, args.assets, rng)
        results: dict[str, float] = {}

        seconds, report = timed(lambda: Importer(reg, "import:bench").run(src))
        results["import_seconds"] = seconds
        print(f"import {args.assets} rows: {seconds:.2f} s ({report})"[:200])
        seconds, report = timed(lambda: Importer(reg, "import:bench").run(src))
        results["reimport_unchanged_seconds"] = seconds
        print(f"re-import, nothing changed: {seconds:.2f} s")

        def listing(flt: AssetFilter) -> Callable[[], int]:
            def run() -> int:
                rows = reg.records(flt)
                json.dumps([record_json(a) for a in rows], ensure_ascii=False)
                return len(rows)

            return run

        cases = {
            "list_search_seconds": AssetFilter(search="设备04242"),
            "list_search_serial_part_seconds": AssetFilter(search="sn0"),
            "list_room_seconds": AssetFilter(campus="东校区", building="B栋", room="203"),
            "list_building_type_status_seconds": AssetFilter(
                campus="主校区", building="C栋", type="panel", status="in_use"
            ),
            "list_warranty_before_campus_seconds": AssetFilter(
                campus="北校区", warranty_before=__import__("datetime").date(2019, 1, 1)
            ),
        }
        for name, flt in cases.items():
            seconds, count = timed(listing(flt), repeat=7)
            results[name] = seconds
            print(f"{name}: {seconds * 1000:.1f} ms median of 7 ({count} rows)")

        seconds, n = timed(lambda: export_xlsx(export_records(reg, AssetFilter()), work / "all.xlsx", "zh"))
        results["export_xlsx_seconds"] = seconds
        print(f"export {n} assets to XLSX: {seconds:.2f} s ({(work / 'all.xlsx').stat().st_size} bytes)")

        if not args.database_url:
            env = dict(os.environ, CAMPUSMON_DATA_DIR=str(work))
            cmd = [sys.executable, "-m", "campusmon", "assets", "list", "--json", "--search", "设备04242"]
            seconds, _ = timed(
                lambda: subprocess.run(cmd, env=env, check=True, capture_output=True), repeat=3
            )
            results["cli_list_search_process_seconds"] = seconds
            print(f"`campusmon assets list --search` whole process: {seconds * 1000:.0f} ms median of 3")
        db.dispose()
        ok = (
            results["import_seconds"] < 10
            and max(v for k, v in results.items() if k.startswith("list_")) < 0.1
            and results["export_xlsx_seconds"] < 5
        )
        print(json.dumps({k: round(v, 4) for k, v in results.items()}))
        print("targets (import < 10 s, filtered list < 100 ms, export < 5 s):", "met" if ok else "MISSED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
