"""Veronica's OpenID Connect flow checked by a second, independent relying party:
panva's ``openid-client`` (Node.js, a certified RP library), against a real
``veronica serve``.

``examples/openid_client/check.mjs start`` does discovery, PKCE, state and nonce and
builds the authorization URL; this test plays the browser (``/oidc/authorize``
with its cookie, the face login by the attacker harness's honest simulated person,
``/oidc/authorize/finish``); ``check.mjs finish`` validates the callback (state,
RFC 9207 ``iss``), redeems the code and validates the ID token (JWKS signature,
``iss``, ``aud``, nonce), then fetches the userinfo. The npm package is installed
with ``npm ci`` from the committed lock file into ``var/npm/openid_client``
(gitignored), once per lock file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import numpy as np
import pytest

from server_support import ServedServer, free_port, running_server
from support import REPO, unavailable
from veronica.simulation.adversary import (
    AdversaryConfig,
    Client,
    Created,
    Harness,
    SessionEnd,
    drive,
    refused,
)

pytestmark = pytest.mark.slow

EXAMPLE = REPO / "examples" / "openid_client"
INSTALL = REPO / "var" / "npm" / "openid_client"
"""Where ``npm ci`` installs (``/var/`` is gitignored): the package files and
``check.mjs`` are copied there, so Node resolves ``openid-client`` next to it."""
EXAMPLE_FILES = ("package.json", "package-lock.json", "check.mjs")
OIDC_COOKIE = "veronica_oidc"
SESSIONS_PATH = "/api/v1/auth/sessions"
CLIENTS_PATH = "/api/v1/admin/clients"
NPM_TIMEOUT_S = 600
NODE_TIMEOUT_S = 60
FACE_ATTEMPTS = 3
"""Face logins tried for one authorization request before the test gives up: a
starved machine can fail an honest session on its own (``timing``); the
authorization request stays pending until ``finish``, so a new session may
answer it."""
CALLBACK = f"http://127.0.0.1:{free_port()}/cb"
"""The relying site's redirect URI: nothing listens there; the test reads the
finish redirect's ``Location`` as the callback URL."""


# -- the npm package ---------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    node: str
    script: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("NODE_")}
        return subprocess.run(
            [self.node, str(self.script), *args],
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT_S,
            cwd=self.script.parent,
            env=env,
            check=False,
        )

    def ok(self, *args: str) -> dict[str, Any]:
        run = self.run(*args)
        assert run.returncode == 0, (
            f"check.mjs {args[0]} exited {run.returncode}:\n{run.stderr}\n{run.stdout}"
        )
        out: dict[str, Any] = json.loads(run.stdout)
        return out

    def fails(self, *args: str) -> str:
        """The step's error message (it must exit 1 with nothing on stdout)."""
        run = self.run(*args)
        assert run.returncode == 1, (
            f"check.mjs {args[0]} should fail, exited {run.returncode}:\n{run.stdout}"
        )
        assert run.stdout == "", run.stdout
        assert run.stderr.startswith(f"check.mjs {args[0]} failed: "), run.stderr
        return run.stderr


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((EXAMPLE / name).read_bytes())
    return digest.hexdigest()


def install_openid_client() -> Path:
    """``npm ci`` into ``INSTALL`` unless the same lock file is installed already;
    the example's files are copied there each time (``check.mjs`` may change)."""
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm is not installed (needed to install openid-client)")
        raise AssertionError("unreachable")
    INSTALL.mkdir(parents=True, exist_ok=True)
    stamp = INSTALL / ".installed"
    with (INSTALL / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be installing
        fingerprint = _fingerprint()
        installed = (INSTALL / "node_modules" / "openid-client" / "package.json").is_file()
        if not (installed and stamp.is_file() and stamp.read_text() == fingerprint):
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(EXAMPLE / name, INSTALL / name)
            stamp.unlink(missing_ok=True)
            run = subprocess.run(
                [
                    npm,
                    "ci",
                    "--ignore-scripts",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    str(INSTALL),
                ],
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
                env={**os.environ, "npm_config_update_notifier": "false"},
                check=False,
            )
            assert run.returncode == 0, (
                f"npm ci failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
            )
            stamp.write_text(fingerprint)
        for name in EXAMPLE_FILES:
            shutil.copyfile(EXAMPLE / name, INSTALL / name)
    return INSTALL


@pytest.fixture(scope="module")
def rp() -> Node:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed (needed for the openid-client check)")
        raise AssertionError("unreachable")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    major = int(version.stdout.strip().lstrip("v").split(".")[0] or 0)
    if major < 20:
        unavailable(f"node {version.stdout.strip()} is too old for openid-client 6 (needs ≥ 20)")
    installed = install_openid_client()
    pinned = json.loads((EXAMPLE / "package.json").read_text())["dependencies"]["openid-client"]
    meta = installed / "node_modules" / "openid-client" / "package.json"
    assert json.loads(meta.read_text())["version"] == pinned
    return Node(node, installed / "check.mjs")


# -- the server, the simulated person, the relying site's registration ---------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedServer]:
    # The default light policy ("required"): the honest actor follows the colours.
    with running_server(tmp_path_factory.mktemp("openid-client")) as served:
        yield served


@pytest.fixture(scope="module")
def harness(server: ServedServer) -> Iterator[Harness]:
    with Harness(AdversaryConfig(server.url, server.admin_key, concurrency=1)) as opened:
        yield opened


@pytest.fixture(scope="module")
def person(harness: Harness) -> str:
    """A user enrolled from one photo (the harness deletes it at the end)."""
    return harness.enroll("oidc", harness.cast.victim[0])


@pytest.fixture(scope="module")
def registered(server: ServedServer) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}{CLIENTS_PATH}",
        json={"name": "openid-client check", "redirect_uris": [CALLBACK], "confidential": True},
        headers=server.admin_headers,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    client: dict[str, Any] = response.json()
    assert client["token_endpoint_auth_method"] == "client_secret_basic"
    assert client["client_secret"]
    return client


def common_args(server: ServedServer, client: dict[str, Any]) -> list[str]:
    # ``--name=value``: a random value may start with "-" (token_urlsafe), which
    # node's parseArgs would take for an option.
    return [
        f"--issuer={server.url}",
        f"--client-id={client['client_id']}",
        f"--client-secret={client['client_secret']}",
        f"--redirect-uri={CALLBACK}",
    ]


def finish_args(started: dict[str, Any], callback: str, **change: str) -> list[str]:
    values = {
        "callback-url": callback,
        "code-verifier": started["code_verifier"],
        "state": started["state"],
        "nonce": started["nonce"],
        **{k.replace("_", "-"): v for k, v in change.items()},
    }
    return [f"--{name}={value}" for name, value in values.items()]


def with_query(url: str, **change: str | None) -> str:
    """``url`` with query parameters replaced (``None``: removed)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in change.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


# -- the browser's part ------------------------------------------------------------------


def authorize(browser: Client, authorization_url: str) -> tuple[str, str]:
    """``GET`` the authorization URL as the browser: the sign-in page's request id
    and the cookie binding it to this browser."""
    response = browser.http.get(authorization_url, follow_redirects=False)
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert location.path == "/", location
    request_id = parse_qs(location.query)["oidc"][0]
    cookie = response.cookies.get(OIDC_COOKIE)
    assert cookie, f"no {OIDC_COOKIE} cookie: {response.headers}"
    browser.http.cookies.clear()  # sent explicitly, as the harness sends its cookies
    return request_id, cookie


def open_oidc_session(browser: Client, username: str, request_id: str, cookie: str) -> Created:
    """``POST /api/v1/auth/sessions`` naming the authorization request, with the
    browser's cookie (what ``Client.create`` does, plus ``oidc_request``)."""
    response = browser.http.post(
        SESSIONS_PATH,
        json={"username": username, "oidc_request": request_id},
        headers={"Cookie": f"{OIDC_COOKIE}={cookie}"},
    )
    assert response.status_code == 201, f"{refused(response).answer}: {response.text}"
    data = response.json()
    session_cookie = response.cookies.get("veronica_session")
    browser.http.cookies.clear()
    assert session_cookie, "no session cookie"
    return Created(
        session_id=str(data["session_id"]),
        csrf_token=str(data["csrf_token"]),
        cookie=session_cookie,
        frames_url=str(data["frames_url"]),
        stream_url=str(data["stream_url"]),
        light=bool(data["light_challenge"]),
        created_at=time.monotonic(),
    )


def face_login(
    harness: Harness, browser: Client, username: str, request_id: str, cookie: str
) -> str:
    """The honest simulated person signs in for the request; the session's id."""
    ends: list[SessionEnd] = []
    for attempt in range(FACE_ATTEMPTS):
        created = open_oidc_session(browser, username, request_id, cookie)
        assert created.light, "the default light policy (required) runs the light challenge"
        actor = harness.genuine(harness.heads.victim, 40 + attempt)
        end = drive(
            browser,
            created,
            actor,
            transport="ws" if attempt % 2 == 0 else "http",
            rng=np.random.default_rng([40, attempt]),
        )
        ends.append(end)
        if end.signed_in:
            assert end.username == username
            return created.session_id
    pytest.fail(f"the honest face login never signed in: {[e.answer for e in ends]}")


def finish(browser: Client, request_id: str, cookie: str, session_id: str | None) -> str:
    """``/oidc/authorize/finish``: the redirect back to the site (its ``Location``)."""
    params = {"request": request_id}
    if session_id is not None:
        params["session"] = session_id
    response = browser.http.get(
        "/oidc/authorize/finish",
        params=params,
        headers={"Cookie": f"{OIDC_COOKIE}={cookie}"},
        follow_redirects=False,
    )
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?"), location
    return location


# -- the tests ---------------------------------------------------------------------------


def test_openid_client_signs_in_with_a_face_login(
    rp: Node,
    server: ServedServer,
    harness: Harness,
    person: str,
    registered: dict[str, Any],
) -> None:
    common = common_args(server, registered)
    started = rp.ok("start", *common)
    url = urlsplit(started["authorization_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{server.url}/oidc/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert (query["state"], query["nonce"]) == (started["state"], started["nonce"])
    assert query["client_id"] == registered["client_id"]
    assert query["redirect_uri"] == CALLBACK and query["response_type"] == "code"

    browser = harness.client()
    try:
        request_id, cookie = authorize(browser, started["authorization_url"])
        session_id = face_login(harness, browser, person, request_id, cookie)
        callback = finish(browser, request_id, cookie, session_id)
    finally:
        browser.close()
    back = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert back["iss"] == server.url and back["state"] == started["state"] and back["code"]

    # openid-client refuses a callback whose state is not the one it sent (before
    # it redeems the code, which stays usable).
    wrong = rp.fails("finish", *common, *finish_args(started, callback, state="not-the-state"))
    assert "state" in wrong, wrong

    # RFC 9207: the discovery says the provider sends iss, so openid-client requires
    # it, and it must be the issuer's (mix-up defence).
    other = with_query(callback, iss="http://127.0.0.1:1")
    mixed_up = rp.fails("finish", *common, *finish_args(started, other))
    assert '"iss"' in mixed_up, mixed_up
    missing = rp.fails("finish", *common, *finish_args(started, with_query(callback, iss=None)))
    assert '"iss"' in missing, missing

    done = rp.ok("finish", *common, *finish_args(started, callback))
    claims = done["id_token_claims"]
    assert claims["iss"] == server.url
    assert claims["aud"] in (registered["client_id"], [registered["client_id"]])
    assert claims["sub"] and claims["sub"] != person
    assert claims["name"] == person
    assert claims["nonce"] == started["nonce"]
    assert claims["acr"] == "urn:veronica:acr:face-liveness-light"
    assert claims["amr"] == ["face", "user"]
    assert claims["auth_time"] <= claims["iat"] < claims["exp"]
    assert done["id_token_header"]["alg"] == "RS256" and done["id_token_header"]["kid"]
    assert done["token_type"].lower() == "bearer" and done["refresh_token"] is None
    assert done["userinfo"]["sub"] == claims["sub"]
    assert done["userinfo"] == {"sub": claims["sub"], "name": person}

    # The code is single use: openid-client's second redemption is invalid_grant.
    replay = rp.fails("finish", *common, *finish_args(started, callback))
    assert "invalid_grant" in replay, replay


def test_openid_client_sees_a_cancelled_sign_in_as_access_denied(
    rp: Node, server: ServedServer, harness: Harness, registered: dict[str, Any]
) -> None:
    common = common_args(server, registered)
    started = rp.ok("start", *common)
    browser = harness.client()
    try:
        request_id, cookie = authorize(browser, started["authorization_url"])
        callback = finish(browser, request_id, cookie, None)  # the person cancelled
    finally:
        browser.close()
    message = rp.fails("finish", *common, *finish_args(started, callback))
    assert "access_denied" in message, message


def test_check_mjs_refuses_bad_usage(rp: Node) -> None:
    run = rp.run("finish", "--issuer", "http://127.0.0.1:1")
    assert run.returncode == 2 and "missing --client-id" in run.stderr, run.stderr
