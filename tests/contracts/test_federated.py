"""Federated training of the function classifier across audit firms: grouped by contract, one simulation start."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fedrisk.contracts.dataset import FunctionDataset
from fedrisk.contracts.federated import FederatedCVConfig, federated_cross_validate, fold_members
from fedrisk.errors import ConfigError

pytestmark = pytest.mark.federation

N_CONTRACTS = 36
PER_CONTRACT = 8


def _dataset(*, clusters: bool) -> FunctionDataset:
    """36 contracts × 8 functions; column 0 holds the contract id (to trace rows), the others a learnable signal."""
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(N_CONTRACTS), PER_CONTRACT)
    x = rng.normal(size=(len(groups), 5))
    y = (x[:, 1] + 0.8 * x[:, 2] + rng.normal(scale=0.8, size=len(groups)) > 1.0).astype(np.int64)
    x[:, 0] = groups
    return FunctionDataset(
        X=x,
        y=y,
        groups=groups,
        files=tuple(f"c{i}.sol" for i in range(N_CONTRACTS)),
        functions=tuple((f"c{g}.sol", f"C.f{j}", j, j) for j, g in enumerate(groups)),
        feature_names=("contract_id", "a", "b", "c", "d"),
        unattributed_lines=0,
        clusters=groups // 2 if clusters else None,  # pairs of contracts are clones of each other
    )


def test_no_function_of_a_test_contract_or_its_clone_is_in_training() -> None:
    # Arrange
    dataset = _dataset(clusters=True)
    config = FederatedCVConfig(n_folds=4, n_firms=3)
    # Act
    per_fold, folds = fold_members(dataset, config)
    # Assert
    covered = np.concatenate(folds)
    assert sorted(covered.tolist()) == list(range(len(dataset.y)))
    for firms, test in zip(per_fold, folds, strict=True):
        test_contracts = set(dataset.groups[test].tolist())
        test_clusters = {c // 2 for c in test_contracts}
        firm_contracts = [set(np.concatenate([f.x_train[:, 0], f.x_val[:, 0]]).astype(int).tolist()) for f in firms]
        assert len(firms) == 3
        for contracts in firm_contracts:
            assert not contracts & test_contracts
            assert not {c // 2 for c in contracts} & test_clusters
        assert sum(len(c) for c in firm_contracts) + len(test_contracts) == N_CONTRACTS  # firms are disjoint
        assert all(len(f.y_val) and len(f.y_train) for f in firms)


def test_bad_settings_are_refused() -> None:
    # Act / Assert
    with pytest.raises(ConfigError, match="at least 3 firms"):
        FederatedCVConfig(n_firms=2)
    with pytest.raises(ConfigError, match="models"):
        FederatedCVConfig(models=("svm",))
    with pytest.raises(ConfigError, match="too few"):
        fold_members(_dataset(clusters=False), FederatedCVConfig(n_folds=2, n_firms=12))


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    config = FederatedCVConfig(n_folds=3, n_firms=3, rounds=4, local_steps=15, hidden=(8,), n_boot=10)
    return federated_cross_validate(_dataset(clusters=False), config)


def test_federated_cv_compares_local_federated_central_per_fold(result: dict[str, Any]) -> None:
    # Arrange
    folds = result["folds"]["mlp"]
    summary = result["summary"]["mlp"]
    # Assert
    assert len(folds) == 3
    assert sum(f["test_functions"] for f in folds) == N_CONTRACTS * PER_CONTRACT
    assert all(len(f["auprc_mlp_local"]) == 3 and 1 <= f["best_round"] <= 4 for f in folds)
    for scope in ("local", "federated", "central"):
        assert 0.0 < summary[f"auprc_{scope}"]["mean"] <= 1.0
        assert summary[f"auroc_{scope}"]["mean"] > 0.6  # a learnable signal is learnt by every scope
    assert result["functions"] == N_CONTRACTS * PER_CONTRACT and result["contracts"] == N_CONTRACTS
