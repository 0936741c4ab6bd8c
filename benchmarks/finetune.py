"""Fine-tuning for small datasets, measured by subject folds on HAPT (12 classes).

For each of the 5 subject folds of the shared HAPT recordings (21 subjects, as ``--cv subjects:5``), k
of the fold's training subjects are "labelled" (k = 1, 2, 4, 8 and all; a seeded order per fold, the
smaller sets inside the larger), a network is trained on their windows and tested on the fold's test
subjects, starting from:

* ``scratch``: random weights;
* ``sup-all``: a network pretrained (supervised) on every training subject of the fold plus the 9 UCI
  HAR test subjects' windows (never the fold's test subjects; it has seen the labelled ones);
* ``sup-disjoint``: pretrained on the fold's *other* training subjects (not labelled) plus the UCI HAR
  test subjects: people disjoint from both the labelled and the test subjects, as a user's own people are
  from the built-in models';
* ``ssl``: pretrained self-supervised (``harcnn pretrain``: the pretext tasks of Yuan et al. 2024) on
  every window of the fold's training subjects' recordings, labelled or not, plus the UCI HAR test
  subjects' windows; no label used;
* ``ssl+sup-disjoint``: ``sup-disjoint``'s pretraining started from the ``ssl`` network.

Every network is the baseline CNN, standardized, trained for at least 1000 optimizer steps (10 epochs, more
where k subjects give fewer batches), the same for every start. ``schedule`` chooses the fine-tuning
schedule's default on validation subjects (the fold's training subjects that are not labelled; never a
test subject), starting from a network pretrained on the UCI HAR test subjects only. ``transfer`` fine-tunes
an accelerometer-only network pretrained without one class (the first ``phone-acc`` recipe: the hybrid
network, standardized, rotations up to 90 degrees, on the phone's axes; pretrained on the other training
subjects and the UCI HAR test subjects) on accelerometer-only data of k labelled subjects with all
classes, against the same recipe from scratch.

    python benchmarks/finetune.py schedule --out benchmarks/results/finetune
    python benchmarks/finetune.py curve --out benchmarks/results/finetune
    python benchmarks/finetune.py transfer --out benchmarks/results/finetune

Rows are appended to ``OUT/<step>.jsonl`` as they finish, and a run resumes from them; the pretrained
networks are kept under ``--work`` (default runs/finetune-bench).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path("/work/shared/data") if not (REPO.parent / "shared").is_dir() else REPO.parent / "shared" / "data"
HAPT = SHARED / "hapt" / "HAPT_RawData_train_subjects.zip"
UCI = SHARED / "uci_har" / "UCI_HAR_Dataset.zip"
SIZES = (1, 2, 4, 8, 0)  # 0: all the fold's training subjects
MIN_STEPS = 1000
RECIPE = {"model": "cnn", "standardize": True, "epochs": 10}
#: transfer: the hybrid recipe of the first, phone-frame built-in models (--preset best before the body frame:
#: rotations up to 90 degrees; at least 10 epochs and MIN_STEPS steps, as RECIPE), on the phone's axes
PHONE_RECIPE = {"model": "hybrid", "standardize": True, "lr_schedule": "cosine", "augment_rotate": 90.0, "epochs": 10}
SCHEDULES = {"plain": {}, "freeze": {"freeze_epochs": "half"}, "low-lr": {"pretrained_lr": 0.1},
             "freeze+low-lr": {"freeze_epochs": "half", "pretrained_lr": 0.1}}


def data(sensors: str = "acc,gyro"):
    """(HAPT 12 classes, UCI HAR test subjects' windows), both with ``sensors``."""
    from harcnn.data.sources import load_dataset
    from harcnn.data.windows import output_channels

    hapt = load_dataset(HAPT, "hapt", classes="all", sensors=sensors, progress=False)
    uci = load_dataset(UCI, "uci_har", progress=False).test
    keep = [uci.channel_names.index(c) for c in output_channels(tuple(sensors.split(",")))]
    if len(keep) != len(uci.channel_names):
        from dataclasses import replace

        spec = replace(uci.spec, channels=hapt.spec.channels, units=hapt.spec.units,
                       preprocessing=hapt.spec.preprocessing)
        uci = replace(uci, X=uci.X[:, :, keep], spec=spec)
    return hapt, uci


def folds(hapt):
    from harcnn.data.splits import Protocol

    return Protocol("subjects", 5).folds(hapt.subject)


def labelled_order(hapt, fold, index: int) -> list:
    train = sorted(set(hapt.subject[fold.train].tolist()))
    return [train[i] for i in np.random.default_rng(1000 + index).permutation(len(train))]


def subjects_mask(dataset, subjects) -> np.ndarray:
    return np.isin(dataset.subject, list(subjects))


def recipe_for(windows: int, recipe: dict = RECIPE, **changes) -> dict:
    """``recipe`` with at least MIN_STEPS optimizer steps on ``windows`` windows."""
    batches = math.ceil(windows / 32)
    epochs = max(recipe["epochs"], math.ceil(MIN_STEPS / batches))
    values = {**recipe, "epochs": epochs, **changes}
    if values.get("freeze_epochs") == "half":
        values["freeze_epochs"] = epochs // 2
    return values


def train(values: dict, train_set, test_set=None, seed: int = 0):
    from harcnn.models.config import Config
    from harcnn.serving.train import train_model

    return train_model(Config.from_flat(values), train_set, seed=seed, test=test_set)


def pretrained(path: Path, values: dict, dataset) -> str:
    """A network pretrained with ``values`` on ``dataset``, saved at ``path`` (trained the first time)."""
    if not (path / "config.json").is_file():
        started = time.perf_counter()
        train(values, dataset).save(path, overwrite=True)
        print(f"  pretrained {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return str(path)


def done_rows(out: Path) -> dict:
    rows = {}
    if out.is_file():
        for line in out.read_text().splitlines():
            row = json.loads(line)
            rows[row["key"]] = row
    return rows


def record(out: Path, row: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as handle:
        handle.write(json.dumps(row) + "\n")


def scored(trained, key: str, **more) -> dict:
    per_class = trained.scores["per_class"]
    return {"key": key, "accuracy": trained.scores["test_accuracy"],
            "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])),
            "recall": {name: c["recall"] for name, c in per_class.items()},
            "seconds": trained.scores["train_seconds"], **more}


def ssl_network(work: Path, hapt_path: Path, uci, fold_index: int, test_subjects, seed: int = 0) -> str:
    from dataclasses import replace

    from harcnn.data.dataset import concatenate
    from harcnn.data.pretext import PRETEXT_CLASSES, pretext_dataset, unlabelled_windows

    path = work / f"ssl-fold{fold_index}"
    if (path / "config.json").is_file():
        return str(path)
    windows = unlabelled_windows(hapt_path, "hapt", progress=False)
    windows = windows.subset(~subjects_mask(windows, test_subjects))
    extra = replace(uci, y=np.zeros(len(uci), np.int64), spec=replace(uci.spec, classes=PRETEXT_CLASSES),
                    recording=None, start=None, split=None, extras={})
    joined = concatenate([replace(windows, recording=None, start=None), extra], name="unlabelled",
                         source="hapt + uci test")
    return pretrained(path, recipe_for(len(joined)), pretext_dataset(joined, seed=seed))


# ------------------------------------------------------------------------------------------------ steps


def step_schedule(args) -> None:
    """The fine-tuning schedule's default, chosen on validation subjects (never the test subjects)."""
    hapt, uci = data()
    out = args.out / "schedule.jsonl"
    rows = done_rows(out)
    init = pretrained(args.work / "sup-uci", recipe_for(len(uci)), uci)
    for index, fold in enumerate(folds(hapt)):
        order = labelled_order(hapt, fold, index)
        for k in (1, 2, 4):
            labelled, validation = order[:k], order[k:]
            train_set = hapt.subset(subjects_mask(hapt, labelled))
            val_set = hapt.subset(subjects_mask(hapt, validation))
            for name, changes in SCHEDULES.items():
                key = f"fold{index}-k{k}-{name}"
                if key in rows:
                    continue
                values = recipe_for(len(train_set), init=init, **changes)
                row = scored(train(values, train_set, val_set), key, fold=index, k=k, schedule=name)
                record(out, row)
                print(f"{key}: validation {100 * row['accuracy']:.2f}%", flush=True)


def step_curve(args) -> None:
    """The learning curve: k labelled subjects, from scratch and from each pretraining."""
    from harcnn.data.dataset import concatenate

    hapt, uci = data()
    out = args.out / "curve.jsonl"
    rows = done_rows(out)
    schedule = json.loads(args.schedule) if args.schedule else {}
    arms = args.arms.split(",")
    for index, fold in enumerate(folds(hapt)):
        if args.folds and index not in args.folds:
            continue
        order = labelled_order(hapt, fold, index)
        test_subjects = fold.test_subjects
        test = hapt.subset(fold.test)
        train_all = hapt.subset(fold.train)
        for k in SIZES:
            labelled = order if k == 0 else order[:k]
            train_set = hapt.subset(subjects_mask(hapt, labelled))
            for arm in arms:
                key = f"fold{index}-k{k or 'all'}-{arm}"
                if key in rows:
                    continue
                init = None
                if arm == "sup-all":
                    init = pretrained(args.work / f"sup-all-fold{index}", recipe_for(len(train_all) + len(uci)),
                                      concatenate([train_all, uci], name="hapt+uci", source=""))
                elif arm.endswith("sup-disjoint"):
                    others = hapt.subset(fold.train[~subjects_mask(train_all, labelled)])
                    parts = [others, uci] if len(others) else [uci]
                    start = {}
                    if arm.startswith("ssl+"):
                        start = {"init": ssl_network(args.work, HAPT, uci, index, test_subjects)}
                    name = f"{arm}-fold{index}-k{k or 'all'}"
                    init = pretrained(args.work / name, recipe_for(sum(map(len, parts)), **start),
                                      concatenate(parts, name="pretraining", source="") if len(parts) > 1 else uci)
                elif arm == "ssl":
                    init = ssl_network(args.work, HAPT, uci, index, test_subjects)
                values = recipe_for(len(train_set), **({"init": init, **schedule} if init else {}))
                row = scored(train(values, train_set, test), key, fold=index, k=k or len(order), arm=arm)
                record(out, row)
                print(f"{key}: test {100 * row['accuracy']:.2f}%", flush=True)


def step_transfer(args) -> None:
    """phone-acc's recipe pretrained without a class, fine-tuned on accelerometer-only data with it."""
    from harcnn.data.dataset import concatenate

    hapt, uci = data("acc")
    held = args.held_out
    out = args.out / "transfer.jsonl"
    rows = done_rows(out)
    schedule = json.loads(args.schedule) if args.schedule else {}
    for index, fold in enumerate(folds(hapt)):
        order = labelled_order(hapt, fold, index)
        test = hapt.subset(fold.test)
        for k in (2, 4):
            labelled = order[:k]
            train_set = hapt.subset(subjects_mask(hapt, labelled))
            others = hapt.subset(fold.train[~subjects_mask(hapt.subset(fold.train), labelled)])
            pool = concatenate([others, uci], name="pretraining", source="")
            pool = pool.subset(np.array(pool.class_names)[pool.y] != held)
            for arm in ("scratch", "finetuned"):
                key = f"fold{index}-k{k}-{arm}"
                if key in rows:
                    continue
                init = None
                if arm == "finetuned":
                    init = pretrained(args.work / f"acc-without-{held}-fold{index}-k{k}",
                                      recipe_for(len(pool), PHONE_RECIPE), _without_class(pool, held))
                values = recipe_for(len(train_set), PHONE_RECIPE, **({"init": init, **schedule} if init else {}))
                row = scored(train(values, train_set, test), key, fold=index, k=k, arm=arm, held_out=held)
                record(out, row)
                print(f"{key}: test {100 * row['accuracy']:.2f}%, {held} recall {row['recall'].get(held)}", flush=True)


def _without_class(dataset, name: str):
    """``dataset`` whose classes no longer name ``name`` (it holds no window of it)."""
    from dataclasses import replace

    keep = [c for c in dataset.class_names if c != name]
    remap = np.array([keep.index(c) if c in keep else -1 for c in dataset.class_names])
    return replace(dataset, y=remap[dataset.y], spec=replace(dataset.spec, classes=tuple(keep)))


def step_summary(args) -> None:
    """Markdown tables of the rows so far: mean over folds (and the folds' range)."""
    for step, columns in (("schedule", "schedule"), ("curve", "arm"), ("transfer", "arm")):
        rows = list(done_rows(args.out / f"{step}.jsonl").values())
        if not rows:
            continue
        sizes = sorted({r["key"].split("-")[1] for r in rows}, key=lambda k: (k == "kall", int(k[1:]) if k != "kall"
                                                                                 else 0))
        names = list(dict.fromkeys(r[columns] for r in rows))
        print(f"\n{step} (mean accuracy % over folds; [folds])")
        print("| " + " | ".join(["k", *names]) + " |")
        print("|" + "---|" * (len(names) + 1))
        for size in sizes:
            cells = []
            for name in names:
                values = [r["accuracy"] for r in rows if r[columns] == name and r["key"].split("-")[1] == size]
                cells.append(f"{100 * np.mean(values):.2f} [{len(values)}]" if values else "")
            print(f"| {size[1:]} | " + " | ".join(cells) + " |")
        if step == "transfer":
            held = rows[0]["held_out"]
            for size in sizes:
                for name in names:
                    recall = [r["recall"][held] for r in rows if r[columns] == name and r["key"].split("-")[1] == size]
                    print(f"k={size[1:]} {name}: {held} recall {100 * np.mean(recall):.1f}%")


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["schedule", "curve", "transfer", "summary"])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "finetune")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "finetune-bench")
    parser.add_argument("--arms", default="scratch,sup-all,sup-disjoint,ssl")
    parser.add_argument("--folds", type=lambda t: [int(v) for v in t.split(",")], default=None)
    parser.add_argument("--schedule", default="", help="fine-tuning settings as JSON (default: the schema's)")
    parser.add_argument("--held-out", default="WALKING_UPSTAIRS", help="transfer: the class pretraining never sees")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: on 2 shared cores, 3x faster per "
                                                               "step than 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps = {"schedule": step_schedule, "curve": step_curve, "transfer": step_transfer, "summary": step_summary}
    steps[args.step](args)


if __name__ == "__main__":
    main()
