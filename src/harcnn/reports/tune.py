"""What a search leaves in its folder: ``trials.csv``, Optuna's figures, ``tune.json`` and ``report.html``.

The figures are Optuna's matplotlib plots: the optimization history, the parameter importances
(Optuna's default evaluator, PED-ANOVA) and the intermediate values (the validation accuracy per
epoch, where pruned trials end early). Every file is written atomically.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from harcnn.core.io import atomic_write_bytes, atomic_write_text, write_csv, write_json
from harcnn.core.provenance import current_versions
from harcnn.reports.html import _CSS, REPORT_NAME, _e, _figure_html, _read_csv, _table_html

FIGURES = {
    "history.png": ("plot_optimization_history", "Search history: every trial's validation accuracy, and the best "
                                                 "so far"),
    "importances.png": ("plot_param_importances", "Parameter importances (PED-ANOVA over the completed trials; "
                                                 "few trials make them rough)"),
    "intermediate.png": ("plot_intermediate_values", "Validation accuracy per epoch (mean over the inner folds); "
                                                     "pruned trials end early"),
}


def trial_rows(study) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        attrs = t.user_attrs
        rows.append({"number": t.number, "state": t.state.name, "value": t.value, "params": dict(t.params),
                     "pruned_epoch": attrs.get("pruned_epoch"), "pruned_fold": attrs.get("pruned_fold"),
                     "folds": attrs.get("folds"), "rerun_of": attrs.get("rerun_of"),
                     "reused_folds": attrs.get("reused_folds", 0), "config_id": attrs.get("config_id"),
                     "seconds": seconds})
    return rows


def importances(study) -> tuple[dict[str, float] | None, str]:
    import optuna

    try:
        with warnings.catch_warnings():  # "few trials in some regime": said in the report instead
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(study)), ""
    except (ValueError, RuntimeError, TypeError, ZeroDivisionError) as error:
        return None, f"parameter importances unavailable: {error}"


def save_figures(folder: Path, study) -> dict[str, str]:
    """Optuna's plots as PNGs; returns the notes of those that could not be drawn."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    notes = {}
    for name, (function, _) in FIGURES.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = getattr(optuna_plots, function)(study)
        except (ValueError, RuntimeError, TypeError, ZeroDivisionError) as error:
            notes[name] = f"{name} not drawn: {error}"
            (folder / name).unlink(missing_ok=True)
            continue
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
        figure.set_size_inches(9, 5)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", facecolor="white")
        plt.close(figure)
        atomic_write_bytes(folder / name, buffer.getvalue())
    return notes


def write_tune_outputs(folder: Path, study, summary: dict[str, Any]) -> dict[str, int]:
    """``trials.csv``, the figures, ``tune.json`` and ``report.html``; returns the trials per state."""
    rows = trial_rows(study)
    counts = dict(Counter(row["state"] for row in rows))
    params = sorted({name for row in rows for name in row["params"]})
    write_csv(folder / "trials.csv", ["number", "state", "value", "pruned_epoch", "pruned_fold", "rerun_of",
                                      "seconds", *params],
              [[row["number"], row["state"], "" if row["value"] is None else repr(row["value"]),
                row["pruned_epoch"] or "", row["pruned_fold"] or "", "" if row["rerun_of"] is None else row["rerun_of"],
                "" if row["seconds"] is None else f"{row['seconds']:.1f}", *[row["params"].get(p, "") for p in params]]
               for row in rows])
    found, note = importances(study)
    notes = save_figures(folder, study)
    if note:
        notes["importances"] = note
    write_json(folder / "tune.json", {**summary, "counts": counts, "importances": found, "notes": notes,
                                      "trials": rows, "versions": current_versions()})
    render_tune_report(folder)
    return counts


def render_tune_report(folder: str | Path) -> Path:
    """``FOLDER/report.html`` from ``tune.json``, ``trials.csv`` and the figures: one self-contained page."""
    folder = Path(folder)
    tune = json.loads((folder / "tune.json").read_text(encoding="utf-8"))
    counts = tune.get("counts", {})
    data = tune.get("data", {})
    best, final = tune.get("best"), tune.get("final")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{_e(folder.resolve().name)} — harcnn search</title>", f"<style>{_CSS}</style></head><body>",
             f"<h1>Hyper-parameter search: {_e(folder.resolve().name)}</h1>",
             f'<p class="meta">harcnn tune · generated '
             f"{_e(_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds'))}</p>", "<h2>Protocol</h2><ul>",
             f"<li>Data: {_e(data.get('name'))} from <code>{_e(data.get('source'))}</code> (fingerprint "
             f"{_e(data.get('fingerprint'))}, {_e(data.get('windows'))} windows).</li>",
             f"<li>Test split (used once, after the search): --cv {_e(tune.get('protocol'))}, test subjects "
             f"{_e(', '.join(tune.get('test_subjects', [])))}.</li>",
             f"<li>Objective: the mean validation accuracy over {_e(tune.get('objective'))}, {_e(tune.get('repeats'))} "
             "network(s) per fold; never a test score. Folds: "
             + "; ".join(f"{_e(f['name'])}: subjects {_e(', '.join(f['validation_subjects']))}" for f in tune["folds"])
             + ".</li>",
             f"<li>Trials: {_e(tune.get('trials_wanted'))} wanted, "
             + ", ".join(f"{_e(n)} {_e(state.lower())}" for state, n in sorted(counts.items()))
             + f"; up to {_e(tune.get('parallel'))} in parallel; sampler: {_e(tune.get('sampler'))}.</li>",
             f"<li>Pruning: {_e(_pruning_words(tune.get('pruning', {})))}.</li>"]
    if tune.get("command"):
        parts.append(f"<li>Command: <code>{_e(tune['command'])}</code></li>")
    parts.append("</ul><h2>Search space</h2><ul>" + "".join(f"<li><code>{_e(line)}</code></li>"
                                                         for line in tune.get("space_lines", [])) + "</ul>")
    parts.append("<h2>Best settings</h2>")
    if best is None:
        parts.append('<p class="note">No trial completed.</p>')
    else:
        folds = ", ".join(f"{_e(k)} {100 * v:.2f}%" for k, v in best.get("folds", {}).items())
        parts.append(f"<p>Trial {_e(best['number'])}: cross-validated accuracy <strong>{100 * best['value']:.2f}%"
                     f"</strong> ({folds}).</p>")
        parts.append(_table_html([["parameter", "value"], *[[k, str(v)] for k, v in best["params"].items()]]))
        parts.append(f"<pre>{_e(json.dumps(best['config'], indent=1))}</pre>")
    parts.append("<h2>The test split, once</h2>")
    if final is None:
        parts.append('<p class="note">No final test (no completed trial, or --final-repeats 0).</p>')
    else:
        ensemble = final.get("ensemble_accuracy")
        parts.append(f"<p>The best settings trained {_e(final['repeats'])} times with fresh seeds (base seed "
                     f"{_e(final['seed'])}) on every outer training window: test accuracy <strong>"
                     f"{100 * final['mean']:.2f}% ± {100 * final['std']:.2f}</strong>"
                     + (f"; the ensemble of the {_e(final['repeats'])}: {100 * ensemble:.2f}%" if ensemble else "")
                     + '. Details: <a href="final/report.html">final/report.html</a>.</p>')
    parts.append("<h2>Figures</h2>")
    for name, (_, caption) in FIGURES.items():
        if (folder / name).is_file():
            parts.append(_figure_html(folder / name, caption))
    for note in tune.get("notes", {}).values():
        parts.append(f'<p class="note">{_e(note)}</p>')
    if tune.get("importances"):
        parts.append("<h2>Parameter importances</h2>")
        parts.append(_table_html([["parameter", "importance"],
                                  *[[k, repr(v)] for k, v in tune["importances"].items()]]))
    parts.append("<h2>Trials</h2>")
    rows = _read_csv(folder / "trials.csv")
    parts.append(_table_html(rows) if rows else '<p class="note">No trials.csv.</p>')
    parts.append("</body></html>\n")
    return atomic_write_text(folder / REPORT_NAME, "\n".join(parts))


def _pruning_words(pruning: dict[str, Any]) -> str:
    if not pruning.get("enabled", True):
        return "off"
    return (f"median rule per inner fold: from epoch {pruning.get('warmup', 0) + 1} on, once "
            f"{pruning.get('startup')} trials have completed, a fold whose validation accuracy falls below the "
            "completed trials' median at that epoch stops, and its trial is pruned")
