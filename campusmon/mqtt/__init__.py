"""MQTT for every role: connection settings, credentials and TLS, and the paho client's life cycle.

Nothing is imported here: the agent loads paho (through agent/lean.py) and ssl only when it needs them.
"""
