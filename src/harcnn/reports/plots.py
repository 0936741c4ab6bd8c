"""Figures for studies: score box plots, input histograms, learning curves, confusion matrices and
architecture diagrams.

Every figure is drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas attached
explicitly, so no display is ever needed or touched and ``pyplot``'s global state (and a notebook's
chosen backend) is left alone. Each function renders the PNG to memory, writes it with
:func:`harcnn.core.io.atomic_write_bytes` (a figure file is complete or absent) and returns its path.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.ticker import MaxNLocator

from harcnn.core.errors import HarcnnError
from harcnn.core.io import atomic_write_bytes
from harcnn.core.outputs import PRODUCER, OutputKind, file_head
from harcnn.data.transforms import remove_overlap

if TYPE_CHECKING:
    from harcnn.serving.prediction import Prediction

__all__ = [
    "DPI",
    "FIGURE",
    "Layer",
    "ArchitectureSpec",
    "boxplot_scores",
    "histograms",
    "learning_curves",
    "confusion_matrix",
    "normalize_rows",
    "architecture_diagram",
    "activity_colors",
    "timeline_plot",
]

DPI = 120

_TRAIN_COLOR = "#1f77b4"
_VAL_COLOR = "#d62728"
#: Curves of up to this many epochs also mark every epoch with a point (a one-epoch curve is a point).
_MARKED_EPOCHS = 40


def _is_harcnn_png(path: Path) -> bool:
    return b"tEXtSoftware\x00" + PRODUCER.encode() in file_head(path)


#: A figure harcnn drew: a PNG whose ``Software`` text chunk says harcnn.
FIGURE = OutputKind("figure", folder=False, recognise=_is_harcnn_png)


def _wrap(title: str, width: int = 90) -> str:
    """Long titles on several lines, so they fit the figure."""
    return "\n".join(textwrap.wrap(title, width)) or title


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white", metadata={"Software": PRODUCER})
    fig.clear()
    return atomic_write_bytes(path, buffer.getvalue())


# --------------------------------------------------------------------------------------------
# box plot of repeated scores
# --------------------------------------------------------------------------------------------


def boxplot_scores(
    scores_by_label: Mapping[str, Sequence[float]],
    path: str | os.PathLike,
    title: str,
    ylabel: str = "Test accuracy (%)",
    *,
    percent: bool = True,
    seed: int = 0,
) -> Path:
    """Box-and-whisker plot per configuration, in the mapping's order.

    The individual scores are drawn jittered on top and each mean as a white-filled diamond.
    Scores are fractions in 0..1, shown in percent unless ``percent=False``. The jitter is
    seeded, so the same data gives the same picture.
    """
    if not scores_by_label:
        raise HarcnnError("boxplot_scores: no scores to plot")
    labels = [str(k) for k in scores_by_label]
    data = []
    for _label, values in scores_by_label.items():
        arr = np.asarray(list(values), dtype=float).ravel()
        arr = arr[np.isfinite(arr)]
        data.append(arr * 100.0 if percent else arr)

    n = len(labels)
    longest = max(len(s) for s in labels)
    # about 0.075 in per character at the tick font size; widen the figure before rotating labels
    width = min(max(5.0, 1.5 + n * max(1.0, 0.05 * min(longest, 40))), 16.0)
    rotate = 0.075 * longest > 0.95 * (width - 1.5) / n
    fig = _new_figure(width, 4.8 + (0.05 * min(longest, 40) if rotate else 0.0))
    ax = fig.add_subplot()

    positions = np.arange(1, n + 1)
    nonempty = [i for i, d in enumerate(data) if d.size]
    if nonempty:
        ax.boxplot(
            [data[i] for i in nonempty],
            positions=positions[nonempty],
            widths=0.55,
            showmeans=False,
            showfliers=False,  # every point is drawn below anyway
            patch_artist=True,
            boxprops=dict(facecolor="#dbe8f5", edgecolor="#2b5d8a", linewidth=1.2),
            medianprops=dict(color="#e07000", linewidth=2.0),
            whiskerprops=dict(color="#2b5d8a", linewidth=1.1),
            capprops=dict(color="#2b5d8a", linewidth=1.1),
        )
        ax.plot([], [], color="#e07000", linewidth=2.0, label="median")  # legend entry only
    rng = np.random.default_rng(seed)
    for i in nonempty:
        jitter = rng.uniform(-0.14, 0.14, size=data[i].size)
        ax.scatter(
            positions[i] + jitter, data[i], s=16, color="#333333", alpha=0.65, zorder=3, linewidths=0,
            label="individual scores" if i == nonempty[0] else None,
        )
        ax.scatter(
            [positions[i]], [data[i].mean()], marker="D", s=42, facecolor="white", edgecolor="#b00020",
            linewidths=1.6, zorder=4, label="mean" if i == nonempty[0] else None,
        )
    for i, d in enumerate(data):
        if not d.size:
            ax.text(positions[i], 0.5, "no scores", transform=ax.get_xaxis_transform(),
                    ha="center", va="center", color="#888888", fontsize=9)

    ax.set_xticks(positions)
    ax.set_xticklabels(labels, rotation=35 if rotate else 0, ha="right" if rotate else "center")
    ax.set_xlim(0.4, n + 0.6)
    ax.set_ylabel(ylabel)
    ax.set_title(_wrap(title, int(9 * width)))  # about 9 title characters per inch: narrow figures wrap sooner
    ax.grid(axis="y", alpha=0.3)
    if nonempty:
        ax.legend(loc="best", fontsize=8, frameon=True, framealpha=0.85)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# per-variable histograms
# --------------------------------------------------------------------------------------------


def histograms(
    X: np.ndarray,
    channel_names: Sequence[str] | None,
    path: str | os.PathLike,
    title: str,
    *,
    overlap: float = 0.5,
    bins: int = 100,
) -> Path:
    """One histogram per channel of windowed data ``X [n, steps, channels]``, overlap removed.

    As the reference does, the windows' ``overlap`` is removed by keeping the last part of each
    window and flattening it to one long series per channel (:func:`~harcnn.data.transforms.remove_overlap`).
    """
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[0] == 0 or X.shape[1] < 2 or X.shape[2] == 0:
        raise HarcnnError(f"histograms: expected windows shaped [n, steps, channels], got {tuple(X.shape)}")
    channels = X.shape[2]
    names = list(channel_names) if channel_names is not None else [f"channel {i}" for i in range(channels)]
    if len(names) != channels:
        raise HarcnnError(f"histograms: {len(names)} channel names for {channels} channels")
    series = remove_overlap(X, overlap).astype(float)

    cols = math.ceil(math.sqrt(channels))
    rows = math.ceil(channels / cols)
    fig = _new_figure(3.6 * cols, 2.7 * rows + 0.4)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i in range(rows * cols):
        ax = axes[i // cols][i % cols]
        if i >= channels:
            ax.set_visible(False)
            continue
        values = series[:, i]
        values = values[np.isfinite(values)]
        ax.hist(values, bins=bins, color="#4c72b0", edgecolor="none")
        ax.set_title(str(names[i]), fontsize=10)
        if values.size:
            ax.text(
                0.98, 0.95, f"mean {values.mean():.3g}\nstd {values.std():.3g}",
                transform=ax.transAxes, ha="right", va="top", fontsize=7.5,
                bbox=dict(boxstyle="round,pad=0.25", facecolor="white", alpha=0.8, edgecolor="#cccccc"),
            )
        ax.tick_params(labelsize=8)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
        ax.yaxis.get_offset_text().set_fontsize(7)
        if i % cols == 0:
            ax.set_ylabel("count", fontsize=9)
    fig.suptitle(_wrap(title), fontsize=12)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# learning curves
# --------------------------------------------------------------------------------------------


def _stack(curves: list[np.ndarray]) -> np.ndarray:
    """Pad curves of unequal length (early stopping) with nan into one [runs, epochs] array."""
    length = max(c.size for c in curves)
    out = np.full((len(curves), length), np.nan)
    for i, c in enumerate(curves):
        out[i, : c.size] = c
    return out


def _nanmean(stacked: np.ndarray) -> np.ndarray:
    counts = np.sum(np.isfinite(stacked), axis=0)
    sums = np.nansum(stacked, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def learning_curves(histories: Sequence[Mapping[str, Sequence[float]]], path: str | os.PathLike, title: str) -> Path:
    """Loss and accuracy per epoch (two panels) over repeats.

    One thin line per repeat and the per-epoch mean in bold; training solid, validation dashed
    (when ``val_loss``/``val_accuracy`` are present), every epoch a point when there are few.
    Accuracies (fractions) are shown in percent. Repeats of unequal length are averaged over the
    repeats that reached each epoch.
    """
    histories = [h for h in histories if h]
    if not histories:
        raise HarcnnError("learning_curves: no training histories to plot")
    fig = _new_figure(11.0, 4.4)
    ax_loss, ax_acc = fig.subplots(1, 2)
    single = len(histories) == 1
    for ax, metric, scale, ylabel in (
        (ax_loss, "loss", 1.0, "Loss"),
        (ax_acc, "accuracy", 100.0, "Accuracy (%)"),
    ):
        drawn, longest = False, 1
        for key, color, style, name in (
            (metric, _TRAIN_COLOR, "-", "train"),
            (f"val_{metric}", _VAL_COLOR, "--", "validation"),
        ):
            curves = [np.asarray(h[key], dtype=float) * scale for h in histories
                      if h.get(key) is not None and len(h[key])]
            if not curves:
                continue
            drawn = True
            stacked = _stack(curves)
            longest = max(longest, stacked.shape[1])
            epochs = np.arange(1, stacked.shape[1] + 1)
            marker = "o" if stacked.shape[1] <= _MARKED_EPOCHS else None
            if not single:
                for row in stacked:
                    ax.plot(epochs, row, color=color, linestyle=style, linewidth=0.8, alpha=0.3, marker=marker,
                            markersize=3)
            ax.plot(
                epochs, _nanmean(stacked), color=color, linestyle=style, linewidth=2.4, marker=marker, markersize=6,
                label=f"{name}" + ("" if single else f" (mean of {len(curves)})"),
            )
        ax.set_xlim(0.5, longest + 0.5)
        ax.set_xlabel("Epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(ylabel.split(" (")[0])
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # epoch 1 alone: the tick 1
        if drawn:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, f"no {metric} recorded", transform=ax.transAxes, ha="center", color="#888888")
    fig.suptitle(_wrap(title + ("" if single else f"  ({len(histories)} repeats)")), fontsize=12)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# confusion matrix
# --------------------------------------------------------------------------------------------


def normalize_rows(matrix: Any) -> np.ndarray:
    """Divide each row by its sum (rows: true classes, so the diagonal becomes recall).

    Rows with no samples stay all zero.
    """
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2:
        raise HarcnnError(f"confusion matrix must be 2-D, got shape {m.shape}")
    sums = m.sum(axis=1, keepdims=True)
    return np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)


def confusion_matrix(
    matrix: Any,
    class_names: Sequence[str],
    path: str | os.PathLike,
    title: str,
    normalize: bool = False,
) -> Path:
    """Annotated confusion matrix (rows true, columns predicted); ``normalize`` divides by row."""
    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise HarcnnError(f"confusion matrix must be square, got shape {counts.shape}")
    k = counts.shape[0]
    names = [str(c) for c in class_names]
    if len(names) != k:
        raise HarcnnError(f"confusion matrix is {k}x{k} but {len(names)} class names were given")
    values = normalize_rows(counts) if normalize else counts.astype(float)

    longest = max((len(s) for s in names), default=1)
    label_room = 0.075 * min(longest, 40)  # inches taken by the tick labels
    grid = max(3.0, 0.8 * k)
    fig = _new_figure(grid + label_room + 2.6, grid + 0.75 * label_room + 1.4)
    ax = fig.add_subplot()
    vmax = 1.0 if normalize else max(float(values.max()), 1.0)
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    cbar = fig.colorbar(image, ax=ax, shrink=0.85)
    cbar.ax.tick_params(labelsize=8)
    cbar.set_label("fraction of the true class" if normalize else "count", fontsize=9)

    fontsize = 9 if k <= 8 else (7 if k <= 14 else 5)
    for i in range(k):
        for j in range(k):
            v = values[i, j]
            if normalize:
                text = f"{100.0 * v:.1f}%" if counts.sum(axis=1)[i] else "–"
                if k <= 10:
                    text += f"\n({int(counts[i, j])})"
            else:
                text = f"{int(counts[i, j])}"
            color = "white" if v > 0.55 * vmax else "#222222"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=fontsize)

    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    rotate = longest > 4 or k > 8
    ax.set_xticklabels(names, rotation=40 if rotate else 0, ha="right" if rotate else "center", fontsize=9)
    ax.set_yticklabels(names, fontsize=9)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_title(_wrap(title + (" (row-normalised: recall)" if normalize else "")), fontsize=11)
    ax.set_xticks(np.arange(-0.5, k, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, k, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.0)
    ax.tick_params(which="minor", length=0)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# architecture diagram
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One box of an architecture diagram: the layer's description and its output shape."""

    name: str
    shape: str = ""


@dataclass(frozen=True)
class ArchitectureSpec:
    """A network as a diagram: an optional shared input, parallel branches, a merge, a head.

    * ``input``: a box every branch reads from (``None``: each branch starts with its own boxes);
    * ``branches``: one or more lists of layers, drawn side by side, top to bottom;
    * ``merge``: the box joining the branches (e.g. Concatenate); with one branch it may be None;
    * ``head``: the layers after the merge (or after the single branch), top to bottom.

    Plain data is accepted everywhere a spec is: a dict with those keys whose boxes are
    ``Layer``, ``(name, shape)`` pairs, ``{"name":..., "shape":...}`` dicts or plain strings.
    """

    branches: tuple[tuple[Layer, ...], ...]
    input: Layer | None = None
    merge: Layer | None = None
    head: tuple[Layer, ...] = field(default_factory=tuple)

    @classmethod
    def coerce(cls, spec: Any) -> ArchitectureSpec:
        if isinstance(spec, ArchitectureSpec):
            return spec
        if not isinstance(spec, Mapping):
            raise HarcnnError(f"architecture spec must be a dict or ArchitectureSpec, not {type(spec).__name__}")
        unknown = set(spec) - {"input", "branches", "merge", "head"}
        if unknown:
            raise HarcnnError(f"architecture spec has unknown keys: {', '.join(sorted(unknown))}")
        branches = spec.get("branches") or []
        if not branches or any(not b for b in branches):
            raise HarcnnError("architecture spec needs at least one non-empty branch")
        if len(branches) > 1 and spec.get("merge") is None:
            raise HarcnnError("architecture spec with several branches needs a merge box")
        return cls(
            input=_layer(spec["input"]) if spec.get("input") is not None else None,
            branches=tuple(tuple(_layer(x) for x in branch) for branch in branches),
            merge=_layer(spec["merge"]) if spec.get("merge") is not None else None,
            head=tuple(_layer(x) for x in (spec.get("head") or [])),
        )


def _layer(box: Any) -> Layer:
    if isinstance(box, Layer):
        return box
    if isinstance(box, str):
        return Layer(box)
    if isinstance(box, Mapping):
        return Layer(str(box.get("name", "")), str(box.get("shape", "") or ""))
    if isinstance(box, Sequence) and 1 <= len(box) <= 2:
        return Layer(str(box[0]), str(box[1]) if len(box) > 1 and box[1] is not None else "")
    raise HarcnnError(f"cannot read an architecture box from {box!r}")


_BOX_COLORS = (
    ("input", "#e8e8e8"),
    ("conv", "#cfe2f3"),
    ("pool", "#d9ead3"),
    ("dropout", "#f3f3f3"),
    ("batchnorm", "#f3f3f3"),
    ("flatten", "#fff2cc"),
    ("concat", "#ead1dc"),
    ("add", "#ead1dc"),
    ("lstm", "#d0e0e3"),
    ("dense", "#fce5cd"),
    ("linear", "#fce5cd"),
)


def _box_color(name: str) -> str:
    low = name.lower().replace(" ", "").replace("_", "")
    for key, color in _BOX_COLORS:
        if key in low:
            return color
    return "#ffffff"


def architecture_diagram(spec: Any, path: str | os.PathLike, title: str) -> Path:
    """Draw a network (see :class:`ArchitectureSpec`) as boxes and arrows, top to bottom.

    Each box shows the layer and, below it, its output shape.
    """
    spec = ArchitectureSpec.coerce(spec)
    nb = len(spec.branches)
    depth = max(len(b) for b in spec.branches)

    all_layers = list(spec.branches[0]) + [x for b in spec.branches[1:] for x in b] + list(spec.head)
    all_layers += [x for x in (spec.input, spec.merge) if x is not None]
    longest = max(max(len(x.name), len(x.shape) + 2) for x in all_layers)

    box_w = max(2.0, 0.105 * longest + 0.5)  # inches == data units
    box_h = 0.62
    gap_x = 0.45
    step_y = 1.0
    col_w = box_w + gap_x
    centers = [(i - (nb - 1) / 2.0) * col_w for i in range(nb)]

    # Vertical slots, top (0) to bottom.
    slot = 0
    y_input = None
    if spec.input is not None:
        y_input = slot
        slot += 1
    y_branch0 = slot
    slot += depth
    y_merge = None
    if spec.merge is not None:
        y_merge = slot
        slot += 1
    y_head0 = slot
    slot += len(spec.head)
    n_slots = slot

    # One data unit is one inch on both axes, so boxes and fonts keep their proportions.
    margin = box_h / 2 + 0.15
    title_h = 0.5
    width = max(nb * col_w + 0.4, 0.09 * len(title) + 0.6, 3.0)
    height = (n_slots - 1) * step_y + 2 * margin
    fig = Figure(figsize=(width, height + title_h), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, height / (height + title_h)))
    ax.set_xlim(-width / 2.0, width / 2.0)
    ax.set_ylim(-(n_slots - 1) * step_y - margin, margin)
    ax.axis("off")
    fig.suptitle(title, fontsize=12, y=1.0 - 0.1 / (height + title_h), va="top")

    def y_of(s: int) -> float:
        return -s * step_y

    def draw_box(x: float, s: int, layer: Layer) -> tuple[float, float]:
        y = y_of(s)
        ax.add_patch(
            FancyBboxPatch(
                (x - box_w / 2, y - box_h / 2), box_w, box_h,
                boxstyle="round,pad=0.02,rounding_size=0.08",
                facecolor=_box_color(layer.name), edgecolor="#444444", linewidth=1.0,
            )
        )
        if layer.shape:
            ax.text(x, y + 0.1, layer.name, ha="center", va="center", fontsize=9, fontweight="bold")
            ax.text(x, y - 0.15, f"→ {layer.shape}", ha="center", va="center", fontsize=8, color="#333333")
        else:
            ax.text(x, y, layer.name, ha="center", va="center", fontsize=9, fontweight="bold")
        return x, y

    def arrow(p: tuple[float, float], q: tuple[float, float], dx_from: float = 0.0, dx_to: float = 0.0) -> None:
        ax.add_patch(
            FancyArrowPatch(
                (p[0] + dx_from, p[1] - box_h / 2), (q[0] + dx_to, q[1] + box_h / 2),
                arrowstyle="-|>", mutation_scale=11, color="#444444", linewidth=1.0,
                shrinkA=1, shrinkB=1,
            )
        )

    # Arrows fanning out of the input / into the merge leave / reach spread-out points.
    spread = [0.0 if nb == 1 else 0.3 * box_w * c / max(abs(x) for x in centers) for c in centers]
    top = draw_box(0.0, y_input, spec.input) if spec.input is not None else None
    ends = []
    for b, branch in enumerate(spec.branches):
        prev = top
        for r, layer in enumerate(branch):
            here = draw_box(centers[b], y_branch0 + r, layer)
            if prev is not None:
                arrow(prev, here, dx_from=spread[b] if r == 0 else 0.0)
            prev = here
        ends.append(prev)
    if spec.merge is not None:
        prev = draw_box(0.0, y_merge, spec.merge)
        for b, end in enumerate(ends):
            arrow(end, prev, dx_to=spread[b])
    else:
        prev = ends[0]
    for r, layer in enumerate(spec.head):
        here = draw_box(0.0 if spec.merge is not None or nb > 1 else centers[0], y_head0 + r, layer)
        arrow(prev, here)
        prev = here
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# activity timelines
# --------------------------------------------------------------------------------------------

#: Colour-blind-safe qualitative colours (Okabe-Ito, then Tableau's), one per class in class order.
CLASS_COLORS = ("#0072B2", "#009E73", "#56B4E9", "#E69F00", "#D55E00", "#CC79A7", "#F0E442", "#000000",
                "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896")
UNKNOWN_COLOR = "#bbbbbb"


def activity_colors(class_names: Sequence[str]) -> dict[str, str]:
    """One colour per class name, by position (the same classes get the same colours in every plot);
    ``unknown`` is grey."""
    colors = {name: CLASS_COLORS[i % len(CLASS_COLORS)] for i, name in enumerate(class_names)}
    if "unknown" in colors:
        colors["unknown"] = UNKNOWN_COLOR
    return colors


def _envelope(t: np.ndarray, y: np.ndarray, max_points: int = 6000):
    """Thin a long trace for plotting: ``(t, mean, low, high)`` per bin (low/high None when short)."""
    if len(t) <= max_points:
        return t, y, None, None
    bins = max_points // 2
    edges = np.linspace(0, len(t), bins + 1).astype(int)
    idx = edges[:-1]
    mean = np.add.reduceat(y, idx) / np.diff(edges)
    return t[idx + np.diff(edges) // 2], mean, np.minimum.reduceat(y, idx), np.maximum.reduceat(y, idx)


def _spans(lo: np.ndarray, hi: np.ndarray, names: Sequence[str | None]) -> list[tuple[float, float, str | None]]:
    """Runs of equal names over the windows' stretches: ``[(start, end, name)]``."""
    out: list[tuple[float, float, str | None]] = []
    for a, b, name in zip(lo, hi, names):
        if out and out[-1][2] == name and abs(out[-1][1] - a) < 1e-9:
            out[-1] = (out[-1][0], b, name)
        else:
            out.append((a, b, name))
    return out


def timeline_plot(prediction: Prediction, path: str | os.PathLike, *, title: str | None = None,
                  width: float = 12.0) -> Path:
    """A PNG: the signal (acceleration magnitude) over coloured bands of the predicted activity,
    ribbons of the predicted activity (after smoothing, and per window before it) and of the true one
    when known, and the confidence per window."""
    from matplotlib.patches import Patch

    if len(prediction) == 0:
        raise HarcnnError("nothing to plot: no windows")
    colors = activity_colors((*prediction.class_names, "unknown"))
    lo, hi, contiguous = prediction.window_spans()
    segments = prediction.segments()
    scale, unit = 1.0, "window"
    offset = 0.0
    if prediction.has_times:
        offset = float(prediction.start_times[0]) if prediction.start_times[0] > 1e5 else 0.0  # epoch clocks
        span = hi[-1] - lo[0]
        scale, unit = (60.0, "min") if span > 600 else (1.0, "s")

    def x(v):
        return (np.asarray(v, dtype=np.float64) - offset) / scale

    # every ribbon as (label, [(start, end, activity name)]): the predicted timeline, and the truth, from the
    # labels table's segments (exact times) or from the windows' true labels
    ribbons = [("predicted", _spans(lo, hi, [prediction.name(k) for k in prediction.predicted]))]
    if prediction.truth is not None:
        t = prediction.truth
        ribbons.append(("true", list(zip(t.starts, t.ends, t.labels))))
    elif prediction.labels is not None:
        ribbons.append(("true", _spans(lo, hi, [prediction.name(k) if k >= 0 else None for k in prediction.labels])))
    if prediction.smoothing != "none":
        ribbons.insert(1, ("window", _spans(lo, hi, [prediction.class_names[k]
                                                     for k in prediction.probabilities.argmax(axis=1)])))
    fig = _new_figure(width, 4.6 + 0.3 * len(ribbons))
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3.2, 0.45 * len(ribbons), 1.1]})
    ax_signal, ax_ribbon, ax_conf = axes

    for seg in segments:
        a, b = x(lo[seg.first_window]), x(hi[seg.last_window])
        ax_signal.axvspan(a, b, color=colors[seg.activity], alpha=0.28, linewidth=0)
    if prediction.signal is not None:
        t, y = x(prediction.signal_times), np.asarray(prediction.signal, dtype=np.float64)
        keep = (t >= x(lo[0]) - 1e-9) & (t <= x(hi[-1]) + 1e-9)
        t, mean, low, high = _envelope(t[keep], y[keep])
        if low is not None:
            ax_signal.fill_between(t, low, high, color="#333333", alpha=0.35, linewidth=0)
        ax_signal.plot(t, mean, color="#2a2a2a", linewidth=0.45)
        ax_signal.set_ylabel(prediction.signal_label)
    else:
        ax_signal.set_yticks([])
    ax_signal.margins(x=0)
    ax_signal.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax_signal.set_axisbelow(True)

    present: dict[str, None] = {}
    for row, (_label, spans) in enumerate(ribbons):
        y0 = len(ribbons) - 1 - row
        by_name: dict[str, list[tuple[float, float]]] = {}
        for a, b, name in spans:
            if name is not None:
                by_name.setdefault(name, []).append((float(x(a)), float(x(b) - x(a))))
                present[name] = None
        for name, bars in by_name.items():
            ax_ribbon.broken_barh(bars, (y0 + 0.08, 0.84), facecolors=colors[name], linewidth=0)
    ax_ribbon.set_ylim(0, len(ribbons))
    ax_ribbon.set_yticks([len(ribbons) - 1 - i + 0.5 for i in range(len(ribbons))], [r[0] for r in ribbons])
    ax_ribbon.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax_ribbon.spines[side].set_visible(False)

    conf = prediction.confidence
    steps_x = np.stack([x(lo), x(hi)], axis=1).reshape(-1)  # each window's value over its own stretch
    steps_y = np.repeat(conf, 2)
    breaks = 2 * (np.flatnonzero(~contiguous) + 1)  # nothing drawn across a gap
    steps_x, steps_y = np.insert(steps_x, breaks, np.nan), np.insert(steps_y, breaks, np.nan)
    ax_conf.fill_between(steps_x, 0, steps_y, color="#9ecae1", alpha=0.6, linewidth=0)
    ax_conf.plot(steps_x, steps_y, color="#3182bd", linewidth=0.8)
    ax_conf.set_ylim(0, 1.02)
    ax_conf.set_yticks([0, 0.5, 1])
    ax_conf.set_ylabel("confidence")
    ax_conf.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax_conf.set_xlim(x(lo[0]), x(hi[-1]))
    if prediction.has_times:
        ax_conf.set_xlabel(f"time since start ({unit})" if offset else f"time ({unit})")
    else:
        ax_conf.set_xlabel("window (signal: second half of each window, consecutive windows assumed)")

    if prediction.subjects is not None and len(prediction.subjects):
        subjects = np.asarray(prediction.subjects)
        starts = [0, *(np.flatnonzero(subjects[1:] != subjects[:-1]) + 1).tolist()]
        for i in starts:
            if i:
                for ax in axes:
                    ax.axvline(x(lo[i]), color="#555555", linewidth=0.8, linestyle="--")
            if len(starts) <= 30:
                ax_signal.annotate(f"subject {subjects[i]}", (x(lo[i]), 1.0), xycoords=("data", "axes fraction"),
                                   xytext=(3, -3), textcoords="offset points", va="top", fontsize=8,
                                   color="#333333")

    for stretch in prediction.excluded:
        for ax in axes:
            ax.axvspan(x(stretch["start_s"]), x(stretch["end_s"]), facecolor="none", edgecolor="#999999",
                       hatch="//", linewidth=0)
    order = [n for n in (*prediction.class_names, "unknown") if n in present]
    handles = [Patch(facecolor=colors[name], label=name.replace("_", " ").lower()) for name in order]
    if prediction.excluded:
        handles.append(Patch(facecolor="none", edgecolor="#999999", hatch="//", label="left out (quality check)"))
    ax_signal.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=min(len(handles), 7),
                     frameon=False, fontsize=9, handlelength=1.2, borderaxespad=0.2)
    if title is None:
        title = f"Predicted activities: {Path(prediction.source).name}"
        if prediction.model:
            title += f"  [{prediction.model}]"
        if prediction.smoothing != "none":
            title += f"  ({prediction.smoothing} smoothing)"
        if prediction.accuracy is not None:
            title += f"  agreement {100 * prediction.accuracy:.1f}% of labelled windows"
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    return _save(fig, path)
