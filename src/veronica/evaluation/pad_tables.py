"""Markdown tables from simulated-suite JSON reports (``eval pad --suite --json``).

The tables in docs/LIVENESS.md and the README are written by
``veronica eval pad-tables`` between marker comments, never by hand, so a
number in the docs is always one a command produced (a test checks that the
committed docs match the committed JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from veronica.errors import BadInputError

BEGIN = "<!-- pad-tables:begin {name} -->"
END = "<!-- pad-tables:end {name} -->"


def load_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{path}: not a readable JSON report ({exc})") from exc
    if not isinstance(data, dict) or "apcer" not in data or "bpcer" not in data:
        raise BadInputError(f"{path}: not a simulated-suite report (eval pad --suite --json)")
    if not isinstance(data["apcer"], dict) or not isinstance(data["bpcer"], dict):
        raise BadInputError(f"{path}: an older report without intervals; run the suite again")
    return data


def percent(rate: Mapping[str, Any]) -> str:
    """``k/n = r % [low, high]`` (Clopper–Pearson 95 %)."""
    n = int(rate["presentations"])
    if n == 0:
        return "— (0 processed)"
    low, high = rate["ci95"]
    return f"{rate['errors']}/{n} = {100 * rate['rate']:.1f} % [{100 * low:.1f}, {100 * high:.1f}]"


def _label(report: Mapping[str, Any], source: str) -> str:
    photos = report.get("photos", {})
    where = photos.get("split", photos.get("source", "fixtures"))
    ids = photos.get("identities")
    who = f"{where} identities ({ids})" if ids is not None else str(where)
    excluded = photos.get("excluded_identities")
    if excluded:
        # Which identities a report drew from is part of what it claims.
        lists = ", ".join(f"`{path}`" for path in excluded["lists"])
        who += f", none of the {excluded['identities']} listed in {lists}"
    return (
        f"**{report['policy']}**, {report['population']} population, {who}, "
        f"seeds from {report['seed']}, simulated — `{source}`"
    )


def report_table(report: Mapping[str, Any], source: str) -> str:
    """One configuration: APCER and APNRR per species, BPCER, BPNRR, refusals."""
    lines = [
        _label(report, source),
        "",
        "| presentations | APCER (processed) | non-response rate |",
        "|---|---|---|",
        f"| bona fide | BPCER {percent(report['bpcer'])} | BPNRR {percent(report['bpnrr'])} |",
    ]
    for species, rate in report["apcer"].items():
        lines.append(f"| {species} | {percent(rate)} | {percent(report['apnrr'][species])} |")
    refused = percent(report["bonafide_refused"])
    # Recomputed (not the JSON's worst_species) so that reports written before
    # ties were broken by the upper bound read the same way.
    apcer = report["apcer"]
    worst = max(apcer, key=lambda k: (apcer[k]["rate"], apcer[k]["ci95"][1]))
    high = 100 * apcer[worst]["ci95"][1]
    lines += [
        "",
        f"Genuine users refused in all (rejected or never processed): {refused}. "
        f"Worst species: {worst} (APCER {100 * apcer[worst]['rate']:.1f} %), upper end of "
        f"its 95 % interval {high:.1f} %. "
        f"{_duration(report)}",
    ]
    return "\n".join(lines)


def _duration(report: Mapping[str, Any]) -> str:
    """How long the run took, per session too; a resumed run timed only the
    sessions it ran itself."""
    total = report["bonafide_refused"]["presentations"] + sum(
        r["presentations"] for r in report["apnrr"].values()
    )
    resumed = int(report.get("resumed_sessions", 0))
    ran = total - resumed
    seconds = float(report["seconds"])
    pace = f"{60 * ran / seconds:.1f} sessions a minute" if seconds > 0 and ran else "no pace"
    if resumed:
        return (
            f"{total} sessions; the {ran} run after resuming took {seconds:.0f} s on this "
            f"machine ({pace}; {resumed} were read back from the interrupted run)."
        )
    return f"{total} sessions in {seconds:.0f} s on this machine ({pace})."


def condition_table(report: Mapping[str, Any], source: str) -> str:
    """BPCER per condition bin, so a failure mode is visible."""
    lines = [
        f"BPCER by condition — {report['policy']}, simulated — `{source}`",
        "",
        "| condition | bin | BPCER (processed bona fide) |",
        "|---|---|---|",
    ]
    for condition, bins in report.get("bpcer_by_condition", {}).items():
        for name, rate in bins.items():
            lines.append(f"| {condition} | {name} | {percent(rate)} |")
    return "\n".join(lines)


def render(reports: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Every report's tables, in order (``source`` is the JSON's path as given)."""
    parts = []
    for source, report in reports:
        parts.append(report_table(report, source))
        if report.get("bpcer_by_condition"):
            parts.append(condition_table(report, source))
    return "\n\n".join(parts) + "\n"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with the lines between the ``name`` markers replaced by ``body``."""
    begin, end = BEGIN.format(name=name), END.format(name=name)
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise BadInputError(f"no '{begin}' … '{end}' markers")
    return pattern.sub(lambda _m: f"{begin}\n{body}{end}", text, count=1)


def section(text: str, name: str) -> str | None:
    """The current body between the ``name`` markers (None without markers)."""
    begin, end = BEGIN.format(name=name), END.format(name=name)
    match = re.search(re.escape(begin) + r"\n(.*?)" + re.escape(end), text, re.DOTALL)
    return match.group(1) if match else None
