"""Seeds: every repeat (ensemble member) gets independent random streams from one integer.

A member's initial weights, dropout masks and batch order depend only on its own seed, so a
repeat gives the same network whether it is trained alone or batched with others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class MemberStreams:
    """The random streams of one member."""

    init: torch.Generator
    dropout: torch.Generator
    shuffle: np.random.Generator
    augment: torch.Generator


def member_streams(seed: int, device: torch.device | str = "cpu") -> MemberStreams:
    init_seq, dropout_seq, shuffle_seq, augment_seq = np.random.SeedSequence(seed).spawn(4)
    return MemberStreams(
        init=torch.Generator().manual_seed(_torch_seed(init_seq)),
        dropout=torch.Generator(device=device).manual_seed(_torch_seed(dropout_seq)),
        shuffle=np.random.default_rng(shuffle_seq),
        augment=torch.Generator().manual_seed(_torch_seed(augment_seq)),
    )


def _torch_seed(sequence: np.random.SeedSequence) -> int:
    return int(sequence.generate_state(1, np.uint64)[0] >> 1)


def repeat_seeds(seed: int, repeats: int) -> list[int]:
    """Seeds for ``repeats`` repeats: distinct, and the first k are the same for any ``repeats >= k``."""
    return [int(s.generate_state(1, np.uint32)[0]) for s in np.random.SeedSequence(seed).spawn(repeats)]


def fold_seeds(seed: int, repeats: int, fold: int, n_folds: int) -> list[int]:
    """Seeds of the repeats on fold ``fold`` of ``n_folds``: :func:`repeat_seeds` with one fold (the
    official split); with several, each repeat's seed mixed with the fold index."""
    base = repeat_seeds(seed, repeats)
    if n_folds == 1:
        return base
    return [int(np.random.SeedSequence([s, fold]).generate_state(1, np.uint32)[0]) for s in base]
