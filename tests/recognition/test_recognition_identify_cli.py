"""``veronica identify`` with the gallery-size limit: found, not found, refused."""

from __future__ import annotations

import os
import re
from pathlib import Path

from typer.testing import CliRunner, Result

from support import face_path, models_dir
from veronica.cli import EXIT_NO, EXIT_SETUP, app


def run(tmp_path: Path, *args: object, **env: str) -> Result:
    base: dict[str, str | None] = {k: None for k in os.environ if k.startswith("VERONICA_")}
    base |= {
        "VERONICA_ENVIRONMENT": "development",
        "VERONICA_DATA_DIR": str(tmp_path / "data"),
        "VERONICA_MODELS_DIR": str(models_dir()),
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(app, [str(a) for a in args], env={**base, **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"crashed with {result.exception!r}") from result.exception
    return result


def plain(text: str) -> str:
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())


def test_identify_uses_the_gallery_threshold_and_refuses_too_many_users(tmp_path: Path) -> None:
    for person in ("obama", "biden"):
        enrolled = run(tmp_path, "enroll", person, face_path(person, 1))
        assert enrolled.exit_code == 0, enrolled.output

    found = run(tmp_path, "identify", face_path("obama", 2))
    assert found.exit_code == 0, found.output
    assert "identified obama" in plain(found.stdout)

    stranger = run(tmp_path, "identify", face_path("rose_leslie", 1))
    assert stranger.exit_code == EXIT_NO
    assert "not recognised (threshold 0." in plain(stranger.stdout)

    # FPIR 1e-6: the table cannot serve even one user at a tolerable miss rate.
    refused = run(tmp_path, "identify", face_path("obama", 2), VERONICA_IDENTIFY_FPIR="1e-6")
    assert refused.exit_code == EXIT_SETUP
    assert refused.stdout == ""
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, refused.stderr
    message = plain(lines[0])
    assert message.startswith("error: 2 enrolled users exceed the 1:N limit of 0")
    assert "veronica verify NAME IMAGE" in message and "[gallery_too_large]" in message

    # 1:1 still works with the same settings.
    verified = run(
        tmp_path, "verify", "obama", face_path("obama", 2), VERONICA_IDENTIFY_FPIR="1e-6"
    )
    assert verified.exit_code == 0, verified.output
