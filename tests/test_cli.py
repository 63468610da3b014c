"""The command line end to end: the real engine, a fresh SQLite database per test.

Every invocation goes through ``Cli.__call__``, which fails the test if the command
crashed with an exception or printed a Python traceback: bad input must always end
in one clear ``error:`` line and a non-zero exit code.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner, Result

from support import DATA, face_path, models_dir
from veronica.cli import EXIT_BAD_INPUT, EXIT_NO, EXIT_SETUP, app
from veronica.evaluation.pad_sim import SessionOutcome, suite_report
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.models import ALL_MODELS
from veronica.recognition.operating_point import load_table, threshold_for_fmr
from veronica.settings import DEVELOPMENT_TEMPLATE_KEY
from veronica.storage import TemplateCipher, generate_key

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

REPORT_KEYS = [
    "accuracy_mean",
    "accuracy_std",
    "auc",
    "eer",
    "tar_at_far_1e-3",
    "tar_at_far_1e-4",
    "threshold",
    "failures_to_enroll",
    "pairs",
    "seconds",
    "fold_accuracies",
]

# Five same-person and five different-person pairs, interleaved so that with
# --folds 2 each fold holds both classes (fold 1: rows 1-5, fold 2: rows 6-10).
EASY_PAIRS = [
    ("faces/obama/1.jpg", "faces/obama/2.jpg", 1),
    ("faces/obama/1.jpg", "faces/biden/1.jpg", 0),
    ("faces/biden/1.jpg", "faces/biden/2.jpg", 1),
    ("faces/alex_lacamoire/1.jpg", "faces/rose_leslie/1.jpg", 0),
    ("faces/alex_lacamoire/1.jpg", "faces/alex_lacamoire/3.jpg", 1),
    ("faces/obama/3.jpg", "faces/alex_lacamoire/2.jpg", 0),
    ("faces/rose_leslie/1.jpg", "faces/rose_leslie/2.jpg", 1),
    ("faces/biden/2.jpg", "faces/rose_leslie/2.jpg", 0),
    ("faces/obama/2.jpg", "faces/obama/3.jpg", 1),
    ("faces/alex_lacamoire/3.jpg", "faces/obama/1.jpg", 0),
]

Row = tuple[str, str, object]


def plain(text: str) -> str:
    """Output without ANSI colour codes (in case FORCE_COLOR is set)."""
    return _ANSI.sub("", text)


def flat(text: str) -> str:
    """Output as one space-separated line, so content checks ignore line wrapping."""
    return " ".join(plain(text).split())


class Cli:
    """Runs ``veronica`` in-process with an isolated environment."""

    def __init__(self, env: dict[str, str | None], tmp_path: Path) -> None:
        self.env = env
        self.tmp_path = tmp_path
        self.runner = CliRunner()

    def __call__(self, *args: object, **env: str | None) -> Result:
        result = self.runner.invoke(app, [str(a) for a in args], env={**self.env, **env})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(
                f"veronica {' '.join(map(str, args))} crashed with {result.exception!r} "
                "instead of printing one error line"
            ) from result.exception
        assert "Traceback" not in result.output, result.output
        return result

    def users(self) -> list[tuple[str, int]]:
        """(name, template count) rows of ``users list``."""
        result = self("users", "list")
        assert result.exit_code == 0, result.output
        rows = []
        for line in plain(result.stdout).splitlines():
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            if len(cells) == 3 and cells[1].isdigit():
                rows.append((cells[0], int(cells[1])))
        return rows

    def enroll(self, name: str, *photos: Path) -> None:
        result = self("enroll", name, *photos)
        assert result.exit_code == 0, result.output


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    models = models_dir()
    # No stray .env from the working directory, no VERONICA_* from the caller's shell.
    monkeypatch.chdir(tmp_path)
    env: dict[str, str | None] = {k: None for k in os.environ if k.upper().startswith("VERONICA_")}
    env.update(
        # The default environment is production; these tests are about the commands.
        VERONICA_ENVIRONMENT="development",
        VERONICA_DATA_DIR=str(tmp_path / "data"),
        VERONICA_MODELS_DIR=str(models),
        # Rich sizes output from the terminal; pin the width that piped output gets.
        COLUMNS="80",
    )
    return Cli(env, tmp_path)


def write_pairs(path: Path, rows: list[Row], header: str = "img1,img2,same") -> Path:
    lines = [header, *(f"{a},{b},{same}" for a, b, same in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def error_text(result: Result) -> str:
    return flat(result.stderr)


# -- keygen -----------------------------------------------------------------------------


def test_keygen_prints_a_random_32_byte_urlsafe_base64_key(cli: Cli) -> None:
    first, second = cli("keygen"), cli("keygen")
    assert first.exit_code == 0 and second.exit_code == 0
    key = plain(first.stdout).strip()
    assert "\n" not in key
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}=", key), key
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert plain(second.stdout).strip() != key
    TemplateCipher.from_setting(key)  # usable as VERONICA_TEMPLATE_KEY


# -- enroll -----------------------------------------------------------------------------


def test_enroll_two_photos(cli: Cli) -> None:
    result = cli("enroll", "obama", face_path("obama", 1), face_path("obama", 2))
    assert result.exit_code == 0, result.output
    assert flat(result.stdout).startswith("enrolled obama: 2 template(s), quality ")
    assert cli.users() == [("obama", 2)]


@pytest.mark.parametrize(
    ("bad_photo", "reason", "message"),
    [
        ("dark.jpg", "too_dark", "image 2: the face is too dark"),
        ("no_face.jpg", "no_face", "image 2: no face found in the image"),
    ],
)
def test_enroll_rejects_a_bad_photo_with_its_reason_and_stores_nothing(
    cli: Cli, bad_photo: str, reason: str, message: str
) -> None:
    result = cli("enroll", "alice", face_path("obama", 1), DATA / bad_photo)
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.stdout == ""
    assert cli.users() == []  # image 1 was fine, but nothing is stored
    assert message in error_text(result)
    assert reason in error_text(result), "the machine-readable reason is not shown"


def test_enroll_rejects_photos_of_two_different_people(cli: Cli) -> None:
    result = cli("enroll", "mixed", face_path("obama", 1), face_path("biden", 1))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "image 2 does not show the same person as image 1" in error_text(result)
    assert cli.users() == []


def test_enroll_nonexistent_path(cli: Cli) -> None:
    missing = cli.tmp_path / "missing.jpg"
    result = cli("enroll", "alice", face_path("obama", 1), missing)
    assert result.exit_code == EXIT_BAD_INPUT
    assert error_text(result) == f"error: {missing}: no such file"
    assert cli.users() == []


def test_enroll_a_folder_instead_of_a_photo(cli: Cli) -> None:
    result = cli("enroll", "alice", DATA / "faces")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "no such file" in error_text(result)


def test_enroll_truncated_image_is_undecodable(cli: Cli) -> None:
    result = cli("enroll", "alice", DATA / "truncated.jpg")
    assert result.exit_code == EXIT_BAD_INPUT
    assert cli.users() == []
    assert "damaged or truncated" in error_text(result)
    assert "image_undecodable" in error_text(result), "the error code is not shown"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "user name must not be empty"),
        ("   ", "user name must not be empty"),
        ("ali\x01ce", "user name must not contain control characters"),
        ("ali\nce", "user name must not contain control characters"),
        ("a" * 129, "user name must be at most 128 characters"),
    ],
    ids=["empty", "blank", "control-char", "newline", "too-long"],
)
def test_enroll_rejects_a_bad_user_name(cli: Cli, name: str, message: str) -> None:
    result = cli("enroll", name, face_path("obama", 1))
    assert result.exit_code == EXIT_BAD_INPUT
    assert message in error_text(result)
    assert cli.users() == []


def test_enroll_without_photos_is_a_usage_error(cli: Cli) -> None:
    result = cli("enroll", "alice")
    assert result.exit_code == 2
    assert "Missing argument" in flat(result.output)


# -- verify -----------------------------------------------------------------------------


def _similarity(result: Result) -> tuple[float, float]:
    match = re.search(r"similarity (-?\d\.\d+) \(threshold (-?\d\.\d+)\)", flat(result.stdout))
    assert match, result.stdout
    return float(match[1]), float(match[2])


def test_verify_same_person_other_photo_matches(cli: Cli) -> None:
    cli.enroll("obama", face_path("obama", 1), face_path("obama", 2))
    result = cli("verify", "obama", face_path("obama", 3))
    assert result.exit_code == 0, result.output
    assert flat(result.stdout).startswith("match similarity")
    similarity, threshold = _similarity(result)
    assert similarity >= threshold


def test_verify_another_person_does_not_match(cli: Cli) -> None:
    cli.enroll("obama", face_path("obama", 1), face_path("obama", 2))
    result = cli("verify", "obama", face_path("biden", 1))
    assert result.exit_code == EXIT_NO
    assert flat(result.stdout).startswith("no match similarity")
    similarity, threshold = _similarity(result)
    assert similarity < threshold


def test_verify_unknown_user(cli: Cli) -> None:
    cli.enroll("obama", face_path("obama", 1))
    result = cli("verify", "nobody", face_path("obama", 3))
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.stdout == ""
    assert "no user named 'nobody'" in error_text(result)


def test_verify_refuses_a_photo_with_two_faces(cli: Cli) -> None:
    cli.enroll("obama", face_path("obama", 1))
    result = cli("verify", "obama", DATA / "multi" / "two_faces.jpg")
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.stdout == ""
    assert "more than one face in the image" in error_text(result)


def test_verify_nonexistent_photo(cli: Cli) -> None:
    cli.enroll("obama", face_path("obama", 1))
    missing = cli.tmp_path / "nope.png"
    result = cli("verify", "obama", missing)
    assert result.exit_code == EXIT_BAD_INPUT
    assert error_text(result) == f"error: {missing}: no such file"


# -- identify ---------------------------------------------------------------------------


@pytest.fixture
def three_enrolled(cli: Cli) -> Cli:
    cli.enroll("obama", face_path("obama", 1), face_path("obama", 2))
    cli.enroll("biden", face_path("biden", 1))
    cli.enroll("alex_lacamoire", face_path("alex_lacamoire", 1), face_path("alex_lacamoire", 2))
    return cli


@pytest.mark.parametrize(
    ("probe", "person"),
    [
        (face_path("obama", 3), "obama"),
        (face_path("biden", 2), "biden"),
        (face_path("alex_lacamoire", 3), "alex_lacamoire"),
    ],
)
def test_identify_finds_the_right_person_among_three(
    three_enrolled: Cli, probe: Path, person: str
) -> None:
    result = three_enrolled("identify", probe)
    assert result.exit_code == 0, result.output
    lines = plain(result.stdout).strip().splitlines()
    assert lines[-1] == f"identified {person}"
    first_row = next(line for line in lines if line.startswith("│"))
    assert first_row.split("│")[1].strip() == person  # ranked first in the table


def test_identify_unknown_person_is_not_recognised(three_enrolled: Cli) -> None:
    result = three_enrolled("identify", DATA / "portrait.png")
    assert result.exit_code == EXIT_NO
    assert "not recognised" in flat(result.stdout)
    assert "identified" not in flat(result.stdout)


def test_identify_with_an_empty_gallery(cli: Cli) -> None:
    result = cli("identify", face_path("obama", 3))
    assert result.exit_code == EXIT_NO
    assert "not recognised" in flat(result.stdout)


def test_identify_photo_without_a_face(three_enrolled: Cli) -> None:
    result = three_enrolled("identify", DATA / "no_face.jpg")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "no face found in the image" in error_text(result)


def test_identify_top_out_of_range_is_a_usage_error(three_enrolled: Cli) -> None:
    result = three_enrolled("identify", face_path("obama", 3), "--top", "0")
    assert result.exit_code == 2
    assert result.stdout == ""


# -- users ------------------------------------------------------------------------------


def test_users_list_empty_and_sorted(cli: Cli) -> None:
    assert cli.users() == []
    cli.enroll("obama", face_path("obama", 1), face_path("obama", 2))
    cli.enroll("biden", face_path("biden", 1))
    assert cli.users() == [("biden", 1), ("obama", 2)]


def test_users_delete(cli: Cli) -> None:
    cli.enroll("obama", face_path("obama", 1), face_path("obama", 2))
    cli.enroll("biden", face_path("biden", 1))

    result = cli("users", "delete", "obama")
    assert result.exit_code == 0, result.output
    assert flat(result.stdout) == "deleted obama (2 template(s) erased)"
    assert cli.users() == [("biden", 1)]

    gone = cli("verify", "obama", face_path("obama", 3))
    assert gone.exit_code == EXIT_BAD_INPUT
    assert "no user named 'obama'" in error_text(gone)

    again = cli("users", "delete", "obama")
    assert again.exit_code == EXIT_BAD_INPUT
    assert "no user named 'obama'" in error_text(again)
    assert cli.users() == [("biden", 1)]


def test_users_delete_bad_name(cli: Cli) -> None:
    result = cli("users", "delete", "")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "user name must not be empty" in error_text(result)


def test_user_supplied_text_is_printed_verbatim(cli: Cli) -> None:
    """Names and paths are data, not Rich markup: brackets must survive (and never crash)."""
    missing = cli.tmp_path / "scan [/draft].jpg"
    result = cli("verify", "someone", missing)
    assert result.exit_code == EXIT_BAD_INPUT
    assert f"{missing}: no such file" in error_text(result)

    name = "ana [b] [/x]"
    result = cli("enroll", name, face_path("obama", 1))
    assert result.exit_code == 0
    assert f"enrolled {name}: 1 template(s)" in flat(result.stdout)
    assert cli.users() == [(name, 1)]
    result = cli("users", "delete", name)
    assert flat(result.stdout) == f"deleted {name} (1 template(s) erased)"


# -- template key -----------------------------------------------------------------------


def test_wrong_template_key_is_refused_never_a_match(cli: Cli) -> None:
    key, other = generate_key(), generate_key()
    enrolled = cli(
        "enroll", "obama", face_path("obama", 1), face_path("obama", 2), VERONICA_TEMPLATE_KEY=key
    )
    assert enrolled.exit_code == 0, enrolled.output

    for args in (("verify", "obama", face_path("obama", 3)), ("identify", face_path("obama", 3))):
        result = cli(*args, VERONICA_TEMPLATE_KEY=other)
        assert result.exit_code == EXIT_SETUP
        assert result.stdout == ""
        assert "template key does not match" in error_text(result)
        assert "VERONICA_TEMPLATE_KEY" in error_text(result)

    listed = cli("users", "list", VERONICA_TEMPLATE_KEY=other)
    assert listed.exit_code == EXIT_SETUP

    right = cli("verify", "obama", face_path("obama", 3), VERONICA_TEMPLATE_KEY=key)
    assert right.exit_code == 0, right.output


def test_malformed_template_key(cli: Cli) -> None:
    result = cli("users", "list", VERONICA_TEMPLATE_KEY="not a key!")
    assert result.exit_code == EXIT_SETUP
    assert "template key is neither base64 nor hex" in error_text(result)


def test_production_refuses_the_development_key(cli: Cli) -> None:
    result = cli(
        "users",
        "list",
        VERONICA_ENVIRONMENT="production",
        VERONICA_TEMPLATE_KEY=DEVELOPMENT_TEMPLATE_KEY,
    )
    assert result.exit_code == EXIT_SETUP
    assert result.stdout == ""
    assert "VERONICA_TEMPLATE_KEY must be set" in error_text(result)
    assert not (cli.tmp_path / "data" / "veronica.db").exists(), "nothing touched"


@pytest.mark.parametrize(
    "args",
    [
        ("users", "list"),
        ("users", "delete", "alice"),
        ("enroll", "alice", face_path("obama", 1)),
        ("verify", "alice", face_path("obama", 1)),
        ("identify", face_path("obama", 1)),
        ("admin", "create-key"),
        ("admin", "list-keys"),
    ],
    ids=[
        "users-list",
        "users-delete",
        "enroll",
        "verify",
        "identify",
        "admin-create",
        "admin-list",
    ],
)
def test_template_commands_refuse_the_development_key_on_the_production_default(
    cli: Cli, args: tuple[object, ...]
) -> None:
    """No settings at all means production: the public key is never used silently."""
    result = cli(*args, VERONICA_ENVIRONMENT=None)
    assert result.exit_code == EXIT_SETUP
    assert "VERONICA_TEMPLATE_KEY must be set" in error_text(result)
    assert "--dev" in error_text(result)
    assert not (cli.tmp_path / "data" / "veronica.db").exists()


def test_global_dev_option_selects_development(cli: Cli) -> None:
    result = cli("--dev", "enroll", "obama", face_path("obama", 1), VERONICA_ENVIRONMENT=None)
    assert result.exit_code == 0, result.output
    listed = cli("--dev", "users", "list", VERONICA_ENVIRONMENT=None)
    assert listed.exit_code == 0 and "obama" in plain(listed.stdout)
    # A secret key works without --dev, on the production default (its own database).
    secret = {"VERONICA_TEMPLATE_KEY": generate_key(), "VERONICA_DATA_DIR": str(cli.tmp_path / "p")}
    assert cli("users", "list", VERONICA_ENVIRONMENT=None, **secret).exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ("keygen",),
        ("keygen", "--signing", "--out", "signing.pem"),
        ("models", "check"),
        ("simulate", "print_moving", "--duration", "1", "--fps", "5", "--out", "a.y4m"),
    ],
    ids=["keygen", "keygen-signing", "models-check", "simulate"],
)
def test_commands_without_secrets_run_with_no_settings(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli(*args, VERONICA_ENVIRONMENT=None)
    assert result.exit_code == 0, result.output


# -- models -----------------------------------------------------------------------------


def test_models_check_lists_every_model(cli: Cli) -> None:
    result = cli("models", "check")
    assert result.exit_code == 0, result.output
    table = plain(result.stdout)
    assert "FAIL" not in table
    for spec in ALL_MODELS:
        assert spec.name in table, f"{spec.name} missing from the table:\n{table}"


def test_models_check_with_no_models_fails(cli: Cli) -> None:
    empty = cli.tmp_path / "no-models"
    empty.mkdir()
    result = cli("models", "check", VERONICA_MODELS_DIR=str(empty))
    assert result.exit_code == EXIT_SETUP
    assert "FAIL" in plain(result.stdout)
    assert error_text(result) == "error: some model checks failed"


def test_commands_needing_models_fail_cleanly_without_them(cli: Cli) -> None:
    empty = cli.tmp_path / "no-models"
    empty.mkdir()
    result = cli("enroll", "alice", face_path("obama", 1), VERONICA_MODELS_DIR=str(empty))
    assert result.exit_code == EXIT_SETUP
    assert "not found" in error_text(result) and "veronica models fetch" in error_text(result)


# -- eval lfw ---------------------------------------------------------------------------


def _eval(cli: Cli, pairs: Path, *extra: object) -> Result:
    return cli("eval", "lfw", "--pairs", pairs, "--root", DATA, *extra)


def test_eval_lfw_report_json_and_plot(cli: Cli) -> None:
    pairs = write_pairs(cli.tmp_path / "pairs.csv", EASY_PAIRS)
    report_path, plot_path = cli.tmp_path / "out" / "report.json", cli.tmp_path / "out" / "roc.png"
    result = _eval(cli, pairs, "--folds", "2", "--json", report_path, "--plot", plot_path)
    assert result.exit_code == 0, result.output

    report = json.loads(report_path.read_text())
    assert list(report) == REPORT_KEYS
    assert json.loads(plain(result.stdout)) == report
    assert report["pairs"] == 10
    assert report["failures_to_enroll"] == 0
    assert report["accuracy_mean"] == 1.0
    assert report["accuracy_std"] == 0.0
    assert report["fold_accuracies"] == [1.0, 1.0]
    assert report["auc"] == 1.0
    assert report["eer"] == 0.0
    assert 0.0 <= report["tar_at_far_1e-3"] <= 1.0
    assert 0.0 <= report["tar_at_far_1e-4"] <= 1.0
    assert -1.0 <= report["threshold"] <= 1.0
    assert report["seconds"] > 0
    assert plot_path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_eval_lfw_pair_without_a_face_is_a_failure_and_an_error(cli: Cli) -> None:
    rows: list[Row] = [*EASY_PAIRS[:9], ("no_face.jpg", "faces/biden/1.jpg", 0)]
    pairs = write_pairs(cli.tmp_path / "pairs.csv", rows)
    report_path = cli.tmp_path / "report.json"
    result = _eval(cli, pairs, "--folds", "1", "--json", report_path)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["failures_to_enroll"] == 1
    assert report["pairs"] == 10  # counted, not dropped
    assert report["accuracy_mean"] == pytest.approx(0.9)  # and counted wrong


@pytest.mark.parametrize("threshold", ["default", "0.5"])
def test_eval_lfw_fixed_threshold(cli: Cli, face_engine: FaceEngine, threshold: str) -> None:
    pairs = write_pairs(cli.tmp_path / "pairs.csv", EASY_PAIRS)
    report_path = cli.tmp_path / "report.json"
    result = _eval(cli, pairs, "--folds", "2", "--threshold", threshold, "--json", report_path)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    expected = face_engine.default_threshold if threshold == "default" else float(threshold)
    assert report["threshold"] == pytest.approx(expected)
    assert report["accuracy_mean"] == 1.0


def _binary_csv(tmp: Path, header: str) -> Path:
    path = tmp / "binary.csv"
    path.write_bytes(header.encode() + b"\n\xff\xfe\x00,\x81,1\n")
    return path


def _bad_eval_cases() -> list[tuple[str, Callable[[Path], list[object]], str]]:
    def csv(tmp: Path, rows: list[Row], header: str = "img1,img2,same") -> Path:
        return write_pairs(tmp / "pairs.csv", rows, header)

    return [
        (
            "missing-csv",
            lambda tmp: ["--pairs", tmp / "nope.csv", "--root", DATA],
            "nope.csv: no such file",
        ),
        (
            "wrong-header",
            lambda tmp: ["--pairs", csv(tmp, EASY_PAIRS, "a,b,label"), "--root", DATA],
            "header must contain img1,img2,same",
        ),
        (
            "missing-image",
            lambda tmp: [
                "--pairs",
                csv(tmp, [*EASY_PAIRS[:9], ("faces/obama/9.jpg", "faces/obama/1.jpg", 1)]),
                "--root",
                DATA,
            ],
            "pairs.csv:11: image",
        ),
        (
            "bad-same-flag",
            lambda tmp: [
                "--pairs",
                csv(tmp, [("faces/obama/1.jpg", "faces/obama/2.jpg", "maybe")]),
                "--root",
                DATA,
            ],
            "'same' must be 1 or 0",
        ),
        (
            "empty-csv",
            lambda tmp: ["--pairs", csv(tmp, []), "--root", DATA],
            "pairs.csv: no pairs",
        ),
        (
            "not-utf8",
            lambda tmp: ["--pairs", _binary_csv(tmp, "img1,img2,same"), "--root", DATA],
            "binary.csv: not a UTF-8 text file",
        ),
        (
            "missing-root",
            lambda tmp: ["--pairs", csv(tmp, EASY_PAIRS), "--root", tmp / "nowhere"],
            "nowhere: no such folder",
        ),
        (
            "non-numeric-threshold",
            lambda tmp: [
                "--pairs",
                csv(tmp, EASY_PAIRS),
                "--root",
                DATA,
                "--folds",
                "2",
                "--threshold",
                "high",
            ],
            "--threshold must be a number in [-1, 1] or 'default', got 'high'",
        ),
        (
            "threshold-out-of-range",
            lambda tmp: [
                "--pairs",
                csv(tmp, EASY_PAIRS),
                "--root",
                DATA,
                "--folds",
                "2",
                "--threshold",
                "1.5",
            ],
            "--threshold must be in [-1, 1]",
        ),
        (
            "folds-do-not-divide-pairs",
            lambda tmp: ["--pairs", csv(tmp, EASY_PAIRS), "--root", DATA, "--folds", "3"],
            "10 pairs cannot be split into 3 equal folds",
        ),
        (
            "single-class",
            lambda tmp: [
                "--pairs",
                csv(tmp, [r for r in EASY_PAIRS if r[2] == 1]),
                "--root",
                DATA,
                "--folds",
                "1",
            ],
            "at least one positive (same) and one negative (different) pair",
        ),
    ]


@pytest.mark.parametrize(
    ("build", "message"),
    [pytest.param(build, message, id=case) for case, build, message in _bad_eval_cases()],
)
def test_eval_lfw_bad_input(cli: Cli, build: Callable[[Path], list[object]], message: str) -> None:
    report_path = cli.tmp_path / "report.json"
    result = cli("eval", "lfw", *build(cli.tmp_path), "--json", report_path)
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.stdout == ""
    assert not report_path.exists()
    errors = error_text(result)
    assert errors.startswith("error: ") and errors.count("error: ") == 1, errors
    assert message in errors


# -- eval people / eval pad -------------------------------------------------------------

PEOPLE_ROWS = [
    *(
        f"faces/{person}/{n}.jpg,{person}"
        for person, count in [("obama", 3), ("biden", 2), ("alex_lacamoire", 3), ("rose_leslie", 2)]
        for n in range(1, count + 1)
    ),
    "portrait.png,lennon",  # one photo: enrolled, never probed
    "no_face.jpg,ghost",  # never enrollable
]


def test_eval_people_end_to_end(cli: Cli, face_engine: FaceEngine) -> None:
    identities = cli.tmp_path / "people.csv"
    identities.write_text("\n".join(["path,identity", *PEOPLE_ROWS]) + "\n")
    report_path = cli.tmp_path / "people.json"
    result = cli(
        "eval", "people", "--identities", identities, "--root", DATA, "--json", report_path
    )
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert json.loads(plain(result.stdout)) == report
    assert report["identities"] == 6
    assert report["enrolled"] == 5
    assert report["failures_to_enroll"] == 1
    # Probes: obama 2, biden 1, alex 2, rose 1; each is an impostor for the other 4.
    assert report["genuine_attempts"] == 6
    assert report["impostor_attempts"] == 24
    assert report["false_rejects"] == report["false_accepts"] == 0
    assert report["frr"] == report["far"] == 0.0
    assert report["rank1_identification"] == 1.0
    # The 1:1 operating point: the calibration table's threshold for FMR 1e-4.
    table = load_table(face_engine.model_id)
    assert report["threshold"] == threshold_for_fmr(table, 1e-4)
    assert cli.users() == []  # a scratch store: the real database is untouched


def test_eval_pad_runs_on_labelled_images(cli: Cli) -> None:
    labels = cli.tmp_path / "labels.csv"
    labels.write_text(
        "path,label,attack_type\n"
        "faces/obama/1.jpg,live,\n"
        "faces/biden/2.jpg,live,\n"
        "faces/rose_leslie/2.jpg,live,\n"
        "portrait.png,spoof,print\n"
        "no_face.jpg,spoof,replay\n"
    )
    report_path = cli.tmp_path / "pad.json"
    result = cli("eval", "pad", "--labels", labels, "--root", DATA, "--json", report_path)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert json.loads(plain(result.stdout)) == report
    assert report["no_face"] == 1
    assert report["bonafide_presentations"] == 3
    assert report["attack_presentations_by_species"] == {"print": 1, "replay": 1}
    assert 0.0 <= report["auc"] <= 1.0 and 0.0 <= report["threshold"] <= 1.0


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("command", "option", "build", "message"),
    [
        pytest.param(
            "people",
            "--identities",
            lambda tmp: tmp / "nope.csv",
            "nope.csv: no such file",
            id="people-missing-csv",
        ),
        pytest.param(
            "people",
            "--identities",
            lambda tmp: _write(tmp, "ids.csv", "file,name\nfaces/obama/1.jpg,obama\n"),
            "header must contain path,identity",
            id="people-wrong-header",
        ),
        pytest.param(
            "people",
            "--identities",
            lambda tmp: _write(tmp, "ids.csv", "path,identity\nfaces/obama/9.jpg,obama\n"),
            "ids.csv:2: missing identity or image",
            id="people-missing-image",
        ),
        pytest.param(
            "people",
            "--identities",
            lambda tmp: _write(tmp, "ids.csv", "path,identity\n"),
            "ids.csv: no rows",
            id="people-empty",
        ),
        pytest.param(
            "people",
            "--identities",
            lambda tmp: _binary_csv(tmp, "path,identity"),
            "binary.csv: not a UTF-8 text file",
            id="people-not-utf8",
        ),
        pytest.param(
            "pad",
            "--labels",
            lambda tmp: tmp / "nope.csv",
            "nope.csv: no such file",
            id="pad-missing-csv",
        ),
        pytest.param(
            "pad",
            "--labels",
            lambda tmp: _write(tmp, "labels.csv", "file,kind\nfaces/obama/1.jpg,live\n"),
            "header must contain path,label",
            id="pad-wrong-header",
        ),
        pytest.param(
            "pad",
            "--labels",
            lambda tmp: _write(tmp, "labels.csv", "path,label\nfaces/obama/1.jpg,real\n"),
            "labels.csv:2: label must be live or spoof",
            id="pad-bad-label",
        ),
        pytest.param(
            "pad",
            "--labels",
            lambda tmp: _write(tmp, "labels.csv", "path,label\nfaces/obama/1.jpg,live\n"),
            "need both live and spoof images",
            id="pad-one-class",
        ),
        pytest.param(
            "pad",
            "--labels",
            lambda tmp: _binary_csv(tmp, "path,label"),
            "binary.csv: not a UTF-8 text file",
            id="pad-not-utf8",
        ),
    ],
)
def test_eval_people_and_pad_bad_input(
    cli: Cli, command: str, option: str, build: Callable[[Path], Path], message: str
) -> None:
    result = cli("eval", command, option, build(cli.tmp_path), "--root", DATA)
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.stdout == ""
    assert message in error_text(result)


# -- models fetch / serve ---------------------------------------------------------------


def test_models_fetch_keeps_verified_files(cli: Cli) -> None:
    # Links to the real files: nothing to download, and the repository copy is never touched.
    linked = cli.tmp_path / "models"
    linked.mkdir()
    for source in models_dir().iterdir():
        (linked / source.name).symlink_to(source)
    result = cli("models", "fetch", VERONICA_MODELS_DIR=str(linked))
    assert result.exit_code == 0, result.output
    assert flat(result.stdout) == f"{len(ALL_MODELS)} model files verified in {linked}"


def test_serve_refuses_invalid_settings_before_starting(cli: Cli) -> None:
    result = cli("serve", "--dev", VERONICA_PORT="0")
    assert result.exit_code == EXIT_SETUP
    assert "invalid settings: port" in error_text(result)


class UvicornCalls:
    """What ``serve`` hands ``uvicorn.run`` (the real server is tested in
    tests/api/test_api_limits.py; here only that serve starts it, and how)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import uvicorn

        self.calls: list[dict[str, object]] = []
        monkeypatch.setattr(uvicorn, "run", lambda app, **kw: self.calls.append(kw))


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> UvicornCalls:
    return UvicornCalls(monkeypatch)


def test_serve_without_settings_lists_every_missing_piece_in_one_line(
    cli: Cli, uvicorn_calls: UvicornCalls
) -> None:
    result = cli("serve", VERONICA_ENVIRONMENT=None, VERONICA_ADMIN_KEY="dev-admin")
    assert result.exit_code == EXIT_SETUP
    lines = [line for line in plain(result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: not starting in production"), lines
    for piece in (
        "VERONICA_TEMPLATE_KEY",
        "VERONICA_SIGNING_KEY_PATH",
        "VERONICA_RSA_SIGNING_KEY_PATH",
        "VERONICA_ADMIN_KEY is for development only",
        "no admin key in the database",
        "https://",
        "veronica serve --dev",
    ):
        assert piece in lines[0], piece
    assert uvicorn_calls.calls == []
    assert not (cli.tmp_path / "data").exists(), "a refused start creates nothing"


def test_serve_without_dev_refuses_development_and_test(cli: Cli) -> None:
    for environment in ("development", "test"):
        result = cli("serve", VERONICA_ENVIRONMENT=environment)
        assert result.exit_code == EXIT_SETUP
        assert f"VERONICA_ENVIRONMENT is {environment}" in error_text(result)


def production_env(cli: Cli) -> dict[str, str | None]:
    """A complete production configuration: secret key, signing key, https, an admin key."""
    signing = cli.tmp_path / "signing.pem"
    assert cli("keygen", "--signing", "--out", signing).exit_code == 0
    rsa = cli.tmp_path / "rsa_signing.pem"
    assert cli("keygen", "--rsa", "--out", rsa).exit_code == 0
    env: dict[str, str | None] = {
        "VERONICA_ENVIRONMENT": None,  # the default: production
        "VERONICA_TEMPLATE_KEY": generate_key(),
        "VERONICA_SIGNING_KEY_PATH": str(signing),
        "VERONICA_RSA_SIGNING_KEY_PATH": str(rsa),
        "VERONICA_PUBLIC_URL": "https://login.example.org",
    }
    created = cli("admin", "create-key", "--label", "ops", **env)
    assert created.exit_code == 0, created.output
    return env


def test_serve_starts_in_production_when_everything_is_there(
    cli: Cli, uvicorn_calls: UvicornCalls
) -> None:
    env = production_env(cli)
    revoked = cli("admin", "revoke-key", "ops", **env)
    assert revoked.exit_code == 0
    refused = cli("serve", **env)
    assert refused.exit_code == EXIT_SETUP
    assert error_text(refused).count(";") == 0, "only the admin key is missing"
    assert "no admin key in the database" in error_text(refused)
    assert cli("admin", "create-key", "--label", "ops2", **env).exit_code == 0
    result = cli("serve", **env)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    [options] = uvicorn_calls.calls
    assert options["proxy_headers"] is False and options["forwarded_allow_ips"] == []


def test_serve_dev_warns_and_never_trusts_forwarded_headers_by_default(
    cli: Cli, uvicorn_calls: UvicornCalls
) -> None:
    result = cli("serve", "--dev", VERONICA_ENVIRONMENT=None)
    assert result.exit_code == 0, result.output
    warning = flat(result.stderr)
    assert warning.startswith("warning: development mode (--dev)")
    for piece in ("public development template key", "VERONICA_ADMIN_KEY", "without Secure"):
        assert piece in warning
    [options] = uvicorn_calls.calls
    # Explicit, so uvicorn's own default (trust 127.0.0.1) never applies.
    assert options["proxy_headers"] is False and options["forwarded_allow_ips"] == []
    assert options["workers"] == 1 and options["ws_per_message_deflate"] is False


def test_global_dev_and_test_environment(cli: Cli, uvicorn_calls: UvicornCalls) -> None:
    """``--dev`` keeps an explicit test environment (the end-to-end tests rely on it)."""
    result = cli("--dev", "serve", VERONICA_ENVIRONMENT="test", VERONICA_CHALLENGE_SEED="7")
    assert result.exit_code == 0, result.output
    assert flat(result.stderr).startswith("warning: test mode (--dev)")
    result = cli("serve", "--dev", VERONICA_ENVIRONMENT="production")
    assert result.exit_code == 0, result.output
    assert flat(result.stderr).startswith("warning: development mode (--dev)")
    assert len(uvicorn_calls.calls) == 2


def test_serve_proxy_options_override_settings(cli: Cli, uvicorn_calls: UvicornCalls) -> None:
    result = cli(
        "serve",
        "--dev",
        "--proxy-headers",
        "--forwarded-allow-ips",
        "10.0.0.5, 10.1.0.0/16",
        VERONICA_FORWARDED_ALLOW_IPS="192.0.2.1",
    )
    assert result.exit_code == 0, result.output
    assert uvicorn_calls.calls[-1]["proxy_headers"] is True
    assert uvicorn_calls.calls[-1]["forwarded_allow_ips"] == ["10.0.0.5", "10.1.0.0/16"]
    from_env = cli(
        "serve",
        "--dev",
        VERONICA_PROXY_HEADERS="true",
        VERONICA_FORWARDED_ALLOW_IPS="192.0.2.1",
    )
    assert from_env.exit_code == 0, from_env.output
    assert uvicorn_calls.calls[-1]["forwarded_allow_ips"] == ["192.0.2.1"]
    off = cli(
        "serve",
        "--dev",
        "--no-proxy-headers",
        VERONICA_PROXY_HEADERS="true",
        VERONICA_FORWARDED_ALLOW_IPS="192.0.2.1",
    )
    assert off.exit_code == 0 and uvicorn_calls.calls[-1]["proxy_headers"] is False


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--proxy-headers",), {}, "needs VERONICA_FORWARDED_ALLOW_IPS"),
        (("--forwarded-allow-ips", "*"), {}, "would trust X-Forwarded-For from anyone"),
        (("--forwarded-allow-ips", "proxy.local"), {}, "is not an IP address or network"),
        ((), {"VERONICA_PROXY_HEADERS": "true"}, "needs VERONICA_FORWARDED_ALLOW_IPS"),
    ],
    ids=["proxy-headers-alone", "wildcard", "host-name", "env-proxy-headers-alone"],
)
def test_serve_refuses_unsafe_proxy_settings(
    cli: Cli,
    uvicorn_calls: UvicornCalls,
    args: tuple[str, ...],
    env: dict[str, str],
    message: str,
) -> None:
    result = cli("serve", "--dev", *args, **env)
    assert result.exit_code == EXIT_SETUP
    assert message in error_text(result)
    assert uvicorn_calls.calls == []


# -- one clear line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    ["missing-photo", "two-people", "wrong-key", "bad-csv-header", "production-default-key"],
)
def test_every_failure_is_one_line_on_stderr(cli: Cli, case: str) -> None:
    """The module's promise: one ``error:`` line, however long, wherever output goes."""
    tmp = cli.tmp_path
    if case == "missing-photo":
        result = cli("enroll", "alice", tmp / ("a-rather-long-folder-name-" * 3) / "photo.jpg")
    elif case == "two-people":
        result = cli("enroll", "mixed", face_path("obama", 1), face_path("biden", 1))
    elif case == "wrong-key":
        cli.enroll("obama", face_path("obama", 1))
        result = cli("users", "list", VERONICA_TEMPLATE_KEY=generate_key())
    elif case == "bad-csv-header":
        pairs = write_pairs(tmp / "pairs.csv", EASY_PAIRS, "first,second,label")
        result = cli("eval", "lfw", "--pairs", pairs, "--root", DATA)
    else:
        result = cli("users", "list", VERONICA_ENVIRONMENT=None, VERONICA_TEMPLATE_KEY="")
    assert result.exit_code != 0
    lines = [line for line in plain(result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines


def test_camera_calibrate_round_trips_the_field_of_view(cli: Cli) -> None:
    """Measure a photo's iris depth at 60° FOV, then calibrate at that distance: 60° back."""
    from veronica.pipeline.decode import decode_image
    from veronica.pipeline.depth import estimate_depth, focal_length_px
    from veronica.pipeline.detect import MeshDetector

    photo = face_path("rose_leslie", 2)
    bgr = decode_image(photo.read_bytes()).bgr
    face = MeshDetector(max_faces=1).detect(bgr)[0]
    depth = estimate_depth(face, focal_length_px(bgr.shape[1], 60.0))
    assert depth is not None
    result = cli("camera", "calibrate", photo, "--distance-mm", f"{depth.distance_mm:.3f}")
    assert result.exit_code == 0, result.output
    assert "VERONICA_CAMERA_HFOV_DEG=60.0" in plain(result.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope.jpg", "--distance-mm", "500"), "no such file"),
        ((DATA / "no_face.jpg", "--distance-mm", "500"), "no face found"),
        ((DATA / "faces/obama/1.jpg", "--distance-mm", "5"), "distance"),
    ],
)
def test_camera_calibrate_bad_input(cli: Cli, args: tuple[object, ...], message: str) -> None:
    result = cli("camera", "calibrate", *args)
    assert result.exit_code == 2
    assert message in flat(result.output)


def test_simulate_writes_a_video_and_its_script(cli: Cli) -> None:
    out = cli.tmp_path / "frozen.mp4"
    result = cli("simulate", "frozen_frame", "--seed", "3", "--out", out, "--duration", "2")
    assert result.exit_code == 0, result.output
    capture = cv2.VideoCapture(str(out))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    assert count == 60
    meta = json.loads(out.with_name("frozen.mp4.json").read_text())
    assert meta["simulated"] is True and meta["species"] == "frozen_frame"


def test_simulate_for_a_fixed_challenge_seed(cli: Cli) -> None:
    out = cli.tmp_path / "genuine.y4m"
    photo = face_path("obama", 1)
    result = cli(
        "simulate", "genuine", "--out", out, "--duration", "1", "--fps", "10",
        "--challenge-seed", "5", "--no-light", "--positioning", "2", "--photo", photo,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    meta = json.loads(out.with_name("genuine.y4m.json").read_text())
    assert meta["light"] == [] and meta["positioning_s"] == 2.0 and meta["frames"] == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("paper_mask", "--out", "x.mp4"), "unknown species"),
        (("genuine", "--out", "x.avi"), ".mp4 or .y4m"),
        (("genuine", "--out", "x.y4m", "--photo", "missing.jpg"), "no such photo"),
    ],
)
def test_simulate_bad_input(cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli("simulate", *args)
    assert result.exit_code == 2
    assert message in flat(result.output)


def test_liveness_check_bad_input(cli: Cli) -> None:
    assert "no such file" in flat(cli("liveness", "check", "nope.mp4").output)
    text = cli.tmp_path / "notes.mp4"
    text.write_text("not a video")
    result = cli("liveness", "check", text)
    assert result.exit_code == 2
    assert "not a readable video" in flat(result.output)


@pytest.mark.shared_data
def test_liveness_check_real_video_and_its_frozen_copy(cli: Cli, shared_data: Path) -> None:
    video = shared_data / "video" / "talking_head_blinks.mp4"
    report = cli.tmp_path / "live.json"
    result = cli("liveness", "check", video, "--json", report)
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["live"] is True
    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    capture.release()
    assert ok
    frozen = cli.tmp_path / "frozen.mp4"
    writer = cv2.VideoWriter(str(frozen), cv2.VideoWriter_fourcc(*"mp4v"), 25, frame.shape[1::-1])
    for _ in range(100):
        writer.write(frame)
    writer.release()
    result = cli("liveness", "check", frozen)
    assert result.exit_code == 1
    assert "not live" in flat(result.output)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "either --labels"),
        (("--suite", "simulated", "--labels", "x.csv", "--root", "."), "either --labels"),
        (("--suite", "real"), "unknown suite"),
        (("--labels", "x.csv"), "needs --root"),
        (("--suite", "simulated", "--species", "hologram"), "unknown species hologram"),
    ],
)
def test_eval_pad_option_errors(cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli("eval", "pad", *args)
    assert result.exit_code == 2
    assert message in flat(result.output)


@pytest.mark.slow
def test_eval_pad_simulated_suite(cli: Cli) -> None:
    report = cli.tmp_path / "suite.json"
    plot = cli.tmp_path / "det.png"
    result = cli(
        "eval", "pad", "--suite", "simulated", "--sessions", "1", "--workers", "2",
        "--species", "print_cutout", "--species", "screen_close", "--species", "frozen_frame",
        "--json", report, "--plot", plot,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["simulated"] is True and data["population"] == "realistic"
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert "apcer_at_bpcer_5pct" in data and "acer" not in data
    assert set(data["accepted_attacks"]) == set(data["apcer"]) == set(data["apnrr"])
    # Every species renders and holds a face: tests/simulation/test_simulation_species.py.
    assert set(data["apcer"]) == {"print_cutout", "screen_close", "frozen_frame"}
    worst = data["apcer"][data["worst_species"]]["rate"]
    processed = [r for r in data["apcer"].values() if r["presentations"]]
    assert worst == max(r["rate"] for r in processed)
    assert data["bpcer"]["presentations"] + data["bpnrr"]["errors"] == 1
    assert data["light_challenge"] is True
    # The tables are made from this JSON by a command, not by hand.
    tables = cli("eval", "pad-tables", report)
    assert tables.exit_code == 0, tables.output
    assert "| bona fide | BPCER" in tables.output and "simulated" in tables.output


@pytest.mark.slow
def test_eval_pad_suite_opt_out_policy_and_one_species(cli: Cli) -> None:
    report = cli.tmp_path / "suite.json"
    record = cli.tmp_path / "outcomes.jsonl"
    # Two retired lists (each round's report identities) are both left out.
    retired = [cli.tmp_path / "retired_a.txt", cli.tmp_path / "retired_b.txt"]
    retired[0].write_text("# an earlier round\nbiden\n")
    retired[1].write_text("Obama\n")
    run = (
        "eval", "pad", "--suite", "simulated", "--sessions", "1", "--light", "gentle",
        "--species", "screen_replay_late", "--outcomes", record, "--photos", DATA / "faces",
        "--exclude-identities", retired[0], "--exclude-identities", retired[1],
    )  # fmt: skip
    args = (*run, "--json", report)
    result = cli(*args)
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    excluded = data["photos"]["excluded_identities"]
    assert excluded["lists"] == [str(p) for p in retired] and excluded["identities"] == 2
    assert data["photos"]["identities"] == 2
    drawn = {json.loads(line)["identity"] for line in record.read_text().splitlines()}
    assert drawn and not drawn & {"biden", "obama"}
    assert data["light_challenge"] is False and data["light_mode"] == "gentle"
    assert data["policy"].startswith("opt-out")
    assert set(data["apcer"]) == {"screen_replay_late"}
    assert data["resumed_sessions"] == 0
    # A run killed mid-write resumes: whole lines are kept, the cut-off one runs again.
    lines = record.read_text().splitlines(keepends=True)
    assert len(lines) == 2
    record.write_text(lines[0] + lines[1][:40])
    resumed = cli(*args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    again = json.loads(report.read_text())
    assert again["resumed_sessions"] == 1
    assert record.read_text().splitlines(keepends=True)[0] == lines[0]
    assert sorted(record.read_text().splitlines()) == sorted(line.strip() for line in lines)
    for key in ("apcer", "apnrr", "bpcer", "bpnrr", "failed_checks", "accepted_attacks"):
        assert again[key] == data[key], key
    # A record of other seeds is not silently merged into this run's report.
    other = cli(*run, "--seed", "500", "--json", cli.tmp_path / "other.json", "--resume")
    assert other.exit_code != 0 and "not part of this run" in flat(other.output)
    assert sorted(record.read_text().splitlines()) == sorted(line.strip() for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--population", "crowd"), "unknown population"),
        (("--split", "report"), "need --photos"),
        (("--exclude-identities", "used.txt"), "need --photos"),
        (("--light", "disco"), "unknown light"),
        (("--resume",), "--resume needs --outcomes"),
        (("--photos", "missing-folder"), "give a folder"),
        (
            ("--photos", "tests/data/faces", "--exclude-identities", "missing.txt"),
            "cannot read the identity list",
        ),
    ],
)
def test_eval_pad_suite_option_errors(cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli("eval", "pad", "--suite", "simulated", *args)
    assert result.exit_code != 0
    assert message in flat(result.output)


def test_eval_pad_tables_errors(cli: Cli) -> None:
    broken = cli.tmp_path / "broken.json"
    broken.write_text("{not json")
    result = cli("eval", "pad-tables", broken)
    assert result.exit_code == EXIT_BAD_INPUT and "not a readable JSON report" in flat(
        result.output
    )
    old = cli.tmp_path / "old.json"
    old.write_text(json.dumps({"apcer": 0.1, "bpcer": 0.02}))
    result = cli("eval", "pad-tables", old)
    assert result.exit_code == EXIT_BAD_INPUT and "older report" in flat(result.output)
    good = cli.tmp_path / "good.json"
    outcomes = [
        SessionOutcome("genuine", 1, True, "live", (), 90, 0.3, "pad"),
        SessionOutcome("print_still", 1, False, "liveness_failed", ("pad",), 90, -0.4, "pad"),
    ]
    good.write_text(json.dumps(suite_report(outcomes, 1, None, 1.0).to_json_dict()))
    page = cli.tmp_path / "page.md"
    page.write_text("# no markers here\n")
    result = cli("eval", "pad-tables", good, "--write", page)
    assert result.exit_code == EXIT_BAD_INPUT and "markers" in flat(result.output)
    assert page.read_text() == "# no markers here\n"  # nothing written on error
