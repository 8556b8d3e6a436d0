"""Run import-linter over the source tree as it is laid out: campusmon/ plus agent/, server/, probes/.

grimp finds a package's modules by walking the folders of its import spec. The editable install maps
campusmon.agent, .server and .probes to their own top-level folders (package-dir), so the spec of
`campusmon` names campusmon/ only and the roles would be invisible. This runs in a fresh interpreter
(`python -m tests.support.import_contract [--root DIR] [--config FILE]`) and first puts a finder in
front that gives `campusmon` all four folders, as the wheel has them. `bash dev.sh test` runs it, and
tests/unit/test_import_contract.py runs it on the tree and on a copy with a forbidden import.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("agent", "server", "probes")


def package_folders(root: Path) -> list[str]:
    """Where the modules of `campusmon` live in a checkout (or a copy of one)."""
    return [str(root / "campusmon"), *(str(root / role / "campusmon") for role in ROLES)]


class _TreeFinder(importlib.abc.MetaPathFinder):
    """Finds `campusmon` as one package spread over the checkout's four folders."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "campusmon":
            return None
        return importlib.util.spec_from_file_location(
            "campusmon",
            self.root / "campusmon" / "__init__.py",
            submodule_search_locations=package_folders(self.root),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout (default: this one)")
    parser.add_argument("--config", type=Path, default=None, help="default: <root>/pyproject.toml")
    args = parser.parse_args(argv)
    if "campusmon" in sys.modules:
        parser.error("campusmon is imported already: run this in a fresh interpreter")
    root = args.root.resolve()
    sys.meta_path.insert(0, _TreeFinder(root))
    from importlinter.cli import lint_imports

    config = args.config or root / "pyproject.toml"
    return lint_imports(config_filename=str(config), no_cache=True, no_logo=True)


if __name__ == "__main__":
    sys.exit(main())
