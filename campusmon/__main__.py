"""`python -m campusmon` is the `campusmon` command.

`agent run` skips the CLI framework so the long-running agent stays small (see agent/main.py).
"""

import sys

from campusmon.agent.main import run, wants_fast_path

if wants_fast_path(sys.argv[1:]):
    sys.exit(run(sys.argv[3:]))

from campusmon.cli import main

main()
