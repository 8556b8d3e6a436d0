"""campusmon probes: agentless checks (SNMP, ICMP, TCP, HTTP)."""
