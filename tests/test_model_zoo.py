"""The model zoo: deepcnn, hybrid, resnet1d, inception, lstm, cnnlstm (tiny sizes; each test runs in seconds)."""

import numpy as np
import pytest
import torch
from conftest import UCI_INPUTS

from harcnn.core.errors import HarcnnError
from harcnn.models import EnsembleModel, create_model, list_models
from harcnn.models.layers import (
    EnsembleLSTM,
    concat_members,
    conv_to_dense,
    conv_to_sequence,
    to_conv_layout,
    to_sequence_layout,
)
from harcnn.reports.plots import ArchitectureSpec
from harcnn.training import TrainConfig, Trainer, evaluate_loss_accuracy

ZOO = ["deepcnn", "hybrid", "resnet1d", "inception", "lstm", "cnnlstm"]
SHAPE = dict(n_channels=3, n_classes=3, window=32, sampling_rate=50.0)
TINY = {
    "deepcnn": dict(blocks=2, filters=4, kernel_size=3),
    "hybrid": dict(blocks=2, filters=4, kernel_size=3),
    "resnet1d": dict(width=1 / 16),  # 4/8/8 filters
    "inception": dict(depth=3, filters=4, bottleneck=4, kernel_sizes=(3, 5, 9)),
    "lstm": dict(hidden=8, layers=2),
    "cnnlstm": dict(conv_layers=2, filters=8, kernel_size=3, hidden=8, lstm_layers=2),
}
# parameters of one member at the defaults (9 channels, 6 classes, 128 steps)
DEFAULT_PARAMETERS = {"deepcnn": 161_830, "hybrid": 164_422, "resnet1d": 129_190, "inception": 119_526, "lstm": 52_358,
                      "cnnlstm": 295_750}


def toy_problem(n=96, window=32, channels=3, seed=0):
    """Three classes told apart by which channel carries a sine wave."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = 0.3 * rng.standard_normal((n, window, channels))
    X[np.arange(n), :, y] += np.sin(np.arange(window) / 2)
    return X.astype(np.float32), y


def tiny(name, n_models=1, **extra):
    return create_model(name, n_models=n_models, **SHAPE, **{**TINY[name], **extra})


def test_zoo_is_registered():
    assert set(ZOO) <= set(list_models())


@pytest.mark.parametrize("name", ZOO)
def test_defaults_build_with_expected_size_and_shapes(name):
    single = create_model(name, **UCI_INPUTS).eval()
    assert single.num_parameters() == DEFAULT_PARAMETERS[name]
    assert single(torch.randn(2, 128, 9)).shape == (2, 6)
    ensemble = create_model(name, **UCI_INPUTS, n_models=3).eval()
    assert ensemble(torch.randn(2, 128, 9)).shape == (3, 2, 6)  # one input shared by all members
    assert ensemble(torch.randn(3, 2, 128, 9)).shape == (3, 2, 6)  # a batch per member
    ArchitectureSpec.coerce(single.architecture())  # a valid diagram spec


def test_published_sizes():
    """ResNet at width 1 has the published 64/128/128 filters; cnnlstm's defaults are DeepConvLSTM's."""
    resnet = create_model("resnet1d", **UCI_INPUTS, width=1.0)
    assert resnet.filters == [64, 128, 128]
    blocks = [(9, 64), (64, 128), (128, 128)]
    convs = sum(c_in * 8 * c + c * 5 * c + c * 3 * c + 3 * 2 * c for c_in, c in blocks)  # no bias before BN
    shortcuts = 9 * 64 + 64 * 128 + 2 * (64 + 128 + 128)
    assert resnet.num_parameters() == convs + shortcuts + 128 * 6 + 6
    lstm_params = lambda d, h: 4 * h * (d + h) + 4 * h  # noqa: E731  (one bias, as Keras)
    convs = 9 * 5 * 64 + 64 + 3 * (64 * 5 * 64 + 64)
    expected = convs + lstm_params(64, 128) + lstm_params(128, 128) + 128 * 6 + 6
    assert create_model("cnnlstm", **UCI_INPUTS).num_parameters() == expected
    assert (create_model("lstm", **UCI_INPUTS, hidden=100, layers=1).num_parameters()
            == lstm_params(9, 100) + 100 * 6 + 6)


@pytest.mark.parametrize("name", ZOO)
def test_forward_backward_and_member_isolation(name):
    net = tiny(name, n_models=2).train()
    X, _ = toy_problem(8)
    x = torch.as_tensor(X).expand(2, *X.shape).clone()
    out = net(x)
    assert out.shape == (2, 8, 3) and torch.isfinite(out).all()
    out[0].sum().backward()  # a loss that depends on member 0 only
    for pname, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert torch.all(p.grad.unflatten(0, (2, -1))[1] == 0), pname  # member 1 gets no gradient
    assert any(p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize("name", ZOO)
def test_member_seed_is_independent_of_ensemble_size(name):
    alone = tiny(name)
    alone.seed_members([7])
    together = tiny(name, n_models=3)
    together.seed_members([5, 7, 9])
    for (pname, a), b in zip(alone.state_dict().items(), together.member(1).state_dict().values()):
        assert torch.equal(a, b), pname
    assert not torch.equal(together.member(0).head.weight, together.member(1).head.weight)


@pytest.mark.parametrize("name", ZOO)
def test_member_and_from_members_round_trip(name):
    X, y = toy_problem(32)
    model = tiny(name, n_models=3)
    Trainer(TrainConfig(epochs=1, batch_size=16)).fit(model, X, y, [1, 2, 3])  # non-trivial BN statistics
    stacked = EnsembleModel.from_members([model.member(r) for r in range(3)]).eval()
    x = torch.randn(3, 4, 32, 3)
    torch.testing.assert_close(model(x), stacked(x))
    torch.testing.assert_close(model.member(2)(x[2]), model(x)[2])
    for (pname, a), b in zip(model.state_dict().items(), stacked.state_dict().values()):
        assert torch.equal(a, b), pname


@pytest.mark.parametrize("name", ZOO)
def test_members_trained_together_equal_members_trained_alone(name):
    """Same seeds -> same initial weights, batch orders and dropout masks; batch norm keeps
    per-member statistics (train mode), so each member ends where it ends alone."""
    X, y = toy_problem(48)
    seeds = [11, 22, 33]
    trainer = Trainer(TrainConfig(epochs=2, batch_size=16))
    together = tiny(name, n_models=3)
    trainer.fit(together, X, y, seeds)
    for r in (0, 2):
        alone = tiny(name)
        trainer.fit(alone, X, y, [seeds[r]])
        for (pname, a), b in zip(alone.state_dict().items(), together.member(r).state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=pname)


@pytest.mark.parametrize("name", ZOO)
def test_learns_a_separable_problem(name):
    X, y = toy_problem(240)
    net = tiny(name, n_models=2)
    Trainer(TrainConfig(epochs=6, batch_size=16, learning_rate=3e-3)).fit(net, X, y, [0, 1])
    X_test, y_test = toy_problem(150, seed=1)
    _, accuracy = evaluate_loss_accuracy(net, X_test, y_test)
    assert accuracy.min() > 0.9, accuracy


@pytest.mark.parametrize("name,options,message", [
    ("deepcnn", dict(blocks=9), "do not fit"),
    ("deepcnn", dict(filters=0), "from 1 to 4096"),
    ("resnet1d", dict(width=0), "width"),
    ("inception", dict(depth=0), "depth"),
    ("lstm", dict(hidden=0), "hidden"),
    ("cnnlstm", dict(conv_layers=9, kernel_size=20), "do not fit"),
])
def test_bad_options_are_clear_errors(name, options, message):
    with pytest.raises(HarcnnError, match=message):
        create_model(name, **UCI_INPUTS, **options)


def test_options_change_the_architecture():
    assert len(create_model("inception", **UCI_INPUTS, depth=7).shortcuts) == 2  # after modules 3 and 6
    assert len(create_model("inception", **UCI_INPUTS, residual=False).shortcuts) == 0
    deep = create_model("deepcnn", **UCI_INPUTS, blocks=4, filters=8, convs_per_block=1)
    assert [c.out_channels for c in deep.convs] == [8, 16, 32, 64]
    assert create_model("lstm", **UCI_INPUTS, dense_units=32)(torch.randn(2, 128, 9)).shape == (2, 6)
    assert create_model("cnnlstm", **UCI_INPUTS, conv_layers=0, hidden=8)(torch.randn(2, 128, 9)).shape == (2, 6)
    narrow = create_model("inception", **UCI_INPUTS, kernel_sizes=[3, 5], filters=4, bottleneck=0)
    assert narrow.inceptions[0].norm.num_features == 12


# --------------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------------


def _torch_lstm_like(layer: EnsembleLSTM, r: int) -> torch.nn.LSTM:
    ref = torch.nn.LSTM(layer.input_size, layer.hidden_size)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(layer.weight_ih[r].T)
        ref.weight_hh_l0.copy_(layer.weight_hh[r].T)
        ref.bias_ih_l0.copy_(layer.bias[r, 0])
        ref.bias_hh_l0.zero_()
    return ref


def test_ensemble_lstm_matches_torch_lstm():
    torch.manual_seed(0)
    layer = EnsembleLSTM(3, 5, 7)
    x = torch.randn(3, 11, 4, 5, requires_grad=True)  # [R, T, B, D]
    out = layer(x)
    (out ** 2).sum().backward()
    assert torch.equal(layer(x, return_sequences=False), out[:, -1])
    for r in range(3):
        ref = _torch_lstm_like(layer, r)
        xr = x[r].detach().clone().requires_grad_()
        ref_out, _ = ref(xr)
        (ref_out ** 2).sum().backward()
        torch.testing.assert_close(out[r], ref_out)
        torch.testing.assert_close(x.grad[r], xr.grad)
        torch.testing.assert_close(layer.weight_ih.grad[r], ref.weight_ih_l0.grad.T)
        torch.testing.assert_close(layer.weight_hh.grad[r], ref.weight_hh_l0.grad.T)
        torch.testing.assert_close(layer.bias.grad[r, 0], ref.bias_ih_l0.grad)


def test_lstm_keras_initialisation():
    layer = EnsembleLSTM(2, 9, 16)
    layer.reset_parameters([torch.Generator().manual_seed(s) for s in (1, 2)])
    w = layer.weight_hh[0]  # orthogonal rows: [H, 4H]
    torch.testing.assert_close(w @ w.T, torch.eye(16), atol=1e-5, rtol=0)
    assert torch.all(layer.bias[:, :, 16:32] == 1) and torch.all(layer.bias[:, :, :16] == 0)
    assert not torch.equal(layer.weight_ih[0], layer.weight_ih[1])
    assert layer.weight_ih.abs().max() <= (6 / (9 + 64)) ** 0.5


def test_layout_helpers():
    x = torch.randn(3, 4, 10, 5)  # [R, B, T, C]
    seq = to_sequence_layout(x, 3)
    assert torch.equal(seq[1, :, 2], x[1, 2])  # member 1, sample 2: [T, C]
    assert torch.equal(conv_to_sequence(to_conv_layout(x, 3), 3), seq)
    assert torch.equal(to_sequence_layout(x[0], 3)[2], x[0].transpose(0, 1))
    a, b = torch.randn(2, 6, 3 * 4), torch.randn(2, 6, 3 * 5)  # conv layout [B, L, R*C]
    cat = concat_members([a, b], 3).view(2, 6, 3, 9)
    assert torch.equal(cat[:, :, 1, :4], a.view(2, 6, 3, 4)[:, :, 1])
    assert torch.equal(cat[:, :, 1, 4:], b.view(2, 6, 3, 5)[:, :, 1])
    conv = to_conv_layout(x, 3)  # member 2, sample 1, time 4: its channels
    assert conv.shape == (4, 10, 15) and torch.equal(conv[1, 4, 10:], x[2, 1, 4])
    assert torch.equal(conv_to_dense(conv, 3)[2, 1], x[2, 1].flatten())  # Keras' Flatten order: [T, C]
