"""Timelines of real HAPT recordings by models that never saw the subject they predict.

Subject-wise cross-validation on the HAPT recordings: for every fold, a model is trained on the other
subjects' windows (2 of its training subjects held out to calibrate the timeline smoother and to
choose the unknown threshold), its HMM learns its transitions from the training subjects' label
sequences, and every recording of the fold's test subjects is predicted whole (every window,
transitions and pauses included), upright and rotated (90 and 180 degrees about each phone axis,
and random rotations; with ``--orientations all`` also 20 more random rotations, the phone on the
other side of the waist and that one upside down), then scored against its labelled segments:
per-window and per-second agreement, per-class agreement, segment F1 (boundaries within 2 s) and
fragmentation, without smoothing, with the median filter and with the HMM.

A recipe's data are in the phone's axes or in the body frame (``frame``; the presets' own is the body
frame): ``best-body`` is ``--preset best`` as it is, ``best-phone-trained`` the same settings trained on
the phone's axes (as UCI HAR's windows are) and predicting recordings in the body frame.

    python benchmarks/timelines.py --data ../shared/data/hapt/HAPT_RawData_train_subjects.zip \\
        --recipes reference,best --folds 5 --out benchmarks/results/timelines
    python benchmarks/timelines.py --recipes best-body,best-phone-trained --orientations all --folds 5 \\
        --out benchmarks/results/timelines-body
    python benchmarks/timelines.py --recipes best-body --moved --streaming --reuse --folds 5 \\
        --out benchmarks/results/timelines-body
    python benchmarks/timelines.py --families --folds 3 --out benchmarks/results/timelines-families

``--reuse`` takes the rows of plans that an earlier run into the same folder finished, and the fold
models it saved (``--models``, default ``OUT/models``: ``PLAN/foldN``). ``--moved`` splices each test
subject's two recordings, the first worn one way and the second another (the phone moved between them),
and scores the second against the same splice upright; ``--streaming`` predicts the test recordings with
:class:`~harcnn.serving.streaming.StreamingPredictor` (the causal frame) against the batch path.
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
    "best": {"preset": "best", "frame": "phone"},
    "best-rotate180": {"preset": "best", "augment_rotate": 180.0, "frame": "phone"},
    "best-body": {"preset": "best"},
    "best-phone-trained": {"preset": "best", "frame": "phone", "predict_frame": "body"},
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


def orientations(seed: int = 0, n_random: int = 20) -> dict[str, np.ndarray]:
    """:func:`rotations`, ``n_random`` more random rotations, the phone on the other side of the waist
    (half a turn about the body's vertical) and that one upside down."""
    from scipy.spatial.transform import Rotation

    from harcnn.data.bodyframe import CANONICAL

    out = rotations(seed)
    for i, matrix in enumerate(Rotation.random(n_random, random_state=seed + 1).as_matrix()):
        out[f"random{i + 4}"] = matrix
    other_side = Rotation.from_rotvec(np.pi * CANONICAL[2]).as_matrix()  # about the body's up, in phone axes
    out["other-side"] = other_side
    out["other-side-flipped"] = Rotation.from_euler("z", 180, degrees=True).as_matrix() @ other_side
    return out


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def settings_of(recipe: dict, **extra) -> dict:
    from harcnn.core.settings import PRESETS

    values = dict(PRESETS[recipe["preset"]]) if "preset" in recipe else {}
    values.update({k: v for k, v in recipe.items() if k not in ("preset", "frame", "predict_frame")}, **extra)
    return values


def frames_of(recipe: dict) -> tuple[str, str]:
    """``(training frame, predicting frame)``: the recipe's, else its preset's (``PRESET_DATA``), else the phone's."""
    from harcnn.core.settings import PRESET_DATA

    frame = recipe.get("frame", PRESET_DATA[recipe["preset"]].get("frame", "phone") if "preset" in recipe else "phone")
    return frame, recipe.get("predict_frame", frame)


def predicting_in(trained, frame: str):
    """The model, predicting recordings in ``frame`` (its spec says so)."""
    from harcnn.data.bodyframe import frame_recipe

    preprocessing = {k: v for k, v in trained.spec.preprocessing.items() if k not in ("frame", "frame_version")}
    trained.spec = dataclasses.replace(trained.spec, preprocessing={**preprocessing, **frame_recipe(frame)})
    return trained


def per_class(rows: list[dict], classes) -> dict[str, float]:
    """Each class's agreement: the share of its labelled time predicted as it (summed over the rows)."""
    confusion = np.sum([np.array(r["confusion_seconds"]) for r in rows], axis=0)
    return {name: float(confusion[k, k] / max(confusion[k].sum(), 1e-9)) for k, name in enumerate(classes)}


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
                             "windows": int(known.sum()),
                             "correct": int((pred.predicted[known] == pred.labels[known]).sum()),
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


def trimmed(rec):
    """The recording cut to its labelled span (HAPT recordings end with unlabelled minutes in which some
    subjects carry the phone in the hand)."""
    first, stop = int(rec.labels[:, 1].min()), int(rec.labels[:, 2].max())
    labels = rec.labels.copy()
    labels[:, 1:] -= first
    return dataclasses.replace(rec, acc=rec.acc[first:stop], gyro=rec.gyro[first:stop], labels=labels)


def spliced(first, second, turn_first: np.ndarray, turn_second: np.ndarray):
    """One recording of ``first`` worn turned by ``turn_first`` followed by ``second`` turned by
    ``turn_second`` (the phone moved between them), and the sample where ``second`` begins."""
    labels = second.labels.copy()
    labels[:, 1:] += len(first.acc)
    at = len(first.acc)
    return dataclasses.replace(first, name=f"{first.name}+{second.name}",
                               acc=np.concatenate([first.acc @ turn_first.T, second.acc @ turn_second.T]),
                               gyro=np.concatenate([first.gyro @ turn_first.T, second.gyro @ turn_second.T]),
                               labels=np.concatenate([first.labels, labels])), at


def scored(trained, rec, after_s: float = 0.0) -> tuple:
    """``(prediction, windows, correct, confusion)`` of a recording, smoothed with the HMM, counting the
    labelled windows that start at ``after_s`` or later (``confusion`` [K, K]: windows, rows true)."""
    from harcnn.serving.predict import predict_recording

    pred = predict_recording(trained, rec.recording())
    pred.decide("hmm", hmm=trained.timeline.get("hmm"))
    pred.score(rec.segments)  # sets the windows' labels
    known = (pred.labels >= 0) & (pred.start_times >= after_s)
    confusion = np.zeros((trained.n_classes, trained.n_classes + 1), np.int64)
    np.add.at(confusion, (pred.labels[known], pred.predicted[known]), 1)  # -1 (unknown): the last column
    return pred, int(known.sum()), int((pred.predicted[known] == pred.labels[known]).sum()), confusion


def moved_section(models: dict, recordings, seed: int = 0, n_random: int = 6) -> dict:
    """Every test subject's two recordings (labelled spans) spliced, each worn its own way: is the move
    found, and how do the second recording's windows agree with the labels, against the same splice
    upright (HMM)."""
    from scipy.spatial.transform import Rotation

    turns = orientations(seed, 0)
    eye = np.eye(3)
    pairs = {"upright>z180": (eye, turns["z180"]), "upright>x90": (eye, turns["x90"]),
             "upright>other-side": (eye, turns["other-side"]), "y90>upright": (turns["y90"], eye)}
    randoms = Rotation.random(2 * n_random, random_state=seed + 7).as_matrix()
    pairs.update({f"random-pair{i + 1}": (randoms[2 * i], randoms[2 * i + 1]) for i in range(n_random)})
    by_subject: dict[int, list] = {}
    for rec in recordings:
        by_subject.setdefault(rec.subject, []).append(trimmed(rec))
    rows = []
    for subject, recs in sorted(by_subject.items()):
        if len(recs) < 2:
            continue
        trained = models[str(subject)]
        upright, at = spliced(recs[0], recs[1], eye, eye)
        join_s = at / 50.0
        _, n_up, ok_up, conf_up = scored(trained, upright, after_s=join_s)
        for name, (a, b) in pairs.items():
            rec, _ = spliced(recs[0], recs[1], a, b)
            pred, n, ok, conf = scored(trained, rec, after_s=join_s)
            changes = pred.frame.changes_s()
            nearest = min(changes, key=lambda c: abs(c - join_s), default=None)
            rows.append({"subject": subject, "pair": name, "join_s": join_s,
                         "found": nearest is not None and abs(nearest - join_s) <= 30,
                         "change_error_s": None if nearest is None else abs(nearest - join_s),
                         "extra_changes": len(changes) - (nearest is not None), "windows": n, "correct": ok,
                         "upright_windows": n_up, "upright_correct": ok_up, "confusion_seconds": conf.tolist(),
                         "upright_confusion_seconds": conf_up.tolist()})
        print(f"  moved: subject {subject}: " + ", ".join(f"{r['pair']} {100 * r['correct'] / r['windows']:.1f}%"
                                                       for r in rows if r["subject"] == subject)
              + f" (upright {100 * ok_up / n_up:.1f}%)", flush=True)
    return {"pairs": list(pairs), "rows": rows}


def streaming_section(models: dict, recordings, turns: dict, chunk: int = 64) -> dict:
    """Every test recording streamed with the causal frame (chunks of ``chunk`` samples) against the batch
    path: each window's class without smoothing and with the HMM (forward filtering), against the labels
    and against the batch prediction, before and after the recording's first walking."""
    from harcnn.serving.predict import predict_recording
    from harcnn.serving.streaming import StreamingPredictor

    rows = []
    for rec in recordings:
        trained = models[str(rec.subject)]
        for turn, matrix in turns.items():
            recording = rec.recording().rotated(matrix)
            batch = predict_recording(trained, recording)
            batch.score(rec.segments)  # sets the windows' labels
            streams = {}
            for smooth in ("none", "hmm"):
                streamer = StreamingPredictor(trained, smooth=smooth)
                acc, gyro = recording.sensors["acc"], recording.sensors["gyro"]
                events = [e for i in range(0, len(acc), chunk)
                          for e in streamer.push(acc[i:i + chunk], gyro[i:i + chunk])]
                streams[smooth] = np.array([e.class_index for e in events])
            hmm_batch = dataclasses.replace(batch, notes=[], decision=None)
            hmm_batch.decide("hmm", hmm=trained.timeline["hmm"])
            first_walk = float(rec.labels[np.isin(rec.labels[:, 0], (1, 2, 3)), 1].min()) / 50.0
            known = batch.labels >= 0
            after = batch.start_times >= first_walk
            row = {"recording": rec.name, "subject": rec.subject, "rotation": turn, "first_walking_s": first_walk,
                   "windows": int(known.sum()), "windows_after_first_walking": int((known & after).sum())}
            for name, predicted in (("batch", batch.probabilities.argmax(1)), ("stream", streams["none"]),
                                    ("batch_hmm", hmm_batch.predicted), ("stream_hmm", streams["hmm"])):
                right = predicted == batch.labels
                row[f"{name}_correct"] = int(right[known].sum())
                row[f"{name}_correct_after_first_walking"] = int(right[known & after].sum())
                row[f"{name}_correct_before_first_walking"] = int(right[known & ~after].sum())
            row["stream_equals_batch"] = float((streams["none"] == batch.probabilities.argmax(1)).mean())
            row["stream_equals_batch_after_first_walking"] = float(
                (streams["none"][after] == batch.probabilities.argmax(1)[after]).mean())
            rows.append(row)
        print(f"  streaming: {rec.name} " + ", ".join(
            f"{r['rotation']} {100 * r['stream_correct'] / r['windows']:.1f}% "
            f"(batch {100 * r['batch_correct'] / r['windows']:.1f}%)" for r in rows if r["recording"] == rec.name),
            flush=True)
    return {"rotations": list(turns), "chunk": chunk, "rows": rows}


def fold_models(name: str, values: dict, frames: tuple[str, str], datasets, folds, args, log) -> tuple[dict, float]:
    """The plan's model of every fold (``OUT/models/NAME/foldN``: trained and saved, or loaded with
    ``--reuse``), by test subject; and the seconds spent training."""
    from harcnn.models.config import Config
    from harcnn.serving.artifact import load_model
    from harcnn.serving.train import train_model

    models, seconds = {}, 0.0
    for i, fold in enumerate(folds):
        folder = (args.models or args.out / "models") / name / fold.name
        if args.reuse and (folder / "config.json").is_file():
            trained = load_model(folder)
        else:
            config = Config.from_flat({**values, "validation_subjects": 2})
            began = time.perf_counter()
            trained = train_model(config, datasets(frames[0]).subset(fold.train), seed=args.seed + i)
            seconds += time.perf_counter() - began
            trained.save(folder, overwrite=True)
            log(f"  {name} {fold.name} (test subjects {', '.join(fold.test_subjects)}): trained in "
                f"{time.perf_counter() - began:.0f} s")
        predicting_in(trained, frames[1])
        models.update(dict.fromkeys(fold.test_subjects, trained))
    return models, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--recipes", default="reference,best", help=f"comma-separated, from {', '.join(RECIPES)}")
    parser.add_argument("--families", action="store_true", help="every model family, with and without rotations")
    parser.add_argument("--orientations", choices=["turns", "all"], default="turns",
                        help="turns: upright and the 9 turns; all: also 20 random rotations, the other side of the "
                             "waist and that one upside down")
    parser.add_argument("--moved", action="store_true", help="also: each test subject's two recordings spliced, "
                                                             "worn two ways")
    parser.add_argument("--streaming", action="store_true", help="also: the test recordings streamed, against batch")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--classes", default="basic", choices=["basic", "all"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 when another job shares 2 cores)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models", type=Path, default=None,
                        help="where the fold models are saved (default OUT/models): MODELS/PLAN/foldN")
    parser.add_argument("--reuse", action="store_true",
                        help="take a plan's rows from OUT/NAME.rows.json and its fold models from OUT/models/NAME "
                             "where an earlier run wrote them")
    args = parser.parse_args(argv)

    import torch

    from harcnn.data.hapt import hapt_recordings, load_hapt
    from harcnn.data.splits import Protocol
    from harcnn.models import list_models

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    loaded = {}

    def datasets(frame: str):
        if frame not in loaded:
            loaded[frame] = load_hapt(args.data, classes=args.classes, frame=frame, progress=False)
        return loaded[frame]

    def log(line: str) -> None:
        print(line, flush=True)

    dataset = datasets("phone")
    recordings = hapt_recordings(args.data, progress=False)
    folds = Protocol("subjects", args.folds).folds(dataset.subject)
    turns = orientations(args.seed, 20) if args.orientations == "all" else rotations(args.seed)
    if args.families:
        plans = {f"{m}{' +rotations' if r else ''}": {"model": m, "standardize": True, "epochs": 10,
                                                      **({"augment_rotate": 180.0} if r else {})}
                 for m in list_models() for r in (False, True)}
        methods = ("none",)
    else:
        plans = {name: RECIPES[name] for name in args.recipes.split(",")}
        methods = SMOOTHING
    print(f"CPU: {cpu_model()}; {len(dataset)} windows of {len(dataset.subjects)} subjects, {len(folds)} folds, "
          f"{len(recordings)} recordings, {len(turns)} orientations; plans: {', '.join(plans)}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    summary_path = args.out / "summary.json"
    summary = json.loads(summary_path.read_text()) if args.reuse and summary_path.exists() else {}
    results = summary.get("results", {})
    for name, recipe in plans.items():
        values = settings_of(recipe) if not args.families else recipe
        frames = frames_of(recipe) if not args.families else ("phone", "phone")
        saved = args.out / f"{name}.rows.json"
        models, seconds = None, None
        if args.reuse and saved.exists():  # a plan finished by an earlier run: its rows, not a retraining
            rows = json.loads(saved.read_text())
            print(f"  {name}: rows of an earlier run reused from {saved}", flush=True)
        else:
            models, seconds = fold_models(name, values, frames, datasets, folds, args, log)
            rows = []
            for fold in folds:
                rows += predict_fold(models[fold.test_subjects[0]], recordings, set(fold.test_subjects), turns, methods)
            saved.write_text(json.dumps(rows))
        classes = datasets(frames[0]).class_names
        table = {}
        for method in methods:
            mine = [r for r in rows if r["smoothing"] == method]
            upright = summarize([r for r in mine if r["rotation"] == "upright"])
            turned = summarize([r for r in mine if r["rotation"] != "upright"])
            names = sorted({r["rotation"] for r in mine})
            by_turn = {t: summarize([r for r in mine if r["rotation"] == t])["per_window"] for t in names}
            classes_upright = per_class([r for r in mine if r["rotation"] == "upright"], classes)
            classes_by_turn = {t: per_class([r for r in mine if r["rotation"] == t], classes) for t in names}
            table[method] = {"upright": upright, "rotated": turned, "per_window_by_rotation": by_turn,
                             "per_class_upright": classes_upright,
                             "per_class_rotated": per_class([r for r in mine if r["rotation"] != "upright"], classes),
                             "per_class_worst_rotation": {c: min(v[c] for v in classes_by_turn.values())
                                                          for c in classes},
                             "per_class_by_rotation": classes_by_turn}
            print(f"    {method:>6}: per-window {100 * upright['per_window']:.2f}% upright, "
                  f"{100 * turned['per_window']:.2f}% rotated (worst {min(by_turn, key=by_turn.get)} "
                  f"{100 * min(by_turn.values()):.2f}%); per-second {100 * upright['per_second']:.2f}%; segment F1 "
                  f"{100 * upright['segment_f1']:.1f}%; fragmentation {upright['fragmentation']:.2f}", flush=True)
            print("            per class upright / worst rotation: " + ", ".join(
                f"{c[:5]} {100 * classes_upright[c]:.1f}/{100 * table[method]['per_class_worst_rotation'][c]:.1f}"
                for c in classes), flush=True)
        result = {"settings": values, "frames": list(frames), "table": table,
                  **({"train_seconds": seconds} if seconds is not None else
                     {k: v for k, v in results.get(name, {}).items() if k == "train_seconds"})}
        if args.moved or args.streaming:
            if models is None:
                models, _ = fold_models(name, values, frames, datasets, folds, args, log)
            if args.moved:
                result["moved"] = moved_section(models, recordings, args.seed)
            if args.streaming:
                stream_turns = {k: turns[k] for k in ("upright", "z180", "random1") if k in turns}
                result["streaming"] = streaming_section(models, recordings, stream_turns)
        results[name] = {**results.get(name, {}), **result}
    summary.update({"cpu": cpu_model(), "data": dataset.identity(), "folds": [f.test_subjects for f in folds],
                    "rotations": {k: v.tolist() for k, v in turns.items()}, "results": results,
                    "wall_seconds": time.perf_counter() - start,
                    "command": " ".join(["python", "benchmarks/timelines.py", *(argv or __import__("sys").argv[1:])])})
    summary_path.write_text(json.dumps(summary, indent=1))
    print(f"Done in {summary['wall_seconds'] / 60:.1f} min; {summary_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
