"""The files in deploy/ pass their tools' own checks: systemd-analyze verify and nginx -t."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = ["governance.service", "governance-clock.service", "governance-backup.service", "governance-backup.timer"]


def _install_units(tmp_path: Path) -> Path:
    """The units as installed on a host whose checkout is this one (paths that exist here)."""
    folder = tmp_path / "units"
    folder.mkdir()
    env = tmp_path / "governance.env"
    env.write_text((DEPLOY / "governance.env.example").read_text())
    for name in UNITS:
        text = (DEPLOY / name).read_text().replace("/srv/governance", str(ROOT))
        (folder / name).write_text(text.replace("/etc/governance/governance.env", str(env)))
    return folder


def _verify(folder: Path, names: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", *[f"./{n}" for n in names]], cwd=folder,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="Debian's systemd package is not installed")
def test_systemd_units_verify_cleanly(tmp_path):
    folder = _install_units(tmp_path)
    result = _verify(folder, UNITS)
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", result.stderr
    # The check can fail: a mistyped command is caught.
    unit = folder / "governance.service"
    unit.write_text(unit.read_text().replace("bin/gunicorn -c", "bin/gunicorn-typo -c"))
    broken = _verify(folder, ["governance.service"])
    assert broken.returncode != 0 and "gunicorn-typo is not executable" in broken.stderr


def test_the_units_run_what_the_repository_ships():
    service = (DEPLOY / "governance.service").read_text()
    assert "gunicorn -c deploy/gunicorn.conf.py app:app" in service and "Type=notify" in service
    assert "UMask=0077" in service and "db check" in service
    assert "polls tick --every" in (DEPLOY / "governance-clock.service").read_text()


def _test_certificate(folder: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vote.example.org")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("vote.example.org")]), critical=False)
            .sign(key, hashes.SHA256()))
    (folder / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "privkey.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))


def _nginx_test(tmp_path: Path, site: str) -> subprocess.CompletedProcess:
    certs = tmp_path / "certs"
    certs.mkdir(exist_ok=True)
    _test_certificate(certs)
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    site = (site.replace("/etc/letsencrypt/live/vote.example.org", str(certs))
            .replace("/var/log/nginx", str(logs)).replace("/srv/governance", str(ROOT)))
    (tmp_path / "governance.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {logs}/error.log;\nevents {{}}\n"
        f"http {{\n  include /etc/nginx/mime.types;\n  client_body_temp_path {tmp_path}/body;\n"
        f"  include {tmp_path}/governance.conf;\n}}\n")
    return subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e",
                           str(logs / "error.log")], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                    reason="Debian's nginx package is not installed")
def test_nginx_configuration_passes_nginx_t_with_tls(tmp_path):
    site = (DEPLOY / "nginx.conf").read_text()
    result = _nginx_test(tmp_path, site)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr
    (tmp_path / "broken").mkdir()  # the check can fail: a directive without its value
    broken = _nginx_test(tmp_path / "broken", site.replace("proxy_read_timeout 30s;", "proxy_read_timeout;"))
    assert broken.returncode != 0


def test_the_proxy_never_logs_query_strings_or_the_ballot_page():
    site = (DEPLOY / "nginx.conf").read_text()
    log_format = re.search(r"log_format governance_access.*?;", site, re.S).group(0)
    assert "$uri" in log_format and "$request_uri" not in log_format and "$request\"" not in log_format
    assert "$args" not in log_format and "$query_string" not in log_format
    assert "if=$governance_loggable" in site and "~^/polls/[^/]+/ballot/?$ 0;" in site
    assert 'X-Request-Start "t=${msec}"' in site


def test_the_shipped_gunicorn_configuration():
    values: dict = {}
    exec(compile((DEPLOY / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), values)
    assert values["accesslog"] is None  # the app writes its own access log
    assert values["worker_class"] == "governance.ops.worker.StampingThreadWorker"
    assert callable(values["on_starting"])


def test_the_container_file_copies_what_exists():
    text = (DEPLOY / "Containerfile").read_text()
    for source in re.findall(r"^COPY (\S+) ", text, re.M):
        assert source == "." or (ROOT / source).exists(), source
    assert "--require-hashes" in text and "Not built" in text
