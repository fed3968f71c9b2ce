"""Federated training of the function risk classifier across simulated audit firms (issue 10, item 3).

Audit firms hold their clients' contracts privately until deployment. Here each fold of a grouped
cross-validation is one federation: the fold's test contracts are held out, the remaining contracts are
split into ``n_firms`` disjoint firms (whole clone clusters each, so a contract and its verbatim clones
stay with one firm), and every firm splits its own contracts again into training and validation
contracts. The comparison is the one of the fraud and credit federations
(:func:`fedrisk.jobs.tabular.run_experiments`, the same Flower ClientApp and coordinator of
:mod:`fedrisk.federation.tabular`): per firm, **local-only** (its own contracts), **federated** (FedAvg over the
firms, round chosen by the firms' federated validation loss) and **central** (all training contracts pooled),
all scored on the fold's test functions. All folds run in ONE start of Flower's simulation engine (one job per
fold and model kind).

Nothing of a test contract is in training: folds split clone clusters (files when no clusters are known),
and thresholds and rounds are chosen on validation contracts only.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fedrisk.contracts.classifier import split_by_contract
from fedrisk.contracts.dataset import FunctionDataset
from fedrisk.errors import MIN_COHORT, ConfigError

if TYPE_CHECKING:
    from fedrisk.jobs.tabular import MemberData

__all__ = ["FederatedCVConfig", "federated_cross_validate", "fold_members"]

SCOPES = ("local", "federated", "central")


@dataclass(frozen=True, slots=True)
class FederatedCVConfig:
    """Settings of the federated cross-validation (every one is recorded in the result).

    ``models``: ``"mlp"`` (FedAvg) and/or ``"xgb"`` (FedXgbBagging).
    """

    n_folds: int = 5
    n_firms: int = 3
    val_share: float = 0.25
    """Share of each firm's contract units kept for validation (round choice, F1 threshold)."""
    rounds: int = 20
    local_steps: int = 20
    batch_size: int = 64
    lr: float = 3e-3
    hidden: tuple[int, ...] = (32,)
    xgb_rounds: int = 20
    models: tuple[str, ...] = ("mlp",)
    n_boot: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_firms < MIN_COHORT:
            raise ConfigError(f"a federation of audit firms needs at least {MIN_COHORT} firms, got {self.n_firms}")
        if self.n_folds < 2:
            raise ConfigError(f"cross-validation needs at least 2 folds, got {self.n_folds}")
        if not 0 < self.val_share < 1:
            raise ConfigError(f"val_share must be in (0, 1), got {self.val_share}")
        if not self.models or set(self.models) - {"mlp", "xgb"}:
            raise ConfigError(f"models must be a non-empty subset of ('mlp', 'xgb'), got {self.models}")


def _units(dataset: FunctionDataset) -> npt.NDArray[np.int64]:
    return dataset.clusters if dataset.clusters is not None else dataset.groups


def fold_members(
    dataset: FunctionDataset, config: FederatedCVConfig
) -> tuple[list[list[MemberData]], list[npt.NDArray[np.int64]]]:
    """Per fold, the firms (train / validation / the fold's test rows) and the fold's test row indices.

    Folds, firms and each firm's validation part split whole contract units (clone clusters, else files).
    """
    from fedrisk.jobs.tabular import MemberData

    rng = np.random.default_rng(config.seed)
    units = _units(dataset)
    folds = split_by_contract(units, config.n_folds, rng)
    X, y = dataset.X, dataset.y
    out: list[list[MemberData]] = []
    for k, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(y)), test)
        shared = set(dataset.groups[train].tolist()) & set(dataset.groups[test].tolist())
        if shared:  # defence in depth: split_by_contract keeps whole units together
            raise ConfigError(f"fold {k + 1}: {len(shared)} contract(s) on both sides of the split")
        firms = []
        for i, part in enumerate(split_by_contract(units[train], config.n_firms, rng)):
            rows = train[part]
            firm_units = np.unique(units[rows])
            n_val = max(1, round(config.val_share * len(firm_units)))
            if n_val >= len(firm_units):
                raise ConfigError(f"fold {k + 1}: firm {i + 1} has {len(firm_units)} contract unit(s); too few")
            val_units = rng.choice(firm_units, size=n_val, replace=False)
            is_val = np.isin(units[rows], val_units)
            tr, va = rows[~is_val], rows[is_val]
            firms.append(MemberData(f"firm-{i + 1}", X[tr], y[tr], X[va], y[va], X[test], y[test]))
        out.append(firms)
    return out, folds


def _fold_row(exp: Any, fold: int, test: npt.NDArray[np.int64], y: npt.NDArray[np.int64], kind: str) -> dict[str, Any]:
    rows = exp.members
    first = rows[0]
    return {
        "fold": fold,
        "test_functions": len(test),
        "test_positive": int(y[test].sum()),
        "firm_train_functions": [r["n_train"] for r in rows],
        f"auprc_{kind}_central": first[f"auprc_{kind}_central"],
        f"auprc_{kind}_federated": first[f"auprc_{kind}_federated"],
        f"auprc_{kind}_local": [r[f"auprc_{kind}_local"] for r in rows],
        f"auroc_{kind}_central": first[f"auroc_{kind}_central"],
        f"auroc_{kind}_federated": first[f"auroc_{kind}_federated"],
        f"auroc_{kind}_local": [r[f"auroc_{kind}_local"] for r in rows],
        f"f1_{kind}_central": [r[f"f1_{kind}_central"] for r in rows],
        f"f1_{kind}_federated": [r[f"f1_{kind}_federated"] for r in rows],
        f"f1_{kind}_local": [r[f"f1_{kind}_local"] for r in rows],
        "best_round": exp.federation["jobs"][kind]["best_round"],
    }


def _stats(values: list[float | None]) -> dict[str, float | None]:
    vals = np.array([v for v in values if v is not None], dtype=float)
    if not len(vals):
        return {"mean": None, "std": None}
    return {"mean": round(float(vals.mean()), 4), "std": round(float(vals.std()), 4)}


def _flat(rows: list[dict[str, Any]], key: str) -> list[float | None]:
    out: list[float | None] = []
    for r in rows:
        value = r[key]
        out += value if isinstance(value, list) else [value]
    return out


def federated_cross_validate(dataset: FunctionDataset, config: FederatedCVConfig | None = None) -> dict[str, Any]:
    """Local-only vs federated vs central, grouped by contract, every fold a federation of audit firms.

    Returns a JSON-ready dict: ``settings``, ``folds[]`` (per fold and model kind: AUPRC/AUROC of central and
    federated, per-firm local-only values, per-firm F1 at each firm's validation threshold, best round) and
    ``summary[kind][metric_scope] = {mean, std}`` over folds (local-only: over folds × firms), plus timings.
    """
    from fedrisk.jobs.tabular import ExperimentSettings, run_experiments
    from fedrisk.models.tabular import MLPTrain, XgbSettings

    config = config or FederatedCVConfig()
    start = time.perf_counter()
    per_fold, folds = fold_members(dataset, config)
    settings = ExperimentSettings(
        rounds=config.rounds,
        xgb_rounds=config.xgb_rounds,
        mlp_train=MLPTrain(steps=config.local_steps, batch_size=config.batch_size, lr=config.lr),
        hidden=config.hidden,
        xgb=XgbSettings(eta=0.3, max_depth=4),
        xgb_max_rounds=200,
        models=tuple(config.models),  # type: ignore[arg-type]
        n_boot=config.n_boot,
        seed=config.seed,
    )
    variants = {f"fold-{k + 1}": members for k, members in enumerate(per_fold)}
    exps = run_experiments(variants, settings)
    fold_rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in config.models}
    for k, test in enumerate(folds):
        for kind in config.models:
            fold_rows[kind].append(_fold_row(exps[f"fold-{k + 1}"], k + 1, test, dataset.y, kind))
    summary = {
        kind: {
            f"{metric}_{scope}": _stats(_flat(rows, f"{metric}_{kind}_{scope}"))
            for metric in ("auprc", "auroc", "f1")
            for scope in SCOPES
        }
        for kind, rows in fold_rows.items()
    }
    return {
        "what": "function risk classifier: local-only vs federated (FedAvg over audit firms, Flower) vs central; "
        "grouped k-fold by contract clone cluster, each fold's training contracts split into disjoint firms",
        "settings": asdict(config) | {"training": settings.to_dict()},
        "functions": len(dataset.y),
        "positive_functions": int(dataset.y.sum()),
        "contracts": dataset.n_contracts,
        "folds": fold_rows,
        "summary": summary,
        "seconds": round(time.perf_counter() - start, 1),
    }
