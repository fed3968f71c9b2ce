"""The numpy classifier: local training, evaluation, splits by contract, grouped CV, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from fedrisk.contracts.classifier import (
    TrainConfig,
    cross_validate,
    evaluate,
    init_params,
    load_model,
    predict_proba,
    save_model,
    split_by_contract,
    train_local,
)
from fedrisk.contracts.dataset import FunctionDataset, build_function_dataset, load_curated
from fedrisk.errors import ConfigError, ModelError


def _blobs(n: int, seed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    X = rng.normal(size=(n, 4)) + np.outer(y, [2.0, -1.5, 0.0, 1.0])
    return X, y


@pytest.mark.parametrize("hidden", [0, 8])
def test_train_local_learns_and_keeps_input(hidden: int) -> None:
    # Arrange
    X, y = _blobs(400, seed=1)
    start = init_params(4, hidden=hidden, rng=np.random.default_rng(0))
    before = [p.copy() for p in start]
    # Act
    params, n = train_local(start, X, y, config=TrainConfig(epochs=200, hidden=hidden))
    metrics = evaluate(params, *_blobs(400, seed=2))
    # Assert
    assert n == 400 and [p.shape for p in params] == [p.shape for p in start]
    assert all(np.array_equal(a, b) for a, b in zip(start, before, strict=True))
    assert metrics.auroc > 0.93 and metrics.auprc > 0.88 and metrics.f1 > 0.8  # Bayes AUROC here: 0.97
    assert metrics.n == 400


def test_logistic_matches_sklearn_ranking() -> None:
    # Arrange: the same class-weighted, lightly regularised logistic regression in scikit-learn
    X, y = _blobs(400, seed=1)
    X_test, y_test = _blobs(400, seed=2)
    reference = LogisticRegression(class_weight="balanced", C=10.0).fit(X, y)
    # Act
    params, _ = train_local(init_params(4, rng=np.random.default_rng(0)), X, y, config=TrainConfig(epochs=500))
    ours = evaluate(params, X_test, y_test).auroc
    theirs = roc_auc_score(y_test, reference.predict_proba(X_test)[:, 1])
    # Assert
    assert abs(ours - theirs) < 0.005


def test_training_is_deterministic() -> None:
    # Arrange
    X, y = _blobs(200, seed=3)
    start = init_params(4, hidden=4, rng=np.random.default_rng(5))
    # Act
    a, _ = train_local(start, X, y, config=TrainConfig(epochs=50, hidden=4))
    b, _ = train_local(start, X, y, config=TrainConfig(epochs=50, hidden=4))
    # Assert
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))


def test_one_class_metrics_are_nan_and_shape_mismatch_raises() -> None:
    # Arrange
    params = init_params(4, rng=np.random.default_rng(0))
    X = np.zeros((5, 4))
    # Act
    metrics = evaluate(params, X, np.zeros(5, dtype=np.int64))
    # Assert
    assert np.isnan(metrics.auroc) and np.isnan(metrics.auprc) and metrics.f1 == 0.0
    with pytest.raises(ModelError, match="features"):
        predict_proba(params, np.zeros((5, 3)))


def test_bad_config_is_rejected() -> None:
    # Act / Assert
    with pytest.raises(ConfigError, match="epochs must be > 0"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="pos_weight"):
        TrainConfig(pos_weight=-1.0)


def test_split_by_contract_is_disjoint_and_seeded() -> None:
    # Arrange
    groups = np.repeat(np.arange(10), 3)
    # Act
    parts = split_by_contract(groups, 3, np.random.default_rng(7))
    again = split_by_contract(groups, 3, np.random.default_rng(7))
    # Assert
    assert sorted(np.concatenate(parts).tolist()) == list(range(30))
    assert [len(set(groups[p])) for p in parts] == [4, 3, 3]
    assert all(not set(groups[a]) & set(groups[b]) for i, a in enumerate(parts) for b in parts[i + 1 :])
    assert all(np.array_equal(p, q) for p, q in zip(parts, again, strict=True))
    with pytest.raises(ConfigError, match="cannot split"):
        split_by_contract(groups, 11, np.random.default_rng(0))


def test_cross_validation_never_trains_on_a_test_contract(tiny_curated: Path) -> None:
    # Arrange
    dataset = build_function_dataset(load_curated(tiny_curated))
    # Act
    report = cross_validate(dataset, n_folds=3, n_firms=2, config=TrainConfig(epochs=100), seed=0)
    # Assert: 3 folds of 2 contracts (6 functions each); training splits into 2 firms of 2 contracts
    assert [m.n for m in report.central] == [6, 6, 6]
    assert report.firm_sizes == ((6, 6), (6, 6), (6, 6))
    assert all(len(fold) == 2 for fold in report.local)
    assert report.pooled_central.n == 18 and report.pooled_central.n_positive == 6
    assert report.pooled_central.auroc == pytest.approx(1.0)


def test_save_and_load_model(tmp_path: Path) -> None:
    # Arrange
    params = init_params(3, hidden=2, rng=np.random.default_rng(0))
    path = tmp_path / "model.bin"
    # Act
    save_model(path, params, ("a", "b", "c"))
    loaded = load_model(path, ("a", "b", "c"))
    # Assert
    assert all(np.array_equal(p, q) for p, q in zip(params, loaded, strict=True))
    with pytest.raises(ModelError, match="other features"):
        load_model(path, ("a", "b"))
    with pytest.raises(ModelError, match="cannot read"):
        load_model(tmp_path / "absent.npz", ("a",))


def test_empty_dataset_type_is_constructible() -> None:
    # Arrange / Act
    empty = FunctionDataset(
        np.zeros((0, 2)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), (), (), ("a", "b"), 0
    )
    params, n = train_local(init_params(2, rng=np.random.default_rng(0)), empty.X, empty.y, config=TrainConfig())
    # Assert
    assert n == 0 and empty.n_contracts == 0 and np.all(params[0] == 0)
