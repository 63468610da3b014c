"""The page's pure logic (frame pacing, i18n fallback, framing, geometry) under
Node's own test runner: no npm package, no build step."""

from __future__ import annotations

import shutil
import subprocess

from support import unavailable
from veronica.web import STATIC_DIR

JS_TESTS = STATIC_DIR / "js" / "tests"


def test_javascript_unit_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed (needed for the JavaScript unit tests)")
        return
    assert sorted(JS_TESTS.glob("*.test.js")), "the JavaScript tests are there"
    run = subprocess.run(
        [node, "--test", str(JS_TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout
