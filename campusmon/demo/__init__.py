"""`campusmon demo`: a simulated school on one machine (not part of the production server).

`scenario` runs a real server, broker and agent with simulated devices through a school day's faults;
`simulator` holds the simulated MQTT devices that the demo, the benchmarks and the end-to-end tests use.
This package may import every role; no role imports it.
"""
