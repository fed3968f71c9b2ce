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

import datetime as dt
import math
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import torch

from fedrisk.errors import ConfigError, require_cohort
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

if TYPE_CHECKING:
    from fedrisk.federation.secagg import SecureOutcome

SCOPES = ("local", "federated", "central")
PrivacyMode = Literal["plain", "secagg", "dp"]
PRIVACY_MODES: tuple[PrivacyMode, ...] = ("plain", "secagg", "dp")
DEFAULT_VARIANT = "default"


@dataclass(frozen=True, slots=True)
class TabularPrivacy:
    """The privacy mode of a tabular federation's MLP (trees always run plain: a set of trees is not a sum).

    Parameters
    ----------
    mode
        ``plain`` (Message-API FedAvg, the coordinator sees each update), ``secagg`` (Flower SecAgg+: the coordinator
        only unmasks the weighted mean) or ``dp`` (member-level DP-FedAvg under SecAgg+, ε in the privacy ledger).
    target_epsilon
        ``dp``: the noise is calibrated (PLD, q = 1: every member every round) so that ε after ``rounds`` rounds is
        at most this; it is also the ledger's budget (the gate refuses a member that would pass it).
    delta
        δ of the reported ε.
    clip_norm
        ``dp``: members clip their update to this L2 norm (fixed a priori, not tuned on members' data).
    rounds
        Rounds of the secure job; ``None``: the MLP's ``rounds``.
    secure_mode
        DP noise from the OS CSPRNG (default); ``False`` only for reproducible research runs.
    """

    mode: PrivacyMode = "plain"
    target_epsilon: float = 8.0
    delta: float = 1e-5
    clip_norm: float = 0.5
    rounds: int | None = None
    secure_mode: bool = True

    def __post_init__(self) -> None:
        if self.mode not in PRIVACY_MODES:
            raise ConfigError(f"unknown privacy mode {self.mode!r}; use one of {', '.join(PRIVACY_MODES)}")
        if not (math.isfinite(self.target_epsilon) and self.target_epsilon > 0):
            raise ConfigError(f"target_epsilon must be a finite number > 0, got {self.target_epsilon}")
        if not (0 < self.delta < 1):
            raise ConfigError(f"delta must be in (0, 1), got {self.delta}")
        if not (math.isfinite(self.clip_norm) and self.clip_norm > 0):
            raise ConfigError(f"clip_norm must be a finite number > 0, got {self.clip_norm}")
        if self.rounds is not None and self.rounds <= 0:
            raise ConfigError(f"privacy rounds must be > 0, got {self.rounds}")


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
    xgb_strategy: str = "bagging"
    """Federated trees: ``bagging`` (FedXgbBagging) or ``cyclic`` (FedXgbCyclic, full cycles published)."""
    xgb_trees_per_round: int = 1
    """Trees a member adds per round (per member with bagging, by the round's member with cyclic)."""
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
            "xgb_strategy": self.xgb_strategy,
            "xgb_trees_per_round": self.xgb_trees_per_round,
            "xgb_max_rounds_local_central": self.xgb_max_rounds,
            "models": list(self.models),
            "n_boot": self.n_boot,
            "seed": self.seed,
        }


@dataclass(frozen=True, slots=True)
class TabularTrainConfig:
    """The settings shared by the fraud and credit federations (``FraudConfig`` and ``CreditConfig`` extend it)."""

    members: int = 5
    val: float = 0.2
    test: float = 0.2
    rounds: int = 30
    xgb_rounds: int = 120
    """Tree rounds. Cyclic: one member's turn each (24 full cycles of 5 members); bagging: every member each round
    (60 was used: at 30 the federated validation loss was still falling)."""
    xgb_strategy: str = "cyclic"
    """``cyclic`` (Flower FedXgbCyclic, 5 trees per turn) or ``bagging`` (FedXgbBagging, 1 tree per member per
    round). Cyclic is the default: its federated validation loss is lower on both tasks (docs/fraud-credit.md)."""
    xgb_trees_per_round: int = 5
    local_steps: int = 20
    batch_size: int = 128
    lr: float = 3e-3
    hidden: tuple[int, ...] = (64, 32)
    xgb: XgbSettings = field(default_factory=lambda: XgbSettings(eta=0.1, max_depth=4))
    xgb_max_rounds: int = 400
    n_boot: int = 200
    privacy: TabularPrivacy = field(default_factory=TabularPrivacy)
    seed: int = 7

    def __post_init__(self) -> None:
        if self.members < 3:
            raise ConfigError(f"a {self.task_name()} federation needs at least 3 members, got {self.members}")
        if not (0 < self.val < 1 and 0 < self.test < 1 and self.val + self.test < 1):
            raise ConfigError(f"val and test must be shares in (0, 1) summing below 1, got {self.val}, {self.test}")

    def task_name(self) -> str:
        """Name used in messages."""
        return "tabular"

    def settings(self) -> ExperimentSettings:
        """The training budget of the comparison."""
        return ExperimentSettings(
            rounds=self.rounds,
            xgb_rounds=self.xgb_rounds,
            mlp_train=MLPTrain(steps=self.local_steps, batch_size=self.batch_size, lr=self.lr),
            hidden=self.hidden,
            xgb=self.xgb,
            xgb_max_rounds=self.xgb_max_rounds,
            xgb_strategy=self.xgb_strategy,
            xgb_trees_per_round=self.xgb_trees_per_round,
            n_boot=self.n_boot,
            seed=self.seed,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (every setting)."""
        out: dict[str, Any] = {}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            out[name] = asdict(value) if name in ("xgb", "privacy") else value
        return out


def _field_names(cls: type) -> list[str]:
    from dataclasses import fields

    return [f.name for f in fields(cls)]


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
    privacy: dict[str, Any] | None = None
    """The MLP under the run's privacy mode (``None`` in plain mode); schema in ``docs/fraud-credit.md``."""


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


def _job_name(variant: str, kind: ModelKind) -> str:
    return kind if variant == DEFAULT_VARIANT else f"{variant}-{kind}"


def _write_tables(members: list[MemberData], norm: Normaliser, folder: Path) -> None:
    from fedrisk.federation.tabular import MemberTable, write_member_table

    for m in members:
        table = MemberTable(norm.apply(m.x_train), m.y_train, norm.apply(m.x_val), m.y_val)
        write_member_table(folder / f"{m.name}.npz", table)


def _tabular_job(
    name: str,
    names: tuple[str, ...],
    kind: ModelKind,
    n_features: int,
    s: ExperimentSettings,
    *,
    subdir: str = "",
    rounds: int | None = None,
) -> Any:
    from fedrisk.federation.tabular import TabularJob

    default_rounds = s.rounds if kind == "mlp" else (s.xgb_rounds or s.rounds)
    return TabularJob(
        name,
        names,
        kind,
        n_features,
        rounds=rounds or default_rounds,
        hidden=s.hidden,
        dropout=s.dropout,
        train=s.mlp_train,
        xgb=s.xgb,
        trees_per_round=s.xgb_trees_per_round,
        xgb_strategy=s.xgb_strategy,
        seed=s.seed,
        data_subdir=subdir,
    )


def _federate(
    variants: Mapping[str, list[MemberData]], norms: Mapping[str, Normaliser], s: ExperimentSettings, work: Path
) -> dict[str, tuple[dict[ModelKind, Any], dict[str, Any], dict[ModelKind, float | None]]]:
    """Every variant × model kind in ONE simulation start; per variant: models, report, validation AUPRC."""
    from fedrisk.federation.tabular import TabularPlan, run_tabular_plan
    from fedrisk.models.tabular import build_mlp

    jobs = []
    for variant, members in variants.items():
        _write_tables(members, norms[variant], work / variant)
        names = tuple(m.name for m in members)
        n_features = members[0].x_train.shape[1]
        jobs += [_tabular_job(_job_name(variant, k), names, k, n_features, s, subdir=variant) for k in s.models]
    names = tuple(m.name for m in next(iter(variants.values())))
    outcomes = run_tabular_plan(TabularPlan(names, tuple(jobs), str(work)))
    out: dict[str, tuple[dict[ModelKind, Any], dict[str, Any], dict[ModelKind, float | None]]] = {
        v: ({}, {}, {}) for v in variants
    }
    for outcome in outcomes:
        kind = outcome.job.model
        variant = outcome.job.data_subdir
        models, report, val_ap = out[variant]
        if kind == "mlp":
            mlp = build_mlp(outcome.job.mlp_config(), seed=s.seed)
            set_weights(mlp, outcome.arrays)
            models[kind] = mlp
        else:
            models[kind] = booster_from_bytes(outcome.booster)
        val_ap[kind] = outcome.val_auprc
        report[kind] = {
            "strategy": "FedAvg" if kind == "mlp" else f"FedXgb{outcome.job.xgb_strategy.capitalize()}",
            "trees_per_round": outcome.job.trees_per_round if kind == "xgb" else None,
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
    return out


def run_experiment(
    members: list[MemberData],
    settings: ExperimentSettings,
    *,
    privacy: TabularPrivacy | None = None,
    ledger_path: Path | None = None,
) -> Experiment:
    """Train and evaluate every scope and model kind; one Flower simulation start for all plain federated jobs.

    ``privacy`` (other than ``plain``) adds one secure simulation start: the MLP under SecAgg+ (and DP, with the
    privacy ledger at ``ledger_path``) beside plain legacy FedAvg with the same rounds (:attr:`Experiment.privacy`).

    PyTorch runs on one thread meanwhile (these models are tiny: one thread is ~25x faster than two on a busy
    2-core machine); the previous setting is restored.
    """
    variants = {DEFAULT_VARIANT: members}
    return run_experiments(variants, settings, privacy=privacy, ledger_path=ledger_path)[DEFAULT_VARIANT]


def run_experiments(
    variants: Mapping[str, list[MemberData]],
    settings: ExperimentSettings,
    *,
    privacy: TabularPrivacy | None = None,
    ledger_path: Path | None = None,
) -> dict[str, Experiment]:
    """:func:`run_experiment` for several feature variants of the same members (the first is the default one; the
    privacy mode applies to the variant named ``default``)."""
    for members in variants.values():
        require_cohort(len(members), what="a federation")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_experiments(variants, settings, privacy or TabularPrivacy(), ledger_path)
    finally:
        torch.set_num_threads(threads)


def _run_experiments(
    variants: Mapping[str, list[MemberData]],
    settings: ExperimentSettings,
    privacy: TabularPrivacy,
    ledger_path: Path | None,
) -> dict[str, Experiment]:
    t0 = time.perf_counter()
    norms = {v: Normaliser.from_sums([MomentSums.of(m.x_train) for m in ms]) for v, ms in variants.items()}
    with tempfile.TemporaryDirectory(prefix="fedrisk-tabular-") as work:
        federated = _federate(variants, norms, settings, Path(work))
        t_fed = time.perf_counter()
        private = None
        if privacy.mode != "plain" and DEFAULT_VARIANT in variants and "mlp" in settings.models:
            private = _private_mlp(
                variants[DEFAULT_VARIANT],
                norms[DEFAULT_VARIANT],
                settings,
                privacy,
                ledger_path,
                Path(work) / DEFAULT_VARIANT,
            )
    t_priv = time.perf_counter()
    out: dict[str, Experiment] = {}
    for variant, members in variants.items():
        t1 = time.perf_counter()
        norm = norms[variant]
        fed_models, fed_report, fed_val_ap = federated[variant]
        pooled = [np.concatenate([getattr(m, a) for m in members]) for a in ("x_train", "y_train", "x_val", "y_val")]
        central = {
            k: _fit(k, norm.apply(pooled[0]), pooled[1], norm.apply(pooled[2]), pooled[3], settings)
            for k in settings.models
        }
        rows = [_member_row(m, norm, settings, fed_models, central) for m in members]
        chosen: ModelKind = max(settings.models, key=lambda k: fed_val_ap.get(k) or 0.0)
        predict = _predictor(chosen, fed_models[chosen])
        hists = [score_histograms(m.y_val, predict(norm.apply(m.x_val))) for m in members]
        joint = threshold_from_histograms(sum(h[0] for h in hists), sum(h[1] for h in hists))  # type: ignore[arg-type]
        timings = {"federation_all_variants": t_fed - t0, "local_and_central": time.perf_counter() - t1}
        if variant == DEFAULT_VARIANT:
            timings |= {"federation": t_fed - t0, "private_federation": t_priv - t_fed}
        exp = Experiment(
            members=rows,
            summary=summarise(rows, settings.models),
            federation={"jobs": fed_report},
            normaliser=norm,
            chosen=chosen,
            chosen_model=fed_models[chosen],
            joint_threshold=joint,
            timings_s={k: round(v, 2) for k, v in timings.items()},
        )
        if variant == DEFAULT_VARIANT and private is not None:
            exp.privacy = _private_report(private, members, norm, rows)
        out[variant] = exp
    return out


# --------------------------------------------------------------------------------------------- privacy modes
@dataclass(slots=True)
class _Private:
    privacy: TabularPrivacy
    rounds: int
    noise_multiplier: float | None
    outcomes: dict[str, SecureOutcome]
    epsilon_spent: dict[str, float] | None
    ledger: str | None
    mlp_config: MLPConfig
    seed: int


def _private_mlp(
    members: list[MemberData],
    norm: Normaliser,
    s: ExperimentSettings,
    privacy: TabularPrivacy,
    ledger_path: Path | None,
    folder: Path,
) -> _Private:
    """The MLP under SecAgg+ (and DP) plus the same rounds on plain legacy FedAvg: one secure simulation start."""
    from fedrisk.federation.dp import MemberDP
    from fedrisk.federation.tabular import TabularPlan
    from fedrisk.federation.tabular_secure import run_tabular_secure, secure_jobs
    from fedrisk.privacy.accounting import calibrate_noise
    from fedrisk.privacy.ledger import BudgetPolicy, PrivacyLedger, open_ledger

    names = tuple(m.name for m in members)
    rounds = privacy.rounds or s.rounds
    job = _tabular_job("mlp", names, "mlp", members[0].x_train.shape[1], s, rounds=rounds)
    plan = TabularPlan(names, (job,), str(folder))
    dp: MemberDP | None = None
    ledger: PrivacyLedger | None = None
    z: float | None = None
    period = f"{privacy.mode}-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
    if privacy.mode == "dp":
        if ledger_path is None:
            raise ConfigError("privacy mode 'dp' needs a ledger path (the run directory's privacy ledger)")
        z = calibrate_noise(target_epsilon=privacy.target_epsilon, sample_rate=1.0, rounds=rounds, delta=privacy.delta)
        dp = MemberDP(z, privacy.clip_norm, secure_mode=privacy.secure_mode, period=period, delta=privacy.delta)
        ledger_path.parent.mkdir(parents=True, exist_ok=True)
        policy = BudgetPolicy.from_config({"epsilon_max": privacy.target_epsilon, "delta": privacy.delta})
        ledger = open_ledger(ledger_path, policy)
    outcomes = run_tabular_secure(secure_jobs(plan, job, privacy.mode, dp=dp), num_members=len(names), ledger=ledger)
    spent = None
    if ledger is not None:
        spent = {m: round(ledger.spent(m, level="member", period=period), 4) for m in names}
        close = getattr(ledger, "close", None)
        if callable(close):
            close()
    return _Private(
        privacy=privacy,
        rounds=rounds,
        noise_multiplier=z,
        outcomes={o.job.name.removeprefix("mlp-"): o for o in outcomes},
        epsilon_spent=spent,
        ledger=ledger_path.name if ledger_path is not None and ledger is not None else None,
        mlp_config=job.mlp_config(),
        seed=s.seed,
    )


def _mlp_scores(members: list[MemberData], norm: Normaliser, model: Any) -> list[dict[str, Any]]:
    out = []
    for m in members:
        threshold = best_threshold(m.y_val, predict_mlp(model, norm.apply(m.x_val)))
        scores = _scores(m.y_test, predict_mlp(model, norm.apply(m.x_test)), threshold)
        out.append({"member": m.name} | scores)
    return out


def _round_s(outcome: SecureOutcome) -> list[float]:
    return [round(h.fit_s, 4) for h in outcome.history if h.status == "committed"]


def _private_report(
    p: _Private, members: list[MemberData], norm: Normaliser, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ``privacy`` block: per-member utility of the private MLP beside plain legacy FedAvg with the same
    rounds (both publish their last round), ε spent per member, and the round-time cost."""
    from fedrisk.models.tabular import build_mlp

    mode = p.privacy.mode
    models = {}
    for name in (mode, "plain-legacy"):
        mlp = build_mlp(p.mlp_config, seed=p.seed)
        set_weights(mlp, p.outcomes[name].weights)
        models[name] = mlp
    private, reference = _mlp_scores(members, norm, models[mode]), _mlp_scores(members, norm, models["plain-legacy"])
    means = {
        f"{metric}_{scope}": _mean(table, metric)
        for metric in ("f1", "auprc", "auroc")
        for scope, table in (("private", private), ("plain_same_rounds", reference))
    } | {f"{metric}_plain_federated": _mean(rows, f"{metric}_mlp_federated") for metric in ("f1", "auprc")}
    t_mode, t_ref = _round_s(p.outcomes[mode]), _round_s(p.outcomes["plain-legacy"])
    ratio = float(np.median(t_mode) / np.median(t_ref)) if t_mode and t_ref and np.median(t_ref) > 0 else None
    secure = p.outcomes[mode]
    return {
        "mode": mode,
        "what": {
            "secagg": "MLP updates (weighted by training rows) masked by Flower SecAgg+; the coordinator only "
            "unmasks their weighted mean",
            "dp": "member-level DP-FedAvg: each member clips its update and adds its share of the Gaussian noise, "
            "then SecAgg+ masks it; ε per member from the privacy ledger (PLD, q = 1)",
        }[mode],
        "trees": "not available: FedXgbBagging's aggregate is a set of trees, not a sum (no masking, no noise on a "
        "sum); the trees of this section ran in plain mode",
        "settings": asdict(p.privacy)
        | {
            "rounds": p.rounds,
            "noise_multiplier": p.noise_multiplier,
            "secagg": secure.history[0].plan if secure.history else None,
        },
        "epsilon_spent": p.epsilon_spent,
        "epsilon_spent_max": max(p.epsilon_spent.values()) if p.epsilon_spent else None,
        "ledger": p.ledger,
        "rounds_committed": len(secure.committed),
        "refused": {str(h.round): h.refused for h in secure.history if h.refused},
        "selection": "last round (the secure runner publishes the last global model; DP jobs release no "
        "validation metrics)",
        "members": [
            {"member": a["member"]}
            | {f"{k}_private": a[k] for k in ("f1", "auprc", "auroc", "threshold")}
            | {f"{k}_plain_same_rounds": b[k] for k in ("f1", "auprc", "auroc")}
            for a, b in zip(private, reference, strict=True)
        ],
        "mean": means,
        "private_pct_of_plain_same_rounds": {
            k: _pct(means[f"{k}_private"], means[f"{k}_plain_same_rounds"]) for k in ("f1", "auprc")
        },
        "private_pct_of_plain_federated": {
            k: _pct(means[f"{k}_private"], means[f"{k}_plain_federated"]) for k in ("f1", "auprc")
        },
        "cost": {
            "round_s": t_mode,
            "plain_legacy_round_s": t_ref,
            "round_time_ratio": None if ratio is None else round(ratio, 2),
            "what": "fit stage of a round (local training + aggregation), same members, same simulation start",
        },
    }


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


_Config = TypeVar("_Config", bound=TabularTrainConfig)


def quick_training(config: _Config) -> _Config:
    """``config`` with the ``--quick`` training settings the fraud and credit sections share (fewer rounds and
    resamples)."""
    return replace(config, rounds=6, xgb_rounds=15, local_steps=30, xgb_max_rounds=120, n_boot=50)
