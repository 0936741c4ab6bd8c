"""A single self-contained HTML report for a study folder.

:func:`render_report` reads what a finished study leaves in its folder:

* ``study.json``: ``name``, ``description``, ``grid``, ``baseline`` (or ``baseline_label``) and
  optionally ``captions`` (``{"file.png": "caption"}``); every key is optional;
* ``summary.csv`` (the per-configuration summary) and ``comparison.csv`` (the statistics against
  the baseline), rendered as HTML tables whatever their columns;
* ``leaderboard.md`` / ``leaderboard.csv`` when present;
* every ``*.png`` at the top level of the folder, embedded as a base64 data URI with a caption,
  in the order box plots, histograms, learning curves, confusion matrices, architecture diagrams,
  then everything else (each group in natural order: ``x2`` before ``x10``);

and writes ``report.html`` (atomically) with inline CSS and no external resources, so the file
can be mailed or archived on its own. All text from the folder is HTML-escaped.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from harcnn.core.errors import HarcnnError
from harcnn.core.io import atomic_write_text
from harcnn.core.outputs import OutputKind, file_head
from harcnn.core.text import natural_key

__all__ = ["render_report", "REPORT_FILE", "REPORT_NAME", "ordered_pngs", "caption_for"]

REPORT_NAME = "report.html"

#: The HTML page of a study or search folder, recognised by its title.
REPORT_FILE = OutputKind("report page", folder=False,
                         recognise=lambda path: any(f"harcnn {what}</title>".encode() in file_head(path)
                                                    for what in ("report", "search")))
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# (filename prefix, caption stem), in the order the figures appear.
_FIGURE_GROUPS = (
    ("boxplot", "Test accuracy per configuration (box and whisker; points are single repeats, diamonds the means)"),
    ("histograms", "Distribution of each input variable (training data, window overlap removed)"),
    ("learning_curves", "Learning curves (thin: single repeats, bold: mean; dashed: validation)"),
    ("confusion", "Confusion matrix (rows: true class, columns: predicted class)"),
    ("architecture", "Network architecture"),
)

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: .2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
p.meta { color: #666; font-size: .9em; margin-top: 0; }
.description { white-space: pre-wrap; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; }
th { background: #f0f3f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.baseline td { background: #fff8e1; }
tbody tr:nth-child(even) td { background-color: #fafafa; }
tbody tr.baseline:nth-child(even) td { background: #fff8e1; }
.scroll { overflow-x: auto; }
figure { margin: 1.5em 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: .92em; margin-top: .4em; }
code, pre { font-family: Menlo, Consolas, monospace; font-size: .88em; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; }
.note { color: #8a6d3b; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def ordered_pngs(folder: str | os.PathLike) -> list[Path]:
    """Every top-level ``*.png`` of ``folder`` (any letter case), in report order."""
    files = [p for p in Path(folder).iterdir()
             if p.is_file() and p.suffix.lower() == ".png" and not p.name.startswith(".")]

    def key(path: Path) -> tuple[int, list[Any]]:
        stem = path.stem.lower()
        for rank, (prefix, _caption) in enumerate(_FIGURE_GROUPS):
            if stem.startswith(prefix):
                return rank, natural_key(path.name)
        return len(_FIGURE_GROUPS), natural_key(path.name)

    return sorted(files, key=key)


def caption_for(path: Path, captions: dict[str, str] | None = None) -> str:
    """A caption from ``study.json``'s ``captions`` if given, else from the file name."""
    if captions and path.name in captions:
        return str(captions[path.name])
    stem = path.stem
    for prefix, caption in _FIGURE_GROUPS:
        if stem.lower().startswith(prefix):
            rest = stem[len(prefix):].strip("_- ")
            return caption + (f": {rest.replace('_', ' ')}" if rest else "")
    text = stem.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HarcnnError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise HarcnnError(f"{path} must hold a JSON object")
    return data


def _read_csv(path: Path) -> list[list[str]] | None:
    if not path.is_file():
        return None
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return [row for row in csv.reader(handle)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise HarcnnError(f"cannot read {path}: {exc}") from None


def _format_cell(text: str) -> tuple[str, bool]:
    """Display text of a CSV cell (numbers shortened) and whether it is numeric."""
    stripped = text.strip()
    if re.fullmatch(r"[+-]?\d+", stripped):
        return stripped, True
    try:
        value = float(stripped)
    except ValueError:
        return text, False
    if math.isnan(value):
        return "–", True
    if math.isinf(value):
        return "∞" if value > 0 else "−∞", True
    if value == 0 or 0.01 <= abs(value) < 1e5:
        return f"{value:.4f}", True
    if 1e-4 <= abs(value) < 0.01:
        return f"{value:.4g}", True  # still fixed-point: 0.004561
    return f"{value:.3e}", True


def _table_html(rows: list[list[str]], baseline: str | None = None) -> str:
    if not rows:
        return '<p class="note">(empty table)</p>'
    header, body = rows[0], rows[1:]
    label_col = header.index("label") if "label" in header else None
    out = ['<div class="scroll"><table>', "<thead><tr>"]
    out += [f"<th>{_e(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for row in body:
        is_base = baseline is not None and label_col is not None and label_col < len(row) and row[label_col] == baseline
        out.append('<tr class="baseline">' if is_base else "<tr>")
        for cell in row:
            shown, numeric = _format_cell(cell)
            if numeric and shown != cell.strip():
                out.append(f'<td class="num" title="{_e(cell)}">{_e(shown)}</td>')
            elif numeric:
                out.append(f'<td class="num">{_e(shown)}</td>')
            else:
                out.append(f"<td>{_e(shown)}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _grid_html(grid: Any) -> str:
    if isinstance(grid, dict) and grid:
        rows = ["<table><thead><tr><th>parameter</th><th>values</th></tr></thead><tbody>"]
        for key, values in grid.items():
            shown = ", ".join(json.dumps(v) for v in values) if isinstance(values, list) else json.dumps(values)
            rows.append(f"<tr><td><code>{_e(key)}</code></td><td><code>{_e(shown)}</code></td></tr>")
        rows.append("</tbody></table>")
        return "".join(rows)
    return f"<pre>{_e(json.dumps(grid, indent=2, default=str))}</pre>"


def _figure_html(path: Path, caption: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f'<p class="note">Could not read {_e(path.name)}: {_e(exc.strerror)}</p>'
    if not data.startswith(_PNG_SIGNATURE):
        return f'<p class="note">{_e(path.name)} is not a valid PNG file; not embedded.</p>'
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure id="{_e(path.stem)}"><img alt="{_e(caption)}" src="data:image/png;base64,{encoded}">'
        f"<figcaption>{_e(caption)} <code>({_e(path.name)})</code></figcaption></figure>"
    )


def render_report(folder: str | os.PathLike) -> Path:
    """Write ``FOLDER/report.html`` from the study's files and return its path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HarcnnError(f"study folder {folder} does not exist")
    study = _read_json(folder / "study.json")
    name = str(study.get("name") or folder.name)
    description = study.get("description")
    grid = study.get("grid")
    baseline = study.get("baseline", study.get("baseline_label"))
    baseline = None if baseline is None else str(baseline)
    captions = study.get("captions") if isinstance(study.get("captions"), dict) else None

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(name)} — harcnn report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(name)}</h1>",
        f'<p class="meta">harcnn study report · folder <code>{_e(folder.resolve().name)}</code> · generated '
        f"{_e(_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds'))}</p>",
    ]
    if description:
        parts.append(f'<p class="description">{_e(description)}</p>')
    if grid is not None:
        parts.append("<h2>Configurations</h2>")
        parts.append(_grid_html(grid))
    if baseline is not None:
        parts.append(f"<p>Baseline: <strong>{_e(baseline)}</strong></p>")

    parts.append("<h2>Summary</h2>")
    summary = _read_csv(folder / "summary.csv")
    parts.append(_table_html(summary, baseline) if summary is not None
                 else '<p class="note">No summary.csv in this folder.</p>')

    parts.append("<h2>Statistics against the baseline</h2>")
    comparison = _read_csv(folder / "comparison.csv")
    parts.append(
        _table_html(comparison, baseline) if comparison is not None
        else '<p class="note">No comparison.csv in this folder.</p>'
    )

    leaderboard_csv = _read_csv(folder / "leaderboard.csv")
    leaderboard_md = folder / "leaderboard.md"
    if leaderboard_csv is not None or leaderboard_md.is_file():
        parts.append("<h2>Leaderboard</h2>")
        if leaderboard_csv is not None:
            parts.append(_table_html(leaderboard_csv, baseline))
        elif leaderboard_md.is_file():
            try:
                parts.append(f"<pre>{_e(leaderboard_md.read_text(encoding='utf-8'))}</pre>")
            except (OSError, UnicodeDecodeError) as exc:
                parts.append(f'<p class="note">Could not read leaderboard.md: {_e(exc)}</p>')

    pngs = ordered_pngs(folder)
    parts.append("<h2>Figures</h2>")
    if not pngs:
        parts.append('<p class="note">No figures in this folder.</p>')
    for png in pngs:
        parts.append(_figure_html(png, caption_for(png, captions)))

    parts.append("</body></html>\n")
    return atomic_write_text(folder / REPORT_NAME, "\n".join(parts))
