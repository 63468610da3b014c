"""The committed MobileFaceNet calibration table against a re-measurement on a
bounded subset of LFW View 1 (300 images, ~15 s): if the pipeline's embeddings
drift, or the table goes stale, the two stop agreeing."""

from __future__ import annotations

from pathlib import Path

import pytest

from veronica.evaluation.fmr import list_identity_images, run_fmr
from veronica.pipeline.engine import FaceEngine
from veronica.recognition.operating_point import load_table

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

SUBSET = 300
CHECKED = (0.30, 0.35, 0.40, 0.45, 0.50, 0.55)


def overlaps(a: tuple[float, float] | list[float], b: tuple[float, float] | list[float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def test_committed_table_agrees_with_a_remeasured_subset(
    face_engine: FaceEngine, shared_data: Path
) -> None:
    table = load_table(face_engine.model_id)
    root = shared_data / "lfw-view1"
    images = list_identity_images(root)
    assert table.provenance["dataset"]["images"] == len(images)
    subset = run_fmr(face_engine, root, "mobilefacenet", "subset", images=images[:SUBSET])
    rows = {row["threshold"]: row for row in subset.to_json_dict()["rows"]}
    for threshold in CHECKED:
        full, part = table.row_at(threshold), rows[threshold]
        # The subset's pairs are some of the table's: it cannot count more errors.
        assert part["false_matches"] <= full.false_matches
        assert part["false_non_matches"] <= full.false_non_matches
        assert overlaps(part["fmr_ci95"], full.fmr_ci), (threshold, part["fmr_ci95"], full.fmr_ci)
        assert overlaps(part["fnmr_ci95"], full.fnmr_ci), (threshold, part, full.fnmr_ci)
