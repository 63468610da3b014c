"""ROC/DET plots for verification and DET plots for PAD, written as PNG files.

Figures are built with ``matplotlib.figure.Figure`` on an Agg canvas, never
through ``pyplot``: no global figure registry, no GUI backend, safe in a
server process or a thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from veronica.errors import BadInputError
from veronica.evaluation._validation import FloatArray, as_labels
from veronica.evaluation.metrics import eer, roc_curve
from veronica.evaluation.pad_metrics import pad_det_curve

__all__ = ["plot_pad_det", "plot_roc_det"]

# Tick positions (proportions) on the normal-deviate DET axes.
_DET_TICKS = (1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 0.999, 0.9999, 0.99999)


def plot_roc_det(scores: npt.ArrayLike, labels: npt.ArrayLike, path: Path, title: str) -> None:
    """Write a PNG with the ROC (TAR vs FAR, log FAR axis) and the DET (FRR vs FAR).

    The DET panel uses normal-deviate (probit) axes, on which Gaussian score
    distributions give straight lines. Rates of exactly 0 or 1 cannot be drawn
    on these axes, so they are clipped to half the smallest measurable rate.
    The EER point is marked on both panels. Scores follow ``metrics``
    conventions (NaN = no face, never accepted).
    """
    roc = roc_curve(scores, labels)
    eer_rate, eer_threshold = eer(scores, labels)
    label_array = as_labels(labels)
    floor = _rate_floor(max(int(label_array.sum()), int((~label_array).sum())))

    figure = Figure(figsize=(12.0, 5.5), layout="constrained")
    FigureCanvasAgg(figure)
    roc_axes, det_axes = figure.subplots(1, 2)
    eer_label = f"EER {100 * eer_rate:.2f} % (threshold {eer_threshold:.4g})"

    roc_axes.plot(np.clip(roc.far, floor, 1.0), roc.tar, color="C0")
    roc_axes.plot([max(eer_rate, floor)], [1.0 - eer_rate], "o", color="C3", label=eer_label)
    roc_axes.set_xscale("log")
    roc_axes.set_xlim(floor, 1.0)
    roc_axes.set_ylim(0.0, 1.005)
    roc_axes.set_xlabel("False accept rate (FAR)")
    roc_axes.set_ylabel("True accept rate (TAR)")
    roc_axes.set_title("ROC")
    roc_axes.grid(True, which="both", alpha=0.3)
    roc_axes.legend(loc="lower right")

    det_axes.plot(_probit(roc.far, floor), _probit(roc.frr, floor), color="C0")
    eer_deviate = _probit(np.array([eer_rate]), floor)
    det_axes.plot(eer_deviate, eer_deviate, "o", color="C3", label=eer_label)
    _style_det_axes(det_axes, floor, "False accept rate (FAR)", "False reject rate (FRR)")
    det_axes.set_title("DET")
    det_axes.legend(loc="upper right")

    figure.suptitle(title)
    figure.savefig(Path(path), format="png", dpi=110)


def plot_pad_det(
    bonafide: npt.ArrayLike,
    attacks_by_species: Mapping[str, npt.ArrayLike],
    path: Path,
    title: str,
) -> None:
    """Write a PNG with one DET curve (BPCER vs APCER, probit axes) per attack species.

    Scores follow ``pad_metrics`` conventions (higher = more bona fide). Rates
    of 0 or 1 are clipped to half the smallest measurable rate, as in
    ``plot_roc_det``.
    """
    if not attacks_by_species:
        raise BadInputError("need attack scores for at least one species")
    curves = {name: pad_det_curve(bonafide, scores) for name, scores in attacks_by_species.items()}
    largest = max([np.size(bonafide), *(np.size(s) for s in attacks_by_species.values())])
    floor = _rate_floor(int(largest))

    figure = Figure(figsize=(6.5, 6.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    for name, curve in curves.items():
        axes.plot(_probit(curve.apcer, floor), _probit(curve.bpcer, floor), label=name)
    _style_det_axes(axes, floor, "APCER (attacks accepted)", "BPCER (bona fide rejected)")
    axes.legend(loc="upper right", title="attack species")
    figure.suptitle(title)
    figure.savefig(Path(path), format="png", dpi=110)


def _rate_floor(presentations: int) -> float:
    """Half the smallest measurable rate, where 0 and 1 are drawn on log/probit axes.
    Capped at 1 % so that tiny sets (one or two pairs) still get a usable axis."""
    return min(0.5 / max(presentations, 1), 0.01)


def _probit(rates: FloatArray, floor: float) -> FloatArray:
    """Normal deviate of each rate, after clipping into [floor, 1 - floor].

    Uses the standard library's inverse normal CDF (Wichura's AS241, accurate
    to double precision) so plotting needs no SciPy; curves have at most one
    point per distinct score, so the Python loop is cheap.
    """
    inverse_cdf = NormalDist().inv_cdf
    clipped = np.clip(rates, floor, 1.0 - floor)
    return np.array([inverse_cdf(float(rate)) for rate in clipped], dtype=np.float64)


def _style_det_axes(axes: Axes, floor: float, x_label: str, y_label: str) -> None:
    """Probit-scaled limits, percent tick labels and the equal-error diagonal."""
    low, high = _probit(np.array([floor, 1.0 - floor]), floor)
    ticks = np.array([tick for tick in _DET_TICKS if floor <= tick <= 1.0 - floor])
    positions = _probit(ticks, floor)
    tick_labels = [f"{100 * tick:g} %" for tick in ticks]
    axes.plot([low, high], [low, high], linestyle=":", color="grey", linewidth=1.0)
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    axes.set_xticks(positions, tick_labels, rotation=45)
    axes.set_yticks(positions, tick_labels)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(True, alpha=0.3)
