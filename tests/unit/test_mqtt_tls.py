"""The client TLS context shared by agent, probe runner and server (campusmon/mqtt/security.py)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from campusmon.mqtt.security import ascii_server_name, tls_context


@pytest.mark.parametrize(
    "name",
    ["127.0.0.1", "broker.school.local", "Broker.School.Local", "broker.", "::1", "a" * 63 + ".cn"],
)
def test_an_ascii_name_is_what_the_idna_codec_makes_of_it(name: str) -> None:
    assert ascii_server_name(name) == name.encode("idna")


@pytest.mark.parametrize("name", ["a..b", "a" * 64, "a" * 64 + ".cn", "", "."])
def test_a_name_the_codec_refuses_or_special_cases_is_left_to_it(name: str) -> None:
    assert ascii_server_name(name) == name


@pytest.mark.parametrize("name", ["学校.cn", "bücher.de", None, b"bytes.example"])
def test_other_names_are_left_alone(name: object) -> None:
    assert ascii_server_name(name) == name


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    d = tmp_path_factory.mktemp("ca")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
         "-days", "2", "-subj", "/CN=campusmon test CA"],
        cwd=d, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return d / "ca.crt"


def test_the_context_verifies_the_broker_against_the_site_ca_only(ca: Path) -> None:
    context = tls_context(ca)
    assert context.protocol == ssl.PROTOCOL_TLS_CLIENT
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    # the system store is not loaded: the one CA of the site is all it trusts
    assert context.cert_store_stats()["x509_ca"] == 1
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "campusmon test CA"),),)]


def test_the_client_certificate_and_key_are_loaded(ca: Path) -> None:
    tls_context(ca, ca, ca.with_name("ca.key"))  # a certificate with its own key
    with pytest.raises(FileNotFoundError):
        tls_context(ca, ca, ca.with_name("missing.key"))


def test_wrapping_a_socket_does_not_load_the_idna_codec(ca: Path) -> None:
    code = (
        "import socket, sys\n"
        "from pathlib import Path\n"
        "from campusmon.mqtt.security import tls_context\n"
        f"ctx = tls_context(Path({str(ca)!r}))\n"
        "a, b = socket.socketpair()\n"
        "s = ctx.wrap_socket(a, server_hostname='broker.school.local', do_handshake_on_connect=False)\n"
        "assert s.server_hostname == 'broker.school.local'\n"
        "loaded = {'encodings.idna', 'stringprep', 'unicodedata'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
        "s.close(); b.close()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
