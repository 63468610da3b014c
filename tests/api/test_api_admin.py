"""Admin API: bearer key on every call, users, photos, enrollment links."""

from __future__ import annotations

import pytest
from api_support import ADMIN, assert_error, services, start
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from support import face_path, read
from veronica.storage.orm import Template

USERS = "/api/v1/admin/users"


def templates_in_db(client: TestClient) -> int:
    engine = services(client).service.store.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Template)) or 0)


def photos(*refs: tuple[str, int]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("images", (f"{p}{n}.jpg", face_path(p, n).read_bytes(), "image/jpeg")) for p, n in refs
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": "Basic dGVzdA=="},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer " + "x" * 300},
    ],
    ids=["none", "wrong", "basic", "empty", "huge"],
)
def test_every_admin_call_needs_the_key(api: TestClient, headers: dict[str, str]) -> None:
    calls = [
        ("GET", USERS),
        ("POST", USERS),
        ("DELETE", f"{USERS}/alice"),
        ("POST", f"{USERS}/alice/enrollment-links"),
        ("POST", f"{USERS}/alice/images"),
    ]
    for method, path in calls:
        response = api.request(method, path, headers=headers, json={"username": "alice"})
        assert_error(response, 401, "admin_key_invalid")
    assert services(api).service.store.list_users() == []  # type: ignore[attr-defined]


def test_admin_calls_ignore_the_session_cookie(api: TestClient) -> None:
    start(api)  # the browser now holds a session cookie: it grants nothing here
    assert_error(api.get(USERS), 401, "admin_key_invalid")


def test_create_list_delete(api: TestClient) -> None:
    created = api.post(USERS, json={"username": "alice"}, headers=ADMIN)
    assert created.status_code == 201
    body = created.json()
    assert body["username"] == "alice" and body["templates"] == 0
    assert body["created_at"].endswith("Z")
    assert_error(api.post(USERS, json={"username": "alice"}, headers=ADMIN), 409, "user_exists")
    listed = api.get(USERS, headers=ADMIN).json()
    assert listed == {"users": [body]}
    assert api.delete(f"{USERS}/alice", headers=ADMIN).status_code == 204
    assert api.get(USERS, headers=ADMIN).json() == {"users": []}
    assert_error(api.delete(f"{USERS}/alice", headers=ADMIN), 404, "user_not_found")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 422, "invalid_request"),
        ({"username": "a", "admin": True}, 422, "invalid_request"),
        ({"username": ["a"]}, 422, "invalid_request"),
        ({"username": "a\u2028b"}, 400, "bad_input"),
    ],
)
def test_create_user_bad_bodies(
    api: TestClient, body: dict[str, object], status: int, code: str
) -> None:
    assert_error(api.post(USERS, json=body, headers=ADMIN), status, code)


def test_create_user_needs_json(api: TestClient) -> None:
    response = api.post(
        USERS, content=b"username=a", headers={**ADMIN, "Content-Type": "text/plain"}
    )
    assert_error(response, 415, "unsupported_media_type")


def test_photos_then_deleting_the_user_erases_the_templates(api: TestClient) -> None:
    api.post(USERS, json={"username": "obama"}, headers=ADMIN)
    added = api.post(
        f"{USERS}/obama/images", files=photos(("obama", 1), ("obama", 2)), headers=ADMIN
    )
    assert added.status_code == 201, added.text
    assert added.json() == {"username": "obama", "templates_added": 2}
    assert api.get(USERS, headers=ADMIN).json()["users"][0]["templates"] == 2
    assert templates_in_db(api) == 2
    assert api.delete(f"{USERS}/obama", headers=ADMIN).status_code == 204
    assert templates_in_db(api) == 0


def test_photos_are_all_or_nothing(api: TestClient) -> None:
    api.post(USERS, json={"username": "obama"}, headers=ADMIN)
    mixed = [*photos(("obama", 1)), ("images", ("nf.jpg", read("no_face.jpg"), "image/jpeg"))]
    assert_error(api.post(f"{USERS}/obama/images", files=mixed, headers=ADMIN), 422, "no_face")
    two_people = photos(("obama", 1), ("biden", 1))
    assert_error(
        api.post(f"{USERS}/obama/images", files=two_people, headers=ADMIN), 400, "bad_input"
    )
    assert templates_in_db(api) == 0


def test_photos_bad_requests(api: TestClient) -> None:
    api.post(USERS, json={"username": "obama"}, headers=ADMIN)
    url = f"{USERS}/obama/images"
    assert_error(
        api.post(f"{USERS}/nobody/images", files=photos(("obama", 1)), headers=ADMIN),
        404,
        "user_not_found",
    )
    assert_error(
        api.post(url, content=b"x", headers={**ADMIN, "Content-Type": "image/jpeg"}),
        415,
        "unsupported_media_type",
    )
    assert_error(
        api.post(url, files={"other": ("a.jpg", b"x", "image/jpeg")}, headers=ADMIN),
        400,
        "bad_input",
    )
    eleven = photos(*[("obama", 1)] * 11)
    assert api.post(url, files=eleven, headers=ADMIN).status_code == 400
    junk = [("images", ("a.jpg", b"junk", "image/jpeg"))]
    assert_error(api.post(url, files=junk, headers=ADMIN), 422, "image_undecodable")


def test_enrollment_link(api: TestClient) -> None:
    api.post(USERS, json={"username": "dana"}, headers=ADMIN)
    response = api.post(f"{USERS}/dana/enrollment-links", headers=ADMIN)
    assert response.status_code == 201
    link = response.json()
    assert set(link) == {"token", "url", "expires_at"}
    assert link["url"] == f"http://127.0.0.1:8000/enroll?token={link['token']}"
    assert len(link["token"]) >= 40 and link["expires_at"].endswith("Z")
    missing = api.post(f"{USERS}/nobody/enrollment-links", headers=ADMIN)
    assert_error(missing, 404, "user_not_found")


def test_deleting_a_user_voids_their_links(api: TestClient) -> None:
    api.post(USERS, json={"username": "dana"}, headers=ADMIN)
    token = api.post(f"{USERS}/dana/enrollment-links", headers=ADMIN).json()["token"]
    api.delete(f"{USERS}/dana", headers=ADMIN)
    refused = api.post("/api/v1/auth/sessions", json={"enrollment_token": token})
    assert_error(refused, 410, "enrollment_link_invalid")
