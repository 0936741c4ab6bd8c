"""render_report: one self-contained HTML file embedding every PNG, tables rendered, text escaped."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from harcnn.core.errors import HarcnnError
from harcnn.experiments import stats
from harcnn.reports import html as report
from harcnn.reports import plots


@pytest.fixture()
def study_folder(tmp_path):
    folder = tmp_path / "filters"
    folder.mkdir()
    (folder / "study.json").write_text(json.dumps({
        "name": "Filters <study> & co",
        "description": "Number of filters: 8 vs 64 <script>alert(1)</script>",
        "grid": {"filters": [8, 64]},
        "baseline": "filters=64",
    }))
    records = [{"label": label, "test_accuracy": s}
               for label, scores in (("filters=64", [0.90, 0.91, 0.92]), ("filters=8", [0.88, 0.89, 0.885]))
               for s in scores]
    stats.write_rows_csv(folder / "summary.csv", stats.summary_table(records, "filters=64"), stats.SUMMARY_COLUMNS)
    stats.write_rows_csv(folder / "comparison.csv", stats.comparison_table(records, "filters=64"),
                         stats.COMPARISON_COLUMNS)
    plots.boxplot_scores({"filters=64": [0.9, 0.91, 0.92], "filters=8": [0.88, 0.89, 0.885]}, folder / "boxplot.png",
                         "Filters")
    plots.confusion_matrix(np.array([[5, 1], [2, 7]]), ["A", "B"], folder / "confusion_filters=64.png", "CM")
    plots.learning_curves([{"loss": [1.0, 0.5], "accuracy": [0.5, 0.8]}], folder / "learning_curves_10.png", "LC")
    (folder / "learning_curves_2.png").write_bytes((folder / "learning_curves_10.png").read_bytes())
    (folder / "zz_extra.png").write_bytes((folder / "boxplot.png").read_bytes())
    return folder


def test_report_embeds_every_png_and_tables(study_folder):
    out = report.render_report(study_folder)
    assert out == study_folder / "report.html"
    text = out.read_text(encoding="utf-8")
    n_png = len(list(study_folder.glob("*.png")))
    assert n_png == 5
    assert text.count("data:image/png;base64,") == n_png
    # no external resources
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text and "<script" not in text
    # tables rendered
    assert text.count("<table>") >= 3  # grid, summary, comparison
    assert "<th>welch_p</th>" in text and "<th>mannwhitney_p</th>" in text
    assert '<tr class="baseline"><td>filters=64</td>' in text
    assert "<td>filters=8</td>" in text
    # figures in a sensible order: boxplot, learning curves (2 before 10), confusion, others
    order = [text.index(f"({name})") for name in
             ("boxplot.png", "learning_curves_2.png", "learning_curves_10.png", "confusion_filters=64.png",
              "zz_extra.png")]
    assert order == sorted(order)


def test_report_escapes_text(study_folder):
    text = report.render_report(study_folder).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<h1>Filters &lt;study&gt; &amp; co</h1>" in text


def test_report_escapes_csv_cells_and_leaderboard(tmp_path):
    (tmp_path / "summary.csv").write_text('label,mean\n"<b>x</b>",0.912345678\n')
    (tmp_path / "leaderboard.md").write_text("| rank | <i>model</i> |\n")
    text = report.render_report(tmp_path).read_text(encoding="utf-8")
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "<b>x</b>" not in text
    assert "0.9123" in text  # numbers shortened, full value in the title
    assert "&lt;i&gt;model&lt;/i&gt;" in text
    assert "No comparison.csv" in text and "No figures" in text


def test_report_errors(tmp_path):
    with pytest.raises(HarcnnError):
        report.render_report(tmp_path / "missing")
    (tmp_path / "study.json").write_text("{not json")
    with pytest.raises(HarcnnError, match="study.json"):
        report.render_report(tmp_path)


def test_invalid_png_is_not_embedded(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    text = report.render_report(tmp_path).read_text(encoding="utf-8")
    assert "data:image/png;base64," not in text and "not a valid PNG" in text
