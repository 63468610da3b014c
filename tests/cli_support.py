"""Running the CLI in-process for tests: isolated from the caller's
``VERONICA_*`` settings, with its one-line errors read back."""

from __future__ import annotations

import os
import re
from pathlib import Path

from typer.testing import CliRunner, Result

from support import models_dir
from veronica.cli import app


def run_cli(tmp: Path, *args: object) -> Result:
    """``veronica ARGS`` with only the models and a data folder under ``tmp`` set."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("VERONICA_")}
    env |= {"VERONICA_MODELS_DIR": str(models_dir()), "VERONICA_DATA_DIR": str(tmp / "d")}
    env["COLUMNS"] = "200"
    result = CliRunner().invoke(app, [str(a) for a in args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"crashed with {result.exception!r}") from result.exception
    assert "Traceback" not in result.output
    return result


def one_error_line(result: Result) -> str:
    """The command's only line on stderr, which must be its ``error: …``."""
    lines = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", result.stderr).splitlines() if line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]
