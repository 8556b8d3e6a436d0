"""`python -m campusmon` is the `campusmon` command."""

from campusmon.cli import main

main()
