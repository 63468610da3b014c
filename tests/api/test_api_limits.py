"""The HTTP layer against a hostile client: body-size limit, bounded metric labels,
``/metrics`` behind the admin key or on its own listener, API docs only when
enabled, production refusal in ``create_app``, and proxy headers under a real
uvicorn server."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from api_support import (
    ADMIN,
    OWN,
    assert_error,
    encode_jpeg,
    make_settings,
    manager,
    post_frame,
    running,
    start,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from support import face_path
from veronica.api.app import UPLOAD_PATHS, create_app
from veronica.api.deps import ClientIpDep
from veronica.api.limits import BodyLimitMiddleware
from veronica.api.metrics import METHODS
from veronica.cli import uvicorn_options
from veronica.errors import ConfigurationError
from veronica.oidc.keys import generate_rsa_pem
from veronica.pipeline.engine import FaceEngine
from veronica.security.tokens import generate_signing_key, write_private_key, write_private_pem
from veronica.settings import Settings
from veronica.storage import generate_key

LIMIT = 16_384
"""``Settings.max_json_bytes`` default."""


def padded(body: dict[str, Any], size: int) -> bytes:
    """Valid JSON of exactly ``size`` bytes: ``body`` followed by whitespace."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def post_json(client: TestClient, path: str, content: Any, **headers: str) -> httpx.Response:
    return client.post(
        path, content=content, headers={"Content-Type": "application/json", **headers}
    )


# -- body size ----------------------------------------------------------------------------


def test_a_declared_body_over_the_limit_is_refused_before_the_route(api: TestClient) -> None:
    before = manager(api).active_count()
    response = post_json(api, "/api/v1/auth/sessions", padded({}, LIMIT + 1))
    assert_error(response, 413, "body_too_large")
    assert manager(api).active_count() == before, "no session was created"
    assert response.headers["x-content-type-options"] == "nosniff"  # headers still on


def test_a_body_at_the_limit_reaches_the_route(api: TestClient) -> None:
    response = post_json(api, "/api/v1/auth/sessions", padded({}, LIMIT))
    assert response.status_code == 201, response.text


def test_a_chunked_body_over_the_limit_is_refused_while_streaming(api: TestClient) -> None:
    """No Content-Length: the middleware counts the chunks as they arrive."""
    chunks = [b"{}", *([b" " * 4096] * 5)]
    sent: list[int] = []

    def stream() -> Iterator[bytes]:
        for chunk in chunks:
            sent.append(len(chunk))
            yield chunk

    admin = {"Authorization": ADMIN["Authorization"]}
    body = iter([b'{"username": "alice"}', *([b" " * 4096] * 5)])
    response = post_json(api, "/api/v1/admin/users", body, **admin)
    assert_error(response, 413, "body_too_large")
    assert api.get("/api/v1/admin/users", headers=ADMIN).json() == {"users": []}
    assert_error(post_json(api, "/api/v1/auth/sessions", stream()), 413, "body_too_large")
    assert sum(sent) > LIMIT


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_other_content_types_on_json_routes_are_limited_too(
    api: TestClient, content_type: str
) -> None:
    """FastAPI reads a JSON route's body whatever its type, before ``require_json``
    answers 415: without this, a text/plain body would be unbounded."""
    headers = {"Content-Type": content_type} if content_type else {}
    big = b"x" * (LIMIT + 1)
    response = api.post("/api/v1/auth/tokens/verify", content=big, headers=headers)
    assert_error(response, 413, "body_too_large")
    small = api.post("/api/v1/auth/sessions", content=b"x", headers={"Content-Type": "text/plain"})
    assert_error(small, 415, "unsupported_media_type")


def test_admin_json_over_the_limit_creates_nothing(api: TestClient) -> None:
    response = post_json(api, "/api/v1/admin/users", padded({"username": "alice"}, 20_000), **ADMIN)
    assert_error(response, 413, "body_too_large")
    assert api.get("/api/v1/admin/users", headers=ADMIN).json() == {"users": []}
    fits = post_json(api, "/api/v1/admin/users", padded({"username": "alice"}, 2_000), **ADMIN)
    assert fits.status_code == 201, fits.text


def test_the_largest_valid_bodies_fit_the_default_limit(api: TestClient) -> None:
    """The evidence for the default: every field at its schema maximum
    (``VerifyTokenBody.token`` 8192 chars, ``NewSessionBody``, ``NewUserBody``)."""
    token = {"token": "a" * 8192, "audience": "https://" + "s" * (2048 - 8)}
    assert len(json.dumps(token)) == 10269
    verified = post_json(api, "/api/v1/auth/tokens/verify", json.dumps(token))
    assert verified.status_code == 200 and verified.json()["valid"] is False
    client = {
        "name": "n" * 128,
        "redirect_uris": [f"https://{i}" + "r" * (2048 - 9) for i in range(5)],
        "confidential": True,
        "id_token_alg": "ES256",
        "client_id": "c" * 64,
    }
    assert len(json.dumps(client)) < 11_000
    registered = post_json(api, "/api/v1/admin/clients", json.dumps(client), **ADMIN)
    assert registered.status_code == 201, registered.text
    longest = {
        "username": "u" * 128,
        "enrollment_token": None,
        "light": True,
        "return_to": OWN + "/" + "p" * (2048 - len(OWN) - 1),
    }
    assert len(json.dumps(longest)) < LIMIT // 4
    created = post_json(api, "/api/v1/auth/sessions", json.dumps(longest))
    assert created.status_code == 201, created.text


def test_uploads_keep_their_own_limits(api: TestClient) -> None:
    """Frames (image/jpeg, multipart) and admin photos are larger than JSON bodies."""
    rng = np.random.default_rng(0)
    noisy = encode_jpeg(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    assert LIMIT < len(noisy) < 300_000
    created = start(api)
    assert post_frame(api, created, noisy, 0.0).status_code == 200
    multipart = api.post(
        created["frames_url"],
        files={"frame": ("f.jpg", noisy, "image/jpeg")},
        headers={
            "X-CSRF-Token": created["csrf_token"],
            "X-Frame-Time": "100.0",
            "Cookie": f"veronica_session={created['cookie']}",
        },
    )
    assert multipart.status_code == 200, multipart.text
    too_big = post_frame(api, created, noisy + b"\0" * 300_000, 200.0)
    assert_error(too_big, 413, "image_too_large")
    assert api.post("/api/v1/admin/users", json={"username": "obama"}, headers=ADMIN).is_success
    photo = face_path("obama", 1).read_bytes()
    assert len(photo) > LIMIT
    files = [("images", ("1.jpg", photo, "image/jpeg"))]
    added = api.post("/api/v1/admin/users/obama/images", files=files, headers=ADMIN)
    assert added.status_code == 201, added.text


def test_upload_exemptions_name_real_routes(api_settings: Settings) -> None:
    paths = set(create_app(api_settings).openapi()["paths"])
    assert set(UPLOAD_PATHS) <= paths


def test_the_limit_is_a_setting(tmp_path: Path, face_engine: FaceEngine) -> None:
    with running(make_settings(tmp_path / "d", max_json_bytes=2048), face_engine) as client:
        assert_error(
            post_json(client, "/api/v1/auth/sessions", padded({}, 2049)), 413, "body_too_large"
        )
        assert post_json(client, "/api/v1/auth/sessions", padded({}, 2048)).status_code == 201


class Recorder:
    """An inner ASGI app that records what reached it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.after: list[Message] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.bodies.append(body)
        self.after.append(await receive())  # the real channel again: the disconnect
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def call(
    middleware: BodyLimitMiddleware, chunks: list[bytes], path: str = "/x"
) -> list[Message]:
    messages: list[Message] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    messages.append({"type": "http.disconnect"})
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    await middleware(scope, receive, send)
    return sent


def test_middleware_streaming_counts_and_replays() -> None:
    inner = Recorder()
    middleware = BodyLimitMiddleware(inner, max_bytes=10, uploads=["/up/{id}"])
    sent = asyncio.run(call(middleware, [b"12345", b"67890"]))
    assert sent[0]["status"] == 204 and inner.bodies == [b"1234567890"]
    assert inner.after == [{"type": "http.disconnect"}]
    sent = asyncio.run(call(middleware, [b"12345", b"67890", b"1"]))
    assert sent[0]["status"] == 413 and len(inner.bodies) == 1, "the app never ran"
    body = json.loads(sent[1]["body"])
    assert body["error"]["code"] == "body_too_large"
    sent = asyncio.run(call(middleware, [b"x" * 100], path="/up/7"))
    assert sent[0]["status"] == 204 and inner.bodies[-1] == b"x" * 100


# -- metrics labels -----------------------------------------------------------------------


def request_series(text: str) -> set[str]:
    return {
        line.rsplit(" ", 1)[0]
        for line in text.splitlines()
        if line.startswith("veronica_http_request_duration_seconds_count{")
    }


def test_arbitrary_methods_do_not_grow_the_registry(api: TestClient) -> None:
    def send_methods(start_at: int, count: int) -> set[str]:
        for i in range(start_at, start_at + count):
            for path in ("/healthz", f"/no/such/{i}", "/api/v1/auth/sessions"):
                api.request(f"X{i}METHOD", path)
        return request_series(api.get("/metrics", headers=ADMIN).text)

    api.get("/metrics", headers=ADMIN)  # a scrape is counted once it has answered
    after_10 = send_methods(0, 10)
    after_60 = send_methods(10, 50)
    assert after_60 == after_10, "new methods made new time series"
    methods = {s.split('method="', 1)[1].split('"', 1)[0] for s in after_60}
    assert methods <= METHODS | {"other"} and "other" in methods
    assert "X1METHOD" not in api.get("/metrics", headers=ADMIN).text
    api.request("PATCH", "/healthz")
    assert any(
        'method="PATCH"' in s for s in request_series(api.get("/metrics", headers=ADMIN).text)
    )


# -- /metrics access ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-key", "Basic dGVzdA==", "Bearer "], ids=str
)
def test_metrics_need_the_admin_key(api: TestClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    message = assert_error(api.get("/metrics", headers=headers), 401, "admin_key_invalid")
    assert "veronica_" not in message
    assert api.get("/metrics", headers=ADMIN).status_code == 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_metrics_on_their_own_listener(tmp_path: Path, face_engine: FaceEngine) -> None:
    port = free_port()
    settings = make_settings(tmp_path / "d", metrics_port=port, metrics_host="127.0.0.1")
    with running(settings, face_engine) as client:
        assert_error(client.get("/metrics", headers=ADMIN), 404, "not_found")
        client.get("/healthz")
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scraped.status_code == 200
        assert 'route="/healthz",status="200"' in scraped.text
        assert 'route="unmatched",status="404"' in scraped.text  # the same registry
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_a_taken_metrics_port_fails_the_start_clearly(
    tmp_path: Path, face_engine: FaceEngine
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = make_settings(tmp_path / "d", metrics_port=port)
        with (
            pytest.raises(ConfigurationError, match=f"cannot serve metrics on 127.0.0.1:{port}"),
            running(settings, face_engine),
        ):
            pass


# -- API docs -----------------------------------------------------------------------------

DOCS = ("/docs", "/redoc", "/openapi.json")


def test_api_docs_in_test_and_development(api_settings: Settings) -> None:
    client = TestClient(create_app(api_settings))  # no lifespan needed for the docs
    for path in DOCS:
        assert client.get(path).status_code == 200, path
    assert "/api/v1/auth/sessions" in client.get("/openapi.json").json()["paths"]


def test_api_docs_can_be_turned_off(tmp_path: Path) -> None:
    client = TestClient(create_app(make_settings(tmp_path, api_docs=False)))
    for path in DOCS:
        assert_error(client.get(path), 404, "not_found")


def production_settings(tmp_path: Path, **overrides: Any) -> Settings:
    key_path = tmp_path / "signing.pem"
    if not key_path.exists():
        write_private_key(key_path, generate_signing_key())
    rsa_path = tmp_path / "rsa_signing.pem"
    if not rsa_path.exists():
        write_private_pem(rsa_path, generate_rsa_pem())
    values: dict[str, Any] = {
        "environment": "production",
        "data_dir": tmp_path / "data",
        "template_key": generate_key(),
        "signing_key_path": key_path,
        "rsa_signing_key_path": rsa_path,
        "public_url": "https://login.example.org",
        **overrides,
    }
    return Settings(**values)


def test_no_api_docs_in_production_unless_enabled(tmp_path: Path) -> None:
    client = TestClient(create_app(production_settings(tmp_path)))
    for path in DOCS:
        assert_error(client.get(path), 404, "not_found")
    enabled = TestClient(create_app(production_settings(tmp_path, api_docs=True)))
    assert enabled.get("/openapi.json").status_code == 200


def test_create_app_refuses_an_unready_production_configuration(tmp_path: Path) -> None:
    """However the ASGI server was started (``uvicorn veronica...``, gunicorn)."""
    settings = Settings(environment="production", data_dir=tmp_path, admin_key="dev")
    with pytest.raises(ConfigurationError) as caught:
        create_app(settings)
    assert caught.value.code == "configuration_invalid"
    for name in (
        "VERONICA_TEMPLATE_KEY",
        "VERONICA_SIGNING_KEY_PATH",
        "VERONICA_RSA_SIGNING_KEY_PATH",
        "VERONICA_ADMIN_KEY",
    ):
        assert name in caught.value.message
    assert "https://" in caught.value.message


# -- proxy headers under a real uvicorn server --------------------------------------------


def probe_app(settings: Settings) -> FastAPI:
    """The real app plus one route that shows the address ``client_ip`` sees."""
    app = create_app(settings)

    @app.get("/probe/client-ip")
    def client(ip: ClientIpDep) -> dict[str, str]:
        return {"ip": ip}

    return app


@contextmanager
def serving(app: FastAPI, options: dict[str, Any]) -> Iterator[str]:
    """uvicorn in a thread on a free loopback port; the base URL. Lifespan off: the
    probe and the body limit need no engine."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, **{**options, "log_level": "warning", "lifespan": "off"})
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            thread.join(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


FORGED = {"X-Forwarded-For": "203.0.113.9"}


def seen_ip(base: str) -> str:
    answer = httpx.get(f"{base}/probe/client-ip", headers=FORGED, timeout=10)
    assert answer.status_code == 200, answer.text
    ip: str = answer.json()["ip"]
    return ip


def test_serve_options_ignore_forged_forwarded_for_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)  # uvicorn's own override
    settings = make_settings(tmp_path)
    app = probe_app(settings)
    with serving(app, uvicorn_options(settings, "127.0.0.1", 0)) as base:
        assert seen_ip(base) == "127.0.0.1"
    # Why serve passes the options explicitly: uvicorn's own default trusts 127.0.0.1.
    with serving(probe_app(settings), {}) as base:
        assert seen_ip(base) == "203.0.113.9"


def test_forwarded_for_counts_only_from_a_listed_proxy(tmp_path: Path) -> None:
    untrusted = make_settings(tmp_path / "a", proxy_headers=True, forwarded_allow_ips=["10.0.0.5"])
    with serving(probe_app(untrusted), uvicorn_options(untrusted, "127.0.0.1", 0)) as base:
        assert seen_ip(base) == "127.0.0.1", "the peer is not a listed proxy"
    trusted = make_settings(tmp_path / "b", proxy_headers=True, forwarded_allow_ips=["127.0.0.1"])
    with serving(probe_app(trusted), uvicorn_options(trusted, "127.0.0.1", 0)) as base:
        assert seen_ip(base) == "203.0.113.9"
        # A client behind the proxy cannot prepend its own choice: the proxy's
        # appended entry (the last untrusted one) wins.
        chained = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
        answer = httpx.get(f"{base}/probe/client-ip", headers=chained, timeout=10)
        assert answer.json()["ip"] == "203.0.113.9"


def test_body_limit_under_uvicorn_with_chunked_bodies(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with serving(probe_app(settings), uvicorn_options(settings, "127.0.0.1", 0)) as base:
        url = f"{base}/api/v1/auth/sessions"
        headers = {"Content-Type": "application/json"}

        def chunked(size: int) -> Iterator[bytes]:
            yield b"{}"
            for _ in range(size // 1024):
                yield b" " * 1024

        big = httpx.post(url, content=chunked(LIMIT + 1024), headers=headers, timeout=10)
        assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"
        declared = httpx.post(url, content=padded({}, LIMIT + 1), headers=headers, timeout=10)
        assert declared.status_code == 413
        # Under the limit the body reaches the route (which has no lifespan state here).
        small = httpx.post(url, content=chunked(4096), headers=headers, timeout=10)
        assert small.json()["error"]["code"] == "not_ready"
