"""Clean stops: signals everywhere, and on Windows the console/session/OS-shutdown notifications.

A Windows service wrapper (WinSW, NSSM) stops the agent with Ctrl+C/Ctrl+Break; logoff and OS shutdown
arrive as console control events. Each becomes `stop(reason)`, so the agent publishes `shutdown` with
that reason before it disconnects.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

_log = logging.getLogger(__name__)

#: Windows console control events (wincon.h)
CTRL_EVENT_REASONS = {
    0: "signal SIGINT",
    1: "signal SIGBREAK",
    2: "console closed",
    5: "session end",
    6: "os shutdown",
}
#: Windows kills the process this long after a close/logoff/shutdown event (5 s); leave a margin
WINDOWS_GRACE_SECONDS = 4.0

_keep: list[Any] = []  # the ctypes callback must outlive this module's functions


def reason_for_ctrl_event(code: int) -> str:
    return CTRL_EVENT_REASONS.get(code, f"console event {code}")


def install(stop: Callable[[str], None], stopped: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    if hasattr(signal, "SIGBREAK"):
        signal.signal(signal.SIGBREAK, handler)
    if sys.platform == "win32":
        _install_console_handler(stop, stopped)


def _install_console_handler(
    stop: Callable[[str], None], stopped: threading.Event
) -> None:  # pragma: no cover
    import ctypes
    from ctypes import wintypes

    prototype = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.DWORD)  # type: ignore[attr-defined]

    def on_event(code: int) -> bool:
        if code in (0, 1):
            return False  # Ctrl+C / Ctrl+Break: the signal handlers above do it
        stop(reason_for_ctrl_event(code))
        # returning lets Windows end the process: first let the agent say `shutdown`
        stopped.wait(WINDOWS_GRACE_SECONDS)
        return True

    callback = prototype(on_event)
    _keep.append(callback)
    if not ctypes.windll.kernel32.SetConsoleCtrlHandler(callback, True):  # type: ignore[attr-defined]
        _log.warning("cannot watch for logoff/shutdown events")
