"""The web console and HTTP API (FastAPI, Jinja2, htmx), served by `campusmon server run`.

Nothing here is imported by the agent: the agent install has none of FastAPI, Starlette, Jinja2,
uvicorn (tests/unit/agent/test_lean_imports.py checks it).
"""
