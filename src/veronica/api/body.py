"""Reading request bodies with a size limit enforced while reading: a client that
announces (or streams) more than the limit is refused before the rest arrives."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from veronica.api.deps import UnsupportedMediaTypeError
from veronica.errors import BadInputError, ImageTooLargeError

MULTIPART_OVERHEAD_BYTES = 16_384
"""Room for the multipart boundary and part headers around one frame."""


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, or ImageTooLargeError as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError as exc:
            raise BadInputError("Content-Length is not a number") from exc
        if too_big:
            raise ImageTooLargeError(f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ImageTooLargeError(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_frame(request: Request, max_bytes: int) -> bytes:
    """One camera frame: a raw ``image/jpeg`` body or the multipart field ``frame``."""
    kind = media_type(request)
    if kind == "image/jpeg":
        return await read_limited(request, max_bytes)
    if kind != "multipart/form-data":
        raise UnsupportedMediaTypeError("send the frame as image/jpeg (or multipart field 'frame')")
    body = await read_limited(request, max_bytes + MULTIPART_OVERHEAD_BYTES)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return {"type": "http.disconnect"}
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(
        max_files=1, max_fields=1, max_part_size=max_bytes
    )
    try:
        part = form.get("frame")
        if not isinstance(part, UploadFile):
            raise BadInputError("the multipart body needs a file field named 'frame'")
        data = await part.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ImageTooLargeError(f"the frame is larger than {max_bytes} bytes")
        return data
    finally:
        await form.close()
