"""Frame checks, ``return_to`` validation, the in-memory store, the wire state."""

from __future__ import annotations

import pytest
from session_support import blank_jpeg

from support import read
from veronica.errors import ImageDecodeError, ImageTooLargeError
from veronica.liveness.positioning import Hint
from veronica.liveness.session import Phase
from veronica.liveness.types import Action
from veronica.sessions import FrameState, Reason, SessionResult, Status
from veronica.sessions.errors import FrameTimeInvalidError, ReturnToNotAllowedError
from veronica.sessions.frames import decode_frame, frame_seconds, parse_frame_time
from veronica.sessions.return_to import allowed_origins, check_return_to, origin_of


def test_decode_frame() -> None:
    assert decode_frame(blank_jpeg(), 300_000).shape == (480, 640, 3)
    with pytest.raises(ImageTooLargeError):
        decode_frame(blank_jpeg(), 100)
    for data in (read("portrait.png"), read("portrait.webp"), b"hello", read("truncated.jpg")):
        with pytest.raises(ImageDecodeError):
            decode_frame(data, 10_000_000)


def test_frame_times() -> None:
    assert frame_seconds(1500.0, None) == 1.5
    assert frame_seconds(1500.0, 1.5) == 1.5
    for t_ms, previous in ((float("nan"), None), (float("inf"), None), (-1.0, None), (10.0, 1.0)):
        with pytest.raises(FrameTimeInvalidError):
            frame_seconds(t_ms, previous)
    assert parse_frame_time("12.5") == 12.5
    for header in (None, "", "12ms"):
        with pytest.raises(FrameTimeInvalidError):
            parse_frame_time(header)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://a.example/x?y#z", "https://a.example"),
        ("https://A.Example:443/", "https://a.example"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:80/", "http://[::1]"),
        ("ftp://a.example/", None),
        ("https://a.example:99999/", None),
        ("a.example", None),
    ],
)
def test_origin_of(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_check_return_to() -> None:
    allowed = allowed_origins("http://127.0.0.1:8000/", ["https://shop.example:443", "bogus"])
    assert allowed == {"http://127.0.0.1:8000", "https://shop.example"}
    assert check_return_to("https://shop.example/a?b=1", allowed) == "https://shop.example/a?b=1"
    for bad in (
        "https://shop.example.evil/",
        "https://user:pw@shop.example/",
        "https://shop.example/\tpath",
        "https://shop.example/" + "a" * 2100,
        "https://shop.example/#frag",
    ):
        with pytest.raises(ReturnToNotAllowedError):
            check_return_to(bad, allowed)


def test_wire_state() -> None:
    state = FrameState(
        seq=3,
        phase=Phase.CHALLENGE,
        action=Action.TURN_LEFT,
        light=(255, 0, 16),
        hints=(Hint.MOVE_CLOSER,),
        placed=True,
        progress=0.123456,
        result=SessionResult(Status.SIGNED_IN, Reason.OK, "ann", "t", "https://x/#token=t"),
    )
    assert state.to_json() == {
        "type": "state", "seq": 3, "phase": "challenge", "action": "turn_left",
        "light": "#ff0010", "hints": ["move_closer"], "placed": True, "progress": 0.123,
        "acknowledged": 0,
        "result": {"status": "signed_in", "reason": "ok", "username": "ann", "token": "t",
                   "redirect": "https://x/#token=t"},
    }  # fmt: skip
    assert SessionResult(Status.REFUSED, Reason.NO_FACE).to_json() == {
        "status": "refused", "reason": "no_face", "username": None, "token": None,
    }  # fmt: skip
