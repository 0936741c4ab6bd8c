"""ONNX export of a saved model, verified with onnxruntime, and optional dynamic int8 quantization.

The exported graph takes **raw** windows, exactly what :meth:`TrainedModel.predict_proba` takes:
input ``windows`` float32 ``[batch, window, channels]`` (dynamic batch axis; channel order and units as
the artifact's ``input``), output ``probabilities`` float32 ``[batch, classes]``. The fitted standardization
(if the model has one) is baked into the graph as constants, and for an ensemble the members run
as one grouped computation whose softmax outputs are averaged in the graph, so the ONNX model
needs nothing but onnxruntime. The class names, channel order and sampling rate are stored as
metadata properties of the ONNX model.

``onnx`` and ``onnxruntime`` are an optional extra: ``pip install 'harcnn[export]'``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from harcnn.core.errors import HarcnnError
from harcnn.core.io import atomic_write_bytes
from harcnn.core.outputs import PRODUCER, OutputKind, check_output
from harcnn.serving.artifact import TrainedModel

__all__ = ["ONNX_FILE", "ExportResult", "export_onnx", "onnx_predict_proba", "onnx_session", "quantize_int8",
           "require_onnx"]

DEFAULT_OPSET = 17
TOLERANCE = 1e-4
INPUT_NAME, OUTPUT_NAME = "windows", "probabilities"


def require_onnx() -> None:
    """Import ``onnx`` and ``onnxruntime``, or say how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as error:
        raise HarcnnError(f"ONNX export needs the optional packages onnx and onnxruntime ({error.name} is missing): "
                          "pip install 'harcnn[export]'") from None
    return onnx, onnxruntime


def _is_harcnn_onnx(path: Path) -> bool:
    """An ONNX model harcnn exported: its ``producer`` metadata property (key and value as protobuf writes them)."""
    key, value = b"producer", PRODUCER.encode()
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return bytes([10, len(key)]) + key + bytes([18, len(value)]) + value in data


#: An ONNX model ``harcnn export`` wrote (its int8 version too).
ONNX_FILE = OutputKind("ONNX model", folder=False, recognise=_is_harcnn_onnx)


class RawWindowsModel(nn.Module):
    """``probabilities = mean_r softmax(member_r((windows - mean) / scale))``: the whole
    :meth:`TrainedModel.predict_proba` as one module."""

    def __init__(self, trained: TrainedModel):
        super().__init__()
        self.net = trained.model.cpu().eval()
        standardizer = trained.standardizer
        self.standardize = standardizer is not None
        if self.standardize:
            self.register_buffer("mean", torch.tensor(standardizer.mean_, dtype=torch.float32))
            self.register_buffer("scale", torch.tensor(standardizer.scale_, dtype=torch.float32))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        x = (windows - self.mean) / self.scale if self.standardize else windows
        return torch.softmax(self.net.forward_members(x), dim=-1).mean(dim=0)


@dataclass
class ExportResult:
    path: Path
    bytes: int
    max_abs_diff: float
    n_checked: int
    opset: int


def export_onnx(trained: TrainedModel, path: str | os.PathLike, *, opset: int = DEFAULT_OPSET,
                check_windows: np.ndarray | None = None, n_random: int = 64, tolerance: float = TOLERANCE,
                seed: int = 0, overwrite: bool = False) -> ExportResult:
    """Export ``trained`` to ``path`` and verify it with onnxruntime against PyTorch.

    The check runs ``n_random`` random windows (drawn around the standardizer's statistics, or
    unit normal) plus ``check_windows`` (e.g. the test set) through both; the file is written
    only when the largest absolute difference of the probabilities is within ``tolerance``.
    An existing ``path`` is replaced only with ``overwrite``, and only when harcnn exported it.
    """
    onnx, _ = require_onnx()
    check_output(path, ONNX_FILE, replace=overwrite)
    wrapper = RawWindowsModel(trained).eval()
    example = torch.zeros(2, trained.window, trained.n_channels)
    buffer = _export_bytes(wrapper, example, opset)
    proto = onnx.load_from_string(buffer)
    metadata = {
        "producer": PRODUCER, "model": trained.describe(), "class_names": ",".join(trained.class_names),
        "channels": ",".join(trained.channel_names),
        "sampling_rate_hz": "" if trained.sampling_rate is None else f"{trained.sampling_rate:g}",
        "window": str(trained.window), "step": str(trained.step),
        "units": ",".join(trained.spec.units),
        "input": "raw windows [batch, window, channels] float32 in the channels' units; standardization is "
                 "inside the graph",
        "output": "class probabilities [batch, classes] (members' softmax averaged)",
    }
    if trained.metadata.get("weights", {}).get("sha256"):
        metadata["weights_sha256"] = trained.metadata["weights"]["sha256"]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = f"harcnn {trained.describe()}: raw windows -> class probabilities"
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()

    rng = np.random.default_rng(seed)
    shape = (n_random, trained.window, trained.n_channels)
    if trained.standardizer is not None:
        random = trained.standardizer.mean_ + trained.standardizer.scale_ * rng.standard_normal(shape)
    else:
        random = rng.standard_normal(shape)
    parts = [random.astype(np.float32)]
    if check_windows is not None and len(check_windows):
        parts.append(np.asarray(check_windows, dtype=np.float32))
    X = np.concatenate(parts)
    reference = trained.predict_proba(X)
    got = onnx_predict_proba(onnx_session(data), X)
    diff = float(np.max(np.abs(got.astype(np.float64) - reference)))
    if not diff <= tolerance:
        raise HarcnnError(f"the ONNX model differs from PyTorch by up to {diff:.3g} (limit {tolerance:g}); "
                          f"not written to {path}")
    out = atomic_write_bytes(path, data)
    return ExportResult(out, len(data), diff, len(X), opset)


def _export_bytes(module: nn.Module, example: torch.Tensor, opset: int) -> bytes:
    """The TorchScript-based exporter (no onnxscript needed), dynamic batch axis, to bytes."""
    import io

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, (example,), buffer, dynamo=False, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], opset_version=opset, do_constant_folding=True,
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
        except Exception as error:  # the exporter raises many types; say what failed in one line
            raise HarcnnError(f"ONNX export failed: {type(error).__name__}: {str(error).splitlines()[0]}") from error
    return buffer.getvalue()


def onnx_session(model: str | os.PathLike | bytes, threads: int | None = None):
    """An onnxruntime CPU session for a model file or bytes (``threads`` intra-op threads)."""
    _, ort = require_onnx()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as error:
        raise HarcnnError(f"onnxruntime cannot load {'the model' if isinstance(model, bytes) else model}: "
                          f"{str(error).splitlines()[0]}") from None


def onnx_predict_proba(session, windows: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Probabilities ``[n, K]`` from an exported model's session, in batches."""
    X = np.ascontiguousarray(windows, dtype=np.float32)
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: X[i:i + batch_size]})[0] for i in range(0, len(X), batch_size)])


def quantize_int8(fp32_path: str | os.PathLike, int8_path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Dynamic int8 quantization (weights int8, activations quantized at run time) of an exported
    model: convolutions become ConvInteger and dense layers MatMulInteger. Written atomically; an
    existing ``int8_path`` is replaced only with ``overwrite``, and only when harcnn exported it."""
    require_onnx()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8_path = check_output(int8_path, ONNX_FILE, option="int8_path", replace=overwrite)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=int8_path.parent, prefix=f".{int8_path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with _quiet_quantizer():
            quantize_dynamic(str(fp32_path), tmp, weight_type=QuantType.QInt8)
        os.chmod(tmp, 0o644)
        os.replace(tmp, int8_path)
    except HarcnnError:
        raise
    except Exception as error:
        raise HarcnnError(f"int8 quantization failed: {type(error).__name__}: {str(error).splitlines()[0]}") from error
    finally:
        Path(tmp).unlink(missing_ok=True)
    return int8_path


@contextlib.contextmanager
def _quiet_quantizer():
    """onnxruntime's quantizer logs a pre-processing hint on the root logger; hide it."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
