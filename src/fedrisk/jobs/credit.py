"""Joint credit scoring: lenders of very different sizes federate on the Taiwan credit-default dataset.

``run_credit_section(data_dir, out_dir, quick=..., seed=...)`` returns the ``credit`` section of ``results.json``
(schema in ``docs/fraud-credit.md``). The headline is how much the smallest lenders gain over scoring alone; the
fairness block shows how the gains spread across lenders.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from fedrisk.data.credit import (
    DATASET,
    FEATURES,
    credit_file,
    feature_matrix,
    geometric_shares,
    load_credit_clients,
    size_skewed_split,
)
from fedrisk.data.fraud import stratified_split
from fedrisk.jobs.tabular import TabularPrivacy, TabularTrainConfig, quick_training

PRIVACY_LEDGER = "credit_privacy_ledger.sqlite"
"""The credit federation's ε ledger (``dp`` mode), in the run directory."""


@dataclass(frozen=True, slots=True)
class CreditConfig(TabularTrainConfig):
    """Settings of the credit federation: the shared tabular settings plus the size skew (every one is recorded
    in the section)."""

    ratio: float = 0.5
    """Lender ``i`` holds a share proportional to ``ratio**i`` of the clients."""
    max_clients: int | None = None
    """Use the first rows of a seeded permutation of this many clients (tests)."""

    def task_name(self) -> str:
        """Name used in messages."""
        return "credit"


def quick_credit_config(seed: int = 7, privacy: TabularPrivacy | None = None) -> CreditConfig:
    """Fewer rounds and resamples (the demo's ``--quick``)."""
    return quick_training(CreditConfig(seed=seed, privacy=privacy or TabularPrivacy()))


@dataclass(frozen=True, slots=True)
class LenderSplit:
    """Row positions of one lender."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_lenders(labels: np.ndarray, config: CreditConfig) -> list[LenderSplit]:
    """Size-skewed lenders (geometric shares, seeded permutation), each split stratified train / val / test."""
    rng = np.random.default_rng([config.seed, 3])
    parts = size_skewed_split(len(labels), geometric_shares(config.members, config.ratio), rng=rng)
    out = []
    for i, rows in enumerate(parts):
        tr, va, te = stratified_split(labels[rows], val=config.val, test=config.test, rng=rng)
        out.append(LenderSplit(f"lender-{i + 1}", rows[tr], rows[va], rows[te]))
    return out


def fairness(rows: list[dict[str, Any]], sizes: list[int], kind: str) -> dict[str, Any]:
    """How the AUPRC gain of federating (federated − local) spreads across lenders of different sizes."""
    gains = np.array([r[f"auprc_{kind}_federated"] - r[f"auprc_{kind}_local"] for r in rows])
    of_central = np.array([r[f"auprc_{kind}_federated"] / r[f"auprc_{kind}_central"] for r in rows])
    rho = spearmanr(sizes, gains).statistic if len(set(sizes)) > 1 else float("nan")
    return {
        "gains_auprc": gains.tolist(),
        "min_gain": float(gains.min()),
        "max_gain": float(gains.max()),
        "members_gaining": int((gains > 0).sum()),
        "spearman_size_vs_gain": float(rho),
        "federated_pct_of_central_min": float(100 * of_central.min()),
        "federated_pct_of_central_max": float(100 * of_central.max()),
    }


def headline(rows: list[dict[str, Any]], kind: str, smallest: int = 2) -> dict[str, Any]:
    """Gains of the ``smallest`` lenders (the last rows: lenders are ordered largest first)."""
    small = rows[-smallest:]
    return {
        "model": kind,
        "lenders": [r["member"] for r in small],
        "train_rows": [r["n_train"] for r in small],
        "auprc_local": [r[f"auprc_{kind}_local"] for r in small],
        "auprc_federated": [r[f"auprc_{kind}_federated"] for r in small],
        "auprc_gain": [r[f"auprc_{kind}_federated"] - r[f"auprc_{kind}_local"] for r in small],
        "auroc_gain": [r[f"auroc_{kind}_federated"] - r[f"auroc_{kind}_local"] for r in small],
        "f1_gain": [r[f"f1_{kind}_federated"] - r[f"f1_{kind}_local"] for r in small],
        "auprc_gain_interval": [r["fed_minus_local_auprc"][kind] for r in small],
    }


def run_credit_section(
    data_dir: Path,
    out_dir: Path,
    *,
    quick: bool = False,
    seed: int = 7,
    config: CreditConfig | None = None,
    privacy: TabularPrivacy | None = None,
) -> dict[str, Any]:
    """Train and evaluate the credit federation; return the ``credit`` section (no credit model is saved; in ``dp``
    mode the privacy ledger is written to ``out_dir/credit_privacy_ledger.sqlite``)."""
    from fedrisk.jobs.tabular import MemberData, run_experiment

    t0 = time.perf_counter()
    config = config or (quick_credit_config(seed) if quick else CreditConfig(seed=seed))
    if privacy is not None:
        config = replace(config, privacy=privacy)
    path = credit_file(data_dir)
    clients = load_credit_clients(path)
    x, y = feature_matrix(clients), clients.labels
    if config.max_clients is not None and config.max_clients < len(y):
        keep = np.sort(np.random.default_rng([config.seed, 4]).permutation(len(y))[: config.max_clients])
        x, y = x[keep], y[keep]
    splits = split_lenders(y, config)
    members = [MemberData(s.name, x[s.train], y[s.train], x[s.val], y[s.val], x[s.test], y[s.test]) for s in splits]
    settings = config.settings()
    t_data = time.perf_counter()
    exp = run_experiment(members, settings, privacy=config.privacy, ledger_path=out_dir / PRIVACY_LEDGER)
    sizes = [len(s.train) + len(s.val) + len(s.test) for s in splits]
    return {
        "config": config.to_dict(),
        "settings": settings.to_dict(),
        "data": {
            "dataset": DATASET,
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "clients": len(y),
            "defaults": int(y.sum()),
            "default_rate": float(y.mean()),
            "features": list(FEATURES),
        },
        "split": {
            "method": "seeded permutation cut at geometric shares (size skew only), then seeded stratified "
            "train/val/test per lender",
            "time_forward": False,
            "why_not_time_forward": "every client covers the same six months (April-September 2005)",
            "shares": geometric_shares(config.members, config.ratio).tolist(),
            "seed": config.seed,
            "members": [
                {
                    "member": s.name,
                    "clients": n,
                    "defaults": int(y[np.concatenate([s.train, s.val, s.test])].sum()),
                    "train": len(s.train),
                    "val": len(s.val),
                    "test": len(s.test),
                }
                for s, n in zip(splits, sizes, strict=True)
            ],
        },
        "members": exp.members,
        "summary": exp.summary,
        "headline": {kind: headline(exp.members, kind) for kind in settings.models},
        "fairness": {kind: fairness(exp.members, sizes, kind) for kind in settings.models},
        "federation": exp.federation,
        "privacy": exp.privacy or {"mode": "plain", "epsilon_spent": None},
        "timings_s": exp.timings_s | {"data": round(t_data - t0, 2), "total": round(time.perf_counter() - t0, 2)},
    }
