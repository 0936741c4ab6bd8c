import numpy as np
import pytest
import torch

from harcnn.core.errors import HarcnnError
from harcnn.core.seeding import member_streams, repeat_seeds
from harcnn.models import create_model
from harcnn.models.layers import EnsembleDropout, random_keep_mask
from harcnn.training import TrainConfig, Trainer, evaluate_loss_accuracy, predict_proba


def toy_problem(n=96, window=32, channels=3, seed=0):
    """Three classes told apart by which channel carries a sine wave."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    t = np.arange(window)
    X = 0.3 * rng.standard_normal((n, window, channels))
    X[np.arange(n), :, y] += np.sin(t / 2)
    return X.astype(np.float32), y


SMALL = dict(n_channels=3, n_classes=3, window=32, filters=8, dense_units=16)


def train(n_models, seeds, epochs=2, X=None, y=None, model="cnn"):
    if X is None:
        X, y = toy_problem()
    net = create_model(model, n_models=n_models, **SMALL)
    Trainer(TrainConfig(epochs=epochs, batch_size=16)).fit(net, X, y, seeds)
    return net


def test_same_seed_same_result():
    a, b = train(2, [1, 2]), train(2, [1, 2])
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


def test_different_seeds_give_different_networks():
    net = train(2, [1, 2])
    assert not torch.allclose(net.conv1.weight[0], net.conv1.weight[1])


@pytest.mark.parametrize("model", ["cnn", "multihead"])
def test_members_trained_together_equal_members_trained_alone(model):
    """Same initial weights, batch order and dropout masks (all from the member's seed):
    training R members as one batched computation gives each the weights it gets alone."""
    seeds = [11, 22, 33]
    together = train(3, seeds, model=model)
    for r, seed in enumerate(seeds):
        alone = train(1, [seed], model=model)
        for (name, a), b in zip(alone.state_dict().items(), together.member(r).state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_members_share_no_gradients():
    net = create_model("cnn", n_models=2, **SMALL)
    X, _ = toy_problem(8)
    x = torch.as_tensor(X).expand(2, *X.shape).clone()
    net(x)[0].sum().backward()  # a loss that depends on member 0 only
    assert net.conv1.weight.grad[0].abs().sum() > 0
    assert torch.all(net.conv1.weight.grad[1] == 0) and torch.all(net.dense.weight.grad[1] == 0)


def test_dropout_masks_differ_between_members_and_follow_their_seeds():
    drop = EnsembleDropout(2, 0.5, member_dim=0)
    drop.set_generators([member_streams(s).dropout for s in (1, 2)])
    out = drop(torch.ones(2, 50, 40))
    assert not torch.equal(out[0], out[1])
    assert set(out.unique().tolist()) <= {0.0, 2.0}
    again = EnsembleDropout(1, 0.5, member_dim=0)
    again.set_generators([member_streams(2).dropout])
    assert torch.equal(again(torch.ones(1, 50, 40))[0], out[1])


def test_keep_mask_rate():
    mask = random_keep_mask(torch.Size([200_000]), 0.5, torch.Generator().manual_seed(0))
    assert abs(mask.float().mean().item() - 0.5) < 0.005
    mask = random_keep_mask(torch.Size([200_000]), 0.2, torch.Generator().manual_seed(0))
    assert abs(mask.float().mean().item() - 0.8) < 0.005
    bits = random_keep_mask(torch.Size([56 * 4000]), 0.5, torch.Generator().manual_seed(1)).view(-1, 56).float()
    assert bits.mean(0).sub(0.5).abs().max() < 0.04  # every bit position of a 64-bit draw is fair


def test_batch_orders_differ_between_members():
    a, b = (member_streams(s).shuffle.permutation(100) for s in repeat_seeds(0, 2))
    assert not np.array_equal(a, b)


def test_repeat_seeds_are_prefix_stable_and_distinct():
    assert repeat_seeds(3, 10)[:4] == repeat_seeds(3, 4)
    assert len(set(repeat_seeds(3, 10))) == 10


def test_learns_a_separable_problem():
    X, y = toy_problem(300)
    net = train(2, [0, 1], epochs=8, X=X, y=y)
    X_test, y_test = toy_problem(200, seed=1)
    _, accuracy = evaluate_loss_accuracy(net, X_test, y_test)
    assert accuracy.min() > 0.9
    proba = predict_proba(net, X_test)
    assert proba.shape == (2, 200, 3) and np.allclose(proba.sum(2), 1, atol=1e-5)


def test_history_and_validation_curves():
    X, y = toy_problem()
    net = create_model("cnn", n_models=2, **SMALL)
    history = Trainer(TrainConfig(epochs=3, batch_size=16)).fit(net, X, y, [1, 2], validation=(X[:20], y[:20]))
    assert history.loss.shape == (2, 3) and history.val_accuracy.shape == (2, 3)
    assert set(history.member(0)) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.loss[:, -1].mean() < history.loss[:, 0].mean()


def test_bad_training_input_is_a_clear_error():
    X, y = toy_problem()
    net = create_model("cnn", **SMALL)
    trainer = Trainer(TrainConfig(epochs=1))
    with pytest.raises(HarcnnError, match="labels must be integers in 0..2"):
        trainer.fit(net, X, y + 5, [0])
    with pytest.raises(HarcnnError, match="one label|vector of"):
        trainer.fit(net, X, y[:-1], [0])
    bad = X.copy()
    bad[3, 4, 1] = np.nan
    with pytest.raises(HarcnnError, match="NaN"):
        trainer.fit(net, bad, y, [0])
    with pytest.raises(HarcnnError, match="need 1 seeds"):
        trainer.fit(net, X, y, [0, 1])
    with pytest.raises(HarcnnError, match="epochs takes an integer from 1 to 10000"):
        TrainConfig(epochs=0)


def test_early_stopping_restores_each_members_best_epoch():
    X, y = toy_problem(200)
    X_val, y_val = toy_problem(60, seed=3)
    config = TrainConfig(epochs=12, batch_size=16, early_stopping=2, learning_rate=1e-2)
    net = create_model("cnn", n_models=2, **SMALL)
    history = Trainer(config).fit(net, X, y, [1, 2], validation=(X_val, y_val))
    assert history.best_epoch.shape == (2,)
    epochs_run = history.loss.shape[1]
    assert epochs_run <= 12 and history.val_loss.shape[1] == epochs_run
    for r in range(2):  # each member stops after 2 epochs without improvement, on its own
        best, last = history.best_epoch[r], history.stopped_epoch[r]
        assert history.val_loss[r, best] == np.nanmin(history.val_loss[r])
        assert last == min(best + 2, 11) and np.isnan(history.val_loss[r, last + 1:]).all()
    # the restored weights are the best epoch's: their validation loss is the recorded minimum
    val_loss, _ = evaluate_loss_accuracy(net, X_val, y_val)
    np.testing.assert_allclose(val_loss, np.nanmin(history.val_loss, axis=1), rtol=1e-5)


def test_early_stopping_needs_validation():
    X, y = toy_problem()
    with pytest.raises(HarcnnError, match="needs validation"):
        Trainer(TrainConfig(early_stopping=2)).fit(create_model("cnn", **SMALL), X, y, [0])


@pytest.mark.parametrize("options", [
    {"weight_decay": 1e-2}, {"label_smoothing": 0.1}, {"lr_schedule": "cosine"}, {"lr_schedule": "onecycle"},
    {"augment_noise": 0.05, "augment_scale": 0.1, "augment_rotate": 10, "augment_shift": 4},
    {"precision": "bf16"},
])
def test_training_options_learn_and_keep_members_independent(options):
    X, y = toy_problem(300)
    config = TrainConfig(epochs=6, batch_size=16, **options)
    channels = ("acc_x", "acc_y", "acc_z")  # one 3-axis sensor, for the rotation
    together = create_model("cnn", n_models=2, **SMALL)
    Trainer(config).fit(together, X, y, [4, 5], channels=channels)
    alone = create_model("cnn", n_models=1, **SMALL)
    Trainer(config).fit(alone, X, y, [5], channels=channels)
    tolerance = 2e-2 if options.get("precision") == "bf16" else 1e-4
    torch.testing.assert_close(alone.conv1.weight[0], together.conv1.weight[1], rtol=tolerance, atol=tolerance)
    X_test, y_test = toy_problem(200, seed=1)
    assert evaluate_loss_accuracy(together, X_test, y_test)[1].min() > 0.85


def test_standardizing_inside_the_trainer_equals_standardizing_up_front():
    """Without augmentation the trainer standardizes once, up front (what the reference did); with it,
    each batch is augmented in physical units and then standardized."""
    from harcnn.data.transforms import Standardizer

    X, y = toy_problem()
    X = X * 3 + 2
    standardizer = Standardizer().fit(X)
    inside, outside = (create_model("cnn", n_models=1, **SMALL) for _ in range(2))
    Trainer(TrainConfig(epochs=2, batch_size=16)).fit(inside, X, y, [3], standardizer=standardizer)
    Trainer(TrainConfig(epochs=2, batch_size=16)).fit(outside, standardizer.transform(X), y, [3])
    for a, b in zip(inside.state_dict().values(), outside.state_dict().values()):
        assert torch.equal(a, b)
    seen = []
    augmented = create_model("cnn", n_models=1, **SMALL)
    augmented.conv1.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    Trainer(TrainConfig(epochs=2, batch_size=32, augment_scale=0.5)).fit(augmented, X, y, [3],
                                                                         standardizer=standardizer)
    assert len(seen) == 6  # every batch of both epochs standardized after scaling, not the first alone
    assert all(abs(batch.mean().item()) < 0.4 and 0.5 < batch.std().item() < 2 for batch in seen)


def test_bad_option_values():
    for bad in ({"lr_schedule": "linear"}, {"precision": "fp8"}, {"label_smoothing": 1.0}, {"weight_decay": -1}):
        with pytest.raises(HarcnnError):
            TrainConfig(**bad)


def test_a_last_batch_of_one_window_does_not_stop_a_batch_norm_network():
    """33 windows in batches of 32: batch norm cannot normalise the 33rd alone, so it waits an epoch."""
    X, y = toy_problem(33, window=64)
    net = create_model("hybrid", n_models=2, n_channels=3, n_classes=3, window=64, filters=4, sampling_rate=50.0,
                       channel_names=["acc_x", "acc_y", "acc_z"])
    history = Trainer(TrainConfig(epochs=2, batch_size=32)).fit(net, X, y, [0, 1])
    assert np.isfinite(history.loss).all() and history.loss.shape == (2, 2)
