"""Each plot function writes a real PNG; the architecture specs of the two reference models."""

from __future__ import annotations

import numpy as np
import pytest

from harcnn.core.errors import HarcnnError
from harcnn.reports import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASS_NAMES = ["WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"]


def baseline_cnn_spec() -> dict:
    """The reference baseline CNN as a diagram spec (one branch, no merge)."""
    return {
        "input": ("Input", "128 x 9"),
        "branches": [
            [
                ("Conv1D 64, k=3, ReLU", "126 x 64"),
                ("Conv1D 64, k=3, ReLU", "124 x 64"),
                ("Dropout 0.5", "124 x 64"),
                ("MaxPool1D 2", "62 x 64"),
                ("Flatten", "3968"),
            ]
        ],
        "head": [("Dense 100, ReLU", "100"), ("Dense 6, softmax", "6")],
    }


def multihead_cnn_spec() -> dict:
    """The reference three-headed CNN: kernels 3/5/11, concatenated."""
    branches = []
    for k in (3, 5, 11):
        steps = 128 - k + 1
        pooled = steps // 2
        branches.append(
            [
                (f"Conv1D 64, k={k}, ReLU", f"{steps} x 64"),
                ("Dropout 0.5", f"{steps} x 64"),
                ("MaxPool1D 2", f"{pooled} x 64"),
                ("Flatten", f"{pooled * 64}"),
            ]
        )
    return {
        "input": ("Input", "128 x 9"),
        "branches": branches,
        "merge": ("Concatenate", "11776"),
        "head": [("Dense 100, ReLU", "100"), ("Dense 6, softmax", "6")],
    }


def _assert_png(path, min_bytes=5000):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > min_bytes
    # no temporary files left behind by the atomic write
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_boxplot_scores(tmp_path):
    rng = np.random.default_rng(0)
    scores = {f"filters={f}": list(rng.normal(0.9, 0.01, 5)) for f in (8, 16, 32)}
    scores["empty"] = []
    out = plots.boxplot_scores(scores, tmp_path / "boxplot.png", "Filters")
    assert out == tmp_path / "boxplot.png"
    _assert_png(out)


def test_boxplot_is_deterministic(tmp_path):
    scores = {"a": [0.9, 0.91, 0.92], "b": [0.88, 0.9, 0.93]}
    a = plots.boxplot_scores(scores, tmp_path / "a.png", "t").read_bytes()
    b = plots.boxplot_scores(scores, tmp_path / "b.png", "t").read_bytes()
    assert a == b


@pytest.mark.parametrize("n", [1, 2, 6])
def test_a_box_plot_title_fits_its_figure(tmp_path, monkeypatch, n):
    """A study of two configurations had its title cut at both sides of the narrow figure."""
    extents = []
    save = plots._save

    def measure(fig, where):
        fig.canvas.draw()  # laid out: the title's place is known
        box = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
        extents.append((box.x0, box.x1, fig.bbox.width))
        return save(fig, where)

    monkeypatch.setattr(plots, "_save", measure)
    scores = {f"kernel_size={k}": [0.55, 0.59] for k in range(n)}
    plots.boxplot_scores(scores, tmp_path / "box.png", "Study 'custom': test accuracy per configuration (2 repeats; "
                                                       "recordings)")
    x0, x1, width = extents[0]
    assert 0 <= x0 < x1 <= width


def test_histograms(tmp_path):
    X = np.random.default_rng(0).normal(size=(20, 128, 9)).astype(np.float32)
    from harcnn.data.uci_har import CHANNEL_NAMES

    _assert_png(plots.histograms(X, CHANNEL_NAMES, tmp_path / "histograms.png", "Inputs"))
    with pytest.raises(HarcnnError):
        plots.histograms(X, ["only", "two"], tmp_path / "bad.png", "bad")
    with pytest.raises(HarcnnError):
        plots.histograms(X[0], None, tmp_path / "bad.png", "bad")


def test_learning_curves(tmp_path):
    rng = np.random.default_rng(0)
    histories = []
    for r in range(3):
        loss = list(np.linspace(1.0, 0.2, 5 - r) + rng.normal(0, 0.01, 5 - r))
        histories.append({"loss": loss, "accuracy": [1 - x / 2 for x in loss],
                          "val_loss": [x + 0.1 for x in loss], "val_accuracy": [1 - x / 1.8 for x in loss]})
    _assert_png(plots.learning_curves(histories, tmp_path / "learning_curves.png", "Curves"))
    one = [{"loss": [1.0, 0.5], "accuracy": [0.5, 0.8]}]
    _assert_png(plots.learning_curves(one, tmp_path / "learning_curves_one.png", "One"))
    with pytest.raises(HarcnnError):
        plots.learning_curves([], tmp_path / "none.png", "none")


def _drawn_curves(monkeypatch, histories, path):
    """(x ticks, [(points, marker)]) of each panel, as the figure stands when it is saved."""
    panels = []
    save = plots._save

    def capture(fig, where):
        for ax in fig.axes:
            lines = [(int(np.isfinite(np.asarray(line.get_ydata(), float)).sum()), line.get_marker())
                     for line in ax.lines if len(line.get_xdata())]
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            panels.append((ticks, lines))
        return save(fig, where)

    monkeypatch.setattr(plots, "_save", capture)
    _assert_png(plots.learning_curves(histories, path, "Curves"))
    return panels


@pytest.mark.parametrize("repeats", [1, 3])
def test_one_epoch_curves_are_points_on_the_tick_of_epoch_1(tmp_path, monkeypatch, repeats):
    one = {"loss": [0.9], "accuracy": [0.6], "val_loss": [1.0], "val_accuracy": [0.5]}
    panels = _drawn_curves(monkeypatch, [one] * repeats, tmp_path / "learning_curves_one_run.png")
    assert len(panels) == 2
    for ticks, lines in panels:
        assert list(ticks) == [1.0]
        assert lines and all(points == 1 and marker not in (None, "", "None", " ") for points, marker in lines)


def test_short_curves_mark_every_epoch_and_long_ones_are_plain_lines(tmp_path, monkeypatch):
    for epochs, marked in ((3, True), (100, False)):
        curve = list(np.linspace(1.0, 0.2, epochs))
        panels = _drawn_curves(monkeypatch, [{"loss": curve, "accuracy": curve}], tmp_path / f"{epochs}.png")
        for ticks, lines in panels:
            assert all(float(t).is_integer() for t in ticks)
            assert all((marker not in (None, "", "None", " ")) == marked for _, marker in lines)


def test_normalize_rows_sum_to_one():
    m = np.array([[5, 1, 0], [2, 2, 4], [0, 0, 0]])
    n = plots.normalize_rows(m)
    np.testing.assert_allclose(n[:2].sum(axis=1), [1.0, 1.0])
    np.testing.assert_allclose(n[2], 0.0)  # a class with no samples stays zero, no nan
    np.testing.assert_allclose(n[0], [5 / 6, 1 / 6, 0])


@pytest.mark.parametrize("normalize", [False, True])
def test_confusion_matrix(tmp_path, normalize):
    rng = np.random.default_rng(0)
    m = rng.integers(0, 50, size=(6, 6)) + np.diag([400] * 6)
    out = plots.confusion_matrix(m, CLASS_NAMES, tmp_path / f"confusion_{normalize}.png", "CM", normalize=normalize)
    _assert_png(out)
    with pytest.raises(HarcnnError):
        plots.confusion_matrix(m, CLASS_NAMES[:5], tmp_path / "bad.png", "bad")


@pytest.mark.parametrize("spec_fn", [baseline_cnn_spec, multihead_cnn_spec])
def test_architecture_diagram(tmp_path, spec_fn):
    _assert_png(plots.architecture_diagram(spec_fn(), tmp_path / "architecture.png", spec_fn.__name__))


def test_architecture_spec_forms():
    spec = plots.ArchitectureSpec.coerce(multihead_cnn_spec())
    assert len(spec.branches) == 3 and spec.merge.name == "Concatenate"
    assert spec.head[-1] == plots.Layer("Dense 6, softmax", "6")
    one = plots.ArchitectureSpec.coerce({"branches": [["Input", {"name": "Dense", "shape": "6"}]]})
    assert one.branches[0][1].shape == "6"
    with pytest.raises(HarcnnError):
        plots.ArchitectureSpec.coerce({"branches": [["a"], ["b"]]})  # two branches need a merge
    with pytest.raises(HarcnnError):
        plots.ArchitectureSpec.coerce({"branches": []})


def test_the_reference_models_trace_their_own_diagrams():
    """The diagrams the models give (shapes traced by forward hooks) are the reference's layer shapes."""
    from harcnn.models import create_model

    for name, spec_fn in (("cnn", baseline_cnn_spec), ("multihead", multihead_cnn_spec)):
        traced = create_model(name, window=128, n_channels=9, n_classes=6, n_models=3).architecture()
        expected = spec_fn()
        assert {k: [list(map(tuple, b)) for b in v] if k == "branches" else
                (list(map(tuple, v)) if k == "head" else tuple(v)) for k, v in traced.items()} == \
               {k: [list(b) for b in v] if k == "branches" else (list(v) if k == "head" else v)
                for k, v in expected.items()}, name


def test_traced_shapes_follow_the_settings():
    from harcnn.models import create_model
    from harcnn.models.summary import trace_shapes

    shapes = trace_shapes(create_model("cnn", window=100, n_channels=3, n_classes=4, kernel_size=5, pool_size=3))
    assert shapes.out("conv2") == "92 x 64" and shapes.out("pool") == "30 x 64" and shapes.inp("dense") == "1920"
    hybrid = create_model("hybrid", window=128, n_channels=3, n_classes=4, filters=8, blocks=2, sampling_rate=50.0,
                          channel_names=["acc_x", "acc_y", "acc_z"]).architecture()
    cnn_branch, statistics = hybrid["branches"]
    assert cnn_branch[-1] == ("GlobalAveragePooling1D", "16")  # the convolutions' pooled features alone
    assert int(hybrid["merge"][1]) == 16 + int(statistics[0][1])
