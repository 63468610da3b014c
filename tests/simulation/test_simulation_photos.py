"""Source photo sets: reading, the identity split, the photo gate."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from support import face_path
from veronica.errors import BadInputError
from veronica.simulation.photos import (
    SourcePhoto,
    Split,
    choose_split,
    gate_photos,
    identity_split,
    link_by_identity,
    read_identity_list,
    read_photo_set,
)


def make_set(root: Path) -> Path:
    for person, n in (("biden", 1), ("biden", 2), ("obama", 1)):
        folder = root / "set" / person
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(face_path(person, n), folder / f"{n}.jpg")
    blank = root / "set" / "nobody"
    blank.mkdir()
    cv2.imwrite(str(blank / "1.jpg"), np.full((200, 200, 3), 128, np.uint8))
    return root / "set"


def test_read_folder_and_csv(tmp_path: Path) -> None:
    folder = make_set(tmp_path)
    photos = read_photo_set(folder)
    assert [p.identity for p in photos] == ["biden", "biden", "nobody", "obama"]
    table = tmp_path / "ids.csv"
    table.write_text("path,identity,source\nset/biden/1.jpg,Joe Biden,x\nset/obama/1.jpg,obama,x\n")
    from_csv = read_photo_set(table)
    assert from_csv == [
        SourcePhoto("Joe Biden", tmp_path / "set/biden/1.jpg"),
        SourcePhoto("obama", tmp_path / "set/obama/1.jpg"),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("file,name\n")
    with pytest.raises(BadInputError, match="path and identity"):
        read_photo_set(bad)
    with pytest.raises(BadInputError, match="one subfolder per identity"):
        read_photo_set(tmp_path / "missing")


def test_split_is_fixed_and_keeps_fixtures_for_calibration() -> None:
    assert identity_split("biden") is Split.CALIBRATION  # a fixture identity
    names = [f"Person_{i}" for i in range(400)]
    sides = [identity_split(n) for n in names]
    assert sides == [identity_split(n) for n in names]  # a rule, not a draw
    assert 150 <= sides.count(Split.REPORT) <= 250  # about half each
    # The same person spelled two ways (LFW and people/) lands on the same side.
    assert identity_split("John_Simm") is identity_split("john simm")
    photos = [SourcePhoto(n, Path(f"{n}.jpg")) for n in names]
    report = choose_split(photos, Split.REPORT)
    calibration = choose_split(photos, Split.CALIBRATION)
    assert len(report) + len(calibration) == 400
    assert not {p.identity for p in report} & {p.identity for p in calibration}


def test_gate_keeps_usable_photos_and_lists_the_rest(tmp_path: Path) -> None:
    gated = gate_photos(read_photo_set(make_set(tmp_path)), Split.ALL)
    assert {p.identity for p in gated.usable} <= {"biden", "obama"}
    assert gated.identities == 2
    refused = dict(gated.rejected)
    assert refused[str(tmp_path / "set/nobody/1.jpg")] == "no face"
    assert gated.to_json_dict()["usable_photos"] == len(gated.usable)
    capped = gate_photos(read_photo_set(make_set(tmp_path / "again")), Split.ALL, max_photos=2)
    assert len(capped.usable) == 2 and capped.identities == 2  # spread over identities first
    links = link_by_identity(capped.usable, tmp_path / "links")
    assert {p.parent.name for p in links} == {"biden", "obama"}
    assert all(p.resolve().is_file() for p in links)


def test_identity_lists_are_normalised_and_take_comments(tmp_path: Path) -> None:
    listed = tmp_path / "used.txt"
    listed.write_text(
        "# identities an earlier report used\nAaron_Eckhart\n\n  Mary-Jo Smith  # x\n"
    )
    assert read_identity_list(listed) == {"aaron_eckhart", "mary_jo_smith"}
    with pytest.raises(BadInputError, match="cannot read"):
        read_identity_list(tmp_path / "missing.txt")
