"""Function-level risk classifier as plain functions over numpy arrays, ready for federated training.

The model is a logistic regression (``hidden=0``) or a one-hidden-layer tanh MLP; its parameters are a
``list[np.ndarray]`` (Flower's ``NDArrays``): ``[W (d,1), b (1,)]`` or ``[W1 (d,h), b1 (h,), W2 (h,1),
b2 (1,)]``. :func:`train_local` and :func:`evaluate` are what a Flower ``ClientApp`` calls on a member's
own rows; nothing here imports Flower. Features need no fitted scaler (see :mod:`.features`), so
members share parameters only.

:func:`cross_validate` measures **central** (all training contracts pooled) against **local-only**
(each simulated audit firm trains on its own disjoint contracts) with folds grouped by contract: no
function of a test contract is ever in training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from fedrisk.contracts.dataset import FunctionDataset
from fedrisk.errors import ConfigError, ModelError

__all__ = [
    "CVReport",
    "Metrics",
    "Params",
    "TrainConfig",
    "cross_validate",
    "detector_baseline_scores",
    "evaluate",
    "init_params",
    "load_model",
    "predict_proba",
    "save_model",
    "split_by_contract",
    "train_local",
]

Params = list[npt.NDArray[np.float64]]
"""Model parameters in Flower's ``NDArrays`` layout."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Local training settings (full-batch Adam on class-weighted logistic loss + L2).

    ``pos_weight=None`` weighs positives by ``n_negative / n_positive`` of the local rows.
    """

    epochs: int = 300
    lr: float = 0.05
    l2: float = 1e-3
    hidden: int = 0
    pos_weight: float | None = None

    def __post_init__(self) -> None:
        """Reject settings that cannot train."""
        errors = [
            f"{name} must be > 0, got {value}"
            for name, value in (("epochs", self.epochs), ("lr", self.lr))
            if value <= 0
        ]
        if self.l2 < 0 or self.hidden < 0:
            errors.append(f"l2 and hidden must be >= 0, got {self.l2}, {self.hidden}")
        if self.pos_weight is not None and self.pos_weight <= 0:
            errors.append(f"pos_weight must be > 0, got {self.pos_weight}")
        if errors:
            raise ConfigError("invalid TrainConfig: " + "; ".join(errors))


@dataclass(frozen=True, slots=True)
class Metrics:
    """Ranking and thresholded scores on one evaluation set (``nan`` when undefined: one class only)."""

    auprc: float
    auroc: float
    f1: float
    n: int
    n_positive: int


def init_params(n_features: int, *, hidden: int = 0, rng: np.random.Generator) -> Params:
    """Small random initial parameters (Glorot-scaled for the MLP, zeros for logistic regression)."""
    if hidden == 0:
        return [np.zeros((n_features, 1)), np.zeros(1)]
    scale = math.sqrt(2.0 / (n_features + hidden))
    return [
        rng.normal(0.0, scale, size=(n_features, hidden)),
        np.zeros(hidden),
        rng.normal(0.0, math.sqrt(2.0 / (hidden + 1)), size=(hidden, 1)),
        np.zeros(1),
    ]


def _check(params: Params, X: FloatArray) -> None:
    if len(params) not in (2, 4) or params[0].shape[0] != X.shape[1]:
        raise ModelError(
            f"parameters do not fit the data: {len(params)} arrays, first of shape "
            f"{params[0].shape if params else None}, data has {X.shape[1]} features. "
            "Were they trained with another feature set? Retrain or reload the matching model."
        )


def _forward(params: Params, X: FloatArray) -> tuple[FloatArray, FloatArray | None]:
    """Logits (n,) and, for the MLP, the hidden activations (n, h)."""
    if len(params) == 2:
        return (X @ params[0] + params[1])[:, 0], None
    hidden = np.tanh(X @ params[0] + params[1])
    return (hidden @ params[2] + params[3])[:, 0], hidden


def predict_proba(params: Params, X: FloatArray) -> FloatArray:
    """Predicted probability that each row (function) is vulnerable."""
    _check(params, X)
    logits, _ = _forward(params, X)
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))


def _gradients(params: Params, X: FloatArray, y: FloatArray, weights: FloatArray, l2: float) -> Params:
    logits, hidden = _forward(params, X)
    p = 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))
    delta = (weights * (p - y) / weights.sum())[:, None]
    if hidden is None:
        return [X.T @ delta + l2 * params[0], delta.sum(axis=0)]
    grad_w2 = hidden.T @ delta + l2 * params[2]
    back = (delta @ params[2].T) * (1.0 - hidden**2)
    return [X.T @ back + l2 * params[0], back.sum(axis=0), grad_w2, delta.sum(axis=0)]


def train_local(
    params: Params,
    X: FloatArray,
    y: npt.NDArray[np.int64],
    *,
    config: TrainConfig,
    rng: np.random.Generator | None = None,
) -> tuple[Params, int]:
    """Train from ``params`` on one member's rows; returns (new parameters, number of rows).

    Full-batch Adam is deterministic; ``rng`` is accepted so that a mini-batch variant keeps the
    signature, and is unused today. The input ``params`` are not modified.
    """
    del rng
    _check(params, X)
    if len(y) == 0:
        return [p.copy() for p in params], 0
    yf = y.astype(np.float64)
    n_pos = float(yf.sum())
    pos_weight = config.pos_weight or ((len(yf) - n_pos) / n_pos if n_pos > 0 else 1.0)
    weights = np.where(yf > 0, pos_weight, 1.0)
    out = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in out]
    v = [np.zeros_like(p) for p in out]
    for step in range(1, config.epochs + 1):
        for i, grad in enumerate(_gradients(out, X, yf, weights, config.l2)):
            m[i] = 0.9 * m[i] + 0.1 * grad
            v[i] = 0.999 * v[i] + 0.001 * grad**2
            m_hat = m[i] / (1 - 0.9**step)
            v_hat = v[i] / (1 - 0.999**step)
            out[i] = out[i] - config.lr * m_hat / (np.sqrt(v_hat) + 1e-8)
    return out, len(y)


def _metrics_from_scores(scores: FloatArray, y: npt.NDArray[np.int64], threshold: float) -> Metrics:
    n_pos = int(y.sum())
    both = 0 < n_pos < len(y)
    return Metrics(
        auprc=float(average_precision_score(y, scores)) if both else math.nan,
        auroc=float(roc_auc_score(y, scores)) if both else math.nan,
        f1=float(f1_score(y, (scores >= threshold).astype(np.int64), zero_division=0.0)),
        n=len(y),
        n_positive=n_pos,
    )


def evaluate(params: Params, X: FloatArray, y: npt.NDArray[np.int64], *, threshold: float = 0.5) -> Metrics:
    """AUPRC, AUROC and F1 (at ``threshold``) of ``params`` on rows ``X``/``y``."""
    return _metrics_from_scores(predict_proba(params, X), y, threshold)


def detector_baseline_scores(dataset: FunctionDataset) -> FloatArray:
    """Rule-only score of each function: its number of detector findings (``det_*`` columns)."""
    columns = [i for i, name in enumerate(dataset.feature_names) if name.startswith("det_")]
    scores: FloatArray = np.expm1(dataset.X[:, columns]).sum(axis=1)
    return scores


def split_by_contract(
    groups: npt.NDArray[np.int64], n_parts: int, rng: np.random.Generator
) -> list[npt.NDArray[np.int64]]:
    """Row indices of ``n_parts`` disjoint parts, whole contracts each (seeded shuffle, round robin)."""
    unique = np.unique(groups)
    if n_parts < 1 or n_parts > len(unique):
        raise ConfigError(f"cannot split {len(unique)} contracts into {n_parts} parts: need 1 <= parts <= contracts")
    order = rng.permutation(unique)
    part_of = {int(g): i % n_parts for i, g in enumerate(order)}
    labels = np.array([part_of[int(g)] for g in groups], dtype=np.int64)
    return [np.flatnonzero(labels == i) for i in range(n_parts)]


@dataclass(frozen=True, slots=True)
class CVReport:
    """Grouped cross-validation of central vs local-only training (and the rule-only baseline).

    ``central`` / ``baseline``: one :class:`Metrics` per fold. ``local``: per fold, one per firm.
    ``pooled_*``: metrics on the out-of-fold scores of all folds together.
    """

    n_folds: int
    n_firms: int
    seed: int
    config: TrainConfig
    central: tuple[Metrics, ...]
    local: tuple[tuple[Metrics, ...], ...]
    baseline: tuple[Metrics, ...]
    pooled_central: Metrics
    pooled_baseline: Metrics
    firm_sizes: tuple[tuple[int, ...], ...] = field(default=())


def _units(dataset: FunctionDataset) -> npt.NDArray[np.int64]:
    """What folds and firms split by: clone clusters when known, else files."""
    return dataset.clusters if dataset.clusters is not None else dataset.groups


def cross_validate(
    dataset: FunctionDataset, *, n_folds: int = 5, n_firms: int = 3, config: TrainConfig, seed: int = 0
) -> CVReport:
    """Grouped k-fold: per fold, train centrally and per firm on the training contracts, score the test fold.

    Folds and firms split whole clone clusters of contracts (``dataset.clusters``; files when absent),
    so neither a test contract nor a verbatim clone of it is in training. Each fold's training
    contracts are split (seeded) into ``n_firms`` disjoint firms. Every model starts from the same
    seeded initial parameters.
    """
    rng = np.random.default_rng(seed)
    units = _units(dataset)
    folds = split_by_contract(units, n_folds, rng)
    central, local, baseline, sizes = [], [], [], []
    baseline_all = detector_baseline_scores(dataset)
    oof = np.zeros(len(dataset.y))
    for test in folds:
        train = np.setdiff1d(np.arange(len(dataset.y)), test)
        start = init_params(dataset.X.shape[1], hidden=config.hidden, rng=np.random.default_rng(seed))
        params, _ = train_local(start, dataset.X[train], dataset.y[train], config=config)
        central.append(evaluate(params, dataset.X[test], dataset.y[test]))
        oof[test] = predict_proba(params, dataset.X[test])
        baseline.append(_metrics_from_scores(baseline_all[test], dataset.y[test], threshold=0.5))
        firm_rows = [train[part] for part in split_by_contract(units[train], n_firms, rng)]
        sizes.append(tuple(len(rows) for rows in firm_rows))
        local.append(
            tuple(
                evaluate(
                    train_local(start, dataset.X[rows], dataset.y[rows], config=config)[0],
                    dataset.X[test],
                    dataset.y[test],
                )
                for rows in firm_rows
            )
        )
    return CVReport(
        n_folds=n_folds,
        n_firms=n_firms,
        seed=seed,
        config=config,
        central=tuple(central),
        local=tuple(local),
        baseline=tuple(baseline),
        pooled_central=_metrics_from_scores(oof, dataset.y, 0.5),
        pooled_baseline=_metrics_from_scores(baseline_all, dataset.y, 0.5),
        firm_sizes=tuple(sizes),
    )


def save_model(path: Path, params: Params, feature_names: tuple[str, ...]) -> None:
    """Save parameters and the feature names they expect to an ``.npz`` file."""
    arrays = {f"p{i}": p for i, p in enumerate(params)}
    with path.open("wb") as handle:  # a handle keeps the exact name (np.savez would append .npz)
        np.savez(handle, feature_names=np.array(feature_names), **arrays)  # type: ignore[arg-type]


def load_model(path: Path, feature_names: tuple[str, ...]) -> Params:
    """Load parameters saved by :func:`save_model`, checking they expect ``feature_names``.

    Raises
    ------
    ModelError
        The file is missing, unreadable or was trained on other features.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            saved = tuple(str(x) for x in data["feature_names"])
            params = [np.asarray(data[f"p{i}"], dtype=np.float64) for i in range(len(data.files) - 1)]
    except (OSError, KeyError, ValueError) as err:
        raise ModelError(
            f"cannot read contract risk model {path} ({err}): train one with `fedrisk contracts train --out PATH`."
        ) from err
    if saved != feature_names:
        raise ModelError(
            f"model {path} was trained on other features ({len(saved)} vs {len(feature_names)}): "
            "retrain it with this version (`fedrisk contracts train`)."
        )
    return params
