"""campusmon server: ingest, storage, rules, tickets, register."""
