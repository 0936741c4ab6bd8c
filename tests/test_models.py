import math

import pytest
import torch
from conftest import UCI_INPUTS, inputs

from harcnn.core.errors import HarcnnError
from harcnn.models import EnsembleModel, create_model, list_models


def test_registry_lists_reference_models():
    assert {"cnn", "multihead"} <= set(list_models())


def test_baseline_parameter_count_matches_reference():
    assert create_model("cnn", **UCI_INPUTS).num_parameters() == 411_650


def test_multihead_parameter_count():
    # three heads (k=3, 5, 11) of 64 filters over 9 channels, pooled lengths 63, 62 and 59
    convs = sum(9 * k * 64 + 64 for k in (3, 5, 11))
    flat = 64 * (63 + 62 + 59)
    expected = convs + flat * 100 + 100 + 100 * 6 + 6
    assert create_model("multihead", **UCI_INPUTS).num_parameters() == expected


@pytest.mark.parametrize("name", ["cnn", "multihead"])
def test_output_shapes(name):
    single = create_model(name, **UCI_INPUTS)
    assert single(torch.randn(5, 128, 9)).shape == (5, 6)
    ensemble = create_model(name, **UCI_INPUTS, n_models=3)
    assert ensemble(torch.randn(5, 128, 9)).shape == (3, 5, 6)  # one input shared by all members
    assert ensemble(torch.randn(3, 5, 128, 9)).shape == (3, 5, 6)  # a batch per member


@pytest.mark.parametrize("filters,kernel", [(8, 2), (256, 11), (16, 7)])
def test_cnn_options_change_shape_not_output(filters, kernel):
    model = create_model("cnn", filters=filters, kernel_size=kernel, **inputs(n_classes=4, n_channels=3, window=64))
    assert model(torch.randn(2, 64, 3)).shape == (2, 4)
    conv = 3 * kernel * filters + filters + filters * kernel * filters + filters
    dense = filters * ((64 - 2 * (kernel - 1)) // 2) * 100 + 100 + 100 * 4 + 4
    assert model.num_parameters() == conv + dense


def test_keras_initialisation_glorot_uniform_and_zero_bias():
    model = create_model("cnn", **UCI_INPUTS, n_models=2)
    model.seed_members([1, 2])
    limit = math.sqrt(6 / (9 * 3 + 64 * 3))
    w = model.conv1.weight
    assert w.abs().max() <= limit and w.abs().max() > 0.9 * limit
    assert torch.all(model.conv1.bias == 0) and torch.all(model.dense.bias == 0)
    assert not torch.equal(model.conv1.weight[0], model.conv1.weight[1])


def test_member_seed_is_independent_of_ensemble_size():
    alone = create_model("cnn", **UCI_INPUTS, n_models=1)
    alone.seed_members([7])
    together = create_model("cnn", **UCI_INPUTS, n_models=3)
    together.seed_members([5, 7, 9])
    for (name, a), b in zip(alone.state_dict().items(), together.member(1).state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("name", ["cnn", "multihead"])
def test_member_and_from_members_round_trip(name):
    model = create_model(name, **UCI_INPUTS, n_models=3).eval()
    stacked = EnsembleModel.from_members([model.member(r) for r in range(3)]).eval()
    x = torch.randn(3, 4, 128, 9)
    torch.testing.assert_close(model(x), stacked(x))
    torch.testing.assert_close(model.member(2)(x[2]), model(x)[2])


def test_unknown_model_and_option_errors_are_clear():
    with pytest.raises(HarcnnError, match="unknown model 'nope'; available: .*cnn"):
        create_model("nope", **UCI_INPUTS)
    with pytest.raises(HarcnnError, match="has no setting 'filterz'"):
        create_model("cnn", filterz=3, **UCI_INPUTS)
    with pytest.raises(HarcnnError, match="do not fit"):
        create_model("cnn", kernel_size=70, **UCI_INPUTS)
    with pytest.raises(HarcnnError, match="needs the input description: window, n_channels, n_classes"):
        create_model("cnn")
    assert create_model("cnn", **UCI_INPUTS).settings["filters"].default == 64


def test_a_model_built_directly_captures_its_settings():
    from harcnn.models.cnn import CNN

    model = CNN(window=64, n_channels=3, n_classes=4, n_models=2, filters=8)
    assert model.hparams == {"filters": 8, "kernel_size": 3, "dropout": 0.5, "dense_units": 100, "pool_size": 2}
    assert model.inputs == {"window": 64, "n_channels": 3, "n_classes": 4}
    rebuilt = model.rebuild(1)
    assert rebuilt.hparams == model.hparams and rebuilt.n_models == 1 and rebuilt.conv1.out_channels == 8
    with pytest.raises(HarcnnError, match="dropout takes a number in"):
        CNN(window=64, n_channels=3, n_classes=4, dropout=1.5)


def test_wrong_input_shape_is_a_clear_error():
    with pytest.raises(HarcnnError, match=r"expects windows \[batch, 128, 9\]"):
        create_model("cnn", **UCI_INPUTS)(torch.randn(2, 9, 128))
