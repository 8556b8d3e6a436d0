"""`python -m campusmon` is the `campusmon` command.

`agent run|once` skip the CLI framework so the agent stays small (see agent/campusmon/agent/main.py).
"""

import sys

from campusmon.agent.main import dispatch, wants_fast_path

if wants_fast_path(sys.argv[1:]):
    sys.exit(dispatch(sys.argv[2:]))

from campusmon.cli import main

main()
