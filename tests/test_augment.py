import numpy as np
import pytest
import torch

from harcnn.core.errors import HarcnnError
from harcnn.data.augment import Augmenter, random_rotations
from harcnn.data.bodyframe import CANONICAL


def windows(n=8):
    return torch.randn(n, 128, 9, generator=torch.Generator().manual_seed(0))


UCI = ((0, 1, 2), (3, 4, 5), (6, 7, 8))


@pytest.mark.parametrize("augmenter", [Augmenter(noise=0.1), Augmenter(scale=0.2), Augmenter(rotate=15, triplets=UCI),
                                       Augmenter(shift=5), Augmenter(yaw=90, triplets=UCI),
                                       Augmenter(0.1, 0.2, 15, 5, UCI, 45)])
def test_shapes_kept_and_seeded(augmenter):
    x = windows()
    a = augmenter.augment(x, torch.Generator().manual_seed(1))
    b = augmenter.augment(x, torch.Generator().manual_seed(1))
    c = augmenter.augment(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)


def test_rotation_preserves_each_triplets_norm():
    x = windows()
    rotated = Augmenter(rotate=30, triplets=UCI).augment(x, torch.Generator().manual_seed(0))
    norms = lambda t: t.reshape(8, 128, 3, 3).norm(dim=3)  # noqa: E731
    torch.testing.assert_close(norms(rotated), norms(x), rtol=1e-5, atol=1e-5)


def test_rotation_turns_only_the_named_triplets_all_by_one_rotation():
    """acc at 0-2, a pressure channel at 3, gyro at 4-6: the pressure stays, acc and gyro turn together."""
    x = torch.randn(4, 16, 7, generator=torch.Generator().manual_seed(0))
    rotated = Augmenter(rotate=90, triplets=((0, 1, 2), (4, 5, 6))).augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(rotated[:, :, 3], x[:, :, 3])
    for b in range(4):  # the same matrix maps acc and gyro of one sample
        R_acc = torch.linalg.lstsq(x[b, :, 0:3], rotated[b, :, 0:3]).solution
        R_gyro = torch.linalg.lstsq(x[b, :, 4:7], rotated[b, :, 4:7]).solution
        torch.testing.assert_close(R_acc, R_gyro, atol=1e-4, rtol=1e-4)


def test_rotations_are_proper_and_bounded():
    R = random_rotations(100, np.radians(20), torch.Generator().manual_seed(0))
    torch.testing.assert_close(R @ R.transpose(1, 2), torch.eye(3, dtype=R.dtype).expand(100, 3, 3))
    assert torch.allclose(torch.linalg.det(R), torch.ones(100, dtype=R.dtype))
    angles = torch.arccos(((R.diagonal(dim1=1, dim2=2).sum(1) - 1) / 2).clamp(-1, 1))
    assert angles.max() <= np.radians(20) + 1e-6


def test_yaw_turns_about_the_body_vertical_and_keeps_an_upright_gravity():
    up = torch.as_tensor(CANONICAL[2], dtype=torch.float32)
    forward = torch.as_tensor(CANONICAL[0], dtype=torch.float32)
    x = torch.cat([up, forward, up]).repeat(64, 16, 1)  # [64, 16, 9]: acc up, gyro forward, mag up
    turned = Augmenter(yaw=30, triplets=UCI).augment(x, torch.Generator().manual_seed(0)).reshape(64, 16, 3, 3)
    torch.testing.assert_close(turned[:, :, 0], x.reshape(64, 16, 3, 3)[:, :, 0], atol=1e-6, rtol=0)
    along_up = turned[:, :, 1] @ up  # forward stays horizontal ...
    assert along_up.abs().max() < 1e-5
    degrees = torch.rad2deg(torch.arccos((turned[:, 0, 1] @ forward).clamp(-1, 1)))
    assert degrees.max() <= 30 + 1e-3 and degrees.max() > 20  # ... and turns by up to 30 degrees either way
    left = torch.as_tensor(CANONICAL[1], dtype=torch.float32)
    assert (turned[:, 0, 1] @ left > 0).any() and (turned[:, 0, 1] @ left < 0).any()


def test_shift_is_a_roll():
    x = windows(2)
    shifted = Augmenter(shift=3).augment(x, torch.Generator().manual_seed(0))
    assert any(torch.equal(shifted[0], torch.roll(x[0], k, dims=0)) for k in range(-3, 4))


def test_members_use_their_own_generators():
    x = windows(4).expand(2, 4, 128, 9)
    out = Augmenter(noise=0.1)(x, [torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)])
    assert torch.equal(out[0], out[1])


def test_errors():
    with pytest.raises(HarcnnError, match=r"augment_noise takes a number in \[0, "):  # the setting's range
        Augmenter(noise=-1)
    with pytest.raises(HarcnnError, match="triplets"):
        Augmenter(rotate=5).augment(torch.zeros(2, 16, 4), torch.Generator())
