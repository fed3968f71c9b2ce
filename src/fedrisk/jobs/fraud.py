"""Cross-exchange fraud detection: K exchanges federate on the Ethereum fraud-accounts dataset; saved-model scoring.

``run_fraud_section(data_dir, out_dir, quick=..., seed=...)`` returns the ``fraud`` section of ``results.json``
(schema in ``docs/fraud-credit.md``) and saves the federated model in ``out_dir/fraud/``.
``score_accounts(model_dir, frame)`` scores accounts with that model; it imports neither Flower nor the training
code paths, so the scoring service can reuse it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedrisk.data.fraud import (
    ADDRESS,
    DATASET,
    LEAK_MODES,
    FraudAccounts,
    LeakMode,
    dirichlet_label_split,
    feature_matrix,
    feature_names,
    load_fraud_accounts,
    stratified_split,
    validate_accounts,
)
from fedrisk.errors import ConfigError, DataValidationError, ModelError
from fedrisk.evaluation.metrics import auprc
from fedrisk.jobs.tabular import DEFAULT_VARIANT, TabularPrivacy, TabularTrainConfig, quick_training
from fedrisk.models.tabular import (
    best_threshold,
    booster_bytes,
    f1_at,
    fit_xgb,
    load_tabular,
    predict_booster,
    save_tabular,
)

MODEL_SUBDIR = "fraud"
PRIVACY_LEDGER = "privacy_ledger.sqlite"
"""The fraud federation's ε ledger (``dp`` mode), in ``RUN_DIR/fraud/``."""
INDICATOR_VARIANT = "indicator"
PUBLISHED_BAR = {
    "name": "random forest on Elliptic (Weber et al. 2019), illicit-class F1 on a temporal split",
    "f1_low": 0.79,
    "f1_high": 0.80,
    "note": "different data (Bitcoin transactions, temporal split); shown for scale, not a like-for-like comparison",
}


@dataclass(frozen=True, slots=True)
class FraudConfig(TabularTrainConfig):
    """Settings of the fraud federation: the shared tabular settings plus the split and leak handling (every one
    is recorded in the section)."""

    alpha: float = 0.5
    min_per_class: int = 20
    leak: LeakMode = "impute"
    indicator_table: bool = True
    """Also federate and compare with the missingness indicator (per-member table ``leak.indicator_members``), in
    the same simulation start: how much the leak inflates every scope, member by member."""
    max_accounts: int | None = None
    """Use a seeded stratified sample of this many accounts (tests and quick runs)."""

    def __post_init__(self) -> None:
        TabularTrainConfig.__post_init__(self)
        if self.leak not in LEAK_MODES:
            raise ConfigError(f"unknown leak mode {self.leak!r}; use one of {', '.join(LEAK_MODES)}")

    def task_name(self) -> str:
        """Name used in messages."""
        return "fraud"


def quick_fraud_config(seed: int = 7, privacy: TabularPrivacy | None = None) -> FraudConfig:
    """Fewer rounds and resamples (the demo's ``--quick``; well under a minute)."""
    return quick_training(FraudConfig(seed=seed, privacy=privacy or TabularPrivacy()))


# --------------------------------------------------------------------------------------------- data + split
def _sample(accounts: FraudAccounts, n: int | None, rng: np.random.Generator) -> FraudAccounts:
    if n is None or n >= accounts.n:
        return accounts
    y = accounts.labels
    picks = [rng.choice(np.flatnonzero(y == c), round(n * (y == c).mean()), replace=False) for c in (0, 1)]
    keep = np.sort(np.concatenate(picks))
    frame = accounts.frame.iloc[keep].reset_index(drop=True)
    return replace(accounts, frame=frame)


@dataclass(frozen=True, slots=True)
class MemberSplit:
    """Row positions (into the accounts) of one exchange."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_exchanges(labels: np.ndarray, config: FraudConfig) -> list[MemberSplit]:
    """Dirichlet label-skewed exchanges, each split stratified into train / validation / test (seeded)."""
    rng = np.random.default_rng([config.seed, 1])
    parts = dirichlet_label_split(
        labels, config.members, alpha=config.alpha, rng=rng, min_per_class=config.min_per_class
    )
    out = []
    for i, rows in enumerate(parts):
        tr, va, te = stratified_split(labels[rows], val=config.val, test=config.test, rng=rng)
        out.append(MemberSplit(f"exchange-{i + 1}", rows[tr], rows[va], rows[te]))
    return out


def _members(x: np.ndarray, y: np.ndarray, splits: list[MemberSplit]) -> list[Any]:
    from fedrisk.jobs.tabular import MemberData

    return [MemberData(s.name, x[s.train], y[s.train], x[s.val], y[s.val], x[s.test], y[s.test]) for s in splits]


# --------------------------------------------------------------------------------------------- leak study
def leak_study(accounts: FraudAccounts, splits: list[MemberSplit], config: FraudConfig) -> dict[str, Any]:
    """Centralised XGBoost under each leak-handling mode on the same split: how much the missing-ERC20 leak inflates
    F1/AUPRC. Pooled test rows; thresholds from pooled validation rows."""
    y = accounts.labels
    train, val, test = (np.concatenate([getattr(s, a) for s in splits]) for a in ("train", "val", "test"))
    missing = accounts.erc20_missing
    modes: dict[str, Any] = {}
    p_default: np.ndarray | None = None
    for mode in LEAK_MODES:
        x = feature_matrix(accounts, mode)
        booster, trees = fit_xgb(
            x[train], y[train], x[val], y[val], settings=config.xgb, max_rounds=config.xgb_max_rounds, seed=config.seed
        )
        threshold = best_threshold(y[val], predict_booster(booster, x[val]))
        p = predict_booster(booster, x[test])
        modes[mode] = {
            "features": len(feature_names(mode)),
            "trees": trees,
            "threshold": threshold,
            "f1": f1_at(y[test], p, threshold),
            "auprc": auprc(y[test], p),
            "recall_on_erc20_missing_frauds": float((p[missing[test]] >= threshold).mean())
            if missing[test].any()
            else None,
        }
        if mode == config.leak:
            p_default = p
    present = ~missing[test]
    assert p_default is not None
    default_threshold = modes[config.leak]["threshold"]
    return {
        "model": "XGBoost, centralised (pooled training rows of all exchanges)",
        "test_accounts": len(test),
        "test_frauds": int(y[test].sum()),
        "test_frauds_erc20_missing": int((y[test] == 1)[missing[test]].sum()),
        "default": config.leak,
        "modes": modes,
        "default_on_erc20_present_rows": {
            "accounts": int(present.sum()),
            "frauds": int(y[test][present].sum()),
            "f1": f1_at(y[test][present], p_default[present], default_threshold),
            "auprc": auprc(y[test][present], p_default[present]),
        },
        "indicator_minus_default_f1": modes["indicator"]["f1"] - modes[config.leak]["f1"],
    }


def indicator_comparison(default: Any, indicator: Any) -> dict[str, Any]:
    """Per member and model: local / federated / centralised F1 and AUPRC without (the default) and with the
    missingness indicator, on the same split and test rows."""
    keys = [f"{m}_{k}_{s}" for k in ("mlp", "xgb") for m in ("f1", "auprc") for s in ("local", "federated", "central")]
    members = []
    for a, b in zip(default.members, indicator.members, strict=True):
        row: dict[str, Any] = {"member": a["member"], "test_positives": a["test_positives"]}
        for key in keys:
            if key in a:
                row[f"{key}_without"] = a[key]
                row[f"{key}_with"] = b[key]
        members.append(row)
    return {
        "what": "the same federation trained again with erc20_missing as a feature (the leak), same simulation start",
        "members": members,
        "summary_with_indicator": indicator.summary,
        "federation_with_indicator": {
            k: {"best_round": v["best_round"], "val_auprc_best_round": v["val_auprc_best_round"]}
            for k, v in indicator.federation["jobs"].items()
        },
    }


# --------------------------------------------------------------------------------------------- the section
def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_fraud_section(
    data_dir: Path,
    out_dir: Path,
    *,
    quick: bool = False,
    seed: int = 7,
    config: FraudConfig | None = None,
    privacy: TabularPrivacy | None = None,
) -> dict[str, Any]:
    """Train and evaluate the fraud federation; save the model in ``out_dir/fraud/``; return the ``fraud`` section."""
    from fedrisk.data.fraud import fraud_file
    from fedrisk.jobs.tabular import run_experiments

    t0 = time.perf_counter()
    config = config or (quick_fraud_config(seed) if quick else FraudConfig(seed=seed))
    if privacy is not None:
        config = replace(config, privacy=privacy)
    path = fraud_file(data_dir)
    full = load_fraud_accounts(path)
    accounts = _sample(full, config.max_accounts, np.random.default_rng([config.seed, 2]))
    y = accounts.labels
    splits = split_exchanges(y, config)
    variants = {DEFAULT_VARIANT: _members(feature_matrix(accounts, config.leak), y, splits)}
    if config.indicator_table and config.leak != "indicator":
        variants[INDICATOR_VARIANT] = _members(feature_matrix(accounts, "indicator"), y, splits)
    settings = config.settings()
    t_data = time.perf_counter()
    ledger = out_dir / MODEL_SUBDIR / PRIVACY_LEDGER
    exps = run_experiments(variants, settings, privacy=config.privacy, ledger_path=ledger)
    exp = exps[DEFAULT_VARIANT]
    leak = leak_study(accounts, splits, config)
    if INDICATOR_VARIANT in exps:
        leak["indicator_members"] = indicator_comparison(exp, exps[INDICATOR_VARIANT])
    model_meta = save_fraud_model(out_dir / MODEL_SUBDIR, exp, config)
    missing = accounts.erc20_missing
    section: dict[str, Any] = {
        "config": config.to_dict(),
        "settings": settings.to_dict(),
        "data": {
            "dataset": DATASET,
            "file": path.name,
            "sha256": _file_sha(path),
            "rows_read": full.n + full.duplicates_dropped + full.conflicting_dropped,
            "duplicates_dropped": full.duplicates_dropped,
            "conflicting_labels_dropped": full.conflicting_dropped,
            "accounts": accounts.n,
            "frauds": int(y.sum()),
            "erc20_missing_accounts": int(missing.sum()),
            "erc20_missing_frauds": int(y[missing].sum()),
            "features": list(feature_names(config.leak)),
            "forta_lists_used_as_features": False,
        },
        "split": {
            "method": "Dirichlet label skew across exchanges, then seeded stratified train/val/test per exchange",
            "time_forward": False,
            "why_not_time_forward": "the dataset has no per-account timestamps (only durations)",
            "alpha": config.alpha,
            "seed": config.seed,
            "members": [_split_row(s, y) for s in splits],
        },
        "members": exp.members,
        "summary": exp.summary | {"published_bar": PUBLISHED_BAR},
        "leak": leak,
        "federation": exp.federation,
        "privacy": exp.privacy or {"mode": "plain", "epsilon_spent": None},
        "model": model_meta,
        "timings_s": exp.timings_s | {"data": round(t_data - t0, 2), "total": round(time.perf_counter() - t0, 2)},
    }
    return section


def _split_row(s: MemberSplit, y: np.ndarray) -> dict[str, Any]:
    rows = np.concatenate([s.train, s.val, s.test])
    return {
        "member": s.name,
        "accounts": len(rows),
        "frauds": int(y[rows].sum()),
        "fraud_rate": float(y[rows].mean()),
        "train": len(s.train),
        "val": len(s.val),
        "test": len(s.test),
        "test_frauds": int(y[s.test].sum()),
    }


def save_fraud_model(directory: Path, exp: Any, config: FraudConfig) -> dict[str, Any]:
    """Save the federated model chosen by federated validation AUPRC, with the joint validation threshold."""
    kind = exp.chosen
    meta = save_tabular(
        directory,
        kind=kind,
        features=feature_names(config.leak),
        normaliser=exp.normaliser,
        threshold=exp.joint_threshold,
        mlp=exp.chosen_model if kind == "mlp" else None,
        booster=booster_bytes(exp.chosen_model) if kind == "xgb" else None,
        extra={
            "task": "fraud",
            "leak": config.leak,
            "threshold_rule": "maximises F1 on the summed per-exchange validation score histograms (>= 3 members)",
            "chosen_by": "higher federated validation AUPRC at the best round (mlp vs xgb)",
            "members": config.members,
            "seed": config.seed,
        },
    )
    return {
        "path": f"{MODEL_SUBDIR}/",
        "kind": kind,
        "model_file": meta["model_file"],
        "model_sha256": meta["model_sha256"],
        "threshold": meta["threshold"],
        "features": len(meta["features"]),
    }


# --------------------------------------------------------------------------------------------- scoring
def _model_dir(model_dir: Path) -> Path:
    if (model_dir / MODEL_SUBDIR / "metadata.json").is_file():
        return model_dir / MODEL_SUBDIR
    if (model_dir / "metadata.json").is_file():
        return model_dir
    raise ModelError(
        f"no fraud model in {model_dir} (looked for {model_dir / MODEL_SUBDIR / 'metadata.json'}). Fix: pass a run "
        "directory of `fedrisk fraud train` / `fedrisk demo`, or its fraud/ folder."
    )


def score_accounts(model_dir: Path, frame: pd.DataFrame, *, source: str = "<frame>") -> pd.DataFrame:
    """Score accounts given in the dataset's format with a saved fraud model.

    Parameters
    ----------
    model_dir
        A run directory holding ``fraud/`` or the ``fraud/`` folder itself.
    frame
        Accounts: ``Address`` and the model's feature columns (names as in the dataset, leading spaces allowed;
        ``FLAG`` and other columns are ignored; empty ERC20 values are read as 0 like in training).

    Returns
    -------
    pandas.DataFrame
        ``Address, score, flagged`` (one row per unique address, first occurrence kept).

    Raises
    ------
    DataValidationError
        Wrong or missing columns, unparsable values, no rows.
    ModelError
        No model, or a model file that does not match its recorded SHA-256.
    """
    saved = load_tabular(_model_dir(model_dir))
    if saved.metadata.get("task") != "fraud":
        raise ModelError(f"the model in {model_dir} is not a fraud model (task={saved.metadata.get('task')!r}).")
    accounts = validate_accounts(frame.astype(str), source=source, require_label=False)
    leak: LeakMode = saved.metadata.get("leak", "impute")
    if tuple(feature_names(leak)) != saved.features:
        raise ModelError("the saved model's feature list does not match this version of fedrisk.data.fraud.")
    scores = saved.predict(feature_matrix(accounts, leak))
    return pd.DataFrame(
        {ADDRESS: accounts.frame[ADDRESS].to_numpy(), "score": scores, "flagged": scores >= saved.threshold}
    )


def score_csv(model_dir: Path, input_csv: Path, out_csv: Path) -> dict[str, Any]:
    """Score a CSV file and write ``Address, score, flagged``; returns a summary."""
    if not input_csv.is_file():
        raise DataValidationError(f"{input_csv} not found. Fix: pass a CSV in the fraud-accounts format.")
    try:
        frame = pd.read_csv(input_csv, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as err:
        raise DataValidationError(f"{input_csv}: the file is empty.") from err
    except pd.errors.ParserError as err:
        raise DataValidationError(f"{input_csv}: not a readable CSV ({err}).") from err
    scored = score_accounts(model_dir, frame, source=str(input_csv))
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    scored.to_csv(out_csv, index=False)
    return {
        "accounts": len(scored),
        "flagged": int(scored["flagged"].sum()),
        "out": str(out_csv),
        "model": json.loads((_model_dir(model_dir) / "metadata.json").read_text())["model_sha256"],
    }
