"""The deployment files that cannot run here (no Docker engine): what can be
checked without one. compose.yaml's nginx configuration is accepted by nginx
itself (`nginx -t`), with the container paths and service names replaced by
local ones."""

from __future__ import annotations

import subprocess
from pathlib import Path

from deploy_support import free_ports, nginx_path

from support import REPO, unavailable

COMPOSE_CONF = REPO / "deploy" / "nginx" / "compose.conf"


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    command += ["-nodes", "-subj", "/CN=localhost", "-days", "1"]
    command += ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_compose_nginx_configuration_is_valid(tmp_path: Path) -> None:
    nginx = nginx_path()
    if nginx is None:
        unavailable("nginx is not installed (`bash scripts/system-deps.sh nginx`)")
        return
    cert, key = self_signed(tmp_path)
    http_port, https_port = free_ports(2)
    text = COMPOSE_CONF.read_text()
    local = {
        "/etc/nginx/veronica/": f"{REPO}/deploy/nginx/",
        "/run/secrets/tls_cert": str(cert),
        "/run/secrets/tls_key": str(key),
        "app1:8000": "127.0.0.1:9",
        "app2:8000": "127.0.0.1:10",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
    }
    for container, here in local.items():
        assert container in text, f"{container} is no longer in {COMPOSE_CONF.name}"
        text = text.replace(container, here)
    (tmp_path / "compose.conf").write_text(text)
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\n"
        "events {}\n"
        "http {\n"
        f"    client_body_temp_path {tmp_path}/body;\n"
        f"    proxy_temp_path {tmp_path}/proxy;\n"
        f"    include {tmp_path}/compose.conf;\n"
        "}\n"
    )
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(main), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
