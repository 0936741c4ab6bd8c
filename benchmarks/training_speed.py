"""Training speed of the baseline CNN, side by side in one run on one machine.

Times one full training (10 epochs, batch 32, 7352 windows) of the reference baseline with:

1. a plain PyTorch loop (nn.Conv1d/nn.Linear, DataLoader, torch.optim.Adam, nn.Dropout);
2. harcnn's engine, one model;
3. the whole command ``harcnn evaluate --repeats 1`` in a fresh process (start-up, data loading,
   training, testing and saving: its wall clock beside the training time it reports);
4. harcnn's engine, 10 repeats at once in one process;
5. harcnn's engine, 10 repeats in 2 worker processes (the default on a multi-core CPU);
6. the same in bfloat16 (``--precision bf16``);
7. the Keras reference, when TensorFlow is installed (optional; never in CI);

then test-set inference throughput. Prints the CPU (model, AVX-512 / AMX flags, torch's CPU
capability) beside per-model training times and ratios, since speed depends on the matrix units, and
the 1-minute load average before and after each row (it counts the row's own processes, 1-2 while it
runs): other work on the machine shows there.

    python benchmarks/training_speed.py [--epochs 10] [--data ZIP] [--rows keras,workers,bf16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from harcnn.cli.options import native_bf16
from harcnn.data import load_uci_har
from harcnn.experiments.evaluate import evaluate
from harcnn.experiments.executors import InProcessExecutor, ProcessExecutor
from harcnn.models import create_model
from harcnn.models.config import Config
from harcnn.training import predict_logits

SHARED_ZIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci_har" / "UCI_HAR_Dataset.zip"


class PlainCNN(nn.Module):
    """The baseline as a straightforward PyTorch port."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv1d(9, 64, 3), nn.Conv1d(64, 64, 3)
        self.dropout = nn.Dropout(0.5)
        self.dense, self.head = nn.Linear(64 * 62, 100), nn.Linear(100, 6)

    def forward(self, x):
        h = F.relu(self.conv2(F.relu(self.conv1(x.transpose(1, 2)))))
        h = F.max_pool1d(self.dropout(h), 2).flatten(1)
        return self.head(F.relu(self.dense(h)))


def plain_pytorch(X, y, epochs):
    torch.manual_seed(0)
    model = PlainCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.as_tensor(X), torch.as_tensor(y)),
                                         batch_size=32, shuffle=True)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
    return time.perf_counter() - start


def keras_reference(X, y, epochs):
    try:
        import tensorflow as tf
    except ImportError:
        return None
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([
        tf.keras.Input((128, 9)),
        tf.keras.layers.Conv1D(64, 3, activation="relu"),
        tf.keras.layers.Conv1D(64, 3, activation="relu"),
        tf.keras.layers.Dropout(0.5),
        tf.keras.layers.MaxPooling1D(2),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(100, activation="relu"),
        tf.keras.layers.Dense(6, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    onehot = np.eye(6, dtype=np.float32)[y]
    start = time.perf_counter()
    model.fit(X, onehot, epochs=epochs, batch_size=32, verbose=0)
    return time.perf_counter() - start


def harcnn_engine(dataset, epochs, repeats, executor, precision="fp32"):
    """(training seconds per model, wall seconds per model, mean test accuracy).

    Training time is what the Keras and plain-PyTorch rows time (the fitting loop), spread over
    the workers that ran in parallel; wall time also counts starting the worker processes,
    testing every model and collecting the results.
    """
    config = Config.from_flat({"epochs": epochs, "precision": precision})
    start = time.perf_counter()
    result = evaluate(dataset, config, repeats=repeats, executor=executor)
    wall = (time.perf_counter() - start) / repeats
    parallel = getattr(executor, "workers", 1)
    training = sum(t.train_seconds for t in result.trials) / parallel / repeats
    return training, wall, result.mean


def whole_command(data: Path, epochs: int) -> tuple[float, float, float]:
    """(training seconds, wall seconds, test accuracy) of ``harcnn evaluate --repeats 1`` run as a user runs it."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "harcnn", "evaluate", "--repeats", "1", "--epochs", str(epochs),
                   "--data", str(data), "--out", str(Path(out) / "run"), "--quiet"]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        wall = time.perf_counter() - start
        scores = (Path(out) / "run" / "scores.csv").read_text().splitlines()[1].split(",")
    return float(scores[4]), wall, float(scores[3])


def inference_rate(dataset, precision, seconds=3.0):
    """Windows per second over the test set (repeated), and agreement with fp32 predictions."""
    model = create_model("cnn", window=dataset.spec.window, n_channels=len(dataset.spec.channels),
                         n_classes=len(dataset.spec.classes)).eval()
    X = np.concatenate([dataset.test.X] * 4)
    reference = predict_logits(model, X[:2947]).argmax(2)
    agreement = (predict_logits(model, X[:2947], precision=precision).argmax(2) == reference).float().mean().item()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        predict_logits(model, X, precision=precision)
        count += len(X)
    return count / (time.perf_counter() - start), agreement


ROWS = ("keras", "plain", "one", "command", "batch", "workers", "bf16")


def training_table(dataset, data: Path, epochs: int, repeats: int, rows: list[str], rounds: int = 1) -> None:
    """Time ``rows`` (names from :data:`ROWS`) ``rounds`` times, the order rotated every round (a shared
    machine's load changes within a run), and print each row's median, its spread and the ratios
    of the medians."""
    X, y = dataset.train.X, dataset.train.y
    cores = os.cpu_count() or 1
    workers = ProcessExecutor(workers=2, threads=max(1, cores // 2))
    runs = {
        "keras": ("Keras reference (TensorFlow, 1 model)", lambda: (keras_reference(X, y, epochs),)),
        "plain": ("plain PyTorch loop (1 model)", lambda: (plain_pytorch(X, y, epochs),)),
        "one": ("harcnn engine, 1 model", lambda: harcnn_engine(dataset, epochs, 1, InProcessExecutor())),
        "command": ("harcnn evaluate --repeats 1, whole command", lambda: whole_command(data, epochs)),
        "batch": (f"harcnn engine, {repeats} models at once, 1 process",
                  lambda: harcnn_engine(dataset, epochs, repeats, InProcessExecutor())),
        "workers": (f"harcnn engine, {repeats} models, 2 worker processes",
                    lambda: harcnn_engine(dataset, epochs, repeats, workers)),
        "bf16": (f"harcnn engine, {repeats} models, 2 workers, bf16",
                 lambda: harcnn_engine(dataset, epochs, repeats, workers, precision="bf16")),
    }
    results: dict[str, list[tuple]] = {}
    for round_ in range(rounds):
        for row in rows[round_ % len(rows):] + rows[:round_ % len(rows)]:
            name, run = runs[row]
            load_before = os.getloadavg()[0]
            result = run()
            load = f" [load {load_before:.1f} -> {os.getloadavg()[0]:.1f}]"
            if result[0] is None:  # no TensorFlow here
                continue
            results.setdefault(row, []).append(result)
            training, wall, accuracy = (tuple(result) + (None, None))[:3]
            extra = f" (wall clock {wall:.2f} s)" if wall is not None else ""
            extra += f", mean test accuracy {100 * accuracy:.2f}%" if accuracy is not None else ""
            print(f"round {round_ + 1}: {name:<52} {training:7.2f} s per model{extra}{load}", flush=True)

    def median(row: str, i: int) -> float | None:
        values = [r[i] for r in results.get(row, []) if len(r) > i and r[i] is not None]
        return statistics.median(values) if values else None

    reference_row = "keras" if "keras" in results else next(iter(results))
    reference, reference_name = median(reference_row, 0), runs[reference_row][0].split(" (")[0]
    print(f"\nMedians of {rounds} round(s); spread = min-max of the training time.\n\n"
          f"| engine | training s per model | spread | vs {reference_name} | wall clock s per model | wall clock vs "
          f"{reference_name}'s training | mean test accuracy |\n|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        if row not in results:
            continue
        training, wall, accuracy = median(row, 0), median(row, 1), median(row, 2)
        spread = [r[0] for r in results[row]]
        wall_text = f"{wall:.2f} | {reference / wall:.2f}x" if wall is not None else "- | -"
        accuracy_text = f"{100 * accuracy:.2f}%" if accuracy is not None else "-"
        print(f"| {runs[row][0]} | {training:.2f} | {min(spread):.2f}-{max(spread):.2f} "
              f"| {reference / training:.2f}x | "
              f"{wall_text} | {accuracy_text} |")


def cpu_description() -> str:
    """The CPU model, the vector/matrix flags that decide conv and matmul speed, and torch's capability."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile")
    present = [f for f in wanted if f in flags] or ["(flags unknown)"]
    capability = torch.backends.cpu.get_cpu_capability()
    bf16 = "native bf16 in torch" if native_bf16() else "no native bf16 in torch (bf16 is emulated)"
    return f"{model}; {', '.join(present)}; torch CPU capability {capability}; {bf16}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--data", type=Path, default=SHARED_ZIP)
    parser.add_argument("--inference-only", action="store_true", help="skip the training timings")
    parser.add_argument("--bf16", action="store_true", help="time bf16 training even where the CPU emulates it")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"rows to time, from {','.join(ROWS)}")
    parser.add_argument("--rounds", type=int, default=1, help="time the rows this many times, interleaved")
    args = parser.parse_args()
    rows = args.rows.split(",")
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}: choose from {', '.join(ROWS)}")
    if "bf16" in rows and not (native_bf16() or args.bf16):
        rows.remove("bf16")
        print("bf16 training skipped: this CPU only emulates bf16 (convolutions fall back to slow kernels, "
              "see profile_step.py); --bf16 runs it anyway", flush=True)
    dataset = load_uci_har(args.data, progress=False)
    print(f"CPU: {cpu_description()}")
    print(f"Machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.epochs} epochs on {len(dataset.train)} windows\n")

    if not args.inference_only:
        training_table(dataset, args.data, args.epochs, args.repeats, rows, args.rounds)
    print()
    for precision in ("fp32", "bf16"):
        rate, agreement = inference_rate(dataset, precision)
        print(f"Inference (baseline CNN, batches of 512, {precision}): {rate:,.0f} windows/s "
              f"({100 * agreement:.2f}% of predictions equal to fp32)")


if __name__ == "__main__":
    main()
