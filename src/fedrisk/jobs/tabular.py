"""The comparison shared by the fraud and credit federations: local-only vs federated vs centralised, per member.

For each model kind (``mlp``: FedAvg on Flower; ``xgb``: Flower's FedXgbBagging) and each member:

- *local-only*: trained on the member's own training rows, normalised with its own statistics, the number of
  chunks (MLP) or trees (XGBoost) chosen on its own validation rows;
- *federated*: the federation's global model (round chosen by federated validation loss), inputs normalised with
  the pooled statistics (a sum over ≥ 3 members);
- *centralised*: trained on everyone's pooled training rows — the upper reference no real federation may build.

Every model is scored on the member's own test rows: AUPRC, AUROC, and F1 at the threshold that maximises F1 on the
member's own validation rows (never on test). Paired bootstrap intervals (accounts resampled, 200 times) for
federated − local AUPRC.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedrisk.errors import require_cohort
from fedrisk.evaluation.metrics import auprc, auroc, paired_day_bootstrap
from fedrisk.models.tabular import (
    MLPConfig,
    MLPTrain,
    ModelKind,
    MomentSums,
    Normaliser,
    XgbSettings,
    best_threshold,
    booster_from_bytes,
    f1_at,
    fit_mlp,
    fit_xgb,
    predict_booster,
    predict_mlp,
    score_histograms,
    set_weights,
    threshold_from_histograms,
)

SCOPES = ("local", "federated", "central")


@dataclass(frozen=True, slots=True)
class MemberData:
    """One member's raw (un-normalised) rows, already split."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True, slots=True)
class ExperimentSettings:
    """Training budget shared by the three scopes (same steps per round/chunk, same selection rule)."""

    rounds: int = 30
    xgb_rounds: int | None = None
    """FedXgbBagging rounds (one tree per member per round); ``None``: same as ``rounds``."""
    mlp_train: MLPTrain = field(default_factory=lambda: MLPTrain(steps=20, batch_size=128, lr=3e-3))
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    xgb: XgbSettings = field(default_factory=XgbSettings)
    xgb_max_rounds: int = 400
    models: tuple[ModelKind, ...] = ("mlp", "xgb")
    n_boot: int = 200
    seed: int = 7

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "rounds": self.rounds,
            "xgb_rounds": self.xgb_rounds or self.rounds,
            "mlp_local_steps": self.mlp_train.steps,
            "mlp_batch_size": self.mlp_train.batch_size,
            "mlp_lr": self.mlp_train.lr,
            "mlp_hidden": list(self.hidden),
            "xgb_eta": self.xgb.eta,
            "xgb_max_depth": self.xgb.max_depth,
            "xgb_trees_per_member_per_round": 1,
            "xgb_max_rounds_local_central": self.xgb_max_rounds,
            "models": list(self.models),
            "n_boot": self.n_boot,
            "seed": self.seed,
        }


@dataclass(slots=True)
class Experiment:
    """Everything measured; :meth:`section` gives the JSON parts."""

    members: list[dict[str, Any]]
    summary: dict[str, Any]
    federation: dict[str, Any]
    normaliser: Normaliser
    chosen: ModelKind
    chosen_model: Any
    joint_threshold: float
    timings_s: dict[str, float]


def _predictor(kind: ModelKind, model: Any) -> Any:
    return (lambda x: predict_mlp(model, x)) if kind == "mlp" else (lambda x: predict_booster(model, x))


def _fit(kind: ModelKind, x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, s: ExperimentSettings) -> Any:
    if kind == "mlp":
        config = MLPConfig(x.shape[1], s.hidden, s.dropout)
        rng = np.random.default_rng([s.seed, 11])
        model, _ = fit_mlp(x, y, xv, yv, config=config, settings=s.mlp_train, chunks=s.rounds, seed=s.seed, rng=rng)
        return model
    booster, _ = fit_xgb(x, y, xv, yv, settings=s.xgb, max_rounds=s.xgb_max_rounds, seed=s.seed)
    return booster


def _scores(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float | None]:
    return {"f1": f1_at(y, p, threshold), "auprc": auprc(y, p), "auroc": auroc(y, p), "threshold": threshold}


def _federate(
    members: list[MemberData], norm: Normaliser, s: ExperimentSettings, work: Path
) -> tuple[dict[ModelKind, Any], dict[str, Any], dict[ModelKind, float | None]]:
    from fedrisk.federation.tabular import (
        MemberTable,
        TabularJob,
        TabularPlan,
        run_tabular_plan,
        write_member_table,
    )
    from fedrisk.models.tabular import build_mlp

    for m in members:
        table = MemberTable(norm.apply(m.x_train), m.y_train, norm.apply(m.x_val), m.y_val)
        write_member_table(work / f"{m.name}.npz", table)
    names = tuple(m.name for m in members)
    n_features = members[0].x_train.shape[1]
    jobs = tuple(
        TabularJob(
            kind,
            names,
            kind,
            n_features,
            rounds=s.rounds if kind == "mlp" else (s.xgb_rounds or s.rounds),
            hidden=s.hidden,
            dropout=s.dropout,
            train=s.mlp_train,
            xgb=s.xgb,
            seed=s.seed,
        )
        for kind in s.models
    )
    outcomes = run_tabular_plan(TabularPlan(names, jobs, str(work)))
    models: dict[ModelKind, Any] = {}
    report: dict[str, Any] = {}
    val_ap: dict[ModelKind, float | None] = {}
    for outcome in outcomes:
        kind = outcome.job.model
        if kind == "mlp":
            mlp = build_mlp(outcome.job.mlp_config(), seed=s.seed)
            set_weights(mlp, outcome.arrays)
            models[kind] = mlp
        else:
            models[kind] = booster_from_bytes(outcome.booster)
        val_ap[kind] = outcome.val_auprc
        report[kind] = {
            "strategy": "FedAvg" if kind == "mlp" else "FedXgbBagging",
            "cohort": list(outcome.job.cohort),
            "rounds": outcome.job.rounds,
            "best_round": outcome.best_round,
            "val_auprc_best_round": outcome.val_auprc,
            "history": [
                {k: getattr(h, k) for k in ("round", "status", "members", "val_loss", "val_auprc", "train_loss")}
                | {"wall_s": h.wall_s}
                for h in outcome.history
            ],
        }
    return models, report, val_ap


def run_experiment(members: list[MemberData], settings: ExperimentSettings) -> Experiment:
    """Train and evaluate every scope and model kind; one Flower simulation start for all federated jobs.

    PyTorch runs on one thread meanwhile (these models are tiny: one thread is ~25x faster than two on a busy
    2-core machine); the previous setting is restored.
    """
    require_cohort(len(members), what="a federation")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_experiment(members, settings)
    finally:
        torch.set_num_threads(threads)


def _run_experiment(members: list[MemberData], settings: ExperimentSettings) -> Experiment:
    t0 = time.perf_counter()
    norm = Normaliser.from_sums([MomentSums.of(m.x_train) for m in members])
    with tempfile.TemporaryDirectory(prefix="fedrisk-tabular-") as work:
        fed_models, fed_report, fed_val_ap = _federate(members, norm, settings, Path(work))
    t_fed = time.perf_counter()
    pooled = [np.concatenate([getattr(m, a) for m in members]) for a in ("x_train", "y_train", "x_val", "y_val")]
    central = {
        k: _fit(k, norm.apply(pooled[0]), pooled[1], norm.apply(pooled[2]), pooled[3], settings)
        for k in settings.models
    }
    rows = [_member_row(m, norm, settings, fed_models, central) for m in members]
    t_ref = time.perf_counter()
    chosen: ModelKind = max(settings.models, key=lambda k: fed_val_ap.get(k) or 0.0)
    predict = _predictor(chosen, fed_models[chosen])
    hists = [score_histograms(m.y_val, predict(norm.apply(m.x_val))) for m in members]
    joint = threshold_from_histograms(sum(h[0] for h in hists), sum(h[1] for h in hists))  # type: ignore[arg-type]
    timings = {"federation": t_fed - t0, "local_and_central": t_ref - t_fed, "total": time.perf_counter() - t0}
    return Experiment(
        members=rows,
        summary=summarise(rows, settings.models),
        federation={"jobs": fed_report},
        normaliser=norm,
        chosen=chosen,
        chosen_model=fed_models[chosen],
        joint_threshold=joint,
        timings_s={k: round(v, 2) for k, v in timings.items()},
    )


def _member_row(
    m: MemberData,
    norm: Normaliser,
    s: ExperimentSettings,
    fed_models: dict[ModelKind, Any],
    central: dict[ModelKind, Any],
) -> dict[str, Any]:
    own = Normaliser.fit(m.x_train)
    row: dict[str, Any] = {
        "member": m.name,
        "n_train": len(m.y_train),
        "n_val": len(m.y_val),
        "n_test": len(m.y_test),
        "test_positives": int(m.y_test.sum()),
        "test_rate": float(m.y_test.mean()),
        "fed_minus_local_auprc": {},
    }
    rng = np.random.default_rng([s.seed, len(m.y_test)])
    for kind in s.models:
        probs: dict[str, np.ndarray] = {}
        local = _fit(kind, own.apply(m.x_train), m.y_train, own.apply(m.x_val), m.y_val, s)
        for scope, model, nz in (
            ("local", local, own),
            ("federated", fed_models[kind], norm),
            ("central", central[kind], norm),
        ):
            predict = _predictor(kind, model)
            threshold = best_threshold(m.y_val, predict(nz.apply(m.x_val)))
            probs[scope] = predict(nz.apply(m.x_test))
            for metric, value in _scores(m.y_test, probs[scope], threshold).items():
                row[f"{metric}_{kind}_{scope}"] = value
        boot = paired_day_bootstrap(
            m.y_test, probs["local"], probs["federated"], np.arange(len(m.y_test)), n_boot=s.n_boot, rng=rng
        )
        row["fed_minus_local_auprc"][kind] = boot.to_dict()
    return row


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def _pct(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else 100.0 * a / b


def summarise(rows: list[dict[str, Any]], models: tuple[ModelKind, ...]) -> dict[str, Any]:
    """Means over members, federated as % of centralised, and how many members gain from federating."""
    out: dict[str, Any] = {"members": len(rows), "by_model": {}}
    for kind in models:
        means = {
            f"{m}_{scope}": _mean(rows, f"{m}_{kind}_{scope}") for m in ("f1", "auprc", "auroc") for scope in SCOPES
        }
        gains = [r[f"auprc_{kind}_federated"] - r[f"auprc_{kind}_local"] for r in rows]
        f1_gains = [r[f"f1_{kind}_federated"] - r[f"f1_{kind}_local"] for r in rows]
        boots = [r["fed_minus_local_auprc"][kind] for r in rows]
        out["by_model"][kind] = {
            "mean": means,
            "federated_pct_of_central": {
                "f1": _pct(means["f1_federated"], means["f1_central"]),
                "auprc": _pct(means["auprc_federated"], means["auprc_central"]),
            },
            "members_gaining_auprc": int(sum(g > 0 for g in gains)),
            "members_gaining_f1": int(sum(g > 0 for g in f1_gains)),
            "members_significantly_better": int(sum(b["significant"] is True and b["delta"] > 0 for b in boots)),
            "members_significantly_worse": int(sum(b["significant"] is True and b["delta"] < 0 for b in boots)),
            "median_auprc_gain": float(np.median(gains)),
            "median_f1_gain": float(np.median(f1_gains)),
        }
    return out
