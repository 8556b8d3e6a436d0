"""Every MQTT session of `campusmon server run` announces a Receive Maximum (MQTT 5 flow control): the
broker hands it at most `broker.max_inflight_messages` unacknowledged messages per session and keeps
the rest queued, so a server far behind never blocks its network threads past their keepalive.

A listening socket on 127.0.0.1 stands for the broker and reads the CONNECT packets (it answers none:
the server retries, which is all this test needs to see)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

#: MQTT 5 CONNECT property ids -> value size in bytes (0: a UTF-8 string / binary with a 2-byte length;
#: -1: a user property, two strings)
PROPERTY_SIZES = {0x11: 4, 0x21: 2, 0x27: 4, 0x22: 2, 0x19: 1, 0x17: 1, 0x15: 0, 0x16: 0, 0x26: -1}


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def connect_properties(packet: bytes) -> tuple[str, dict[int, int]]:
    """(client id, {numeric property id: value}) of one MQTT 5 CONNECT packet."""
    assert packet[0] >> 4 == 1, "not a CONNECT"
    _, at = _varint(packet, 1)
    name_len = int.from_bytes(packet[at : at + 2], "big")
    at += 2 + name_len
    assert packet[at] == 5, "not MQTT 5"
    at += 1 + 1 + 2  # level, flags, keepalive
    length, at = _varint(packet, at)
    end = at + length
    props: dict[int, int] = {}
    while at < end:
        pid = packet[at]
        at += 1
        size = PROPERTY_SIZES[pid]
        if size > 0:
            props[pid] = int.from_bytes(packet[at : at + size], "big")
            at += size
        else:
            for _ in range(2 if size < 0 else 1):
                at += 2 + int.from_bytes(packet[at : at + 2], "big")
    client_len = int.from_bytes(packet[end : end + 2], "big")
    return packet[end + 2 : end + 2 + client_len].decode(), props


def test_every_session_announces_its_receive_maximum(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(1.0)
    port = listener.getsockname()[1]
    seen: dict[str, dict[int, int]] = {}
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5.0)
                data = b""
                try:
                    while len(data) < 2 or len(data) < _varint(data, 1)[0] + _varint(data, 1)[1]:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except (TimeoutError, IndexError, OSError):
                    continue
                if data:
                    client, props = connect_properties(data)
                    seen[client] = props

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    cfg = tmp_path / "server.toml"
    cfg.write_text(
        f'[broker]\nmanaged = false\nport = {port}\nmax_inflight_messages = 37\nclient_id = "rm"\n'
        f'[storage]\ndata_dir = "{tmp_path / "d"}"\n[http]\nenabled = false\n',
        encoding="utf-8",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "campusmon", "server", "run", "--config", str(cfg)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while {"rm", "rm-status"} - set(seen) and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.2)
    finally:
        server.terminate()
        try:
            _, err = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            _, err = server.communicate(timeout=10)
        stop.set()
        listener.close()
        thread.join(5)
    assert {"rm", "rm-status"} <= set(seen), (seen, err.decode(errors="replace")[-2000:])
    for client in ("rm", "rm-status"):
        assert seen[client].get(0x21) == 37, (client, seen[client])  # Receive Maximum
        assert seen[client].get(0x11) == 7 * 86400, (client, seen[client])  # Session Expiry Interval
