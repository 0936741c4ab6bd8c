"""Timelines of real HAPT recordings by models that never saw the subject they predict.

Subject-wise cross-validation on the HAPT recordings: for every fold, a model is trained on the other
subjects' windows (2 of its training subjects held out to calibrate the timeline smoother and to
choose the unknown threshold), its HMM learns its transitions from the training subjects' label
sequences, and every recording of the fold's test subjects is predicted whole (every window,
transitions and pauses included), upright and rotated (90 and 180 degrees about each phone axis,
and random rotations), then scored against its labelled segments: per-window and per-second
agreement, segment F1 (boundaries within 2 s) and fragmentation, without smoothing, with the median
filter and with the HMM.

    python benchmarks/timelines.py --data ../shared/data/hapt/HAPT_RawData_train_subjects.zip \\
        --recipes reference,best --folds 5 --out benchmarks/results/timelines
    python benchmarks/timelines.py --families --folds 3 --out benchmarks/results/timelines-families

``--reuse`` takes the rows of plans that an earlier run into the same folder finished.
``--families`` instead trains every registered model with its defaults (10 epochs, standardized), with
and without random rotations in training, and reports per-window agreement upright and rotated.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "hapt" / "HAPT_RawData_train_subjects.zip"
RECIPES = {
    "reference": {"model": "cnn", "epochs": 10},
    "best": {"preset": "best"},
    "best-rotate180": {"preset": "best", "augment_rotate": 180.0},
}
SMOOTHING = ("none", "median", "hmm")


def rotations(seed: int = 0) -> dict[str, np.ndarray]:
    """Upright, 90 and 180 degrees about each phone axis, and three random rotations."""
    from scipy.spatial.transform import Rotation

    out = {"upright": np.eye(3)}
    for axis in "xyz":
        for degrees in (90, 180):
            out[f"{axis}{degrees}"] = Rotation.from_euler(axis, degrees, degrees=True).as_matrix()
    for i, matrix in enumerate(Rotation.random(3, random_state=seed).as_matrix()):
        out[f"random{i + 1}"] = matrix
    return out


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def settings_of(recipe: dict, **extra) -> dict:
    from harcnn.core.settings import PRESETS

    values = dict(PRESETS[recipe["preset"]]) if "preset" in recipe else {}
    values.update({k: v for k, v in recipe.items() if k != "preset"}, **extra)
    return values


def predict_fold(trained, recordings, subjects, turns, methods) -> list[dict]:
    """Rows of scores: one per test recording, rotation and smoothing."""
    from harcnn.serving.predict import predict_recording

    rows = []
    for rec in recordings:
        if str(rec.subject) not in subjects:
            continue
        truth = rec.segments
        for turn, matrix in turns.items():
            raw = predict_recording(trained, rec.recording().rotated(matrix))
            for method in methods:
                pred = dataclasses.replace(raw, notes=[], decision=None)
                pred.decide(method, hmm=trained.timeline.get("hmm"))
                scores = pred.score(truth)
                known = pred.labels >= 0
                rows.append({"recording": rec.name, "subject": rec.subject, "rotation": turn, "smoothing": method,
                             "windows": int(known.sum()), "correct": int((pred.predicted[known] == pred.labels[known]).sum()),
                             "seconds": truth.within(truth).duration,
                             **{k: v for k, v in scores.to_dict().items() if k != "confusion_seconds"},
                             "confusion_seconds": scores.confusion_seconds.tolist()})
    return rows


def summarize(rows: list[dict]) -> dict:
    """Pooled over recordings: per-window and per-second agreement, segment F1 and fragmentation."""
    windows = sum(r["windows"] for r in rows)
    seconds = sum(r["seconds"] * r["coverage"] for r in rows)
    true_positives = sum(r["recall"] * r["n_true_segments"] for r in rows)
    n_pred, n_true = sum(r["n_pred_segments"] for r in rows), sum(r["n_true_segments"] for r in rows)
    precision, recall = true_positives / max(n_pred, 1), true_positives / max(n_true, 1)
    return {"per_window": sum(r["correct"] for r in rows) / max(windows, 1),
            "per_second": sum(r["agreement"] * r["seconds"] * r["coverage"] for r in rows) / max(seconds, 1e-9),
            "segment_f1": 2 * precision * recall / max(precision + recall, 1e-12),
            "fragmentation": n_pred / max(n_true, 1), "recordings": len({r["recording"] for r in rows}),
            "windows": windows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--recipes", default="reference,best", help=f"comma-separated, from {', '.join(RECIPES)}")
    parser.add_argument("--families", action="store_true", help="every model family, with and without rotations")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--classes", default="basic", choices=["basic", "all"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--reuse", action="store_true",
                        help="take a plan's rows from OUT/NAME.rows.json where an earlier run wrote them")
    args = parser.parse_args(argv)

    from harcnn.data.hapt import hapt_recordings, load_hapt
    from harcnn.data.splits import Protocol
    from harcnn.models import list_models
    from harcnn.models.config import Config
    from harcnn.serving.train import train_model

    start = time.perf_counter()
    dataset = load_hapt(args.data, classes=args.classes, progress=False)
    recordings = hapt_recordings(args.data, progress=False)
    folds = Protocol("subjects", args.folds).folds(dataset.subject)
    turns = rotations(args.seed)
    if args.families:
        plans = {f"{m}{' +rotations' if r else ''}": {"model": m, "standardize": True, "epochs": 10,
                                                      **({"augment_rotate": 180.0} if r else {})}
                 for m in list_models() for r in (False, True)}
        methods = ("none",)
    else:
        plans = {name: settings_of(RECIPES[name]) for name in args.recipes.split(",")}
        methods = SMOOTHING
    print(f"CPU: {cpu_model()}; {len(dataset)} windows of {len(dataset.subjects)} subjects, {len(folds)} folds, "
          f"{len(recordings)} recordings; plans: {', '.join(plans)}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, values in plans.items():
        rows, seconds = [], 0.0
        saved = args.out / f"{name}.rows.json"
        if args.reuse and saved.exists():  # a plan finished by an earlier run: its rows, not a retraining
            rows, seconds = json.loads(saved.read_text()), None
            print(f"  {name}: rows of an earlier run reused from {saved}", flush=True)
        for i, fold in enumerate(folds if seconds is not None else []):
            config = Config.from_flat({**values, "validation_subjects": 2})
            began = time.perf_counter()
            trained = train_model(config, dataset.subset(fold.train), seed=args.seed + i)
            seconds += time.perf_counter() - began
            rows += predict_fold(trained, recordings, set(fold.test_subjects), turns, methods)
            print(f"  {name} {fold.name} (test subjects {', '.join(fold.test_subjects)}): trained in "
                  f"{time.perf_counter() - began:.0f} s", flush=True)
        table = {}
        for method in methods:
            upright = summarize([r for r in rows if r["smoothing"] == method and r["rotation"] == "upright"])
            turned = summarize([r for r in rows if r["smoothing"] == method and r["rotation"] != "upright"])
            by_turn = {t: summarize([r for r in rows if r["smoothing"] == method and r["rotation"] == t])["per_window"]
                       for t in turns}
            table[method] = {"upright": upright, "rotated": turned, "per_window_by_rotation": by_turn}
            print(f"    {method:>6}: per-window {100 * upright['per_window']:.2f}% upright, "
                  f"{100 * turned['per_window']:.2f}% rotated (worst {min(by_turn, key=by_turn.get)} "
                  f"{100 * min(by_turn.values()):.2f}%); per-second {100 * upright['per_second']:.2f}%; segment F1 "
                  f"{100 * upright['segment_f1']:.1f}%; fragmentation {upright['fragmentation']:.2f}", flush=True)
        results[name] = {"settings": values, "train_seconds": seconds, "table": table}
        saved.write_text(json.dumps(rows))
    summary = {"cpu": cpu_model(), "data": dataset.identity(), "folds": [f.test_subjects for f in folds],
               "rotations": {k: v.tolist() for k, v in turns.items()}, "results": results,
               "wall_seconds": time.perf_counter() - start, "command": " ".join(["python", "benchmarks/timelines.py",
                                                                                 *(argv or __import__("sys").argv[1:])])}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"Done in {summary['wall_seconds'] / 60:.1f} min; {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
