"""`python -m campusmon.agent [--config FILE]`: run the agent."""

from campusmon.agent.main import main

main()
