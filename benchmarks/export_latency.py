"""Model size on disk, test accuracy and single-window latency: PyTorch vs ONNX fp32 vs ONNX int8.

Trains the baseline CNN on the real UCI HAR data (``--epochs``, default 10, the reference recipe),
saves it (safetensors), exports it to ONNX (fp32, raw windows in, standardization and the
member average inside the graph) and quantizes it (dynamic int8), then prints:

* model size on disk: safetensors, ONNX fp32, ONNX int8;
* test accuracy (2947 windows) of PyTorch, ONNX fp32 and ONNX int8;
* single-window latency, median (and 90th percentile) of ``--runs`` calls with 1 thread:
  PyTorch (the bare network forward, and the full ``TrainedModel.predict_proba`` with its numpy
  standardization and checks) and onnxruntime (fp32 and int8).

Usage (from the repository root; skips when the dataset is absent)::

    python benchmarks/export_latency.py [--data ZIP] [--epochs 10] [--standardize] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "uci_har" / "UCI_HAR_Dataset.zip"


def timings(fn, runs: int, warmup: int = 50) -> tuple[float, float]:
    """(median, 90th percentile) in microseconds of ``fn()``."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1e3)
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"UCI HAR zip (default {DEFAULT_DATA})")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    parser.add_argument("--standardize", action="store_true", help="train on standardized windows")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--runs", type=int, default=2000, help="latency measurements per engine (default 2000)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the model folder and ONNX files here")
    parser.add_argument("--model", type=Path, default=None,
                        help="measure this saved model (harcnn train --save) instead of training one")
    args = parser.parse_args(argv)

    if not args.data.exists():
        print(f"skipped: UCI HAR dataset not found at {args.data} (pass --data)")
        return 0
    try:
        import onnxruntime as ort
    except ImportError:
        print("skipped: needs onnx and onnxruntime (pip install 'harcnn[export]')")
        return 0
    import torch

    from harcnn.artifact import load_model, train_model
    from harcnn.data import load_uci_har
    from harcnn.experiments import ExperimentConfig
    from harcnn.export import export_onnx, onnx_predict_proba, onnx_session, quantize_int8

    dataset = load_uci_har(args.data, progress=False)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="harcnn-bench-"))
    if args.model is not None:
        model_dir = args.model
        print(f"Measuring the saved model {model_dir}")
    else:
        config = ExperimentConfig.from_flat({"model": "cnn", "epochs": args.epochs, "standardize": args.standardize})
        print(f"Training the baseline CNN ({args.epochs} epochs, standardize={args.standardize}, seed {args.seed}) "
              f"on {len(dataset.train)} windows, {torch.get_num_threads()} threads ...", flush=True)
        start = time.perf_counter()
        trained = train_model(dataset, config, repeats=1, seed=args.seed)
        print(f"  trained in {time.perf_counter() - start:.0f} s")
        model_dir = trained.save(folder / "model", overwrite=True)
    model = load_model(model_dir)
    flat = model.config.to_flat()
    test = dataset.test
    fp32 = export_onnx(model, folder / "model.onnx", check_windows=test.X)
    int8 = quantize_int8(fp32.path, folder / "model.int8.onnx")

    torch.set_num_threads(1)
    sessions = {"ONNX fp32": onnx_session(fp32.path, threads=1), "ONNX int8": onnx_session(int8, threads=1)}
    accuracy = {"PyTorch": model.score(test.X, test.y)}
    for label, session in sessions.items():
        accuracy[label] = float((onnx_predict_proba(session, test.X).argmax(1) == test.y).mean())

    window = test.X[:1].copy()
    prepared = torch.from_numpy(model.prepare(window))
    net = model.model.eval()

    def torch_forward():
        with torch.inference_mode():
            torch.softmax(net(prepared), dim=-1)

    latency = {"PyTorch, network forward": timings(torch_forward, args.runs),
               "PyTorch, TrainedModel.predict_proba": timings(lambda: model.predict_proba(window), args.runs)}
    for label, session in sessions.items():
        name = session.get_inputs()[0].name
        latency[f"onnxruntime {label[5:]}"] = timings(lambda s=session, n=name: s.run(None, {n: window}), args.runs)

    mb = 1e6
    print()
    print(f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs (shared); Python {platform.python_version()}, "
          f"torch {torch.__version__}, onnxruntime {ort.__version__}")
    print(f"Model: {model.describe()}, {model.model.num_parameters():,} parameters per member, "
          f"{flat['epochs']} epochs, standardize={flat['standardize']}; ONNX check: max abs difference "
          f"{fp32.max_abs_diff:.1e} on {fp32.n_checked} windows")
    print()
    print("| artifact | size on disk | test accuracy |")
    print("|---|---:|---:|")
    print(f"| PyTorch (safetensors) | {(model_dir / 'model.safetensors').stat().st_size / mb:.2f} MB | "
          f"{100 * accuracy['PyTorch']:.2f}% |")
    print(f"| ONNX fp32 | {fp32.bytes / mb:.2f} MB | {100 * accuracy['ONNX fp32']:.2f}% |")
    print(f"| ONNX int8 (dynamic) | {int8.stat().st_size / mb:.2f} MB | {100 * accuracy['ONNX int8']:.2f}% |")
    print()
    print(f"Single-window latency, 1 thread, {args.runs} runs:")
    print()
    print("| engine | median | p90 |")
    print("|---|---:|---:|")
    for label, (median, p90) in latency.items():
        print(f"| {label} | {median:.0f} us | {p90:.0f} us |")
    if args.keep:
        print(f"\nKept: {model_dir}, {fp32.path}, {int8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
