"""`campusmon agent run|once` without the CLI framework: the agent imports only what it uses.

`python -m campusmon agent run|once [--config FILE]` lands here (see campusmon/__main__.py), as does
`python -m campusmon.agent`. Anything else (`--help`, other commands) goes to the full `campusmon` CLI,
whose framework alone costs several MiB and pulls in pydantic.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from .config import AgentConfig

USAGE = "usage: campusmon-agent [run|once] [--config FILE]"
FAST_COMMANDS = ("run", "once")


def _config_argument(argv: list[str]) -> tuple[str | None, str | None]:
    """(the config file named, or None; an error starting with 'error:' when the arguments are not ours)."""
    config = os.environ.get("CAMPUSMON_AGENT_CONFIG") or None
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("--config", "-c") and args:
            config = args.pop(0)
        elif arg.startswith("--config="):
            config = arg.partition("=")[2]
        else:
            return None, f"error: unexpected argument {arg!r}"
    return config, None


def parse_run_args(argv: list[str]) -> Path | None | str:
    """The config path (or None); a str starting with 'error:' when the arguments are not ours."""
    from pathlib import Path

    config, error = _config_argument(argv)
    if error is not None:
        return error
    return Path(config) if config else None


def _config(argv: list[str]) -> AgentConfig | int:
    from campusmon.config import ConfigError

    from .config import load_agent_config

    parsed = parse_run_args(argv)
    if isinstance(parsed, str):
        sys.stderr.write(f"{parsed}\n{USAGE}\n")
        return 2
    try:
        return load_agent_config(parsed)
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


def once(argv: list[str]) -> int:
    """Print one report as JSON (nothing is sent)."""
    import json

    from .runner import once as collect_once

    cfg = _config(argv)
    if isinstance(cfg, int):
        return cfg
    sys.stdout.write(json.dumps(collect_once(cfg), indent=2, ensure_ascii=False) + "\n")
    return 0


def run(argv: list[str]) -> int:
    cfg = _config(argv)
    if isinstance(cfg, int):
        return cfg
    import logging

    logging.basicConfig(
        level=getattr(logging, cfg.agent.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from .lean import import_paho, import_psutil

    import_paho()
    import_psutil()
    from campusmon.private_files import private_dir

    from . import stopping
    from .buffer import BufferUnavailable
    from .runner import Agent

    os.umask(0o077)  # whatever the agent writes is its own
    try:
        private_dir(cfg.agent.state_dir)
        agent = Agent(cfg)
    except (BufferUnavailable, OSError) as exc:
        sys.stderr.write(f"error: agent.state_dir {cfg.agent.state_dir}: {exc}\n")
        return 1
    stopping.install(agent.stop, agent.stopped)
    agent.run()
    return 0


def wants_fast_path(argv: list[str]) -> bool:
    """`agent run|once` with nothing but a config option (help and errors go to the full CLI)."""
    return (
        len(argv) >= 2
        and argv[0] == "agent"
        and argv[1] in FAST_COMMANDS
        and _config_argument(argv[2:])[1] is None
    )


def dispatch(argv: list[str]) -> int:
    """`argv` after `agent`: the command and its options."""
    from .lean import import_stdlib

    import_stdlib()  # first: nothing has imported dataclasses, logging or pathlib yet
    return once(argv[1:]) if argv[0] == "once" else run(argv[1:])


def main() -> None:
    """The `campusmon-agent` console script."""
    args = sys.argv[1:]
    if any(a in ("-h", "--help") for a in args):
        sys.stdout.write(
            f"{USAGE}\n\n  run   report health every interval until stopped (the default)\n"
            "  once  print one report as JSON, send nothing\n\n"
            "  --config, -c FILE  agent TOML config (default: $CAMPUSMON_AGENT_CONFIG, else defaults)\n"
            "Other commands: campusmon agent --help\n"
        )
        sys.exit(0)
    sys.exit(dispatch(args if args[:1] and args[0] in FAST_COMMANDS else ["run", *args]))
