"""Honest baselines on the current hour's features: logistic regression, gradient-boosted trees, heuristic.

They see one (hour, asset) row at a time (no window, no graph). Hyper-parameters are chosen on the validation
period only: ``C`` for logistic regression, the number of trees (early stopping) for LightGBM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sklearn.linear_model import LogisticRegression

from fedrisk.evaluation.metrics import auprc
from fedrisk.models.stgraph import TorchMember

LR_GRID = (0.01, 0.1, 1.0)


class Scorer(Protocol):
    """Anything that maps feature rows to probabilities."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class FlatData:
    """Current-hour feature rows of labelled (hour, asset) cells."""

    X: np.ndarray
    y: np.ndarray


def flat_rows(member: TorchMember, idx: np.ndarray) -> FlatData:
    """Rows for the labelled cells of the given hours (normalised features of the hour itself)."""
    if len(idx) == 0:
        n_f = member.X.shape[2]
        return FlatData(np.zeros((0, n_f), np.float32), np.zeros(0, np.float32))
    x = member.X[idx].numpy()
    mask = member.label_mask[idx].numpy()
    return FlatData(x[mask], member.y[idx].numpy()[mask])


def concat(parts: list[FlatData]) -> FlatData:
    """Stack several members' rows (centralised training)."""
    return FlatData(np.concatenate([p.X for p in parts]), np.concatenate([p.y for p in parts]))


def fit_logistic(train: FlatData, val: FlatData) -> Scorer | None:
    """Logistic regression with C chosen by validation AUPRC; None when training has a single class."""
    if len(np.unique(train.y)) < 2:
        return None
    best: tuple[float, LogisticRegression] | None = None
    for c in LR_GRID:
        model = LogisticRegression(C=c, max_iter=300)
        model.fit(train.X, train.y)
        score = auprc(val.y, model.predict_proba(val.X)[:, 1]) if len(val.y) else None
        key = -1.0 if score is None else score
        if best is None or key > best[0]:
            best = (key, model)
    return None if best is None else best[1]


def fit_lightgbm(train: FlatData, val: FlatData, *, seed: int) -> Scorer | None:
    """LightGBM with early stopping on validation log loss; None when training has a single class."""
    import lightgbm as lgb

    if len(np.unique(train.y)) < 2:
        return None
    model = lgb.LGBMClassifier(
        n_estimators=400,
        learning_rate=0.03,
        num_leaves=15,
        min_child_samples=50,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        reg_lambda=1.0,
        random_state=seed,
        n_jobs=1,
        verbose=-1,
    )
    has_val = len(np.unique(val.y)) == 2
    model.fit(
        train.X,
        train.y,
        eval_X=(val.X,) if has_val else None,
        eval_y=(val.y,) if has_val else None,
        callbacks=[lgb.early_stopping(40, verbose=False)] if has_val else None,
    )
    return model  # type: ignore[no-any-return]


def predict_cells(model: Scorer, member: TorchMember, idx: np.ndarray) -> np.ndarray:
    """Probabilities ``[len(idx), A]`` (NaN where a cell has no label), for comparison with the graph model."""
    x = member.X[idx].numpy()
    n, a, f = x.shape
    probs = model.predict_proba(x.reshape(n * a, f))[:, 1].reshape(n, a)
    return probs.astype(np.float32)
