"""The Redis connection factory: lazy, and back by itself after an outage."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from redis_support import RedisServer
from veronica.errors import StateUnavailableError
from veronica.security.ratelimit import RedisRateLimiter
from veronica.settings import Settings
from veronica.state.redis import (
    RedisOptions,
    RedisState,
    connect,
    connect_from_settings,
    is_unavailable,
)


def test_connect_does_not_touch_the_network(redis_server: RedisServer) -> None:
    redis_server.stop()
    state = connect(redis_server.url, prefix="lazy:")  # Redis is down: no error here
    try:
        assert state.ping() is False
        limiter = RedisRateLimiter(state)
        with pytest.raises(StateUnavailableError) as info:
            limiter.hit("k", 1, 60.0)
        assert info.value.__cause__ is not None and is_unavailable(info.value.__cause__)
        redis_server.start()  # the process started without Redis; no restart needed
        assert state.ping() is True
        assert limiter.hit("k", 1, 60.0).allowed
    finally:
        state.close()


def test_keys_carry_the_prefix(redis_state: RedisState) -> None:
    assert redis_state.key("rate", "sessions:ip:1") == redis_state.prefix + "rate:sessions:ip:1"
    with pytest.raises(ValueError):
        RedisState(redis_state.client, "")


def test_settings_choose_redis_or_in_process(isolated_env: None) -> None:
    assert connect_from_settings(Settings()) is None
    assert Settings(redis_url="").redis_url is None
    state = connect_from_settings(
        Settings(redis_url="redis://127.0.0.1:1/0", redis_prefix="{prod}:", redis_retries=0)
    )
    assert state is not None and state.prefix == "{prod}:"
    state.close()
    options = RedisOptions.from_settings(
        Settings(redis_socket_timeout_s=0.2, redis_connect_timeout_s=0.3, redis_retries=4)
    )
    assert options == RedisOptions(socket_timeout_s=0.2, connect_timeout_s=0.3, retries=4)


@pytest.mark.parametrize(
    "values",
    [
        {"redis_url": "http://127.0.0.1:6379"},
        {"redis_url": "127.0.0.1:6379"},
        {"redis_prefix": ""},
        {"redis_socket_timeout_s": 0.0},
        {"redis_retries": -1},
    ],
)
def test_bad_redis_settings_are_refused(isolated_env: None, values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**values)  # type: ignore[arg-type]
