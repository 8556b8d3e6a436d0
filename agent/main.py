"""`campusmon agent run` without the CLI framework: the long-running agent imports only what it uses.

`python -m campusmon agent run [--config FILE]` lands here (see campusmon/__main__.py), as does
`python -m campusmon.agent`. Anything else goes to the full `campusmon` CLI.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

USAGE = "usage: campusmon agent run [--config FILE]"


def parse_run_args(argv: list[str]) -> Path | None | str:
    """The config path (or None); a str starting with 'error:' when the arguments are not ours."""
    config = os.environ.get("CAMPUSMON_AGENT_CONFIG") or None
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("--config", "-c") and args:
            config = args.pop(0)
        elif arg.startswith("--config="):
            config = arg.partition("=")[2]
        else:
            return f"error: unexpected argument {arg!r}"
    return Path(config) if config else None


def run(argv: list[str]) -> int:
    from campusmon.config import ConfigError

    from .config import load_agent_config

    parsed = parse_run_args(argv)
    if isinstance(parsed, str):
        sys.stderr.write(f"{parsed}\n{USAGE}\n")
        return 2
    try:
        cfg = load_agent_config(parsed)
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    logging.basicConfig(
        level=getattr(logging, cfg.agent.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from . import stopping
    from .buffer import BufferUnavailable
    from .runner import Agent

    try:
        agent = Agent(cfg)
    except BufferUnavailable as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    stopping.install(agent.stop, agent.stopped)
    agent.run()
    return 0


def wants_fast_path(argv: list[str]) -> bool:
    """`agent run` with nothing but a config option (help and errors go to the full CLI)."""
    return argv[:2] == ["agent", "run"] and not isinstance(parse_run_args(argv[2:]), str)


def main() -> None:
    sys.exit(run(sys.argv[1:]))
