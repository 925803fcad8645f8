"""`--web.config.file` (node_exporter's format): a real Prometheus scrapes obsagent over TLS with
basic auth; a wrong password gets 401 and no metrics; a client without a certificate is refused
when one is required; plain HTTP on the TLS port fails its handshake and the server serves on;
a bad file stops the daemon with a message naming the field."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest

from conftest import OBSAGENT, free_port, query, running_prometheus, start_daemon, stop_daemon, wait_for

PASSWORD = "correct horse"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    d = tmp_path_factory.mktemp("pki")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test CA", cwd=d)
    for name, usage in [("server", "serverAuth"), ("client", "clientAuth")]:
        openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
            f"keyUsage=digitalSignature\nextendedKeyUsage={usage}\n"
        )
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d,
        )  # fmt: skip
    return d


def web_config(directory: Path, pki: Path, client_auth: str = "NoClientCert") -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    path = directory / "web.yml"
    path.write_text(
        "tls_server_config:\n"
        f"  cert_file: {pki / 'server.crt'}\n"
        f"  key_file: {pki / 'server.key'}\n"
        f"  client_auth_type: {client_auth}\n"
        f"  client_ca_file: {pki / 'ca.crt'}\n"
        "basic_auth_users:\n"
        f"  alice: '{hashed}'\n"
        "http_server_config:\n"
        "  headers:\n"
        "    X-Content-Type-Options: nosniff\n"
    )
    return path


def https_get(url: str, pki: Path, password: str = PASSWORD, client_cert: bool = False):
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if client_cert:
        context.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    token = base64.b64encode(f"alice:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def daemon(config: Path):
    return start_daemon(
        "--collector.disable-defaults", "--collector.loadavg", "--no-collector.gpu", f"--web.config.file={config}"
    )


def test_prometheus_scrapes_over_tls_with_basic_auth(pki, tmp_path):
    process, base = daemon(web_config(tmp_path, pki))
    port = int(base.rsplit(":", 1)[1])
    settings = (
        "    scheme: https\n"
        f"    tls_config: {{ca_file: '{pki / 'ca.crt'}'}}\n"
        f"    basic_auth: {{username: alice, password: '{PASSWORD}'}}\n"
    )
    try:
        with running_prometheus(tmp_path, {"tls": port}, job_settings=settings) as prometheus:
            wait_for(lambda: [r for r in query(prometheus, 'up{job="tls"}') if r["value"][1] == "1"])
            assert query(prometheus, 'node_load1{job="tls"}')
    finally:
        stop_daemon(process)


def test_wrong_password_plain_http_and_headers(pki, tmp_path):
    process, base = daemon(web_config(tmp_path, pki))
    url = base.replace("http://", "https://") + "/metrics"
    try:
        status, headers, body = https_get(url, pki)
        assert status == 200 and b"node_load1" in body
        assert headers["X-Content-Type-Options"] == "nosniff"
        status, headers, body = https_get(url, pki, password="wrong")
        assert (status, headers["WWW-Authenticate"]) == (401, "Basic") and b"node_" not in body
        plain = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=5)
        try:
            with pytest.raises((http.client.HTTPException, ConnectionError)):
                plain.request("GET", "/metrics")
                plain.getresponse().read()
        finally:
            plain.close()
        assert https_get(url, pki)[0] == 200, "the server serves on after a failed handshake"
    finally:
        stop_daemon(process)


def test_a_required_client_certificate(pki, tmp_path):
    process, base = daemon(web_config(tmp_path, pki, "RequireAndVerifyClientCert"))
    url = base.replace("http://", "https://") + "/metrics"
    try:
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            https_get(url, pki)
        assert https_get(url, pki, client_cert=True)[0] == 200
    finally:
        stop_daemon(process)


@pytest.mark.parametrize(
    "text, field",
    [
        (
            "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n",
            "tls_server_config.cert_file",
        ),
        ("tls_server_config:\n  cert_fle: x\n", "unknown field `cert_fle`"),
        ("basic_auth_users:\n  alice: plaintext\n", "basic_auth_users.alice: is not a bcrypt hash"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS11\n", "TLS11 is not supported"),
    ],
)
def test_a_bad_web_config_stops_the_daemon_naming_the_field(tmp_path, text, field):
    config = tmp_path / "web.yml"
    config.write_text(text)
    result = subprocess.run(
        [*OBSAGENT, "--web.listen-address", f"127.0.0.1:{free_port()}", f"--web.config.file={config}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stderr.splitlines()]
    error = next(r for r in records if r["msg"] == "bad web config")
    assert field in error["error"], error
