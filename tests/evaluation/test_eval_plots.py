"""ROC/DET and PAD DET plots: valid PNG files, made without pyplot."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import veronica
from veronica.errors import BadInputError
from veronica.evaluation.plots import _probit, plot_pad_det, plot_roc_det

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which always follows the signature."""
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE
    assert header[12:16] == b"IHDR"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def _gaussian_pairs(seed: int = 1) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    rng = np.random.default_rng(seed)
    labels = np.repeat([True, False], 500)
    scores = np.where(labels, 0.6, 0.2) + 0.15 * rng.standard_normal(labels.size)
    scores[[0, 700]] = np.nan  # a no-face pair in each class
    return scores, labels


def test_plot_roc_det_writes_a_two_panel_png(tmp_path: Path) -> None:
    scores, labels = _gaussian_pairs()
    path = tmp_path / "roc_det.png"

    plot_roc_det(scores, labels, path, "synthetic")

    assert path.stat().st_size > 10_000
    width, height = _png_size(path)
    assert width > 1.8 * height  # two panels side by side


def test_plot_roc_det_handles_perfect_separation(tmp_path: Path) -> None:
    path = tmp_path / "perfect.png"

    plot_roc_det([0.9, 0.8, 0.2, 0.1], [True, True, False, False], path, "perfect")

    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_plot_roc_det_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInputError):
        plot_roc_det([0.9, 0.8], [True, True], tmp_path / "x.png", "one class")
    assert not (tmp_path / "x.png").exists()


def test_plot_pad_det_writes_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    bonafide = rng.normal(0.8, 0.1, 400)
    attacks = {"print": rng.normal(0.3, 0.1, 200), "replay": rng.normal(0.5, 0.15, 200)}
    path = tmp_path / "pad_det.png"

    plot_pad_det(bonafide, attacks, path, "PAD")

    assert path.stat().st_size > 10_000
    assert _png_size(path)[0] > 0


def test_plot_pad_det_needs_a_species(tmp_path: Path) -> None:
    with pytest.raises(BadInputError):
        plot_pad_det([0.9], {}, tmp_path / "x.png", "none")


def test_probit_matches_known_normal_quantiles() -> None:
    rates = np.array([0.5, 0.975, 0.025, 1e-3, 0.0, 1.0])

    deviates = _probit(rates, floor=1e-6)

    assert deviates[:4] == pytest.approx(
        [0.0, 1.959963984540054, -1.959963984540054, -3.090232306167813], abs=1e-9
    )
    # 0 and 1 are clipped to the floor, so they stay finite.
    assert deviates[4:] == pytest.approx([-4.753424308822899, 4.753424308822899], abs=1e-9)


def test_plots_do_not_import_pyplot(tmp_path: Path) -> None:
    # A fresh interpreter: other tests in this process may have imported pyplot.
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from veronica.evaluation.plots import plot_pad_det, plot_roc_det
        plot_roc_det([0.9, 0.7, 0.4, 0.1], [True, True, False, False],
                     Path({str(tmp_path / "a.png")!r}), "a")
        plot_pad_det([0.9, 0.8], {{"print": [0.1, 0.6]}}, Path({str(tmp_path / "b.png")!r}), "b")
        assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
        """
    )
    src_dir = str(Path(veronica.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src_dir, env.get("PYTHONPATH")]))
    env.pop("MPLBACKEND", None)

    completed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )

    assert completed.returncode == 0, completed.stderr
    for name in ("a.png", "b.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE
