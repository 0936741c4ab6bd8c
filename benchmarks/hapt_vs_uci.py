"""How closely harcnn's HAPT windows reproduce the official UCI HAR training windows.

    python benchmarks/hapt_vs_uci.py [--hapt ZIP] [--uci ZIP]

The shared HAPT copy holds the raw recordings of the 21 UCI HAR training subjects, the recordings
the UCI HAR windows were cut from. The script

1. finds every UCI HAR training window's source: the first sample, in one of its subject's recordings,
   where harcnn's preprocessed total acceleration fits the window best (least squares over all
   offsets, by FFT correlation);
2. checks the windowing rule: counts the UCI windows that harcnn's ``load_hapt`` cuts at the same
   recording, first sample and class, and says where the others start;
3. prints the difference between harcnn's and the official windows per channel (mean and max
   absolute difference, RMS of the difference relative to the signal's RMS);
4. measures preprocessing variants on every located window (each at its best shift of -2..2 samples).

Markdown on stdout; the run's time and CPU at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from harcnn.data.hapt import PREPROCESS, hapt_recordings, load_hapt
from harcnn.data.uci_har import load_uci_har
from harcnn.data.windows import CHANNELS, preprocess

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HAPT_ZIP = SHARED / "hapt" / "HAPT_RawData_train_subjects.zip"
UCI_ZIP = SHARED / "uci_har" / "UCI_HAR_Dataset.zip"
GROUPS = {"total_acc": slice(0, 3), "body_acc": slice(3, 6), "body_gyro": slice(6, 9)}
STATIC = (3, 4, 5)  # SITTING, STANDING, LAYING
CHUNK = 64  # windows per FFT batch


def locate(windows: np.ndarray, series: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each window [m, 128, 3]: the offset into ``series`` [n, 3] with the least squared difference,
    that difference, and the least one at least 3 samples away (how unambiguous the fit is)."""
    n, width = len(series), windows.shape[1]
    size = 1 << int(np.ceil(np.log2(n + width)))
    spectrum = np.fft.rfft(series, size, axis=0)
    energy = np.r_[0.0, np.cumsum((series**2).sum(axis=1))]
    energy = energy[width:] - energy[:-width]  # sum of squares of every candidate window
    best, ssd, runner_up = [], [], []
    for lo in range(0, len(windows), CHUNK):
        w = windows[lo:lo + CHUNK]
        corr = np.fft.irfft((np.fft.rfft(w[:, ::-1], size, axis=1) * spectrum).sum(-1), size, axis=1)
        d = energy - 2 * corr[:, width - 1:n] + (w**2).sum(axis=(1, 2))[:, None]
        at = d.argmin(axis=1)
        best.append(at)
        ssd.append(d[np.arange(len(at)), at])
        for row, offset in zip(d, at):
            row[max(0, offset - 2):offset + 3] = np.inf
        runner_up.append(d.min(axis=1))
    return np.concatenate(best), np.concatenate(ssd), np.concatenate(runner_up)


def find_sources(uci, recordings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(recording index, first sample, ambiguity ratio)`` of every UCI window."""
    series = [r.preprocessed()[:, :3] for r in recordings]
    where = np.zeros(len(uci.y), np.int64)
    first = np.zeros(len(uci.y), np.int64)
    ratio = np.zeros(len(uci.y))
    for subject in np.unique(uci.subject):
        rows = np.flatnonzero(uci.subject == subject)
        windows = uci.X[rows, :, :3].astype(np.float64)
        fits = [(i, *locate(windows, series[i])) for i, r in enumerate(recordings) if r.subject == subject]
        ssd, runner_up = np.stack([f[2] for f in fits]), np.stack([f[3] for f in fits])
        pick, columns = ssd.argmin(axis=0), np.arange(len(rows))
        where[rows] = [fits[p][0] for p in pick]
        first[rows] = [fits[p][1][k] for k, p in enumerate(pick)]
        second = ssd.copy()  # the next best fit: another recording's best, or the chosen one's runner-up
        second[pick, columns] = runner_up[pick, columns]
        ratio[rows] = second.min(axis=0) / np.maximum(ssd[pick, columns], 1e-12)
    return where, first, ratio


def classify(uci, recordings, where, first, cut) -> Counter:
    """Why each UCI window is or is not one of harcnn's windows (``cut``: {(recording, start): class})."""
    reasons = Counter()
    for k in range(len(uci.y)):
        r = recordings[where[k]]
        start, y = int(first[k]), int(uci.y[k])
        if cut.get((r.name, start)) == y:
            reasons["exact: harcnn cuts this window"] += 1
            continue
        inside = [row for row in r.labels if row[1] <= start < row[2]]
        if not inside:
            reasons["starts in an unlabelled gap"] += 1
        elif inside[0][0] > 6:
            reasons["starts in a HAPT postural-transition segment"] += 1
        elif inside[0][0] - 1 != y:
            reasons["starts in a HAPT segment of another class"] += 1
        elif start + 128 > inside[0][2]:
            reasons["runs past its HAPT segment's end"] += 1
        else:
            reasons["inside its HAPT segment, off its start-aligned grid"] += 1
    return reasons


def difference_table(ours: np.ndarray, official: np.ndarray) -> list[str]:
    diff = np.abs(ours.astype(np.float64) - official)
    rms = lambda a: np.sqrt(np.mean(np.square(a), axis=(0, 1)))  # noqa: E731
    relative = rms(diff) / rms(official.astype(np.float64))
    lines = ["| channel | mean abs diff | max abs diff | RMS(diff) / RMS(signal) |", "|---|---:|---:|---:|"]
    for c, name in enumerate(CHANNELS):
        lines.append(f"| {name} | {diff[:, :, c].mean():.2e} | {diff[:, :, c].max():.3f} | {relative[c]:.2e} |")
    return lines


def windows_at(series: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return series[starts[:, None] + np.arange(128)]


def variant_errors(uci, recordings, where, first, make) -> tuple[int, np.ndarray, np.ndarray]:
    """The best shift (-2..2) and mean absolute differences per group (all windows, static windows) of the
    windows cut from the series ``make(recording, index)`` gives."""
    series = {i: make(recordings[i], i) for i in np.unique(where)}
    best = None
    for shift in range(-2, 3):
        diff = np.empty((len(uci.y), 3))
        for i, s in series.items():
            rows = np.flatnonzero(where == i)
            starts = np.clip(first[rows] + shift, 0, len(s) - 128)
            d = np.abs(windows_at(s, starts) - uci.X[rows])  # NaN outside a restarted segment: not counted
            diff[rows] = np.stack([np.nanmean(d[:, :, g], axis=(1, 2)) for g in GROUPS.values()], axis=1)
        static = np.isin(uci.y, STATIC)
        result = (shift, diff.mean(axis=0), diff[static].mean(axis=0))
        if best is None or result[1][0] < best[1][0]:
            best = result
    return best


def per_segment(recording, chains: list[tuple[int, int]]) -> np.ndarray:
    """Each UCI chain of windows preprocessed on its own (filters restarted at its first sample)."""
    out = np.full((len(recording.acc), 9), np.nan)
    for lo, hi in chains:
        out[lo:hi] = preprocess({"acc": recording.acc[lo:hi], "gyro": recording.gyro[lo:hi]}, PREPROCESS)[0]
    return out


def chains_of(where: np.ndarray, first: np.ndarray, y: np.ndarray) -> dict[int, list[tuple[int, int]]]:
    """The runs of consecutive UCI windows (same recording and class, each 64 samples after the last)."""
    chains: dict[int, list[tuple[int, int]]] = {}
    lo = 0
    for k in range(1, len(y) + 1):
        if k == len(y) or where[k] != where[k - 1] or y[k] != y[k - 1] or first[k] != first[k - 1] + 64:
            chains.setdefault(int(where[lo]), []).append((int(first[lo]), int(first[k - 1]) + 128))
            lo = k
    return chains


def _monotonic(values: np.ndarray, groups: np.ndarray | None = None) -> str:
    groups = np.zeros(len(values)) if groups is None else groups
    same = groups[1:] == groups[:-1]
    return "(always)" if (np.diff(values)[same] >= 0).all() else "(NOT always)"


def _protocol_order(where: np.ndarray, y: np.ndarray) -> int:
    """How many experiments list their windows' classes in the protocol's order, one run per class."""
    count = 0
    for experiment in np.unique(where):
        classes = y[where == experiment]
        runs = classes[np.r_[True, classes[1:] != classes[:-1]]]
        count += runs.tolist() == [4, 3, 5, 0, 2, 1]
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hapt", type=Path, default=HAPT_ZIP)
    parser.add_argument("--uci", type=Path, default=UCI_ZIP)
    args = parser.parse_args()
    for path in (args.hapt, args.uci):
        if not path.is_file():
            sys.exit(f"no dataset at {path}")
    wall, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as cache:
        uci = load_uci_har(args.uci, cache_dir=cache, progress=False).train
        recordings = hapt_recordings(args.hapt, cache_dir=cache, progress=False)
        ours = load_hapt(args.hapt, cache_dir=cache, progress=False)
    loaded = time.perf_counter() - wall
    where, first, ratio = find_sources(uci, recordings)
    located = time.perf_counter() - wall - loaded
    names = np.array([r.name for r in recordings])
    starts = np.rint(ours.start * 50).astype(np.int64)
    cut = {(r, int(s)): int(y) for r, s, y in zip(ours.recording, starts, ours.y)}
    reasons = classify(uci, recordings, where, first, cut)
    exact = np.array([cut.get((names[w], int(f))) == int(y) for w, f, y in zip(where, first, uci.y)])
    steps = (np.diff(first) == 64) & (where[1:] == where[:-1]) & (uci.y[1:] == uci.y[:-1])
    shared = (np.abs(uci.X[1:, :64] - uci.X[:-1, 64:]).max(axis=(1, 2)) == 0) & (uci.subject[1:] == uci.subject[:-1])

    print(f"## Sources of the {len(uci.y)} UCI HAR training windows\n")
    print(f"- Located in {len(recordings)} recordings of {len(np.unique(uci.subject))} subjects; a fit's runner-up "
          f"(3 or more samples away) has at least {np.min(ratio):.0f}x its squared difference "
          f"(median {np.median(ratio):.0f}x).")
    print(f"- Consecutive UCI windows that share 64 samples exactly: {int(shared.sum())}; of them, located 64 "
          f"samples apart in one recording: {int((shared & steps).sum())}.")
    print(f"- Order: by subject {_monotonic(uci.subject)}, then by experiment {_monotonic(where, uci.subject)}; "
          f"within an experiment the runs go STANDING, SITTING, LAYING, WALKING, WALKING_DOWNSTAIRS, "
          f"WALKING_UPSTAIRS in {_protocol_order(where, uci.y)} of {len(np.unique(where))} experiments (each "
          "activity's segments in time order), the others interleave some activities; so windows are matched by "
          "where they fit, not by their place in the list.")
    print(f"- harcnn's load_hapt cuts {len(ours)} windows; {int(exact.sum())} of the UCI windows are among them "
          f"(same recording, first sample and class).\n")
    print("| where the UCI window starts | windows |\n|---|---:|")
    for reason, count in reasons.most_common():
        print(f"| {reason} | {count} |")
    print("\n| class | UCI windows | exact | harcnn windows |\n|---|---:|---:|---:|")
    for c, name in enumerate(ours.class_names):
        print(f"| {name} | {int((uci.y == c).sum())} | {int(exact[uci.y == c].sum())} | {int((ours.y == c).sum())} |")

    index = {key: k for k, key in enumerate(zip(ours.recording, starts))}
    matched = np.flatnonzero(exact)
    mine = ours.X[[index[names[where[k]], int(first[k])] for k in matched]]
    for title, rows in (("all exact matches", slice(None)),
                        ("dynamic (walking, stairs)", ~np.isin(uci.y[matched], STATIC)),
                        ("static (sitting, standing, lying)", np.isin(uci.y[matched], STATIC))):
        print(f"\n### harcnn vs UCI HAR, {title} ({len(matched[rows])} windows)\n")
        print("\n".join(difference_table(mine[rows], uci.X[matched][rows])))

    print("\n## Preprocessing variants, on all located windows (mean abs diff)\n")
    print("| variant | shift | total_acc | body_acc | body_gyro "
          "| total_acc static | body_acc static | body_gyro static |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    chains = chains_of(where, first, uci.y)
    variants = {
        "harcnn (UCI HAR's spec): whole recording, causal, median 3, 20 Hz order 3, 0.1 Hz gyro drift removal":
            lambda r, i: r.preprocessed(),
        "without the gyro drift removal": lambda r, i: r.preprocessed(replace(PREPROCESS, gyro_drift_cutoff_hz=None)),
        "filters restarted at each UCI segment (chain) start": lambda r, i: per_segment(r, chains[i]),
        "zero-phase (centred median, forward-backward filters)": lambda r, i: r.preprocessed(
            replace(PREPROCESS, zero_phase=True)),
        "median kernel 1 (none)": lambda r, i: r.preprocessed(replace(PREPROCESS, median_kernel=1)),
        "median kernel 5": lambda r, i: r.preprocessed(replace(PREPROCESS, median_kernel=5)),
        "20 Hz low-pass order 1": lambda r, i: r.preprocessed(replace(PREPROCESS, filter_order=1)),
        "no 20 Hz low-pass": lambda r, i: r.preprocessed(replace(PREPROCESS, noise_cutoff_hz=None)),
    }
    for name, make in variants.items():
        shift, every, static = variant_errors(uci, recordings, where, first, make)
        print(f"| {name} | {shift:+d} | " + " | ".join(f"{v:.2e}" for v in (*every, *static)) + " |")

    total, cpu = time.perf_counter() - wall, time.process_time() - cpu
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    print(f"\nTime: {total:.1f} s wall ({loaded:.1f} s loading both datasets, {located:.1f} s locating), "
          f"{cpu:.1f} s CPU; {os.cpu_count()} cores ({model}); Python {platform.python_version()}, "
          f"numpy {np.__version__}.")


if __name__ == "__main__":
    main()
