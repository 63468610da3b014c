"""Check margins: the sign follows ``passed``, the size is relative to the limit."""

from __future__ import annotations

import pytest

from veronica.liveness.types import MARGIN_SCALE_FLOOR, Check


@pytest.mark.parametrize(
    ("value", "limit", "passed", "margin"),
    [
        (30.0, 15.0, True, 1.0),  # a 30° turn against 15°: clipped at 1
        (18.0, 15.0, True, 0.2),
        (12.0, 15.0, False, -0.2),  # 3° short of the limit
        (0.2, 0.35, True, 3 / 7),  # lower-is-better (a lag) passes below the limit
        (0.5, 0.35, False, -3 / 7),
        (0.0, 0.0, True, 0.0),  # at a zero limit, passing
        (0.0, 0.0, False, -MARGIN_SCALE_FLOOR),  # failing is never 0
        (1.0, 1.0, False, -MARGIN_SCALE_FLOOR),
    ],
)
def test_margin(value: float, limit: float, passed: bool, margin: float) -> None:
    check = Check("x", value, limit, passed)
    assert check.margin == pytest.approx(margin)
    assert (check.margin >= 0.0) is passed
