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

PRELUDE = (
    "import sys\n"
    "sys.modules['socks'] = None\n"  # as on a machine without PySocks (see the test with it below)
    "from campusmon.agent.lean import import_paho\n"
    "from campusmon.hashing import sha256_hex\n"
    "import_paho()\n"
    "import paho.mqtt.client as m\n"
)


def run(code: str, prelude: str = PRELUDE, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-c", prelude + code],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
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


def test_a_library_that_uses_a_deferred_module_while_paho_imports_gets_the_real_one(tmp_path) -> None:
    """PySocks (installed next to selenium, requests[socks] …) runs `from base64 import b64encode`
    inside paho's import: that once recursed forever and the agent could not start."""
    (tmp_path / "socks.py").write_text(
        "from base64 import b64encode\nHTTP, SOCKS4, SOCKS5 = 3, 1, 2\n"
        "def get_default_proxy():\n    return None\n",
        encoding="utf-8",
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    env.pop("mqtt_proxy", None)
    env.pop("MQTT_PROXY", None)
    run(
        "socks = sys.modules['socks']\n"
        "assert socks.b64encode(b'x') == b'eA==' and sys.modules['base64'].b64encode is socks.b64encode\n"
        "assert m.base64.b64encode is socks.b64encode\n"
        # no mqtt_proxy setting: paho is told there is no PySocks, so no proxy look-up loads OpenSSL
        "assert m.socks is None\n"
        "c = m.Client(m.CallbackAPIVersion.VERSION2, client_id='x')\n"
        "assert c._get_proxy() is None\n"
        "assert 'ssl' not in sys.modules and 'hashlib' not in sys.modules\n",
        prelude=PRELUDE.replace("sys.modules['socks'] = None\n", ""),
        env=env,
    )
    # with an mqtt_proxy setting paho keeps PySocks and honours it
    run(
        "assert m.socks is sys.modules['socks']\n",
        prelude=PRELUDE.replace("sys.modules['socks'] = None\n", ""),
        env=dict(env, mqtt_proxy="socks://127.0.0.1:1080"),
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


def test_dataclasses_and_logging_without_inspect_and_traceback_until_used() -> None:
    run(
        "from campusmon.agent.lean import import_stdlib\n"
        "import_stdlib()\n"
        "import dataclasses, io, logging\n"
        "rare = {'inspect', 'traceback', 'ast', 'dis', 'tokenize', 'linecache'}\n"
        "assert not rare & set(sys.modules), rare & set(sys.modules)\n"
        "from campusmon.agent.config import AgentConfig, load_agent_config\n"
        "from campusmon.agent.identity import HardwareFacts\n"
        "assert load_agent_config(None).agent.interval == 30 and HardwareFacts().nics == ()\n"
        "assert not rare & set(sys.modules), rare & set(sys.modules)\n"
        # a dataclass without a docstring gets its signature as one: that loads the real inspect
        "@dataclasses.dataclass\n"
        "class Plain:\n"
        "    x: int = 1\n"
        "assert Plain.__doc__ == 'Plain(x: int = 1)' and dataclasses.inspect is sys.modules['inspect']\n"
        # logging an exception prints its traceback: that loads the real traceback
        "out = io.StringIO()\n"
        "log = logging.getLogger('t')\n"
        "log.addHandler(logging.StreamHandler(out))\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    log.exception('boom')\n"
        "assert 'Traceback' in out.getvalue() and 'ZeroDivisionError' in out.getvalue(), out.getvalue()\n"
        "assert logging.traceback is sys.modules['traceback']\n",
        prelude="import sys\n",
    )


def test_the_agent_path_leaves_the_deferred_standard_library_unloaded() -> None:
    """A dataclass without a docstring would load inspect (and ast, dis, tokenize) at import: ~0.8 MiB;
    a report or the inventory must not need inspect, traceback or ipaddress either."""
    run(
        "from campusmon.agent.main import parse_run_args\n"
        "from campusmon.agent.lean import import_paho, import_psutil, import_stdlib\n"
        "import_stdlib()\n"
        "assert parse_run_args([]) is None\n"
        "from campusmon.agent.config import AgentConfig\n"
        "import_paho(); import_psutil()\n"
        "import psutil\n"
        "from campusmon.agent.inventory import InventoryUnavailable, collect\n"
        "from campusmon.agent.report import build_report\n"
        "from campusmon.agent.runner import make_collectors\n"
        "collectors = make_collectors(AgentConfig().agent.collectors, psutil)\n"
        "for seq in range(2):\n"
        "    report = build_report(collectors, campus='c', device='d', seq=seq, interval=10, ts=0.0)\n"
        "assert report['metrics']['cpu'], report\n"
        "try:\n"
        "    collect(psutil)\n"
        "except InventoryUnavailable:\n"
        "    pass\n"
        "deferred = {'inspect', 'traceback', 'ipaddress', 'ast', 'dis', 'tokenize', 'linecache'}\n"
        "assert not (deferred & set(sys.modules)) - early, deferred & set(sys.modules) - early\n",
        # a development virtualenv's editable install loads pathlib (and ipaddress) before any code
        prelude="import sys\nearly = set(sys.modules)\n",
    )


def test_pathlib_without_ipaddress_until_a_bracketed_url_host() -> None:
    """In a bare interpreter (no site: nothing has imported pathlib yet), as in the agent's virtualenv."""
    lean = Path(__file__).resolve().parents[3] / "agent" / "campusmon" / "agent" / "lean.py"
    out = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('lean', {str(lean)!r})\n"
            "lean = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(lean)\n"
            "assert 'pathlib' not in sys.modules and 'urllib.parse' not in sys.modules\n"
            "lean.import_stdlib()\n"
            "import pathlib, urllib.parse\n"
            "assert pathlib.Path('/a').as_uri() == 'file:///a' and 'ipaddress' not in sys.modules\n"
            "assert urllib.parse.urlsplit('mqtt://[::1]:1883').hostname == '::1'\n"
            "assert urllib.parse.ipaddress is sys.modules['ipaddress']\n"
            "try:\n"
            "    urllib.parse.urlsplit('mqtt://[::1x]')\n"
            "except ValueError:\n"
            "    pass\n"
            "else:\n"
            "    raise AssertionError('an invalid bracketed host was accepted')\n",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
