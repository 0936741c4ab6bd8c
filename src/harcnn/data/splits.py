"""Evaluation protocols by subject: the official split, held-out subjects, K-fold and leave-one-subject-out.

Never a random split of windows: neighbouring windows overlap by 50% (and the same person's
windows resemble each other), so a random split puts near-copies of test windows into training
and reports accuracies that no new user will see. Every protocol here keeps each subject's windows
on one side.

A protocol is written as text: ``official`` (the dataset's own train/test split), ``holdout:N``
(N test subjects, the same ones every time), ``subjects:K`` (K folds of subjects, balanced by
windows) or ``loso`` (one fold per subject).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harcnn.core.errors import HarcnnError

VALIDATION_SEED = 0  # which training subjects are held out for validation: fixed, so configurations compare
HOLDOUT_SEED = 0  # which subjects a holdout:N protocol tests on


@dataclass(frozen=True)
class Fold:
    """One train/test partition of a dataset's windows: index arrays, and the test subjects."""

    name: str
    train: np.ndarray
    test: np.ndarray
    test_subjects: tuple[str, ...]


@dataclass(frozen=True)
class Protocol:
    kind: str  # "official", "holdout", "subjects" or "loso"
    k: int = 0

    def __str__(self) -> str:
        return {"official": "official", "loso": "loso"}.get(self.kind, f"{self.kind}:{self.k}")

    @classmethod
    def parse(cls, text: str) -> Protocol:
        kind, _, count = str(text).strip().partition(":")
        if kind in ("official", "loso") and not count:
            return cls(kind)
        if kind in ("holdout", "subjects") and count.isdigit() and int(count) >= (1 if kind == "holdout" else 2):
            return cls(kind, int(count))
        raise HarcnnError(f"--cv {text!r} is not a protocol: use official, holdout:N (N test subjects), "
                          "subjects:K (K-fold by subject, K >= 2) or loso (leave one subject out)")

    def folds(self, subject: np.ndarray, split: np.ndarray | None = None) -> list[Fold]:
        """The folds of windows whose subjects are ``subject`` (and official split ``split``)."""
        subject = np.asarray(subject)
        unique = np.unique(subject)
        if self.kind == "official":
            if split is None:
                raise HarcnnError("this dataset has no official train/test split: use --cv subjects:5 "
                                  "(5-fold by subject), loso or holdout:N")
            test = split == "test"
            return [_fold("official", ~test, test, subject)]
        if len(unique) < 2 and self.kind != "official":
            raise HarcnnError(_one_subject(unique))
        if self.kind == "holdout":
            if not 0 < self.k < len(unique):
                raise HarcnnError(f"cannot hold out {self.k} of {len(unique)} subjects for testing")
            held = np.random.default_rng(HOLDOUT_SEED).choice(unique, size=self.k, replace=False)
            test = np.isin(subject, held)
            return [_fold(f"holdout:{self.k}", ~test, test, subject)]
        groups = [[s] for s in unique] if self.kind == "loso" else _balanced_groups(subject, self.k)
        if len(groups) < 2:
            raise HarcnnError(f"cross-validation needs at least 2 subjects, the data has {len(unique)}")
        return [_fold(f"fold{i + 1}" if self.kind == "subjects" else f"subject {g[0]}", ~np.isin(subject, g),
                      np.isin(subject, g), subject) for i, g in enumerate(groups)]


def _one_subject(unique: np.ndarray) -> str:
    """What to do with data of fewer than two subjects, which no protocol by subject can test."""
    who = f"1 ({unique[0]})" if len(unique) else "none"
    return (f"testing by subject needs at least 2 subjects, and this data has {who}: train on all its windows with "
            "'harcnn train --test none', or add recordings of other people (one folder per person, a subjects "
            "table, or --subjects PATTERN)")


def _fold(name: str, train: np.ndarray, test: np.ndarray, subject: np.ndarray) -> Fold:
    return Fold(name, np.flatnonzero(train), np.flatnonzero(test), tuple(str(s) for s in np.unique(subject[test])))


def _balanced_groups(subject: np.ndarray, k: int) -> list[list]:
    """K groups of subjects with about equal numbers of windows: the largest subject first into the
    group with the fewest windows so far (deterministic, as scikit-learn's GroupKFold)."""
    ids, counts = np.unique(subject, return_counts=True)
    if k > len(ids):
        raise HarcnnError(f"cannot make {k} folds of {len(ids)} subjects: use --cv subjects:{len(ids)} or loso")
    groups: list[list] = [[] for _ in range(k)]
    sizes = np.zeros(k, dtype=np.int64)
    for i in np.argsort(-counts, kind="stable"):
        g = int(np.argmin(sizes))
        groups[g].append(ids[i])
        sizes[g] += counts[i]
    return [sorted(g) for g in groups]


def subject_holdout(subjects: np.ndarray, n_holdout: int, seed: int = VALIDATION_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (keep, holdout) that hold out ``n_holdout`` whole subjects, chosen by ``seed``."""
    unique = np.unique(subjects)
    if not 0 < n_holdout < len(unique):
        raise HarcnnError(f"cannot hold out {n_holdout} of the {len(unique)} training subjects for validation: "
                          f"set validation_subjects from 1 to {len(unique) - 1}")
    held = np.random.default_rng(seed).choice(unique, size=n_holdout, replace=False)
    holdout = np.isin(subjects, held)
    return ~holdout, holdout
