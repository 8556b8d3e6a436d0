"""Turn a PDF into PNG pages with pdftoppm (poppler-utils), to look at a report as a person would.

python -m tests.support.pdf_pages REPORT.pdf OUT_PREFIX [--dpi 80]
python -m tests.support.pdf_pages --sample docs/img   # the simulated month's report, zh and en
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


class PdfToolMissing(RuntimeError):
    """pdftoppm is not installed (Debian: poppler-utils)."""


def pdf_pages(pdf: Path, prefix: Path, dpi: int = 80, timeout: float = 120.0) -> list[Path]:
    """PNG pages `<prefix>-1.png`, `<prefix>-2.png` …, in page order."""
    tool = shutil.which("pdftoppm")
    if tool is None:
        raise PdfToolMissing("pdftoppm not found: apt-get install poppler-utils")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    for old in prefix.parent.glob(f"{prefix.name}-*.png"):
        old.unlink()
    subprocess.run([tool, "-png", "-r", str(dpi), str(pdf), str(prefix)], check=True, timeout=timeout)
    pages = list(prefix.parent.glob(f"{prefix.name}-*.png"))
    # pdftoppm pads page numbers to the page count's width (-01, -02 … for ten pages or more)
    numbered = sorted(pages, key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    out = []
    for i, page in enumerate(numbered, start=1):
        target = prefix.parent / f"{prefix.name}-{i}.png"
        if page != target:
            page.rename(target)
        out.append(target)
    return out


def sample(out_dir: Path, dpi: int = 80) -> list[Path]:
    """Render the simulated month's report in Chinese and English and turn it into pages."""
    from campusmon.server.reports.monthly import write_monthly
    from tests.support.school_month import build

    made: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        month = build(Path(tmp))
        try:
            for lang in ("zh", "en"):
                pdf = Path(tmp) / f"report-{lang}.pdf"
                write_monthly(month.cfg, month.db, "2026-11", "pdf", lang, pdf, clock=month.clock)
                made += pdf_pages(pdf, out_dir / f"report-{lang}", dpi)
        finally:
            month.close()
    return made


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pdf", nargs="?", type=Path)
    ap.add_argument("prefix", nargs="?", type=Path)
    ap.add_argument("--dpi", type=int, default=80)
    ap.add_argument("--sample", type=Path, help="write the sample report's pages into this folder")
    args = ap.parse_args(argv)
    if args.sample is not None:
        pages = sample(args.sample, args.dpi)
    elif args.pdf is not None and args.prefix is not None:
        pages = pdf_pages(args.pdf, args.prefix, args.dpi)
    else:
        ap.error("give PDF and PREFIX, or --sample DIR")
    for p in pages:
        sys.stdout.write(f"{p}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
