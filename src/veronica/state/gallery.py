"""The gallery feed: keeps every instance's 1:N index in step with enrollments
and deletions made on the others, over Redis pub/sub.

After this process enrolls or deletes a user, ``publish`` sends the user name
(never a template) on the deployment's channel; every instance's listener
thread calls ``FaceService.sync_user`` for it, which reads that user's
templates from the database. Pub/sub is fire-and-forget: a listener that was
disconnected may have missed names, so after every (re)subscription it reloads
the whole index. A publish that fails (Redis down) is logged and dropped: the
enrollment is already in the database, and the other instances catch up at
their next reload (their 1:N check compares user counts, and an accepted
identification is checked against the store first).
"""

from __future__ import annotations

import logging
import threading

import redis.exceptions as rx

from veronica.service import FaceService
from veronica.state.redis import RedisState

logger = logging.getLogger(__name__)

RETRY_S = (0.5, 1.0, 2.0, 5.0)
"""Back-off between reconnection attempts (the last repeats)."""
POLL_S = 0.25
"""How long one wait for a message lasts; bounds how long ``close`` takes."""


class GalleryFeed:
    def __init__(self, state: RedisState, service: FaceService) -> None:
        self._state = state
        self._service = service
        self.channel = state.key("gallery")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.subscribed = threading.Event()
        """Set while the listener is subscribed (tests wait on it)."""
        self.applied = 0
        """Names applied so far (tests wait on it)."""

    def publish(self, name: str) -> None:
        try:
            self._state.client.publish(self.channel, name)
        except rx.RedisError as exc:
            logger.warning(
                "gallery feed: could not announce %r (%s); others reload later", name, exc
            )

    def start(self) -> None:
        self._service.on_change = self.publish
        self._thread = threading.Thread(target=self._listen, name="gallery-feed", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._service.on_change = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(POLL_S + 5.0)

    def _listen(self) -> None:
        failures = 0
        while not self._stop.is_set():
            # redis-py leaves pubsub() untyped.
            pubsub = self._state.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self.channel)
                self.subscribed.set()
                # Names published while we were not listening are lost: start afresh.
                self._service.reload_index()
                failures = 0
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=POLL_S)
                    if message is not None and message.get("type") == "message":
                        self._apply(message["data"])
            except rx.RedisError as exc:
                self.subscribed.clear()
                wait = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                logger.warning("gallery feed: %s; listening again in %.1f s", exc, wait)
                self._stop.wait(wait)
            except Exception:
                self.subscribed.clear()
                logger.exception("gallery feed: listener failed; listening again")
                self._stop.wait(RETRY_S[-1])
            finally:
                pubsub.close()

    def _apply(self, data: object) -> None:
        name = data.decode() if isinstance(data, bytes) else str(data)
        try:
            self._service.sync_user(name)
        except Exception:
            # A bad name or a database hiccup: the next reload repairs the index.
            logger.exception("gallery feed: could not apply %r", name)
        self.applied += 1
