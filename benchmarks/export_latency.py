"""Every model family through serving: size on disk, test accuracy, single-window latency, ONNX agreement.

For each model (``--models``, default every registered one) trained on the real UCI HAR training split
(``--epochs``, its defaults otherwise, standardized: the normalisation is then inside the exported
graph), saved (safetensors), loaded back, exported to ONNX (fp32: raw windows in, the member average
inside the graph) and quantized (dynamic int8), it prints:

* the size on disk of the safetensors weights, the ONNX fp32 and the int8 files;
* the test accuracy (2947 windows) of PyTorch, ONNX fp32 and ONNX int8, and the ONNX check (the largest
  absolute difference of the probabilities from PyTorch's over the test windows and 64 random ones);
* single-window latency, median of ``--runs`` calls with 1 thread: the bare PyTorch forward, the full
  ``TrainedModel.predict_proba`` (with its checks and standardization), onnxruntime fp32 and int8.

Usage (from the repository root; skips when the dataset is absent)::

    python benchmarks/export_latency.py [--data ZIP] [--models cnn,hybrid] [--epochs 10] [--runs 500]
    python benchmarks/export_latency.py --model models/hybrid        # one saved model, as it is
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


def timings(fn, runs: int, warmup: int = 30) -> float:
    """The median in microseconds of ``fn()``."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1e3)
    return statistics.median(samples)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(model_dir: Path, test, folder: Path, runs: int) -> dict:
    import torch

    from harcnn.serving.artifact import load_model
    from harcnn.serving.export import export_onnx, onnx_predict_proba, onnx_session, quantize_int8

    model = load_model(model_dir)
    fp32 = export_onnx(model, folder / f"{model_dir.name}.onnx", check_windows=test.X)
    int8 = quantize_int8(fp32.path, folder / f"{model_dir.name}.int8.onnx")
    torch.set_num_threads(1)
    sessions = {"fp32": onnx_session(fp32.path, threads=1), "int8": onnx_session(int8, threads=1)}
    reference = model.predict_proba(test.X)
    row = {"model": model.name, "parameters": model.model.num_parameters(),
           "safetensors_mb": (model_dir / "model.safetensors").stat().st_size / 1e6, "onnx_mb": fp32.bytes / 1e6,
           "int8_mb": int8.stat().st_size / 1e6, "max_abs_diff": fp32.max_abs_diff,
           "accuracy": float((reference.argmax(1) == test.y).mean())}
    for label, session in sessions.items():
        probabilities = onnx_predict_proba(session, test.X)
        row[f"accuracy_{label}"] = float((probabilities.argmax(1) == test.y).mean())
        row[f"agreement_{label}"] = float((probabilities.argmax(1) == reference.argmax(1)).mean())
    window = test.X[:1].copy()
    prepared = torch.from_numpy(model.prepare(window))
    net = model.model.eval()

    def forward():
        with torch.inference_mode():
            torch.softmax(net(prepared), dim=-1)

    row["us_forward"] = timings(forward, runs)
    row["us_predict_proba"] = timings(lambda: model.predict_proba(window), runs)
    for label, session in sessions.items():
        name = session.get_inputs()[0].name
        row[f"us_onnx_{label}"] = timings(lambda s=session, n=name: s.run(None, {n: window}), runs)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"UCI HAR zip (default {DEFAULT_DATA})")
    parser.add_argument("--models", default=None, help="comma-separated model names (default: every registered one)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs of each model (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--runs", type=int, default=500, help="latency measurements per engine (default 500)")
    parser.add_argument("--model", type=Path, default=None, help="measure this saved model instead of training")
    parser.add_argument("--keep", type=Path, default=None, help="keep the model folders and ONNX files here")
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

    from harcnn.data import load_uci_har
    from harcnn.models import list_models
    from harcnn.models.config import Config
    from harcnn.serving.train import train_model

    dataset = load_uci_har(args.data, progress=False)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="harcnn-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    if args.model is not None:
        saved = [args.model]
    else:
        saved = []
        for name in (args.models.split(",") if args.models else list_models()):
            torch.set_num_threads(threads)
            start = time.perf_counter()
            trained = train_model(Config.from_flat({"model": name, "epochs": args.epochs, "standardize": True}),
                                  dataset.train, seed=args.seed)
            print(f"trained {name} ({args.epochs} epochs) in {time.perf_counter() - start:.0f} s", flush=True)
            saved.append(trained.save(folder / name, overwrite=True))
    rows = [measure(path, dataset.test, folder, args.runs) for path in saved]
    print()
    print(f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs (shared); Python {platform.python_version()}, "
          f"torch {torch.__version__}, onnxruntime {ort.__version__}")
    print()
    print("| model | parameters | safetensors MB | ONNX MB | int8 MB | test accuracy % (PyTorch / ONNX / int8) | "
          "ONNX max abs diff | int8 agreement % | latency us: forward / predict_proba / ONNX / int8 |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['model']} | {r['parameters']:,} | {r['safetensors_mb']:.2f} | {r['onnx_mb']:.2f} | "
              f"{r['int8_mb']:.2f} | {100 * r['accuracy']:.2f} / {100 * r['accuracy_fp32']:.2f} / "
              f"{100 * r['accuracy_int8']:.2f} | {r['max_abs_diff']:.1e} | {100 * r['agreement_int8']:.2f} | "
              f"{r['us_forward']:.0f} / {r['us_predict_proba']:.0f} / {r['us_onnx_fp32']:.0f} / "
              f"{r['us_onnx_int8']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
