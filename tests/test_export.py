"""ONNX export: raw windows in, averaged probabilities out, equal to PyTorch within 1e-4."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import make_uci_har_tree, train_on

from harcnn.cli import main
from harcnn.core.errors import HarcnnError
from harcnn.data import load_uci_har

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from harcnn.serving.export import export_onnx, onnx_predict_proba, onnx_session, quantize_int8, require_onnx  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    folder = make_uci_har_tree(root, n_train=24, n_test=12, seed=8)
    return folder, load_uci_har(folder, cache_dir=root / "cache", progress=False)


@pytest.mark.parametrize("model,repeats,standardize",
                         [("cnn", 1, True), ("cnn", 3, False), ("multihead", 2, True), ("hybrid", 2, True)])
def test_onnx_matches_pytorch(tiny, tmp_path, model, repeats, standardize):
    _, dataset = tiny
    settings = {"model": model, "filters": 4, "epochs": 1, "standardize": standardize}
    if model != "hybrid":
        settings["dense_units"] = 8
    trained = train_on(dataset, settings, repeats=repeats)
    result = export_onnx(trained, tmp_path / "m.onnx", check_windows=dataset.test.X)
    assert result.max_abs_diff <= 1e-4 and result.n_checked == 64 + len(dataset.test)
    proto = onnx.load(str(result.path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["class_names"].split(",") == list(dataset.class_names) and meta["sampling_rate_hz"] == "50"
    session = onnx_session(result.path, threads=1)
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert inp.name == "windows" and inp.shape[1:] == [128, 9] and isinstance(inp.shape[0], str)
    assert out.name == "probabilities" and out.shape[1] == 6
    rng = np.random.default_rng(0)
    for n in (1, 5, 37):  # the batch axis is dynamic; raw (unstandardized) windows go in
        X = (rng.standard_normal((n, 128, 9)) * 0.5).astype(np.float32)
        np.testing.assert_allclose(onnx_predict_proba(session, X), trained.predict_proba(X), atol=1e-4, rtol=0)
    np.testing.assert_allclose(onnx_predict_proba(session, dataset.train.X), trained.predict_proba(dataset.train.X),
                               atol=1e-4, rtol=0)


def test_int8_runs(tiny, tmp_path):
    _, dataset = tiny
    # big enough that the weights, not the graph, dominate the file size
    trained = train_on(dataset, {"filters": 16, "dense_units": 32, "epochs": 1})
    fp32 = export_onnx(trained, tmp_path / "m.onnx").path
    int8 = quantize_int8(fp32, tmp_path / "m.int8.onnx")
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert {"ConvInteger", "MatMulInteger"} <= ops
    probs = onnx_predict_proba(onnx_session(int8), dataset.test.X)
    assert probs.shape == (len(dataset.test), 6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(probs - trained.predict_proba(dataset.test.X)).max() < 0.1
    assert int8.stat().st_size < fp32.stat().st_size


def test_cli_export(capsys, uci_folder, tmp_path):
    model = tmp_path / "model"
    assert main(["train", "--data", str(uci_folder), "--filters", "4", "--dense-units", "8", "--epochs", "1",
                 "--standardize", "--repeats", "2", "--save", str(model), "--quiet"]) == 0
    capsys.readouterr()
    code = main(["export", str(model), "--onnx", str(tmp_path / "out" / "har.onnx"), "--int8", "--data",
                 str(uci_folder)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "max abs difference" in out and "standardization inside the graph" in out
    assert "PyTorch" in out and "ONNX fp32" in out and "ONNX int8" in out
    assert (tmp_path / "out" / "har.onnx").is_file() and (tmp_path / "out" / "har.int8.onnx").is_file()
    code = main(["export", str(model), "--onnx", str(tmp_path / "har.bin")])
    assert code == 2 and ".onnx" in capsys.readouterr().err


def test_missing_onnx_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(HarcnnError, match=r"pip install 'harcnn\[export\]'"):
        require_onnx()
