"""The body-frame estimator (harcnn.data.bodyframe) measured on the labelled HAPT recordings, no model needed.

    python benchmarks/body_frame.py --data ../shared/data/hapt/HAPT_RawData_train_subjects.zip \\
        --out benchmarks/results/body-frame
    python benchmarks/body_frame.py --model-check --folds 3 --out benchmarks/results/body-frame

Sections (``--sections``, all by default): ``walking`` (detection against the labels), ``axes`` (the
forward axis and its sign against the anterior direction of the lying posture, the sign weights
refitted with subject folds), ``canonical`` (the median frame of the upright recordings against
``CANONICAL``), ``turns`` (every recording turned by the 9 turns of benchmarks/timelines.py, 20
random rotations, the other side of the waist and a flipped phone: the frame estimated on the turned
recording against the upright one composed with the turn), ``seconds`` (error against the recording's
frame when only some seconds of walking are used), ``gravity`` (the fallback on the postures before
any walking), ``changes`` (recordings without a change, and spliced ones: first part in one
orientation, the rest in another), ``streaming`` (the causal frame against the batch one).
``--model-check`` trains the ``cnn`` model (10 epochs, subject folds) on windows cut from the
recordings in the body frame, and on the raw recordings, and scores both on test recordings upright
and turned, per class.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "hapt" / "HAPT_RawData_train_subjects.zip"
RATE = 50.0
WALKING_IDS = (1, 2, 3)  # HAPT's WALKING, WALKING_UPSTAIRS, WALKING_DOWNSTAIRS
LYING_ID = 6
SECTIONS = ("walking", "axes", "canonical", "turns", "seconds", "gravity", "changes", "streaming")


def turns(n_random: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The 9 turns of benchmarks/timelines.py, ``n_random`` more random rotations, the phone on the
    other side of the waist (half a turn about the body's vertical) and that one upside down."""
    import sys

    sys_path = str(Path(__file__).resolve().parent)
    if sys_path not in sys.path:
        sys.path.insert(0, sys_path)
    from timelines import orientations

    return {k: v for k, v in orientations(seed, n_random).items() if k != "upright"}


def percentiles(values) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    return {"median": float(np.median(v)), "p95": float(np.percentile(v, 95)), "max": float(v.max()), "n": int(v.size)}


def angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Degrees between stacks of rotations ``[n, 3, 3]`` (or one and a stack)."""
    cos = (np.einsum("...ij,...ij->...", a, b) - 1) / 2  # trace(a b^T)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def sample_labels(rec) -> np.ndarray:
    y = np.zeros(len(rec.acc), np.int64)
    for activity, first, stop in rec.labels:
        y[first:stop] = activity
    return y


def block_labels(stats, y: np.ndarray) -> np.ndarray:
    """The majority label of every block's samples (0: unlabelled)."""
    return np.array([np.bincount(y[s:s + c], minlength=13).argmax() for s, c in zip(stats.start, stats.count)])


def trimmed(rec):
    """The recording cut to its labelled span (HAPT recordings end with unlabelled minutes in which
    some subjects carry the phone in the hand)."""
    first, stop = int(rec.labels[:, 1].min()), int(rec.labels[:, 2].max())
    labels = rec.labels.copy()
    labels[:, 1:] -= first
    return dataclasses.replace(rec, acc=rec.acc[first:stop], gyro=rec.gyro[first:stop], labels=labels)


def anterior(rec, up: np.ndarray) -> np.ndarray:
    """The body's forward direction from the lying (on the back) posture: the horizontal part of its gravity."""
    lying = rec.acc[sample_labels(rec) == LYING_ID].mean(0)
    horizontal = lying - (lying @ up) * up
    return horizontal / np.linalg.norm(horizontal)


# ------------------------------------------------------------------------------------------- sections


def walking_section(recs) -> dict:
    from harcnn.data.bodyframe import block_stats
    from harcnn.data.hapt import CLASS_NAMES

    detected, labels = [], []
    for rec in recs:
        stats = block_stats(rec.acc, RATE)
        detected.append(stats.walking)
        labels.append(block_labels(stats, sample_labels(rec)))
    detected, labels = np.concatenate(detected), np.concatenate(labels)
    walking, other = np.isin(labels, WALKING_IDS), labels > max(WALKING_IDS)
    tp, fp = int((detected & walking).sum()), int((detected & other).sum())
    out = {"blocks": int(labels.size), "precision": tp / max(tp + fp, 1), "recall": tp / int(walking.sum()),
           "recall_by_class": {CLASS_NAMES[c - 1]: float(detected[labels == c].mean()) for c in WALKING_IDS},
           "detected_unlabelled_share": float((detected & (labels == 0)).sum() / detected.sum()),
           "false_positive_classes": {CLASS_NAMES[c - 1]: int((detected & (labels == c)).sum())
                                      for c in np.unique(labels[detected & other])}}
    print(f"walking: precision {100 * out['precision']:.2f}%, recall {100 * out['recall']:.1f}% "
          f"({', '.join(f'{k} {100 * v:.1f}%' for k, v in out['recall_by_class'].items())}); "
          f"{100 * out['detected_unlabelled_share']:.1f}% of detected blocks unlabelled", flush=True)
    return out


def fit_sign_weights(features: np.ndarray, l2: float = 1e-3, steps: int = 3000) -> np.ndarray:
    """Odd logistic regression (no intercept) on features whose true sign is +: fitted on ``x`` as
    positive and ``-x`` as negative examples, so that flipping the forward axis flips the decision."""
    x = np.concatenate([features, -features])
    target = np.r_[np.ones(len(features)), np.zeros(len(features))]
    weights = np.zeros(features.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-x @ weights))
        weights -= 0.5 * (x.T @ (p - target) / len(target) + l2 * weights)
    return weights


def axes_section(recs, folds: int = 5) -> dict:
    from harcnn.data import bodyframe as bf
    from harcnn.data.hapt import CLASS_NAMES

    axis_error, raw_error, sign_ok, features, labels, subjects = [], [], [], [], [], []
    for rec in recs:
        stats = bf.block_stats(rec.acc, RATE)
        walking = np.flatnonzero(stats.walking)
        up, forward = bf.frame_axes(stats, walking)
        truth = anterior(rec, up)
        votes = bf.sign_features(stats, walking, up, forward) @ bf.SIGN_WEIGHTS
        chosen = forward if votes.sum() >= 0 else -forward
        axis_error.append(float(np.degrees(np.arccos(min(1.0, abs(forward @ truth))))))
        samples = np.concatenate([rec.acc[a:a + n] for a, n in zip(stats.start[walking], stats.count[walking])])
        broad = samples - samples.mean(0)
        broad -= np.outer(broad @ up, up)
        raw_axis = np.linalg.eigh(broad.T @ broad)[1][:, -1]  # the main axis without the step band
        raw_error.append(float(np.degrees(np.arccos(min(1.0, abs(raw_axis @ truth))))))
        sign_ok.append(bool(chosen @ truth > 0))
        oriented = forward if forward @ truth >= 0 else -forward
        features.append(bf.sign_features(stats, walking, up, oriented))
        labels.append(block_labels(stats, sample_labels(rec))[walking])
        subjects.append(np.full(len(walking), rec.subject))
    features, labels, subjects = map(np.concatenate, (features, labels, subjects))
    in_sample = features @ bf.SIGN_WEIGHTS > 0
    correct = np.zeros(len(features), bool)
    for fold in np.array_split(np.unique(subjects), folds):
        test = np.isin(subjects, fold)
        correct[test] = features[test] @ fit_sign_weights(features[~test]) > 0
    refit = fit_sign_weights(features)
    names = {0: "unlabelled", **{c: CLASS_NAMES[c - 1] for c in WALKING_IDS}}
    out = {"forward_axis_vs_lying_deg": percentiles(axis_error),
           "forward_axis_vs_lying_mean_deg": float(np.mean(axis_error)),
           "raw_axis_vs_lying_deg": percentiles(raw_error),
           "sign_correct_recordings": int(sum(sign_ok)), "recordings": len(recs),
           "block_sign_accuracy_subject_cv": {names[c]: float(correct[labels == c].mean()) for c in names},
           "block_sign_accuracy_in_sample": {names[c]: float(in_sample[labels == c].mean()) for c in names},
           "refitted_weights": np.round(refit, 2).tolist(), "module_weights": bf.SIGN_WEIGHTS.tolist()}
    print(f"axes: forward axis vs lying anterior median {out['forward_axis_vs_lying_deg']['median']:.1f} deg "
          f"(p95 {out['forward_axis_vs_lying_deg']['p95']:.1f}; without the step band median "
          f"{out['raw_axis_vs_lying_deg']['median']:.1f}, p95 {out['raw_axis_vs_lying_deg']['p95']:.1f}, max "
          f"{out['raw_axis_vs_lying_deg']['max']:.1f}); sign right in {out['sign_correct_recordings']}/"
          f"{len(recs)} recordings; per-block sign, subject folds: "
          + ", ".join(f"{k} {100 * v:.1f}%" for k, v in out["block_sign_accuracy_subject_cv"].items()), flush=True)
    return out


def canonical_section(recs) -> dict:
    from scipy.spatial.transform import Rotation

    from harcnn.data import bodyframe as bf

    frames = []
    for rec in recs:
        stats = bf.block_stats(rec.acc, RATE)
        rotation = bf.frame_from_blocks(stats, np.flatnonzero(stats.walking))[0]
        frames.append(bf.CANONICAL @ rotation)  # the body axes in phone coordinates
    frames = np.array(frames)
    u, _, vt = np.linalg.svd(frames.sum(0))
    median = u @ vt
    for _ in range(100):  # Weiszfeld iterations on SO(3): the geodesic median
        vectors = Rotation.from_matrix(np.einsum("ji,njk->nik", median, frames)).as_rotvec()
        lengths = np.maximum(np.linalg.norm(vectors, axis=1), 1e-9)
        median = median @ Rotation.from_rotvec((vectors / lengths[:, None]).sum(0) / (1 / lengths).sum()).as_matrix()
    moved = [bf.rotation_angle(median.T @ f) for f in frames]
    tilt = [float(np.degrees(np.arccos(np.clip(f[2] @ median[2], -1, 1)))) for f in frames]
    out = {"median_frame": np.round(median, 4).tolist(), "vs_module_deg": bf.rotation_angle(median, bf.CANONICAL),
           "upright_moved_deg": percentiles(moved), "upright_tilt_deg": percentiles(tilt)}
    print(f"canonical: geodesic median {out['vs_module_deg']:.2f} deg from CANONICAL; upright recordings moved by "
          f"median {out['upright_moved_deg']['median']:.1f} deg (p95 {out['upright_moved_deg']['p95']:.1f}, "
          f"max {out['upright_moved_deg']['max']:.1f}), their up tilted median "
          f"{out['upright_tilt_deg']['median']:.1f} deg",
          flush=True)
    return out


def turns_section(recs, n_random: int) -> dict:
    from harcnn.data.bodyframe import estimate_body_frame

    named = turns(n_random)
    per_recording, per_turn = {}, {k: [] for k in named}
    for rec in recs:
        upright = estimate_body_frame(rec.acc, RATE)
        reference = upright.rotations()
        worst = 0.0
        for name, turn in named.items():
            turned = estimate_body_frame(rec.acc @ turn.T, RATE)
            error = float(angles(turned.rotations() @ turn, reference).max())
            worst = max(worst, error)
            per_turn[name].append(error)
            if turned.changes != upright.changes:
                print(f"  {rec.name} {name}: changes {turned.changes} vs upright {upright.changes}")
        per_recording[rec.name] = worst
    everything = [e for v in per_turn.values() for e in v]
    out = {"turns": list(named), "overall_deg": percentiles(everything), "worst_per_recording_deg": per_recording,
           "worst_per_turn_deg": {k: float(max(v)) for k, v in per_turn.items()}}
    print(f"turns: {len(named)} turns x {len(recs)} recordings: frame on the turned recording vs upright frame "
          f"composed with the turn: median {out['overall_deg']['median']:.2e} deg, "
          f"p95 {out['overall_deg']['p95']:.2e}, "
          f"max {out['overall_deg']['max']:.2e}", flush=True)
    return out


def seconds_section(recs, draws: int = 20, seed: int = 0) -> dict:
    from harcnn.data import bodyframe as bf

    rng = np.random.default_rng(seed)
    lengths = (2, 4, 8, 16, 32, 64)  # blocks of 1.28 s
    rows = {k: [] for k in lengths}
    for rec in recs:
        stats = bf.block_stats(rec.acc, RATE)
        walking = np.flatnonzero(stats.walking)
        full = bf.frame_from_blocks(stats, walking)[0]
        for k in lengths:
            for _ in range(draws):
                i = rng.integers(0, len(walking) - k + 1)
                rotation, spread, agreement = bf.frame_from_blocks(stats, walking[i:i + k])
                rows[k].append((bf.rotation_angle(rotation, full), spread, agreement))
    out = {}
    for k, values in rows.items():
        v = np.array(values)
        flipped = v[:, 0] > 90
        low = v[:, 2] < 0.7
        out[f"{k * bf.BLOCK_S:.2f}"] = {
            "error_deg": percentiles(v[:, 0]), "sign_flips": float(flipped.mean()),
            "error_without_flips_deg": percentiles(v[~flipped, 0]), "spread_deg": percentiles(v[:, 1]),
            "flips_when_agreement_below_0.7": float(flipped[low].mean()) if low.any() else None,
            "share_agreement_below_0.7": float(low.mean()),
            "flips_when_agreement_at_least_0.7": float(flipped[~low].mean())}
        print(f"seconds {k * bf.BLOCK_S:6.2f}: error median {np.median(v[:, 0]):5.1f} "
              f"p95 {np.percentile(v[:, 0], 95):6.1f} deg; sign flips {100 * flipped.mean():.1f}% "
              f"({100 * out[f'{k * bf.BLOCK_S:.2f}']['flips_when_agreement_at_least_0.7']:.1f}% "
              f"when agreement >= 0.7, {100 * low.mean():.1f}% of draws below); spread median {np.median(v[:, 1]):.1f}",
              flush=True)
    return out


def gravity_section(recs) -> dict:
    from harcnn.data import bodyframe as bf

    rows = []
    for rec in recs:
        labels = rec.labels
        first_walk = labels[np.isin(labels[:, 0], WALKING_IDS), 1].min()
        end = labels[(labels[:, 0] > max(WALKING_IDS)) & (labels[:, 2] <= first_walk), 2].max()
        full = bf.estimate_body_frame(rec.acc, RATE, detect_changes=False).frames[0].rotation
        postures = bf.estimate_body_frame(rec.acc[:end], RATE, detect_changes=False)
        stats = postures.stats
        everything = np.arange(len(stats.start))
        up_true = full.T @ bf.CANONICAL[2]
        mean_up = stats.acc_sum.sum(0) / np.linalg.norm(stats.acc_sum.sum(0))
        mode = bf.gravity_frame(stats, everything)
        rows.append((postures.frames[0].source == "gravity",
                     np.degrees(np.arccos(np.clip(mode.T @ bf.CANONICAL[2] @ up_true, -1, 1))),
                     np.degrees(np.arccos(np.clip(mean_up @ up_true, -1, 1))),
                     np.degrees(np.arccos(np.clip(bf.CANONICAL[2] @ up_true, -1, 1))),
                     bf.rotation_angle(mode, full)))
    v = np.array(rows, float)
    out = {"gravity_frames": int(v[:, 0].sum()), "recordings": len(recs),
           "tilt_error_mode_deg": percentiles(v[:, 1]), "tilt_error_mean_deg": percentiles(v[:, 2]),
           "tilt_error_identity_deg": percentiles(v[:, 3]), "rotation_error_mode_deg": percentiles(v[:, 4])}
    print(f"gravity (postures before any walking; {out['gravity_frames']}/{len(recs)} got the gravity frame): up error "
          f"of the most common gravity median {out['tilt_error_mode_deg']['median']:.1f} deg (p95 "
          f"{out['tilt_error_mode_deg']['p95']:.1f}), of the mean gravity {out['tilt_error_mean_deg']['median']:.1f} "
          f"(p95 {out['tilt_error_mean_deg']['p95']:.1f}), of no rotation (upright phones only) "
          f"{out['tilt_error_identity_deg']['median']:.1f} (p95 {out['tilt_error_identity_deg']['p95']:.1f})",
          flush=True)
    return out


def splice(rec, at: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The acceleration with samples before ``at`` turned by ``first`` and the rest by ``second``."""
    return np.concatenate([rec.acc[:at] @ first.T, rec.acc[at:] @ second.T])


def splice_points(rec) -> dict[str, int]:
    """Where to splice: the middle of the recording, and the middle of its labelled walking time."""
    walking = np.isin(sample_labels(rec), WALKING_IDS)
    return {"half": len(rec.acc) // 2, "mid-walk": int(np.searchsorted(np.cumsum(walking), walking.sum() / 2))}


def splice_pairs(n_random: int, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from scipy.spatial.transform import Rotation

    named = turns(0, seed)
    eye = np.eye(3)
    pairs = {"upright>z180": (eye, named["z180"]), "upright>x90": (eye, named["x90"]),
             "upright>other-side": (eye, named["other-side"]), "y90>upright": (named["y90"], eye)}
    randoms = Rotation.random(2 * n_random, random_state=seed + 7).as_matrix()
    for i in range(n_random):
        pairs[f"random-{i + 1}"] = (randoms[2 * i], randoms[2 * i + 1])
    return pairs


def changes_section(recs, n_random: int) -> dict:
    from harcnn.data import bodyframe as bf

    null_angles, null_changes, end_changes = [], 0, []
    for rec in recs:
        cut = trimmed(rec)
        null_angles.append(bf.largest_change(bf.block_stats(cut.acc, RATE))[1])
        null_changes += len(bf.estimate_body_frame(cut.acc, RATE).changes)
        whole = bf.estimate_body_frame(rec.acc, RATE)
        stop = int(rec.labels[:, 2].max())
        end_changes += [(rec.name, c / RATE, stop / RATE) for c in whole.changes]
    out = {"threshold_deg": bf.CHANGE_MIN_DEG, "null_max_angle_deg": percentiles(null_angles),
           "false_changes_labelled_spans": null_changes,
           "changes_in_whole_recordings": [{"recording": n, "at_s": a, "labels_end_s": e} for n, a, e in end_changes]}
    print(f"changes: labelled spans of the 42 recordings: largest angle between walking frames median "
          f"{out['null_max_angle_deg']['median']:.1f} deg, max {out['null_max_angle_deg']['max']:.1f} (threshold "
          f"{bf.CHANGE_MIN_DEG:g}): {null_changes} false change(s); whole recordings: {len(end_changes)} change(s), "
          f"{sum(a > e for _, a, e in end_changes)} after the last label", flush=True)
    pairs = splice_pairs(n_random)
    results = {}
    for where in ("half", "mid-walk"):
        rows = []
        for rec in recs:
            cut = trimmed(rec)
            upright = bf.estimate_body_frame(cut.acc, RATE)
            if len(upright.frames) != 1:
                continue
            truth = upright.frames[0].rotation
            at = splice_points(cut)[where]
            stats = upright.stats
            before = stats.walking & (stats.start + stats.count <= at)
            walking_before = float(stats.count[before].sum() / RATE)  # detected walking, whole blocks
            for name, (first, second) in pairs.items():
                estimate = bf.estimate_body_frame(splice(cut, at, first, second), RATE)
                rotations = estimate.rotations()
                before = angles(rotations[:at], truth @ first.T)
                after = angles(rotations[at:], truth @ second.T)
                nearest = min(estimate.changes, key=lambda c: abs(c - at), default=None)
                rows.append({"recording": cut.name, "pair": name, "walking_before_s": walking_before,
                             "turn_deg": bf.rotation_angle(second @ first.T),
                             "found": nearest is not None and abs(nearest - at) <= 30 * RATE,
                             "time_error_s": None if nearest is None else abs(nearest - at) / RATE,
                             "extra_changes": len(estimate.changes) - (nearest is not None),
                             "before_deg": float(before.mean()), "after_deg": float(after.mean()),
                             "after_median_deg": float(np.median(after))})
        found = [r for r in rows if r["found"]]
        with_walk = [r for r in rows if r["walking_before_s"] >= bf.CHANGE_MIN_WALK_S]
        results[where] = {
            "splices": len(rows), "found": len(found), "found_with_walking_before": sum(r["found"] for r in with_walk),
            "with_walking_before": len(with_walk), "extra_changes": sum(r["extra_changes"] for r in rows),
            "time_error_s": percentiles([r["time_error_s"] for r in found]) if found else None,
            "after_deg": percentiles([r["after_deg"] for r in rows]),
            "before_deg": percentiles([r["before_deg"] for r in rows]),
            "before_deg_with_walking_before": percentiles([r["before_deg"] for r in with_walk]) if with_walk else None,
            "rows": rows}
        r = results[where]
        print(f"  splice at {where}: found {r['found']}/{r['splices']} ({r['found_with_walking_before']}/"
              f"{r['with_walking_before']} with >= {bf.CHANGE_MIN_WALK_S:g} s walking before); "
              f"extra {r['extra_changes']}; "
              + (f"time error median {r['time_error_s']['median']:.2f} s p95 {r['time_error_s']['p95']:.2f} max "
                 f"{r['time_error_s']['max']:.2f}; " if found else "")
              + f"angle after median {r['after_deg']['median']:.1f} p95 {r['after_deg']['p95']:.1f} max "
              f"{r['after_deg']['max']:.1f}; before median {r['before_deg']['median']:.1f} "
              f"p95 {r['before_deg']['p95']:.1f}"
              + (f" (with walking before: median {r['before_deg_with_walking_before']['median']:.1f} p95 "
                 f"{r['before_deg_with_walking_before']['p95']:.1f})" if with_walk else ""), flush=True)
    out["spliced"] = results
    return out


def stream(acc: np.ndarray, chunk: int = 64) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Streaming rotations of every sample, and ``(change sample, sample when it was found)``."""
    from harcnn.data.bodyframe import StreamingBodyFrame

    streamer = StreamingBodyFrame(RATE)
    parts, found = [], []
    for i in range(0, len(acc), chunk):
        parts.append(streamer.push(acc[i:i + chunk]))
        while len(found) < len(streamer.changes):
            found.append((streamer.changes[len(found)], min(i + chunk, len(acc))))
    return np.concatenate(parts), found


def streaming_section(recs, seed: int = 0) -> dict:
    from harcnn.data import bodyframe as bf

    rows = []
    for rec in recs:
        batch = bf.estimate_body_frame(rec.acc, RATE)
        rotations, found = stream(rec.acc)
        error = angles(rotations, batch.rotations())
        walking = np.flatnonzero(batch.stats.walking)
        first_walk = int(batch.stats.start[walking[0]])
        close = error < 10
        settled = next((i for i in range(len(close)) if close[i:].all()), len(close))
        rows.append({"recording": rec.name, "final_deg": float(error[-1]),
                     "within_10_deg_share": float(close.mean()), "within_10_deg_after_first_walk_share":
                     float(close[first_walk:].mean()), "first_walking_s": first_walk / RATE,
                     "settled_after_first_walking_s": (settled - first_walk) / RATE,
                     "changes_batch": list(batch.changes), "changes_stream": [c for c, _ in found]})
    pairs = splice_pairs(3, seed)
    delays, missed = [], 0
    for rec in recs:
        cut = trimmed(rec)
        at = splice_points(cut)["mid-walk"]
        for first, second in list(pairs.values())[:4]:
            _, found = stream(splice(cut, at, first, second))
            near = [(c, t) for c, t in found if abs(c - at) <= 30 * RATE]
            if near:
                delays.append((near[0][1] - at) / RATE)
            else:
                missed += 1
    out = {"final_vs_batch_deg": percentiles([r["final_deg"] for r in rows]),
           "within_10_deg_after_first_walk": percentiles([r["within_10_deg_after_first_walk_share"] for r in rows]),
           "settled_after_first_walking_s": percentiles([r["settled_after_first_walking_s"] for r in rows]),
           "change_found_after_s": percentiles(delays) if delays else None, "changes_missed": missed,
           "changes_tried": missed + len(delays), "rows": rows}
    print(f"streaming: final frame vs batch median {out['final_vs_batch_deg']['median']:.2f} deg (max "
          f"{out['final_vs_batch_deg']['max']:.2f}); within 10 deg of batch on a median "
          f"{100 * out['within_10_deg_after_first_walk']['median']:.1f}% of samples after the first walking; settled "
          f"(within 10 deg for good) median {out['settled_after_first_walking_s']['median']:.0f} s "
          f"after the first walking "
          f"(max {out['settled_after_first_walking_s']['max']:.0f}); spliced mid-walk: change found "
          + (f"{out['change_found_after_s']['median']:.1f} s after it "
             f"(median; max {out['change_found_after_s']['max']:.1f})"
             if delays else "never") + f", missed {missed}/{out['changes_tried']}", flush=True)
    return out


# ------------------------------------------------------------------------------------------- model check


def model_check(recs, dataset_spec, folds: int, seed: int = 0, n_random: int = 5) -> dict:
    """Train ``cnn`` (10 epochs) on the raw and on the body-frame windows of the training subjects'
    recordings; score per-window agreement per class on the test subjects' recordings, upright and
    turned: the raw model on raw and on body-frame windows, the body-frame model on body-frame windows."""
    import torch

    from harcnn.data import bodyframe as bf
    from harcnn.data.dataset import Dataset
    from harcnn.data.hapt import CLASS_NAMES
    from harcnn.data.splits import Protocol
    from harcnn.models.config import Config
    from harcnn.serving.predict import predict_windows
    from harcnn.serving.train import train_model

    torch.set_num_threads(2)
    named = {"upright": np.eye(3), **turns(n_random, seed)}

    def windows(rec, turn: np.ndarray, frame: str) -> tuple[np.ndarray, np.ndarray]:
        acc, gyro = rec.acc @ turn.T, rec.gyro @ turn.T
        if frame == "body":
            estimate = bf.estimate_body_frame(acc, RATE)
            acc, gyro = estimate.apply(acc), estimate.apply(gyro)
        X, y, _ = dataclasses.replace(rec, acc=acc, gyro=gyro).windows("basic")
        return X, y

    plans = (("raw", "raw"), ("raw", "body"), ("body", "body"))  # (training windows, test windows)
    counts = {plan: {t: np.zeros((6, 6), np.int64) for t in named} for plan in plans}
    protocol = Protocol("subjects", folds).folds(np.array([rec.subject for rec in recs]))
    for i, fold in enumerate(protocol):
        test_subjects = {int(s) for s in fold.test_subjects}
        training = [rec for rec in recs if rec.subject not in test_subjects]
        models = {}
        for frame in ("raw", "body"):
            parts = [windows(rec, np.eye(3), frame) for rec in training]
            data = Dataset(X=np.concatenate([p[0] for p in parts]), y=np.concatenate([p[1] for p in parts]),
                           subject=np.concatenate([np.full(len(p[1]), r.subject) for p, r in zip(parts, training)]),
                           spec=dataset_spec, name=f"hapt-{frame}", source="hapt")
            began = time.perf_counter()
            models[frame] = train_model(Config.from_flat({"model": "cnn", "epochs": 10}), data, seed=seed + i)
            print(f"  fold {i + 1}/{len(protocol)} {frame}: trained on {len(data.y)} windows in "
                  f"{time.perf_counter() - began:.0f} s", flush=True)
        for rec in recs:
            if rec.subject not in test_subjects:
                continue
            for name, turn in named.items():
                for test_frame in ("raw", "body"):
                    X, y = windows(rec, turn, test_frame)
                    for plan in plans:
                        if plan[1] == test_frame:
                            np.add.at(counts[plan][name], (y, predict_windows(models[plan[0]], X).predicted), 1)

    def scores(c: np.ndarray) -> dict:
        return {"agreement": float(np.trace(c) / c.sum()),
                "per_class": {CLASS_NAMES[k]: float(c[k, k] / c[k].sum()) for k in range(6)}}

    results = {}
    for plan, by_turn in counts.items():
        turned = sum(c for name, c in by_turn.items() if name != "upright")
        key = f"{plan[0]} model, {plan[1]} windows"
        results[key] = {"upright": scores(by_turn["upright"]), "turned": scores(turned),
                        "per_turn": {name: scores(c)["agreement"] for name, c in by_turn.items()},
                        "confusion_upright": by_turn["upright"].tolist(), "confusion_turned": turned.tolist()}
        up, tu = results[key]["upright"], results[key]["turned"]
        print(f"model check, {key}: upright {100 * up['agreement']:.2f}% ("
              + ", ".join(f"{k[:5]} {100 * v:.1f}" for k, v in up["per_class"].items())
              + f"); turned ({len(named) - 1} turns) {100 * tu['agreement']:.2f}% ("
              + ", ".join(f"{k[:5]} {100 * v:.1f}" for k, v in tu["per_class"].items()) + ")", flush=True)
    return {"folds": [f.test_subjects for f in protocol], "turns": list(named), "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, from {', '.join(SECTIONS)}")
    parser.add_argument("--random", type=int, default=20, help="random rotations beyond the 9 turns")
    parser.add_argument("--model-check", action="store_true", help="train cnn on raw and body-frame windows instead")
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args(argv)
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown --sections {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")

    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from timelines import cpu_model

    from harcnn.data.hapt import hapt_recordings, load_hapt

    start = time.perf_counter()
    recs = hapt_recordings(args.data, progress=False)
    print(f"CPU: {cpu_model()}; {len(recs)} recordings of {len({r.subject for r in recs})} subjects", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.model_check:
        spec = load_hapt(args.data, progress=False).spec
        summary = {"model_check": model_check(recs, spec, args.folds)}
        name = "model-check.json"
    else:
        sections = {"walking": lambda: walking_section(recs), "axes": lambda: axes_section(recs),
                    "canonical": lambda: canonical_section(recs), "turns": lambda: turns_section(recs, args.random),
                    "seconds": lambda: seconds_section(recs), "gravity": lambda: gravity_section(recs),
                    "changes": lambda: changes_section(recs, 10), "streaming": lambda: streaming_section(recs)}
        summary = {}
        for section in args.sections.split(","):
            began = time.perf_counter()
            summary[section] = sections[section]()
            summary[section]["seconds_taken"] = time.perf_counter() - began
        name = "summary.json" if args.sections == ",".join(SECTIONS) else f"{args.sections.replace(',', '+')}.json"
    summary.update(cpu=cpu_model(), wall_seconds=time.perf_counter() - start,
                   command=" ".join(["python", "benchmarks/body_frame.py",
                                     *(argv if argv is not None else sys.argv[1:])]))
    (args.out / name).write_text(json.dumps(summary, indent=1))
    print(f"Done in {summary['wall_seconds'] / 60:.1f} min; {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
