"""paho imported without ssl, hashlib, urllib.request, uuid, base64: each loads on first use.

Every check runs in a fresh interpreter: this one has ssl and OpenSSL loaded long ago.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

IMPORT_PAHO = (
    "from campusmon.agent.lean import import_paho, sha256_hex\nimport_paho()\nimport paho.mqtt.client as m\n"
)
#: as an agent-only install has it: no PySocks (the development environment may have it, see below)
PRELUDE = "import sys\nsys.modules['socks'] = None\n" + IMPORT_PAHO


def run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PRELUDE + code], check=False, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_nothing_deferred_is_loaded_by_importing_paho_or_making_a_client() -> None:
    run(
        "c = m.Client(m.CallbackAPIVersion.VERSION2, client_id='x', protocol=m.MQTTv5)\n"
        "c.will_set('t', b'lost', qos=1, retain=True)\n"
        "assert c._get_proxy() is None\n"
        "loaded = {'ssl', '_ssl', 'hashlib', '_hashlib', 'urllib.request', 'email', 'uuid', 'base64'}\n"
        "assert not loaded & set(sys.modules), loaded & set(sys.modules)\n"
        "import ssl, urllib.request\n"  # anyone else importing them gets the real modules
        "assert ssl.SSLContext and callable(urllib.request.getproxies)\n"
    )


def test_ssl_exception_names_in_socket_reads_never_load_ssl_and_become_real_once_it_is() -> None:
    run(
        "stand_in = m.ssl\n"
        "err = stand_in.SSLWantReadError\n"
        "assert issubclass(err, OSError) and not issubclass(BlockingIOError, err)\n"
        "assert 'ssl' not in sys.modules and '_ssl' not in sys.modules\n"
        "import ssl\n"
        "assert stand_in.SSLWantReadError is ssl.SSLWantReadError\n"
        "assert stand_in.SSLWantWriteError is ssl.SSLWantWriteError\n"
    )


def test_tls_set_loads_the_real_ssl_into_paho() -> None:
    run(
        "c = m.Client(m.CallbackAPIVersion.VERSION2, client_id='x')\n"
        "c.tls_set()\n"
        "import ssl\n"
        "assert m.ssl is ssl and c._ssl_context.verify_mode == ssl.CERT_REQUIRED\n"
    )


def test_other_deferred_modules_load_when_used() -> None:
    run(
        "c = m.Client(m.CallbackAPIVersion.VERSION2, protocol=m.MQTTv31)\n"  # MQTT 3.1: a uuid client id
        "assert len(c._client_id) == 22 and 'uuid' in sys.modules and m.uuid is sys.modules['uuid']\n"
        "assert m.base64.b64encode(b'x') == b'eA=='\n"
        "assert m.hashlib.sha1(b'').hexdigest().startswith('da39a3ee')\n"
        "assert m.urllib.request.getproxies is sys.modules['urllib.request'].getproxies\n"
    )


def test_a_second_call_and_a_prior_real_import_are_harmless() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import ssl, sys\n"
            "from campusmon.agent.lean import import_paho\n"
            "import_paho(); import_paho()\n"
            "import paho.mqtt.client as m\n"
            "assert m.ssl is ssl and m.ssl.SSLWantReadError is ssl.SSLWantReadError\n",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("data", [b"", b"smbios_uuid:4c4c4544", "显示器".encode()])
def test_sha256_without_openssl_is_sha256(data: bytes) -> None:
    got = run(f"print(sha256_hex({data!r}))\nassert '_hashlib' not in sys.modules\n").strip()
    assert got == hashlib.sha256(data).hexdigest()


def test_psutil_without_subprocess_until_popen() -> None:
    run(
        "from campusmon.agent.lean import import_psutil\n"
        "import_psutil()\n"
        "import psutil\n"
        "assert psutil.cpu_times().user >= 0 and psutil.virtual_memory().total > 0\n"
        "assert psutil.Process().name() and psutil.boot_time() > 0\n"
        "assert 'subprocess' not in sys.modules and 'base64' not in sys.modules\n"
        "p = psutil.Popen([sys.executable, '-c', 'pass'])\n"
        "assert p.wait(30) == 0 and psutil.subprocess is sys.modules['subprocess']\n"
    )


def test_a_deferred_module_used_while_paho_imports_is_the_real_one(tmp_path: Path) -> None:
    """PySocks, when installed, is imported by paho and runs `from base64 import b64encode` at once."""
    (tmp_path / "socks.py").write_text(
        "from base64 import b64encode\nimport uuid\nTOKEN = b64encode(b'x')\nPROXY_TYPE_SOCKS4 = 1\n"
        "PROXY_TYPE_SOCKS5 = 2\nPROXY_TYPE_HTTP = 3\nclass socksocket: ...\n",
        encoding="utf-8",
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PAHO + "import socks\nassert socks.TOKEN == b'eA==', socks.TOKEN\n"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
