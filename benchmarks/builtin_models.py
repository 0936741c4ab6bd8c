"""Train harcnn's built-in models reproducibly, and measure their accuracy honestly.

The data: everything of the 30 UCI HAR / HAPT volunteers that is here, each window once. HAPT's raw
recordings of the 21 UCI HAR training subjects give windows of all 12 classes (the 6 activities and the 6
postural transitions) and the activity sequences the timeline smoother learns; UCI HAR's test split gives
the windows of the other 9 subjects (its 6 activities; raw inertial signals, preprocessed as HAPT's windows
are). UCI HAR's training windows are not used: they were cut from the same HAPT recordings.

    python benchmarks/builtin_models.py --names phone,phone-acc --out src/harcnn/models/builtin

For each model: 5 folds by subject over the 30 people (a model trained the same way without the fold's
people, scored on their windows), then the shipped model on all 30, saved with its card. The folds' scores
are kept in benchmarks/results/builtin/<name>-folds.json (``--folds 0`` skips them: the card then says
the accuracy was not measured).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" if (REPO.parent / "shared").is_dir() else Path("/work/shared/data")
HAPT = SHARED / "hapt" / "HAPT_RawData_train_subjects.zip"
UCI = SHARED / "uci_har" / "UCI_HAR_Dataset.zip"
RESULTS = REPO / "benchmarks" / "results" / "builtin"

#: The recipe: --preset best (hybrid, standardized, cosine schedule, body-frame input, rotations up to 15
#: degrees and turns about the vertical up to 180) with 15 epochs (half of best's: the 30 people's windows
#: are half as many again as UCI HAR's training split).
RECIPE = {"preset": "best", "epochs": 15}
MODELS = {
    "phone": {"sensors": "acc,gyro", "summary": "a phone on the waist, accelerometer and gyroscope: 6 activities and "
                                                "6 postural transitions"},
    "phone-acc": {"sensors": "acc", "summary": "a phone on the waist, accelerometer only (for devices and apps "
                                               "without a gyroscope): 6 activities and 6 postural transitions"},
}
LICENCES = ("UCI HAR (Anguita et al., IWAAL 2012) and HAPT (Reyes-Ortiz et al., Neurocomputing 2016), from the UCI "
            "Machine Learning Repository, which publishes both under CC BY 4.0 (attribution: cite those papers); the "
            "datasets' own README files say 'Any commercial use is prohibited', so check the terms before commercial "
            "use")
PLACEMENT = ("trained on a smartphone (Samsung Galaxy S II) in a waist belt, as in UCI HAR and HAPT; it reads each "
             "recording in its body frame (up and forward estimated from the recording's walking, "
             "harcnn.data.bodyframe), so a phone at the waist may be turned any way; other placements (a "
             "trouser pocket, a hand) were not measured")


def config_values() -> dict:
    from harcnn.core.settings import PRESETS

    values = dict(PRESETS[RECIPE["preset"]])
    values.update({k: v for k, v in RECIPE.items() if k != "preset"})
    return values


def data(sensors: str):
    """(all windows of the 30 people, HAPT's windows with their recordings), with ``sensors``."""
    from harcnn.data.dataset import concatenate
    from harcnn.data.sources import load_dataset

    hapt = load_dataset(HAPT, "hapt", classes="all", sensors=sensors, frame="body", progress=False)
    uci = load_dataset(UCI, "uci_har", frame="body", progress=False).test
    keep = [uci.channel_names.index(c) for c in hapt.channel_names]
    uci = replace(uci, X=np.ascontiguousarray(uci.X[:, :, keep]), extras={},
                  spec=replace(uci.spec, channels=hapt.spec.channels, units=hapt.spec.units,
                               preprocessing=hapt.spec.preprocessing))
    assert not set(hapt.subjects.tolist()) & set(uci.subjects.tolist())
    joined = concatenate([hapt, uci], name="hapt+uci_har_test",
                         source=f"{HAPT.name} (21 subjects' recordings) + {UCI.name} (test split: 9 subjects)")
    joined = replace(joined, loaded_with={"kind": "hapt+uci_har", "options": {"classes": "all", "sensors": sensors,
                                                                   "frame": "body"}})
    return joined, hapt


def train(values: dict, train_set, hapt, test=None, seed: int = 0):
    from harcnn.models.config import Config
    from harcnn.serving.train import train_model

    sequences = hapt.subset(np.isin(hapt.subject, train_set.subjects))
    return train_model(Config.from_flat(values), train_set, seed=seed, test=test, timeline_data=sequences)


def folds(name: str, joined, hapt, n_folds: int) -> list[dict]:
    from harcnn.data.splits import Protocol

    path = RESULTS / f"{name}-folds.json"
    done = json.loads(path.read_text()) if path.is_file() else {"folds": []}
    rows = [row for row in done["folds"] if row["recipe"] == config_values()]
    for index, fold in enumerate(Protocol("subjects", n_folds).folds(joined.subject)):
        if any(row["fold"] == index for row in rows):
            continue
        started = time.perf_counter()
        test = joined.subset(fold.test)
        trained = train(config_values(), joined.subset(fold.train), hapt, test=test)
        from_hapt = np.isin(test.subject, hapt.subjects)
        predicted = trained.predict(test.X)
        rows.append({"fold": index, "recipe": config_values(), "test_subjects": sorted(int(s) for s in test.subjects),
                     "windows": len(test), "accuracy": trained.scores["test_accuracy"],
                     "accuracy_hapt": float((predicted == test.y)[from_hapt].mean()),
                     "accuracy_uci_test": float((predicted == test.y)[~from_hapt].mean()),
                     "per_class": trained.scores["per_class"], "seconds": round(time.perf_counter() - started, 1)})
        print(f"{name} fold {index}: {100 * rows[-1]['accuracy']:.2f}% ({rows[-1]['seconds']:.0f} s)", flush=True)
        RESULTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"cpu": cpu_model(), "folds": rows}, indent=1) + "\n")
    return rows


def card(name: str, trained, joined, rows: list[dict]) -> dict:
    spec = trained.spec
    sensors = spec.preprocessing["sensors"]
    if rows:
        accuracy = np.array([r["accuracy"] for r in rows])
        f1 = np.mean([np.mean([c["f1"] for c in r["per_class"].values()]) for r in rows])
        measured = (f"{100 * accuracy.mean():.2f}% of held-out windows (mean of {len(rows)} subject folds, "
                    f"{100 * accuracy.min():.1f}-{100 * accuracy.max():.1f}%; macro-F1 {100 * f1:.1f}); HAPT's windows "
                    f"{100 * np.mean([r['accuracy_hapt'] for r in rows]):.2f}%, UCI HAR test subjects' "
                    f"{100 * np.mean([r['accuracy_uci_test'] for r in rows]):.2f}%")
        protocol = (f"{len(rows)} folds by subject over the 30 people: for each, a model trained the same way without "
                    "the fold's people, scored on all their windows (benchmarks/builtin_models.py; "
                    f"benchmarks/results/builtin/{name}-folds.json). The shipped model is trained on all 30.")
    else:
        measured = "not measured for this version"
        protocol = "none yet: this first version's accuracy was not measured by subject folds"
    return {
        "summary": MODELS[name]["summary"],
        "classes": list(spec.classes),
        "input": (f"{spec.window_seconds:g} s windows ({spec.window} samples at {spec.sampling_rate:g} Hz) every "
                  f"{spec.step_seconds:g} s of {' and '.join(sensors)} (any rate of 20 Hz or more, resampled; "
                  f"acceleration in g or m/s2), preprocessed as UCI HAR's: {', '.join(spec.channels)}"),
        "placement": PLACEMENT,
        "frame": "body",
        "network": (f"{trained.name}, {trained.n_models} member, {trained.model.num_parameters():,} parameters, "
                    "standardized input; timeline smoother: an HMM over the 12 classes from the HAPT recordings' "
                    "label sequences (not calibrated: no subject held out)"),
        "trained_with": ", ".join(f"{k}={v}" for k, v in config_values().items()) + " (--preset best, 15 epochs)",
        "data": (f"{len(joined)} windows of 30 people aged 19-48: HAPT's raw recordings of the 21 UCI HAR training "
                 "subjects (windows of all 12 classes) and UCI HAR's test-split windows of the other 9 (its 6 "
                 "activities); UCI HAR's training windows are not used again, being cut from the same recordings"),
        "accuracy": measured,
        "protocol": protocol,
        "licences": LICENCES,
    }


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", default=",".join(MODELS))
    parser.add_argument("--out", type=Path, default=REPO / "src" / "harcnn" / "models" / "builtin")
    parser.add_argument("--folds", type=int, default=5, help="subject folds for the accuracy (0: none)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.names.split(","):
        joined, hapt = data(MODELS[name]["sensors"])
        rows = folds(name, joined, hapt, args.folds) if args.folds else []
        started = time.perf_counter()
        trained = train(config_values(), joined, hapt)
        trained.card = card(name, trained, joined, rows)
        path = trained.save(args.out / name, overwrite=True)
        print(f"{name}: saved to {path} in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
