"""Redis for the tests.

* ``shared_redis``: the machine's Redis (``VERONICA_TEST_REDIS_URL``, default
  127.0.0.1:6379) under a key prefix of the test's own, deleted afterwards.
  Unreachable: skipped locally, failed with CI=true (``support.unavailable``).
* ``RedisServer``: a ``redis-server`` of the test's own on a free port, with an
  append-only file synced on every write, which the test stops and starts to
  play an outage (the machine's Redis is never touched).
* ``LossyProxy``: a TCP proxy in front of a Redis that can drop the reply to the
  next command (the command ran; the client sees a broken connection and retries).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from support import unavailable
from veronica.state.redis import RedisOptions, RedisState, connect

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT_S = 10.0


def redis_url() -> str:
    return os.environ.get("VERONICA_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def unique_prefix() -> str:
    return f"veronica-test:{uuid.uuid4().hex[:12]}:"


def delete_prefix(state: RedisState) -> None:
    keys = list(state.client.scan_iter(match=state.prefix + "*", count=500))
    if keys:
        state.client.delete(*keys)


@contextlib.contextmanager
def shared_redis(options: RedisOptions | None = None) -> Iterator[RedisState]:
    """The machine's Redis under a fresh prefix; every key under it is deleted after."""
    url = redis_url()
    state = connect(url, prefix=unique_prefix(), options=options)
    if not state.ping():
        state.close()
        unavailable(f"Redis not reachable at {url}; set VERONICA_TEST_REDIS_URL")
    try:
        yield state
    finally:
        delete_prefix(state)
        state.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A redis-server on 127.0.0.1:<free port>, data in ``directory`` (AOF,
    ``appendfsync always``: a stop loses nothing that was acknowledged)."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not on the PATH (Debian package redis-server)")
        assert binary is not None
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None, "already running"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited: {log[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@contextlib.contextmanager
def own_redis(directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class LossyProxy:
    """127.0.0.1:<port> → ``upstream_port``. After ``drop_next_reply()``, the next
    bytes Redis sends back are discarded and that client connection is closed:
    the command was executed, its answer lost."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._drop = threading.Event()
        self.dropped = 0
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def drop_next_reply(self) -> None:
        self._drop.set()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        try:
            while data := source.recv(65536):
                if replies and self._drop.is_set():
                    self._drop.clear()
                    self.dropped += 1
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
