"""A local cluster from ``scripts/cluster.sh`` for the deployment tests: its own
folder, ports, database and Redis key prefix (never the developer's cluster),
purged at the end.

Clients reach it as a browser would: HTTPS with the cluster's own CA, the
session cookie, the CSRF token, the WebSocket with the service's ``Origin``.
Each client binds a loopback address of its own (every 127.x.y.z is this host),
so what nginx sees as the client address is known and per-address limits or
lockouts earned by one test never stop another."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from support import REPO, models_dir, unavailable

SCRIPT = REPO / "scripts" / "cluster.sh"
PG_SERVER = os.environ.get("VERONICA_TEST_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("VERONICA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
UP_TIMEOUT_S = 300.0
"""`up` waits up to 240 s for the instances (the machine may be shared)."""
UPSTREAM = "x-veronica-upstream"
"""The header nginx adds: which instance answered (scripts/cluster.sh)."""
COOKIE = "veronica_session"
SESSIONS = "/api/v1/auth/sessions"


def nginx_path() -> str | None:
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def _answers(host: str, port: int, payload: bytes, expect: bytes) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.sendall(payload)
            return sock.recv(64).startswith(expect)
    except OSError:
        return False


def require_services() -> None:
    """nginx, PostgreSQL, Redis and the tools the script needs; skipped locally when
    one is missing, a failure with CI=true (``support.unavailable``)."""
    if nginx_path() is None:
        unavailable("nginx is not installed (`bash scripts/system-deps.sh nginx`)")
    for tool in ("openssl", "psql", "pg_isready", "redis-cli", "curl"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (needed by scripts/cluster.sh)")
    ready = subprocess.run(
        ["pg_isready", "-q", "-d", f"{PG_SERVER}/postgres"], check=False, timeout=30
    )
    if ready.returncode != 0:
        unavailable(f"PostgreSQL is not reachable at {PG_SERVER}")
    if not _answers("127.0.0.1", 6379, b"PING\r\n", b"+PONG"):
        unavailable(f"Redis is not reachable at {REDIS_URL}")


def free_ports(count: int) -> list[int]:
    """``count`` consecutive free loopback ports (instances take a consecutive range)."""
    for _ in range(200):
        base = 20_000 + secrets.randbelow(40_000)
        ports = list(range(base, base + count))
        try:
            for port in ports:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return ports
    raise RuntimeError(f"no {count} consecutive free ports")


def client_address() -> str:
    """A fresh loopback address for one simulated client machine."""
    n = secrets.randbelow(250 * 250)
    return f"127.{100 + secrets.randbelow(100)}.{n // 250}.{n % 250 + 2}"


@dataclass
class Cluster:
    dir: Path
    env: dict[str, str]
    https_port: int
    http_port: int
    app_ports: list[int]
    db: str
    redis_prefix: str
    admin_key: str = ""
    outputs: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def ca(self) -> Path:
        return self.dir / "tls" / "ca.pem"

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://{PG_SERVER.split('://', 1)[1]}/{self.db}"

    def instance_name(self, port: int) -> str:
        return f"veronica-{self.app_ports.index(port) + 1}"

    def script(
        self, command: str, *, timeout: float = UP_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", str(SCRIPT), command],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.outputs.append(
            f"$ cluster.sh {command} → {done.returncode}\n{done.stdout}{done.stderr}"
        )
        return done

    def log_tail(self, chars: int = 3000) -> str:
        parts = []
        for log in sorted((self.dir / "logs").glob("*.log")):
            text = log.read_text(errors="replace")[-chars:]
            parts.append(f"--- {log.name}\n{text}")
        return "\n".join(parts)

    def report(self) -> str:
        return "\n".join(self.outputs[-3:]) + "\n" + self.log_tail()

    def pid(self, name: str) -> int | None:
        """The pid in ``run/<name>.pid`` (``nginx``, ``instance-1`` …)."""
        path = self.dir / "run" / f"{name}.pid"
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def instance_pids(self) -> dict[str, int]:
        pids = {}
        for i in range(1, len(self.app_ports) + 1):
            pid = self.pid(f"instance-{i}")
            if pid is not None:
                pids[f"veronica-{i}"] = pid
        return pids

    def processes(self) -> dict[str, int]:
        """Every process the cluster runs: instances, nginx's master and its workers."""
        found = dict(self.instance_pids())
        master = self.pid("nginx")
        if master is not None:
            found["nginx"] = master
            for n, child in enumerate(children(master)):
                found[f"nginx-worker-{n}"] = child
        return found

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def client(self, address: str | None = None, **kwargs: Any) -> httpx.Client:
        """An HTTPS client that trusts the cluster's CA, from its own address."""
        transport = httpx.HTTPTransport(
            verify=self.ssl_context(), local_address=address or client_address()
        )
        return httpx.Client(
            base_url=self.url, transport=transport, timeout=30.0, trust_env=False, **kwargs
        )

    def admin(self) -> httpx.Client:
        return self.client(headers={"Authorization": f"Bearer {self.admin_key}"})


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def cluster_env(root: Path, instances: int, extra: Mapping[str, str] | None = None) -> Cluster:
    ports = free_ports(2 + instances)
    tag = secrets.token_hex(4)
    # The test's own settings only: nothing from a VERONICA_* of the shell, except
    # where the models are.
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("VERONICA_")}
    cluster = Cluster(
        dir=root / "cluster",
        env=env,
        https_port=ports[0],
        http_port=ports[1],
        app_ports=ports[2:],
        db=f"veronica_test_{tag}",
        redis_prefix=f"veronica-test-{tag}:",
    )
    env.update(
        {
            "VERONICA_CLUSTER_DIR": str(cluster.dir),
            "VERONICA_CLUSTER_INSTANCES": str(instances),
            "VERONICA_CLUSTER_HTTPS_PORT": str(cluster.https_port),
            "VERONICA_CLUSTER_HTTP_PORT": str(cluster.http_port),
            "VERONICA_CLUSTER_APP_PORT": str(cluster.app_ports[0]),
            "VERONICA_CLUSTER_DB": cluster.db,
            "VERONICA_CLUSTER_PG": PG_SERVER,
            "VERONICA_CLUSTER_REDIS_URL": REDIS_URL,
            "VERONICA_CLUSTER_REDIS_PREFIX": cluster.redis_prefix,
            "VERONICA_MODELS_DIR": str(models_dir().resolve()),
        }
    )
    env.update(extra or {})
    return cluster


@contextmanager
def running_cluster(
    root: Path, instances: int = 2, extra: Mapping[str, str] | None = None
) -> Iterator[Cluster]:
    """``cluster.sh up`` with the test's own settings; ``purge`` at the end (its
    processes, database, Redis keys and folder), whatever happened."""
    require_services()
    cluster = cluster_env(root, instances, extra)
    try:
        up = cluster.script("up")
        if up.returncode != 0:
            raise RuntimeError(f"cluster.sh up failed:\n{cluster.report()}")
        cluster.admin_key = (cluster.dir / "secrets" / "admin_key").read_text().strip()
        yield cluster
    finally:
        leftover = cluster.processes()
        cluster.script("purge", timeout=120)
        for pid in leftover.values():  # only if purge could not stop them
            if alive(pid):
                os.kill(pid, 9)


# -- sessions through the cluster -----------------------------------------------------------


@dataclass(frozen=True)
class Session:
    id: str
    csrf_token: str
    cookie: str
    stream_url: str
    created_by: str
    """The instance that answered the POST (nginx's header)."""


def create_session(http: httpx.Client, **body: Any) -> Session:
    response = http.post(SESSIONS, json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    cookie = response.cookies.get(COOKIE)
    assert cookie, "no session cookie"
    http.cookies.clear()  # each session's cookie is sent explicitly
    return Session(
        id=data["session_id"],
        csrf_token=data["csrf_token"],
        cookie=cookie,
        stream_url=data["stream_url"],
        created_by=response.headers.get(UPSTREAM, ""),
    )


def routed_to(http: httpx.Client, session_id: str) -> str:
    """The instance nginx sends this session's requests to: a GET on its frames URL
    (405 from the app, harmless) shows it."""
    response = http.get(f"{SESSIONS}/{session_id}/frames")
    return response.headers.get(UPSTREAM, "")


def open_stream(cluster: Cluster, session: Session, timeout_s: float = 30.0) -> ClientConnection:
    """The WebSocket through nginx, as the page opens it (hello sent)."""
    ws = connect(
        f"wss://127.0.0.1:{cluster.https_port}{session.stream_url}",
        ssl=cluster.ssl_context(),
        origin=Origin(cluster.url),
        additional_headers={"Cookie": f"{COOKIE}={session.cookie}"},
        compression=None,
        proxy=None,
        open_timeout=timeout_s,
        close_timeout=2.0,
        legacy=True,  # a plain connection object, closed by ``close``
    )
    ws.send(json.dumps({"type": "hello", "csrf_token": session.csrf_token}))
    return ws


def stream_instance(ws: ClientConnection) -> str:
    response = ws.response
    return response.headers.get(UPSTREAM, "") if response is not None else ""


def send_frame(
    ws: ClientConnection, t_ms: float, jpeg: bytes, timeout_s: float = 30.0
) -> dict[str, Any]:
    """One frame (little-endian float64 capture time in ms + JPEG); its answer."""
    ws.send(struct.pack("<d", t_ms) + jpeg)
    message = json.loads(ws.recv(timeout=timeout_s))
    assert isinstance(message, dict), message
    return message


def wait_for(predicate: Any, timeout_s: float, step_s: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return bool(predicate())
