"""TCP connect time: is the service port open?"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from .config import TargetSettings
from .result import ProbeResult


class TcpProbe:
    kind = "tcp"

    def __init__(self, target: TargetSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.target = target
        self.clock = clock

    async def check(self) -> ProbeResult:
        host, port = self.target.host, self.target.tcp.port
        started = self.clock()
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), timeout=self.target.timeout
            )
        except TimeoutError:
            return ProbeResult("tcp", "timeout", f"no answer from {host}:{port}", self.clock() - started)
        except ConnectionRefusedError:
            # the host answered with a reset: it is there, the service is not
            r = ProbeResult("tcp", "refused", f"{host}:{port} refused the connection", self.clock() - started)
            r.groups = {"probe": r.probe_group()}
            return r
        except OSError as exc:
            return ProbeResult("tcp", "unreachable", f"{host}:{port}: {exc}", self.clock() - started)
        connect = self.clock() - started
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        r = ProbeResult("tcp", "ok", f"connected to {host}:{port}", connect)
        r.groups = {"probe": {**r.probe_group(), "port": str(port), "tcp_connect_seconds": round(connect, 6)}}
        return r
