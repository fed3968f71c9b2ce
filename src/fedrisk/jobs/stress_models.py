"""Driver-side model fitting for the stress comparison: local-only, centralised, fine-tuned, baselines.

In the simulation the driver plays every member for the non-federated references (each member training alone
on its own data) and for the pooled upper reference (which no real federation would be allowed to build).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch

from fedrisk.features.panel import MemberPanel, NormStats, Split
from fedrisk.features.stress import FEATURES
from fedrisk.models.baselines import Scorer, concat, fit_lightgbm, fit_logistic, flat_rows
from fedrisk.models.stgraph import (
    ModelConfig,
    STGraphNet,
    TorchMember,
    fit_early_stopping,
    get_weights,
    prepare_member,
    set_weights,
)


def seeded_rng(seed: int, *parts: str) -> np.random.Generator:
    """A generator seeded from the run seed and names (reproducible, independent streams)."""
    return np.random.default_rng([seed, *[zlib.crc32(p.encode()) for p in parts]])


def new_model(window: int, hidden: int, seed: int) -> STGraphNet:
    """A freshly initialised graph model (same init as the federation's round 0)."""
    torch.manual_seed(seed)
    return STGraphNet(ModelConfig(n_features=len(FEATURES), window=window, hidden=hidden))


def prepare(
    panel: MemberPanel, split: Split, window: int, *, months: float | None = None, stats: NormStats | None = None
) -> TorchMember:
    """A member's data for the model; normalised on its own (possibly limited) training rows.

    ``stats`` overrides the normalisation (a joiner without history uses the federation's pooled statistics).
    """
    train_idx = panel.train_index(split, window=window, months=months)
    norm = (stats if stats is not None else panel.fit_stats(train_idx)).normaliser()
    return prepare_member(
        panel,
        norm,
        train_idx=train_idx,
        val_idx=panel.val_index(split, window=window),
        test_idx=panel.test_index(split, window=window),
        window=window,
    )


@dataclass(frozen=True, slots=True)
class Fitted:
    """Weights of a fitted graph model and the step chosen on validation."""

    weights: list[np.ndarray]
    best_step: int


def fit_graph(
    members: list[TorchMember],
    *,
    window: int,
    hidden: int,
    seed: int,
    max_steps: int,
    eval_every: int,
    name: str,
    lr: float = 1e-3,
    init: list[np.ndarray] | None = None,
) -> Fitted:
    """Train (or fine-tune from ``init``) with early stopping on the members' validation loss."""
    model = new_model(window, hidden, seed)
    if init is not None:
        set_weights(model, init)
    result = fit_early_stopping(
        model, members, max_steps=max_steps, eval_every=eval_every, rng=seeded_rng(seed, name), lr=lr
    )
    return Fitted(get_weights(model), result.best_step)


@dataclass(frozen=True, slots=True)
class Baselines:
    """Logistic regression and LightGBM, local per member and central."""

    logreg_local: dict[str, Scorer | None]
    lgbm_local: dict[str, Scorer | None]
    logreg_central: Scorer | None
    lgbm_central: Scorer | None


def fit_baselines(members: dict[str, TorchMember], *, seed: int) -> Baselines:
    """Fit every baseline on current-hour features (validation picks C and the number of trees)."""
    train = {m: flat_rows(t, t.train_idx) for m, t in members.items()}
    val = {m: flat_rows(t, t.val_idx) for m, t in members.items()}
    lr_local = {m: fit_logistic(train[m], val[m]) for m in members}
    gb_local = {m: fit_lightgbm(train[m], val[m], seed=seed) for m in members}
    pooled_train, pooled_val = concat(list(train.values())), concat(list(val.values()))
    return Baselines(
        lr_local, gb_local, fit_logistic(pooled_train, pooled_val), fit_lightgbm(pooled_train, pooled_val, seed=seed)
    )
