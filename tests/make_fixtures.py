#!/usr/bin/env python3
"""Regenerate the small, permissively licensed image fixtures in ``tests/data/``.

The test suite must pass on a fresh checkout without the large, read-only
development data folder, so a handful of real photos are derived from it once
and committed (a few hundred kB in total).  This script is the single source
of truth for how every file in ``tests/data/`` was made; it is deterministic
(fixed inputs, fixed crop boxes, fixed parameters, no randomness), so running
it again with the same library versions gives byte-identical files.

Only photos from permissively licensed upstream projects are used (see
``LICENCES``): face_recognition examples (MIT), face-api.js examples (MIT),
openface examples (Apache-2.0) and dlib ``examples/johns`` (Boost).  LFW, NUAA
and every other research-only set in the shared folder are refused.

Usage (from the repository root, with the project venv)::

    .venv/bin/python tests/make_fixtures.py
    .venv/bin/python tests/make_fixtures.py --shared /path/to/shared/data

The shared data folder is taken from ``--shared``, else the environment
variable ``VERONICA_SHARED_DATA``, else ``../shared/data`` relative to the
repository root.

Outputs (all under ``tests/data/``):

* ``faces/<person>/<n>.jpg``  -- 4 people x 2-3 photos, JPEG q90, longest side <= 640
* ``multi/two_faces.jpg``     -- a real photo with two faces
* ``no_face.jpg``             -- a face-free background crop of a real photo
* ``tiny_face.jpg``           -- a real photo shrunk so the face is ~36 px wide, on a 640x480 canvas
* ``dark.jpg``                -- a face photo scaled to mean brightness ~15/255
* ``blurred.jpg``             -- a face photo with a strong Gaussian blur (sigma 8 px)
* ``truncated.jpg``           -- the first 60 % of the bytes of a valid JPEG
* ``rotated_exif.jpg``        -- pixels stored sideways + EXIF Orientation 6
* ``portrait.png`` / ``portrait.webp`` -- one face photo (a person NOT in faces/) as PNG and WebP
* ``manifest.json``           -- machine-readable provenance and measured facts
* ``README.md``               -- the same information as a table, for humans

"Measured facts" come from MediaPipe's legacy face mesh, configured exactly as
the product uses it: ``FaceMesh(static_image_mode=True, max_num_faces=5,
refine_landmarks=True)`` fed RGB.  The face width is the horizontal extent
(max x - min x) of the 478 mesh landmarks in pixels of the stored image; the
roll is the angle of the line from landmark 33 to landmark 263 (outer eye
corners), 0 deg = upright.

No decompression-bomb fixture is made here on purpose: tests generate it at
run time.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import cv2
import mediapipe as mp
import numpy as np
import PIL
from PIL import Image, ImageFilter, ImageOps

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "tests" / "data"

MAX_SIDE = 640  # longest side of every stored photo
JPEG_QUALITY = 90
MIN_FACE_WIDTH = 110  # faces/ photos must keep a face at least this wide (target ~120+)

# --------------------------------------------------------------------------
# Licences.  Keys are the `source` column of people/identities.csv.
# --------------------------------------------------------------------------
LICENCES = {
    "face_recognition": {
        "licence": "MIT",
        "holder": "Adam Geitgey",
        "project": "face_recognition",
        "url": "https://github.com/ageitgey/face_recognition",
    },
    "face-api.js": {
        "licence": "MIT",
        "holder": "Vincent Mühler",
        "project": "face-api.js",
        "url": "https://github.com/justadudewhohacks/face-api.js",
    },
    "openface": {
        "licence": "Apache-2.0",
        "holder": "Carnegie Mellon University",
        "project": "OpenFace",
        "url": "https://github.com/cmusatyalab/openface",
    },
    "dlib": {
        "licence": "BSL-1.0 (Boost)",
        "holder": "Davis E. King",
        "project": "dlib",
        "url": "https://github.com/davisking/dlib",
    },
}
# people/multi/ is not listed in identities.csv; the shared README marks it MIT
# and its files are the face_recognition example images of the same names.
MULTI_SOURCE = "face_recognition"
FORBIDDEN_PREFIXES = ("lfw", "spoof")


# Where the shared copy sits upstream (the shared folder mirrors the upstream
# layout: face_recognition/X -> examples/X, face_recognition/test_images/X ->
# tests/test_images/X, openface_examples/X -> images/examples/X).
def upstream_path(rel: str) -> str:
    if rel.startswith("face_recognition/test_images/"):
        return "tests/test_images/" + rel.split("/", 2)[2]
    if rel.startswith("face_recognition/"):
        return "examples/" + rel.split("/", 1)[1]
    if rel.startswith("multi/"):
        return "examples/" + rel.split("/", 1)[1]
    if rel.startswith("openface_examples/"):
        return "images/examples/" + rel.split("/", 1)[1]
    return rel  # layout not mapped (not used by the current selection)


# --------------------------------------------------------------------------
# What to build.  Paths are relative to <shared>/people/.  Crop boxes are
# (left, top, right, bottom) in the EXIF-upright source image and are only used
# where a plain downscale to 640 px would leave the face narrower than ~120 px.
# --------------------------------------------------------------------------
FACES = [
    # person, n, source, crop box
    ("obama", 1, "face_recognition/obama.jpg", None),
    ("obama", 2, "face_recognition/knn_examples/train/obama/obama2.jpg", None),
    ("obama", 3, "face_recognition/test_images/obama3.jpg", (295, 0, 1255, 1280)),
    ("biden", 1, "face_recognition/knn_examples/train/biden/biden.jpg", (5, 0, 965, 1280)),
    ("biden", 2, "face_recognition/knn_examples/train/biden/biden2.jpg", None),
    ("alex_lacamoire", 1, "face_recognition/knn_examples/train/alex_lacamoire/img1.jpg", None),
    (
        "alex_lacamoire",
        2,
        "face_recognition/knn_examples/test/alex_lacamoire1.jpg",
        (150, 64, 1430, 1024),
    ),
    ("alex_lacamoire", 3, "face_recognition/alex-lacamoire.png", None),
    ("rose_leslie", 1, "face_recognition/knn_examples/train/rose_leslie/img1.jpg", None),
    ("rose_leslie", 2, "face_recognition/knn_examples/train/rose_leslie/img2.jpg", None),
]

MULTI_SRC = "multi/two_people.jpg"

NO_FACE_SRC = "face_recognition/test_images/obama3.jpg"
NO_FACE_BOX = (0, 0, 560, 420)  # chandelier and curtains, left of the head

TINY_SRC = "face_recognition/knn_examples/train/rose_leslie/img1.jpg"
TINY_BG_BOX = (0, 0, 400, 300)  # face-free hallway, top-left of the same photo
TINY_TARGET_FACE_PX = 36
TINY_CANVAS = (640, 480)
TINY_POS = (300, 200)  # top-left corner of the pasted photo on the canvas

DARK_FROM = "faces/obama/2.jpg"  # derived from the stored fixture
DARK_TARGET_MEAN = 15.0

BLUR_FROM = "faces/biden/2.jpg"
BLUR_SIGMA = 8.0

TRUNC_FROM = "faces/obama/1.jpg"
TRUNC_FRACTION = 0.60

ROT_FROM = "faces/alex_lacamoire/1.jpg"

PORTRAIT_SRC = "openface_examples/lennon-2.jpg"
PORTRAIT_BOX = (157, 180, 1057, 1080)
PORTRAIT_SIDE = 320


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
class Shared:
    """Read access to <shared>/people with the licence check built in."""

    def __init__(self, root: Path):
        self.root = root
        self.people = root / "people"
        csv_path = self.people / "identities.csv"
        if not csv_path.is_file():
            sys.exit(
                f"error: {csv_path} not found. Point --shared or VERONICA_SHARED_DATA "
                "at the shared development data folder."
            )
        with csv_path.open(newline="") as fh:
            self.rows = {r["path"]: r for r in csv.DictReader(fh)}

    def source_of(self, rel: str) -> str:
        if rel.split("/", 1)[0].lower().startswith(FORBIDDEN_PREFIXES):
            raise SystemExit(f"refusing research-only source: {rel}")
        if rel.startswith("multi/"):
            return MULTI_SOURCE
        row = self.rows.get(rel)
        if row is None:
            raise SystemExit(f"{rel} is not listed in people/identities.csv")
        if row["source"] not in LICENCES:
            raise SystemExit(f"{rel}: source {row['source']!r} is not permissively licensed")
        return row["source"]

    def identity_of(self, rel: str) -> str | None:
        row = self.rows.get(rel)
        return row["identity"] if row else None

    def open_rgb(self, rel: str) -> Image.Image:
        self.source_of(rel)  # licence gate
        with Image.open(self.people / rel) as f:
            im: Image.Image = ImageOps.exif_transpose(f)
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im)
            return im.convert("RGB")

    def sha256(self, rel: str) -> str:
        return hashlib.sha256((self.people / rel).read_bytes()).hexdigest()

    def origin(self, rel: str) -> dict[str, Any]:
        src = self.source_of(rel)
        lic = LICENCES[src]
        return {
            "shared_path": f"people/{rel}",
            "shared_sha256": self.sha256(rel),
            "upstream_project": lic["project"],
            "upstream_url": lic["url"],
            "upstream_path": upstream_path(rel),
            "licence": lic["licence"],
            "copyright_holder": lic["holder"],
        }


def downscale(im: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    w, h = im.size
    s = max_side / max(w, h)
    if s >= 1:
        return im.copy()
    return im.resize((round(w * s), round(h * s)), Image.Resampling.LANCZOS)


def jpeg_bytes(im: Image.Image, quality: int = JPEG_QUALITY, exif: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    kw = {"quality": quality, "optimize": False, "progressive": False, "subsampling": "4:2:0"}
    if exif is not None:
        kw["exif"] = exif
    im.save(buf, "JPEG", **kw)
    return buf.getvalue()


def write(rel: str, data: bytes) -> Path:
    path = OUT_DIR / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def load_fixture(rel: str) -> Image.Image:
    with Image.open(OUT_DIR / rel) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


class Mesh:
    def __init__(self) -> None:
        self.fm = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=5, refine_landmarks=True
        )

    def measure(self, im: Image.Image | np.ndarray[Any, Any]) -> dict[str, Any]:
        rgb = np.ascontiguousarray(
            np.asarray(im.convert("RGB") if isinstance(im, Image.Image) else im)
        )
        h, w = rgb.shape[:2]
        res = self.fm.process(rgb)
        faces: list[dict[str, Any]] = []
        for lm in res.multi_face_landmarks or []:
            xs = np.array([p.x for p in lm.landmark]) * w
            ys = np.array([p.y for p in lm.landmark]) * h
            roll = math.degrees(math.atan2(ys[263] - ys[33], xs[263] - xs[33]))
            faces.append(
                {
                    "bbox": [
                        round(float(xs.min())),
                        round(float(ys.min())),
                        round(float(xs.max())),
                        round(float(ys.max())),
                    ],
                    "width_px": round(float(xs.max() - xs.min())),
                    "roll_deg": round(roll, 1),
                }
            )
        faces.sort(key=lambda f: int(f["bbox"][0]))
        return {
            "faces_found": len(faces),
            "face_width_px": [f["width_px"] for f in faces],
            "faces": faces,
        }


def file_facts(rel: str) -> dict[str, Any]:
    path = OUT_DIR / rel
    data = path.read_bytes()
    facts = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    try:
        with Image.open(path) as im:
            facts["format"] = im.format
            facts["stored_size"] = list(im.size)
    except Exception as exc:  # truncated.jpg may fail even here
        facts["open_error"] = f"{type(exc).__name__}: {exc}"
    return facts


# --------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------
def build(shared: Shared) -> dict[str, Any]:
    mesh = Mesh()
    manifest: dict[str, Any] = {
        "generator": "tests/make_fixtures.py",
        "versions": {
            "mediapipe": mp.__version__,
            "pillow": PIL.__version__,
            "numpy": np.__version__,
            "opencv": cv2.__version__,
        },
        "face_mesh": (
            "mediapipe.solutions.face_mesh.FaceMesh(static_image_mode=True, "
            "max_num_faces=5, refine_landmarks=True), RGB input"
        ),
        "face_width_definition": "max(x)-min(x) of the 478 mesh landmarks, px of the stored image",
        "people": {},
        "faces": [],
        "fixtures": {},
    }

    # 1. faces/<person>/<n>.jpg ------------------------------------------------
    for person, n, rel, box in FACES:
        if shared.identity_of(rel) != person:
            raise SystemExit(
                f"{rel}: identities.csv says {shared.identity_of(rel)!r}, expected {person!r}"
            )
        im = shared.open_rgb(rel)
        src_size = list(im.size)
        if box:
            im = im.crop(box)
        im = downscale(im)
        out = f"faces/{person}/{n}.jpg"
        write(out, jpeg_bytes(im))
        m = mesh.measure(load_fixture(out))
        if m["faces_found"] >= 1 and min(m["face_width_px"]) < MIN_FACE_WIDTH:
            raise SystemExit(f"{out}: face only {m['face_width_px']} px wide")
        steps = []
        if box:
            steps.append(f"crop {box} of the {src_size[0]}x{src_size[1]} source")
        steps.append(
            f"downscale to {im.size[0]}x{im.size[1]} (Lanczos), "
            f"JPEG q{JPEG_QUALITY}, metadata stripped"
        )
        entry = {
            "file": out,
            "person": person,
            "n": n,
            **m,
            **file_facts(out),
            "origin": shared.origin(rel),
            "processing": "; ".join(steps),
        }
        manifest["faces"].append(entry)
        manifest["people"].setdefault(person, []).append(out)

    fx = manifest["fixtures"]

    # 2. multi/two_faces.jpg -------------------------------------------------------
    im = downscale(shared.open_rgb(MULTI_SRC))
    write("multi/two_faces.jpg", jpeg_bytes(im))
    fx["multi/two_faces.jpg"] = {
        "kind": "multi_face",
        **mesh.measure(load_fixture("multi/two_faces.jpg")),
        **file_facts("multi/two_faces.jpg"),
        "origin": shared.origin(MULTI_SRC),
        "people_in_photo": ["obama", "biden"],
        "processing": f"downscale to {im.size[0]}x{im.size[1]} (Lanczos), JPEG q{JPEG_QUALITY}. "
        "The two halves are visually the same photos as the sources of faces/obama/3.jpg (left) "
        "and faces/biden/1.jpg (right), so gallery matches are expected.",
    }

    # 3. no_face.jpg -----------------------------------------------------------------
    im = shared.open_rgb(NO_FACE_SRC).crop(NO_FACE_BOX)
    write("no_face.jpg", jpeg_bytes(im))
    fx["no_face.jpg"] = {
        "kind": "no_face",
        **mesh.measure(load_fixture("no_face.jpg")),
        **file_facts("no_face.jpg"),
        "origin": shared.origin(NO_FACE_SRC),
        "processing": (
            f"crop {NO_FACE_BOX} (chandelier/curtains, no person) at native resolution, "
            f"JPEG q{JPEG_QUALITY}"
        ),
    }

    # 4. tiny_face.jpg -------------------------------------------------------------------
    src = shared.open_rgb(TINY_SRC)
    src_face = mesh.measure(src)
    if src_face["faces_found"] != 1:
        raise SystemExit(f"{TINY_SRC}: expected one face in the source")
    scale = TINY_TARGET_FACE_PX / src_face["face_width_px"][0]
    small = src.resize(
        (round(src.width * scale), round(src.height * scale)), Image.Resampling.LANCZOS
    )
    bg = (
        src.crop(TINY_BG_BOX)
        .resize(TINY_CANVAS, Image.Resampling.BICUBIC)
        .filter(ImageFilter.GaussianBlur(6))
    )
    # feathered mask so the pasted photo blends into the (same-room) background
    mask = Image.new("L", small.size, 0)
    mask.paste(255, (4, 4, small.width - 4, small.height - 4))
    mask = mask.filter(ImageFilter.GaussianBlur(2))
    canvas = bg.copy()
    canvas.paste(small, TINY_POS, mask)
    write("tiny_face.jpg", jpeg_bytes(canvas))
    expected_w = round(src_face["face_width_px"][0] * scale)
    eb = src_face["faces"][0]["bbox"]
    expected_bbox = [
        round(v * scale) + off for v, off in zip(eb, (TINY_POS[0], TINY_POS[1]) * 2, strict=True)
    ]
    fx["tiny_face.jpg"] = {
        "kind": "tiny_face",
        **mesh.measure(load_fixture("tiny_face.jpg")),
        "true_face_width_px": expected_w,
        "true_face_bbox": expected_bbox,
        **file_facts("tiny_face.jpg"),
        "origin": shared.origin(TINY_SRC),
        "processing": (
            f"whole {src.width}x{src.height} photo scaled by {scale:.4f} to "
            f"{small.width}x{small.height} (face {src_face['face_width_px'][0]} px -> "
            f"{expected_w} px), pasted with a 4 px feathered edge at {TINY_POS} on a "
            f"{TINY_CANVAS[0]}x{TINY_CANVAS[1]} canvas made from the face-free crop "
            f"{TINY_BG_BOX} of the same photo, "
            f"enlarged (bicubic) and Gaussian-blurred (radius 6); JPEG q{JPEG_QUALITY}"
        ),
    }

    # 5. dark.jpg -------------------------------------------------------------------------
    base = np.asarray(load_fixture(DARK_FROM)).astype(np.float64)
    k = DARK_TARGET_MEAN / base.mean()
    dark = np.clip(np.round(base * k), 0, 255).astype(np.uint8)
    write("dark.jpg", jpeg_bytes(Image.fromarray(dark)))
    stored = np.asarray(load_fixture("dark.jpg"))
    fx["dark.jpg"] = {
        "kind": "dark",
        **mesh.measure(stored),
        "mean_brightness": round(float(stored.mean()), 2),
        "mean_brightness_before": round(float(base.mean()), 2),
        **file_facts("dark.jpg"),
        "origin": shared.origin(FACES[1][2]),
        "derived_from": DARK_FROM,
        "processing": (
            f"{DARK_FROM} with every RGB value multiplied by {k:.4f} (linear exposure cut "
            f"to mean ~{DARK_TARGET_MEAN:g}/255), JPEG q{JPEG_QUALITY}"
        ),
    }

    # 6. blurred.jpg ----------------------------------------------------------------------
    base = np.asarray(load_fixture(BLUR_FROM))
    blur = cv2.GaussianBlur(base, (0, 0), BLUR_SIGMA)
    write("blurred.jpg", jpeg_bytes(Image.fromarray(blur)))
    stored = np.asarray(load_fixture("blurred.jpg"))

    def lapvar(a: np.ndarray[Any, Any]) -> float:
        return round(float(cv2.Laplacian(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()), 2)

    fx["blurred.jpg"] = {
        "kind": "blurred",
        **mesh.measure(stored),
        "laplacian_variance": lapvar(stored),
        "laplacian_variance_before": lapvar(base),
        **file_facts("blurred.jpg"),
        "origin": shared.origin(FACES[4][2]),
        "derived_from": BLUR_FROM,
        "processing": (
            f"{BLUR_FROM} with cv2.GaussianBlur sigma={BLUR_SIGMA:g} px (kernel from sigma), "
            f"JPEG q{JPEG_QUALITY}"
        ),
    }

    # 7. truncated.jpg --------------------------------------------------------------------
    full = (OUT_DIR / TRUNC_FROM).read_bytes()
    cut = full[: int(len(full) * TRUNC_FRACTION)]
    write("truncated.jpg", cut)
    behaviour = {}
    try:
        with Image.open(OUT_DIR / "truncated.jpg") as im:
            im.load()
        behaviour["pillow_load"] = "ok (unexpected)"
    except Exception as exc:
        behaviour["pillow_load"] = f"{type(exc).__name__}: {exc}"
    dec = cv2.imdecode(np.frombuffer(cut, np.uint8), cv2.IMREAD_COLOR)
    behaviour["cv2_imdecode"] = (
        "None"
        if dec is None
        else f"returns a {dec.shape[1]}x{dec.shape[0]} image (missing rows filled)"
    )
    fx["truncated.jpg"] = {
        "kind": "truncated",
        "faces_found": None,
        "original_bytes": len(full),
        "decode_behaviour": behaviour,
        **file_facts("truncated.jpg"),
        "origin": shared.origin(FACES[0][2]),
        "derived_from": TRUNC_FROM,
        "processing": (
            f"first {int(TRUNC_FRACTION * 100)} % ({len(cut)} of {len(full)}) bytes of "
            f"{TRUNC_FROM}; no EOI marker"
        ),
    }

    # 8. rotated_exif.jpg -----------------------------------------------------------------
    upright = load_fixture(ROT_FROM)
    # EXIF Orientation 6 = "rotate 90 deg clockwise to display", so store the
    # pixels rotated 90 deg counter-clockwise.
    stored_px = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    write("rotated_exif.jpg", jpeg_bytes(stored_px, exif=exif.tobytes()))
    with Image.open(OUT_DIR / "rotated_exif.jpg") as im:
        orient = im.getexif().get(0x0112)
        raw = im.convert("RGB")
        fixed = ImageOps.exif_transpose(im).convert("RGB")
    m_fixed = mesh.measure(fixed)
    m_raw = mesh.measure(raw)
    cv_read = cv2.imread(str(OUT_DIR / "rotated_exif.jpg"), cv2.IMREAD_COLOR)
    cv_dec = cv2.imdecode(
        np.frombuffer((OUT_DIR / "rotated_exif.jpg").read_bytes(), np.uint8), cv2.IMREAD_COLOR
    )
    fx["rotated_exif.jpg"] = {
        "kind": "exif_rotated",
        **m_fixed,
        "exif_orientation": orient,
        "raw_size": list(raw.size),
        "upright_size": list(fixed.size),
        "raw_pixels_ignoring_exif": m_raw,
        "cv2_imread_size": [cv_read.shape[1], cv_read.shape[0]],
        "cv2_imdecode_size": [cv_dec.shape[1], cv_dec.shape[0]],
        **file_facts("rotated_exif.jpg"),
        "origin": shared.origin(FACES[5][2]),
        "derived_from": ROT_FROM,
        "processing": (
            f"{ROT_FROM} pixels rotated 90 deg counter-clockwise (PIL Transpose.ROTATE_90) "
            f"and saved with EXIF Orientation=6, JPEG q{JPEG_QUALITY}"
        ),
    }

    # 9. portrait.png / portrait.webp -----------------------------------------------------
    im = (
        shared.open_rgb(PORTRAIT_SRC)
        .crop(PORTRAIT_BOX)
        .resize((PORTRAIT_SIDE, PORTRAIT_SIDE), Image.Resampling.LANCZOS)
    )
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    write("portrait.png", buf.getvalue())
    buf = io.BytesIO()
    im.save(buf, "WEBP", quality=85, method=6)
    write("portrait.webp", buf.getvalue())
    for name in ("portrait.png", "portrait.webp"):
        fx[name] = {
            "kind": "format_" + name.rsplit(".", 1)[1],
            "person": shared.identity_of(PORTRAIT_SRC),
            "person_in_faces_gallery": False,
            **mesh.measure(load_fixture(name)),
            **file_facts(name),
            "origin": shared.origin(PORTRAIT_SRC),
            "processing": f"crop {PORTRAIT_BOX} of the 1200x1200 source, resize to "
            f"{PORTRAIT_SIDE}x{PORTRAIT_SIDE} (Lanczos), "
            + (
                "PNG (optimize=True, RGB)"
                if name.endswith("png")
                else "WebP lossy quality 85, method 6"
            ),
        }
    return manifest


# --------------------------------------------------------------------------
# README
# --------------------------------------------------------------------------
README_HEAD = """\
# Test image fixtures

Small set of **real** face photos for the core tests, so that they pass without the
shared development data folder. Everything here is regenerated by
[`tests/make_fixtures.py`](../make_fixtures.py) from `../shared/data`
(or `$VERONICA_SHARED_DATA`); do not edit the files by hand. This README and
`manifest.json` are written by that script.

Only photos from permissively licensed open-source example folders are used:
**no LFW, no NUAA, nothing research-only**. The licences are those of the upstream
repositories that ship the photos (face_recognition: MIT, Copyright (c) Adam Geitgey;
OpenFace: Apache-2.0, Copyright Carnegie Mellon University). The people shown are public
figures photographed by third parties; the upstream repositories redistribute the pictures
as examples under their project licence, and we rely on that and on keeping the set small
and test-only.
"""

README_TAIL = """\
Not here on purpose: a decompression-bomb image (tests build it at run time).

## manifest.json

`people` maps person id -> list of face photos. `faces[]` has, per photo, `person`,
`faces_found`, `face_width_px`, mesh `faces[].bbox` / `roll_deg`, `bytes`, `sha256` and
`origin` (shared path and its sha256, upstream project/path, licence, holder).
`fixtures{}` has the same for the special files. Upstream paths are inferred from the
shared folder layout, which mirrors the upstream repositories.

## Regenerate

```sh
.venv/bin/python tests/make_fixtures.py     # or: --shared /path/to/shared/data
```

Output is deterministic for the same Pillow / OpenCV / mediapipe versions.
"""


def _faces_str(d: dict[str, Any]) -> str:
    if d.get("faces_found") is None:
        return "n/a"
    w = d.get("face_width_px") or []
    return f"{d['faces_found']}" + (f" (width {', '.join(map(str, w))} px)" if w else "")


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} kB"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _origin_cells(o: dict[str, Any]) -> list[str]:
    return [
        f"`{o['shared_path']}`",
        f"{o['upstream_project']} `{o['upstream_path']}`",
        f"{o['licence']} ({o['copyright_holder']})",
    ]


def _size_cell(d: dict[str, Any]) -> str:
    dims = d.get("stored_size")
    return (f"{dims[0]}x{dims[1]}, " if dims else "") + _kb(d["bytes"])


def _measured(d: dict[str, Any]) -> str:
    meas = []
    kind = d["kind"]
    if kind == "truncated":
        beh = d["decode_behaviour"]
        meas.append(f"{d['bytes']} of {d['original_bytes']} bytes")
        meas.append(f"Pillow `load()`: {beh['pillow_load']}")
        meas.append(f"`cv2.imdecode`: {beh['cv2_imdecode']}")
    else:
        meas.append(f"faces found: {_faces_str(d)}")
    if kind == "tiny_face":
        meas.append(
            f"true face width {d['true_face_width_px']} px (source mesh width x scale), "
            f"bbox {d['true_face_bbox']}"
        )
    if kind == "dark":
        meas.append(f"mean brightness {d['mean_brightness']} (was {d['mean_brightness_before']})")
    if kind == "blurred":
        meas.append(
            f"Laplacian variance {d['laplacian_variance']} (was {d['laplacian_variance_before']})"
        )
    if kind == "exif_rotated":
        raw = d["raw_pixels_ignoring_exif"]
        raw_w, raw_h = d["raw_size"]
        up_w, up_h = d["upright_size"]
        roll = d["faces"][0]["roll_deg"] if d["faces"] else "n/a"
        raw_roll = ", ".join(str(f["roll_deg"]) for f in raw["faces"]) or "n/a"
        rd_w, rd_h = d["cv2_imread_size"]
        dc_w, dc_h = d["cv2_imdecode_size"]
        meas.append(
            f"EXIF Orientation {d['exif_orientation']}; "
            f"raw {raw_w}x{raw_h} -> upright {up_w}x{up_h}"
        )
        meas.append(f"after `exif_transpose`: roll {roll} deg")
        meas.append(f"raw pixels: faces found {raw['faces_found']}, roll {raw_roll} deg (sideways)")
        meas.append(
            f"OpenCV applies the tag itself: `cv2.imread` gives {rd_w}x{rd_h}, "
            f"`cv2.imdecode` gives {dc_w}x{dc_h}"
        )
    if kind.startswith("format_"):
        meas.append(f"person `{d['person']}` (not in `faces/`, usable as an unknown probe)")
    if kind == "multi_face":
        meas.append("people: " + ", ".join(d["people_in_photo"]) + " (left to right)")
    return "; ".join(meas)


def readme(manifest: dict[str, Any]) -> str:
    v = manifest["versions"]
    lines = [README_HEAD]
    lines.append(
        f"Measured with mediapipe {v['mediapipe']} legacy face mesh\n"
        f"(`{manifest['face_mesh'].split(', RGB')[0]}`, RGB input).\n"
        f"*Face width* = {manifest['face_width_definition']}.\n"
        f"Pillow {v['pillow']}, OpenCV {v['opencv']}, numpy {v['numpy']}.\n"
    )
    lines.append("## Face photos (`faces/<person>/<n>.jpg`)\n")
    people = ", ".join(f"`{p}` ({len(v)})" for p, v in manifest["people"].items())
    lines.append(
        f"Same person = same folder; different folders = different people. People: {people}.\n"
    )
    head = ["file", "size", "source in shared data", "upstream", "licence"]
    lines.append(_row(*head, "processing", "faces found (mesh)"))
    lines.append(_row(*["---"] * 7))
    for e in manifest["faces"]:
        lines.append(
            _row(
                f"`{e['file']}`",
                _size_cell(e),
                *_origin_cells(e["origin"]),
                e["processing"],
                _faces_str(e),
            )
        )
    lines.append("")
    lines.append("## Special-purpose fixtures\n")
    lines.append(_row(*head, "what was done", "measured"))
    lines.append(_row(*["---"] * 7))
    for name, d in manifest["fixtures"].items():
        lines.append(
            _row(
                f"`{name}`",
                _size_cell(d),
                *_origin_cells(d["origin"]),
                d["processing"],
                _measured(d),
            )
        )
    lines.append("")
    lines.append(README_TAIL)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--shared",
        type=Path,
        default=None,
        help="shared data folder (default: $VERONICA_SHARED_DATA or ../shared/data)",
    )
    args = ap.parse_args(argv)
    root = args.shared or Path(
        os.environ.get("VERONICA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")
    )
    if not root.is_absolute():
        root = (REPO_ROOT / root).resolve()
    shared = Shared(root)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    manifest = build(shared)
    (OUT_DIR / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    )
    (OUT_DIR / "README.md").write_text(readme(manifest))
    total = sum(p.stat().st_size for p in OUT_DIR.rglob("*") if p.is_file())
    out = [f"wrote {OUT_DIR} ({total / 1024:.0f} kB)"]
    for e in manifest["faces"]:
        out.append(f"  {e['file']:32s} faces={e['faces_found']} width={e['face_width_px']}")
    for k, d in manifest["fixtures"].items():
        out.append(f"  {k:32s} faces={d.get('faces_found')} width={d.get('face_width_px')}")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
