"""A real ``veronica serve`` in a subprocess for tests that need a running server.

Test environment, its own data folder, a random admin key and template key,
bound to 127.0.0.1 on a free port, no challenge seed (clients react to the steps
the server reveals, as the page does). ``serve --dev`` (the explicit development
mode) is used when this checkout's CLI has it.
"""

from __future__ import annotations

import functools
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from support import models_dir
from veronica.storage import generate_key

READY_TIMEOUT_S = 240.0
"""Loading the engine takes ~5 s on an idle machine; the machine may be shared."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@functools.cache
def dev_flag(pythonpath: str | None = None) -> tuple[str, ...]:
    """``("--dev",)`` if the ``veronica serve`` found on ``pythonpath`` knows the
    option, else ``()``."""
    env = {**os.environ, "COLUMNS": "200"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    shown = subprocess.run(
        [sys.executable, "-m", "veronica.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    return ("--dev",) if "--dev" in shown.stdout else ()


@dataclass
class ServedServer:
    url: str
    admin_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def log_tail(self, chars: int = 4000) -> str:
        return log_tail(self.log_path, chars)

    def stop(self) -> None:
        stop_process(self.process)


def log_tail(path: Path, chars: int = 4000) -> str:
    """The end of a subprocess's log file ("" if there is none yet)."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill after 20 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_server(data_dir: Path, *, extra_env: Mapping[str, str] | None = None) -> ServedServer:
    """Start the server and wait until ``/readyz`` answers 200. ``extra_env`` adds
    or overrides variables (``VERONICA_*`` settings, or ``PYTHONPATH`` to serve
    another checkout's code)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    admin_key = secrets.token_urlsafe(24)
    settings = {
        "VERONICA_ENVIRONMENT": "test",
        "VERONICA_DATA_DIR": str(data_dir),
        "VERONICA_MODELS_DIR": str(models_dir()),
        "VERONICA_ADMIN_KEY": admin_key,
        "VERONICA_TEMPLATE_KEY": generate_key(),
        "VERONICA_PUBLIC_URL": url,
    }
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("VERONICA_")}
    env.update(settings)
    env.update(extra_env or {})
    command = [sys.executable, "-m", "veronica.cli", "serve", *dev_flag(env.get("PYTHONPATH"))]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        # cwd = the data folder: no stray .env file is read.
        process = subprocess.Popen(
            command, env=env, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT
        )
    server = ServedServer(url, admin_key, data_dir, process, log_path, env)
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: ServedServer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"veronica serve exited ({server.process.returncode}):\n{server.log_tail()}"
            )
        try:
            if httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(
        f"veronica serve not ready after {READY_TIMEOUT_S:.0f} s:\n{server.log_tail()}"
    )


@contextmanager
def running_server(data_dir: Path, **kwargs: Mapping[str, str] | None) -> Iterator[ServedServer]:
    server = start_server(data_dir, **kwargs)
    try:
        yield server
    finally:
        server.stop()
