"""Markdown tables from suite reports, and the docs that must match them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veronica.errors import BadInputError
from veronica.evaluation.pad_sim import SessionOutcome, suite_report
from veronica.evaluation.pad_tables import load_report, render, replace_section, section

ROOT = Path(__file__).resolve().parents[2]
DOC_REPORTS = ("docs/results/pad_suite_required.json", "docs/results/pad_suite_optout.json")
"""The reports the docs' suite tables are generated from (docs/LIVENESS.md says how)."""


def report_json(tmp_path: Path) -> Path:
    dim, office = (("ambient", "dim"),), (("ambient", "office"),)
    outcomes = [
        SessionOutcome("genuine", 1, True, "live", (), 90, 0.3, "pad", conditions=dim),
        SessionOutcome("genuine", 2, False, "liveness_failed", ("blinks",), 90, -0.1, "blinks",
                       conditions=office),
        SessionOutcome("print_cutout", 1, False, "liveness_failed", ("planarity",), 90, -0.4,
                       "planarity"),
        SessionOutcome("print_cutout", 2, False, "timeout", (), 9, -1.0, "timeout"),
    ]  # fmt: skip
    path = tmp_path / "report.json"
    path.write_text(json.dumps(suite_report(outcomes, 7, None, 12.0).to_json_dict()))
    return path


def test_tables_state_counts_intervals_and_non_responses(tmp_path: Path) -> None:
    path = report_json(tmp_path)
    text = render([("r.json", load_report(path))])
    assert "| bona fide | BPCER 1/2 = 50.0 % [1.3, 98.7] | BPNRR 0/2 = 0.0 % [0.0, 84.2] |" in text
    assert "| print_cutout | 0/1 = 0.0 % [0.0, 97.5] | 1/2 = 50.0 % [1.3, 98.7] |" in text
    assert "simulated" in text and "`r.json`" in text
    assert "| ambient | office | 1/1 = 100.0 % [2.5, 100.0] |" in text
    assert "4 sessions in 12 s on this machine (20.0 sessions a minute)." in text


def test_the_label_names_the_identities_left_out(tmp_path: Path) -> None:
    data = json.loads(report_json(tmp_path).read_text())
    data["photos"] = {
        "split": "calibration",
        "identities": 530,
        "excluded_identities": {"lists": ["pool.txt"], "identities": 140, "photos": 180},
    }
    path = tmp_path / "excluded.json"
    path.write_text(json.dumps(data))
    text = render([("r.json", load_report(path))])
    assert "calibration identities (530), none of the 140 listed in `pool.txt`" in text


def test_a_resumed_run_says_which_sessions_its_time_covers(tmp_path: Path) -> None:
    path = report_json(tmp_path)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "resumed_sessions": 1}))
    text = render([("r.json", load_report(path))])
    assert (
        "4 sessions; the 3 run after resuming took 12 s on this machine "
        "(15.0 sessions a minute; 1 were read back from the interrupted run)."
    ) in text


def test_replace_section_only_between_markers() -> None:
    doc = "intro\n<!-- pad-tables:begin suite -->\nold\n<!-- pad-tables:end suite -->\nend\n"
    new = replace_section(doc, "suite", "new table\n")
    assert (
        new
        == "intro\n<!-- pad-tables:begin suite -->\nnew table\n<!-- pad-tables:end suite -->\nend\n"
    )
    assert section(new, "suite") == "new table\n"
    with pytest.raises(BadInputError, match="markers"):
        replace_section("no markers", "suite", "x")


def test_load_report_refuses_other_json(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"frr": 0.1}))
    with pytest.raises(BadInputError, match="not a simulated-suite report"):
        load_report(other)


@pytest.mark.parametrize("doc", ["docs/LIVENESS.md", "README.md"])
def test_docs_tables_are_the_commands_output(doc: str) -> None:
    """The suite tables in the docs are what ``veronica eval pad-tables`` writes
    from the committed reports: a hand edit or a stale table fails here."""
    reports = [(name, load_report(ROOT / name)) for name in DOC_REPORTS]
    assert section((ROOT / doc).read_text(), "suite") == render(reports)
