"""What a TLS client session costs in resident memory, per TLS library, against a real Mosquitto.

The question behind it: could the agent's MQTT connection use a TLS library lighter than the standard
library's OpenSSL 3 (see docs/performance.md, "Agent footprint")? For each library this script starts
a fresh interpreter (the same Python, `--python` to choose another) that first imports what the agent
has loaded by the time it connects (socket, logging, sqlite3, dataclasses, ...), reads its VmRSS, then
opens one TLS session the way the agent would — TLS 1.2 or later, the broker certificate verified
against the site CA only, its name checked against the broker address — sends an MQTT CONNECT and
reads the CONNACK, and reads VmRSS again. The difference is what the library costs the agent. Each
library must also refuse the same broker under a name its certificate does not carry.

Libraries, each measured when it is present:

- `ssl`: the standard library (OpenSSL 3 here), through the agent's own `tls_context`;
- `mbedtls`: the python-mbedtls package (Cython over a bundled mbed TLS);
- `wolfssl`: the wolfssl package (cffi over wolfSSL);
- `wolfssl-ctypes`: the system's libwolfssl (Debian `libwolfssl35`) called through ctypes with no
  binding package at all — the least Python any wolfSSL client can carry, i.e. a lower bound.

The broker certificate (RSA-3072 as the `campusmon_broker` role makes it) names IP:127.0.0.1 and
DNS:localhost, so a library that cannot match IP addresses is still measured (by name) and the output
says that it cannot.

    python -m bench.tls_client_footprint [--python PYTHON]   # from the repository root

Needs: mosquitto, openssl (Debian packages). Linux only (/proc).
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

#: what the agent has imported by the time it connects (measured with TLS loaded by none of them)
AGENT_BASE = (
    "base64", "collections", "dataclasses", "enum", "errno", "json", "logging", "os", "pathlib",
    "select", "selectors", "socket", "sqlite3", "struct", "threading", "time", "typing", "zlib",
)  # fmt: skip
#: the extension modules a TLS library would load: none may be in the baseline
TLS_MODULES = ("_ssl", "_hashlib", "_cffi_backend", "_ctypes", "mbedtls", "wolfssl")
LIBRARIES = ("ssl", "mbedtls", "wolfssl", "wolfssl-ctypes")
WRONG_NAME = "wrong.example"


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def mqtt_connect(send: Any, recv: Any) -> None:
    """An MQTT 3.1.1 CONNECT over the TLS session; the broker must answer CONNACK accepted."""
    client_id = b"tls-footprint"
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id
    send(bytes([0x10, len(body)]) + body)
    connack = b""
    while len(connack) < 4:
        chunk = recv(4096)
        if not chunk:
            raise ConnectionError("the broker closed the session before CONNACK")
        connack += chunk
    if connack != b"\x20\x02\x00\x00":
        raise ConnectionError(f"unexpected CONNACK {connack!r}")


def session_ssl(host: str, port: int, ca: str, name: str) -> str:
    import socket
    from pathlib import Path

    from campusmon.mqtt.security import tls_context

    with socket.create_connection((host, port), timeout=10) as raw:
        tls = tls_context(Path(ca)).wrap_socket(raw, server_hostname=name)
        mqtt_connect(tls.sendall, tls.recv)
        return str(tls.version())


def session_mbedtls(host: str, port: int, ca: str, name: str) -> str:
    import socket

    from mbedtls import tls

    conf = tls.TLSConfiguration(
        trust_store=tls.TrustStore.from_pem_file(ca),
        validate_certificates=True,
        lowest_supported_version=tls.TLSVersion.TLSv1_2,
    )
    with socket.create_connection((host, port), timeout=10) as raw:
        sock = tls.ClientContext(conf).wrap_socket(raw, server_hostname=name)
        sock.do_handshake()

        def recv(size: int) -> bytes:
            while True:  # the socket hands over what it has, the record may need more
                try:
                    data: bytes = sock.recv(size)
                    return data
                except tls.WantReadError:
                    continue

        mqtt_connect(sock.sendall, recv)
        return str(sock.negotiated_tls_version().name)


def session_wolfssl(host: str, port: int, ca: str, name: str) -> str:
    import socket

    import wolfssl

    context = wolfssl.SSLContext(wolfssl.PROTOCOL_TLS)
    context.verify_mode = wolfssl.CERT_REQUIRED
    context.check_hostname = True
    context.load_verify_locations(ca)
    with socket.create_connection((host, port), timeout=10) as raw:
        sock = context.wrap_socket(raw, server_hostname=name)
        mqtt_connect(sock.sendall, sock.recv)
        return str(sock.version())


class WolfCtypesError(OSError):
    """A wolfSSL call through ctypes failed (error code in the message)."""


def session_wolfssl_ctypes(host: str, port: int, ca: str, name: str) -> str:
    import ctypes
    import ctypes.util
    import socket

    path = ctypes.util.find_library("wolfssl")
    if path is None:
        raise ImportError("no libwolfssl on this system (Debian: libwolfssl35)")
    lib = ctypes.CDLL(path)
    ptr, cint, cstr = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "wolfTLS_client_method": (ptr, []),
        "wolfSSL_CTX_new": (ptr, [ptr]),
        "wolfSSL_CTX_SetMinVersion": (cint, [ptr, cint]),
        "wolfSSL_CTX_load_verify_locations": (cint, [ptr, cstr, cstr]),
        "wolfSSL_CTX_set_verify": (None, [ptr, cint, ptr]),
        "wolfSSL_new": (ptr, [ptr]),
        "wolfSSL_set_fd": (cint, [ptr, cint]),
        "wolfSSL_check_domain_name": (cint, [ptr, cstr]),
        "wolfSSL_connect": (cint, [ptr]),
        "wolfSSL_get_error": (cint, [ptr, cint]),
        "wolfSSL_write": (cint, [ptr, cstr, cint]),
        "wolfSSL_read": (cint, [ptr, ctypes.c_char_p, cint]),
        "wolfSSL_get_version": (cstr, [ptr]),
        "wolfSSL_free": (None, [ptr]),
    }
    for fn, (restype, argtypes) in signatures.items():
        getattr(lib, fn).restype = restype
        getattr(lib, fn).argtypes = argtypes
    lib.wolfSSL_Init()
    ctx = lib.wolfSSL_CTX_new(lib.wolfTLS_client_method())
    if lib.wolfSSL_CTX_SetMinVersion(ctx, 3) != 1:  # WOLFSSL_TLSV1_2
        raise WolfCtypesError("SetMinVersion failed")
    if lib.wolfSSL_CTX_load_verify_locations(ctx, ca.encode(), None) != 1:
        raise WolfCtypesError(f"cannot load {ca}")
    lib.wolfSSL_CTX_set_verify(ctx, 1 | 2, None)  # VERIFY_PEER | FAIL_IF_NO_PEER_CERT
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.setblocking(True)  # wolfSSL does the socket I/O itself: a blocking descriptor
        ssl = lib.wolfSSL_new(ctx)
        try:
            lib.wolfSSL_set_fd(ssl, raw.fileno())
            if lib.wolfSSL_check_domain_name(ssl, name.encode()) != 1:
                raise WolfCtypesError("check_domain_name failed")
            rc = lib.wolfSSL_connect(ssl)
            if rc != 1:
                raise WolfCtypesError(f"handshake failed: error {lib.wolfSSL_get_error(ssl, rc)}")

            def send(data: bytes) -> None:
                if lib.wolfSSL_write(ssl, data, len(data)) != len(data):
                    raise WolfCtypesError("write failed")

            def recv(size: int) -> bytes:
                buf = ctypes.create_string_buffer(size)
                n = lib.wolfSSL_read(ssl, buf, size)
                return buf.raw[: max(n, 0)]

            mqtt_connect(send, recv)
            return str(lib.wolfSSL_get_version(ssl).decode())
        finally:
            lib.wolfSSL_free(ssl)


SESSIONS = {
    "ssl": session_ssl,
    "mbedtls": session_mbedtls,
    "wolfssl": session_wolfssl,
    "wolfssl-ctypes": session_wolfssl_ctypes,
}


def library_errors(library: str) -> tuple[type[BaseException], ...]:
    """What the library raises for a refused handshake (a certificate or name that does not verify)."""
    if library == "ssl":
        import ssl

        return (ssl.SSLError, ssl.CertificateError)
    if library == "mbedtls":
        from mbedtls.exceptions import TLSError

        return (TLSError,)
    if library == "wolfssl":
        import wolfssl
        from wolfssl._ffi import lib  # noqa: F401  (the package itself imports without its binding)

        return (wolfssl.SSLError, wolfssl.CertificateError)
    return (WolfCtypesError,)


def child(library: str, port: int, ca: str) -> dict[str, Any]:
    """One library in this fresh interpreter: RSS before, one verified session, RSS after."""
    for module in AGENT_BASE:
        importlib.import_module(module)
    loaded = [m for m in TLS_MODULES if m in sys.modules]
    if loaded:
        raise SystemExit(f"the baseline already holds {loaded}: the figure would be wrong")
    before = rss_kib()
    out: dict[str, Any] = {"library": library, "before_kib": before}
    session = SESSIONS[library]
    try:
        errors = library_errors(library)
    except ImportError as exc:
        return {**out, "unusable": f"{type(exc).__name__}: {exc}"}
    by_ip = True
    try:
        out["tls"] = session("127.0.0.1", port, ca, "127.0.0.1")
    except errors as exc:  # a library that cannot match an IP address: measured by name instead
        by_ip = False
        out["ip_refused"] = f"{type(exc).__name__}: {exc}"
        out["tls"] = session("127.0.0.1", port, ca, "localhost")
    out["verifies_ip"] = by_ip
    out["after_kib"] = rss_kib()
    try:
        session("127.0.0.1", port, ca, WRONG_NAME)
    except errors:
        out["refuses_wrong_name"] = True
    else:
        out["refuses_wrong_name"] = False
    return out


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable, help="the interpreter to measure in")
    ap.add_argument("--child", nargs=3, metavar=("LIBRARY", "PORT", "CA"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        library, port, ca = args.child
        print(json.dumps(child(library, int(port), ca)))
        return
    # only the parent imports these (bench.agent_footprint loads ssl through urllib.request)
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    from bench.agent_footprint import find, free_port, make_pki, wait_port

    work = Path(tempfile.mkdtemp(prefix="campusmon-tls-"))
    os.chmod(work, 0o755)
    make_pki(work, san="IP:127.0.0.1,DNS:localhost")
    port = free_port()
    user = "user root\n" if os.geteuid() == 0 else ""
    (work / "mosquitto.conf").write_text(
        f"{user}listener {port} 127.0.0.1\nallow_anonymous true\n"
        f"cafile {work / 'ca.crt'}\ncertfile {work / 'server.crt'}\nkeyfile {work / 'server.key'}\n"
    )
    broker = subprocess.Popen(
        [find("mosquitto"), "-c", str(work / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    repo = str(Path(__file__).resolve().parent.parent)
    rows: list[dict[str, Any]] = []
    try:
        wait_port(port)
        for library in LIBRARIES:
            command = [args.python, "-m", "bench.tls_client_footprint", "--child", library, str(port)]
            done = subprocess.run(
                [*command, str(work / "ca.crt")],
                cwd=repo,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if done.returncode != 0:
                rows.append({"library": library, "unusable": done.stderr.strip().splitlines()[-1]})
            else:
                rows.append(json.loads(done.stdout))
    finally:
        broker.terminate()
        broker.wait(10)
    header = f"{'library':<16}{'TLS':>9}{'baseline MiB':>14}{'session MiB':>13}"
    print(f"{header}  verifies IP  refuses wrong name")
    for row in rows:
        if "unusable" in row:
            print(f"{row['library']:<16} not measured: {row['unusable']}")
            continue
        added = (row["after_kib"] - row["before_kib"]) / 1024
        print(
            f"{row['library']:<16}{row['tls']:>9}{row['before_kib'] / 1024:>14.1f}{added:>+13.2f}"
            f"  {'yes' if row['verifies_ip'] else 'NO':<12} {'yes' if row['refuses_wrong_name'] else 'NO'}"
        )
        if not row["verifies_ip"]:
            print(f"{'':16} refused the broker at 127.0.0.1 (IP SAN): {row['ip_refused']}")


if __name__ == "__main__":
    main()
