"""Enrollment through a one-time link: a live session enrolls the face; the link
cannot be used again."""

from __future__ import annotations

import pytest
from api_support import ADMIN, assert_error, drive_http, genuine_actor, services, start
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from veronica.security.tokens import verify_result_token
from veronica.storage.orm import Template


@pytest.mark.slow
def test_enroll_by_link_then_the_link_is_spent(api: TestClient) -> None:
    assert api.post("/api/v1/admin/users", json={"username": "obama"}, headers=ADMIN).is_success
    link = api.post("/api/v1/admin/users/obama/enrollment-links", headers=ADMIN).json()
    created = start(api, enrollment_token=link["token"])
    assert created["purpose"] == "enroll"
    final = drive_http(api, created, genuine_actor(api, created))
    result = final["result"]
    assert (result["status"], result["reason"], result["username"]) == ("enrolled", "ok", "obama")
    jwks = api.get("/.well-known/jwks.json").json()
    claims = verify_result_token(
        result["token"], jwks, issuer="http://127.0.0.1:8000", audience="http://127.0.0.1:8000"
    )
    assert claims["purpose"] == "enroll" and claims["sub"] == "obama"
    assert "match" not in claims["checks"]

    users = api.get("/api/v1/admin/users", headers=ADMIN).json()["users"]
    assert users[0]["templates"] >= 1
    # Each template keeps the quality score of the frame it came from.
    with Session(services(api).service.store.engine) as db:  # type: ignore[attr-defined]
        qualities = db.scalars(select(Template.quality)).all()
    assert qualities and all(0.0 < q <= 1.0 for q in qualities)
    reused = api.post("/api/v1/auth/sessions", json={"enrollment_token": link["token"]})
    assert_error(reused, 410, "enrollment_link_invalid")
