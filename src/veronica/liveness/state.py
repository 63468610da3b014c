"""A liveness session's state as plain data, so a session can move between
processes (several instances behind a load balancer; ``sessions/store.py``).

Every signal exports what it has accumulated (``snapshot``) and takes it back
(``restore``) as JSON-able values: numbers, strings, lists, dicts. Arrays
(embeddings, the previous frame's face region) are packed losslessly as base64.
What cannot move is rebuilt where the next frame lands: the tracking Face Mesh
(a MediaPipe graph) starts afresh, and the planarity signal's open texture
tracks restart (it is advisory). The snapshot holds biometric data
(embeddings, a face crop): whoever stores it outside the process encrypts it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from veronica.liveness.types import RGB, Action, ChallengeStep, LightStep, SessionScript

Snapshot = dict[str, Any]
"""JSON-able: what ``json.dumps`` takes as it is."""

SNAPSHOT_FORMAT = 2
"""2: the challenge steps keep which responses were acknowledged."""


def pack_array(array: NDArray[Any]) -> Snapshot:
    """An array as dtype, shape and base64 bytes (lossless)."""
    contiguous = np.ascontiguousarray(array)
    return {
        "dtype": contiguous.dtype.str,
        "shape": list(contiguous.shape),
        "b64": base64.b64encode(contiguous.tobytes()).decode("ascii"),
    }


def unpack_array(data: Mapping[str, Any]) -> NDArray[Any]:
    raw = base64.b64decode(data["b64"])
    array: NDArray[Any] = np.frombuffer(raw, dtype=np.dtype(data["dtype"]))
    return array.reshape(tuple(data["shape"])).copy()


def pack_grey(image: NDArray[np.uint8]) -> str:
    """A grey image as base64 PNG: lossless, so sensor noise survives (the
    frozen-frame check depends on it), and smaller than raw bytes."""
    ok, buffer = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("could not encode an image")
    return base64.b64encode(buffer.tobytes()).decode("ascii")


def unpack_grey(data: str) -> NDArray[np.uint8]:
    buffer = np.frombuffer(base64.b64decode(data), dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError("could not decode an image")
    return np.asarray(image, dtype=np.uint8)


def pack_script(script: SessionScript) -> Snapshot:
    return {
        "challenges": [[s.action.value, s.start_s, s.window_s] for s in script.challenges],
        "light": [[list(s.rgb), s.start_s, s.duration_s, s.fade_s] for s in script.light],
    }


def unpack_script(data: Mapping[str, Any]) -> SessionScript:
    def rgb(value: list[int]) -> RGB:
        r, g, b = (int(v) for v in value)
        return (r, g, b)

    return SessionScript(
        challenges=tuple(
            ChallengeStep(Action(a), float(start), float(window))
            for a, start, window in data["challenges"]
        ),
        light=tuple(
            LightStep(rgb(colour), float(start), float(duration), float(fade))
            for colour, start, duration, fade in data["light"]
        ),
    )


def optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
