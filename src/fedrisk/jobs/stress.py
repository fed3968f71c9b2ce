"""The liquidity-stress job: federated vs local vs centralised, onboarding curve, stress index, artifacts.

Steps (each a progress task): load and validate data → causal features and labels → member panels → one
Flower simulation running every federated job (FedAvg, FedProx, leave-one-member-out, joiners) → local,
centralised and baseline models → fine-tuning → per-member evaluation on the test period with day-block
bootstrap intervals → onboarding curve → stress index and early warning → saved model and plots.

Time-forward throughout: training rows end ``H`` hours before the validation cut, thresholds (alarm levels,
early stopping, C, number of trees) come from validation, normalisation from each member's training rows.
"""

from __future__ import annotations

import logging
import operator
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fedrisk.data.hourly import find_hourly_files, load_hourly_dir, venue_from_path
from fedrisk.data.registry import sha256_of
from fedrisk.evaluation.early_warning import alarm_threshold, episode_onsets, lead_times, stress_index
from fedrisk.evaluation.metrics import auprc, binary_metrics, paired_day_bootstrap
from fedrisk.features.panel import MemberPanel, NormStats, build_panel
from fedrisk.features.pipeline import labelled_features
from fedrisk.features.stress import FEATURES
from fedrisk.federation.coordinator import JobOutcome
from fedrisk.federation.plan import FederationPlan, Job
from fedrisk.federation.runner import run_plan
from fedrisk.jobs.counterfactuals import save_counterfactuals
from fedrisk.jobs.stress_config import StressConfig
from fedrisk.jobs.stress_models import Baselines, Fitted, fit_baselines, fit_graph, new_model, prepare, seeded_rng
from fedrisk.jobs.trail import RunTrail
from fedrisk.models.baselines import Scorer, predict_cells
from fedrisk.models.saved import SavedMember, save_model
from fedrisk.models.stgraph import ModelConfig, TorchMember, count_parameters, predict, set_weights

_log = logging.getLogger(__name__)
Step = Callable[[str], None]
MODEL_KEYS = (
    "local",
    "federated",
    "finetuned",
    "central",
    "fedprox",
    "heuristic",
    "logreg_local",
    "logreg_central",
    "lgbm_local",
    "lgbm_central",
)


@dataclass(slots=True)
class StressRun:
    """Intermediate state of a run (kept for tests and later sections)."""

    config: StressConfig
    panels: dict[str, MemberPanel]
    members: dict[str, TorchMember]
    outcomes: dict[str, JobOutcome]
    weights: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)
    val_preds: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    test_preds: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _plan(cfg: StressConfig, data_dir: Path) -> FederationPlan:
    fed = cfg.federated
    jobs = [Job("federated", cfg.members, settings=fed)]
    if cfg.fedprox_mu > 0:
        jobs.append(
            Job("fedprox", cfg.members, strategy="fedprox").with_settings(
                **_settings_dict(fed, proximal_mu=cfg.fedprox_mu)
            )
        )
    for m in cfg.members if cfg.onboarding_months else ():
        others = tuple(x for x in cfg.members if x != m)
        loo = Job(f"loo-{m}", others, select_by_validation=False).with_settings(
            **_settings_dict(fed, rounds=cfg.loo_rounds)
        )
        jobs.append(loo)
        for k in cfg.onboarding_months:
            if k > 0:
                jobs.append(
                    Job(
                        f"join-{m}-{k:g}", cfg.members, months=((m, k),), init_from=loo.name, select_by_validation=False
                    ).with_settings(**_settings_dict(fed, rounds=cfg.join_rounds))
                )
    return FederationPlan(members=cfg.members, jobs=tuple(jobs), split=cfg.split, sim_data_dir=str(data_dir))


def _settings_dict(settings: Any, **changes: Any) -> dict[str, Any]:
    base = {k: getattr(settings, k) for k in settings.__dataclass_fields__}
    base.update(changes)
    return base


def _cells(member: TorchMember, idx: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = torch.from_numpy(idx)
    mask = member.label_mask[t].numpy()
    return member.y[t].numpy()[mask], probs[mask]


def _days(panel: MemberPanel, member: TorchMember, idx: np.ndarray) -> np.ndarray:
    mask = member.label_mask[torch.from_numpy(idx)].numpy()
    days = np.asarray(panel.ts[idx].floor("D").asi8)
    out: np.ndarray = np.repeat(days[:, None], mask.shape[1], axis=1)[mask]
    return out


def _graph_preds(run: StressRun, key: str, weights_by_member: dict[str, list[np.ndarray]]) -> None:
    fed = run.config.federated
    model = new_model(fed.window, fed.hidden, fed.seed)
    run.val_preds[key], run.test_preds[key] = {}, {}
    for m, tm in run.members.items():
        set_weights(model, weights_by_member[m])
        run.val_preds[key][m] = predict(model, tm, tm.val_idx)
        run.test_preds[key][m] = predict(model, tm, tm.test_idx)


def _scorer_preds(run: StressRun, key: str, scorers: dict[str, Scorer | None]) -> None:
    run.val_preds[key], run.test_preds[key] = {}, {}
    for m, tm in run.members.items():
        scorer = scorers[m]
        if scorer is None:
            continue
        run.val_preds[key][m] = predict_cells(scorer, tm, tm.val_idx)
        run.test_preds[key][m] = predict_cells(scorer, tm, tm.test_idx)


def _heuristic_preds(run: StressRun) -> None:
    run.val_preds["heuristic"], run.test_preds["heuristic"] = {}, {}
    for m, tm in run.members.items():
        h = np.nan_to_num(run.panels[m].heuristic, nan=-10.0)
        run.val_preds["heuristic"][m] = h[tm.val_idx]
        run.test_preds["heuristic"][m] = h[tm.test_idx]


def _fit(
    run: StressRun,
    members: list[TorchMember],
    *,
    max_steps: int,
    eval_every: int,
    name: str,
    lr: float = 1e-3,
    init: list[np.ndarray] | None = None,
) -> Fitted:
    """:func:`fit_graph` with the run's model shape and seed."""
    fed = run.config.federated
    return fit_graph(
        members,
        window=fed.window,
        hidden=fed.hidden,
        seed=fed.seed,
        max_steps=max_steps,
        eval_every=eval_every,
        name=name,
        lr=lr,
        init=init,
    )


def fit_all(run: StressRun, step: Step) -> None:
    """Every model of the comparison: federated jobs' outcomes, local, central, fine-tuned, baselines."""
    cfg = run.config
    members = list(run.members.values())
    step("local-only graph models")
    local = {
        m: _fit(
            run,
            [tm],
            max_steps=cfg.local_max_steps,
            eval_every=cfg.local_eval_every,
            name=f"local-{m}",
        ).weights
        for m, tm in run.members.items()
    }
    step("centralised graph model (pooled reference)")
    central = _fit(
        run,
        members,
        max_steps=cfg.central_max_steps,
        eval_every=cfg.central_eval_every,
        name="central",
    ).weights
    step("fine-tuning the federated model locally")
    fed_w = run.outcomes["federated"].weights
    tuned = {
        m: _fit(
            run,
            [tm],
            max_steps=cfg.finetune_steps,
            eval_every=cfg.finetune_eval_every,
            name=f"tune-{m}",
            lr=cfg.finetune_lr,
            init=fed_w,
        ).weights
        for m, tm in run.members.items()
    }
    run.weights = {
        "local": local,
        "central": {m: central for m in run.members},
        "federated": {m: fed_w for m in run.members},
        "finetuned": tuned,
    }
    if "fedprox" in run.outcomes:
        run.weights["fedprox"] = {m: run.outcomes["fedprox"].weights for m in run.members}
    for key, weights in run.weights.items():
        _graph_preds(run, key, weights)
    step("baselines: logistic regression, LightGBM, heuristic")
    base: Baselines = fit_baselines(run.members, seed=cfg.seed)
    _scorer_preds(run, "logreg_local", base.logreg_local)
    _scorer_preds(run, "lgbm_local", base.lgbm_local)
    _scorer_preds(run, "logreg_central", {m: base.logreg_central for m in run.members})
    _scorer_preds(run, "lgbm_central", {m: base.lgbm_central for m in run.members})
    _heuristic_preds(run)


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def member_table(run: StressRun) -> list[dict[str, Any]]:
    """Per-member quality of every model on the member's own test period, with bootstrap intervals."""
    rows = []
    for m, tm in run.members.items():
        panel = run.panels[m]
        row: dict[str, Any] = {
            "member": m,
            "assets": list(panel.held_assets),
            "train_hours": int(tm.n_train),
            "test_hours": len(tm.test_idx),
        }
        y_test = None
        for key in MODEL_KEYS:
            if m not in run.test_preds.get(key, {}):
                continue
            y_test, p = _cells(tm, tm.test_idx, run.test_preds[key][m])
            metrics = binary_metrics(y_test, p)
            row[f"auprc_{key}"] = _r(metrics["auprc"])
            row[f"auroc_{key}"] = _r(metrics["auroc"])
            row[f"brier_{key}"] = None if key == "heuristic" else _r(metrics["brier"], 5)
        if y_test is not None:
            row["test_event_rate"] = _r(float(y_test.mean()) if len(y_test) else None)
            row["test_events"] = int(y_test.sum())
        y_train = tm.y[torch.from_numpy(tm.train_idx)].numpy()[tm.label_mask[torch.from_numpy(tm.train_idx)].numpy()]
        row["train_event_rate"] = _r(float(y_train.mean()) if len(y_train) else None)
        y, p_loc = _cells(tm, tm.test_idx, run.test_preds["local"][m])
        _, p_fed = _cells(tm, tm.test_idx, run.test_preds["federated"][m])
        ci = paired_day_bootstrap(
            y,
            p_loc,
            p_fed,
            _days(panel, tm, tm.test_idx),
            metric=auprc,
            n_boot=run.config.n_boot,
            rng=seeded_rng(run.config.seed, "boot", m),
        )
        row["fed_minus_local_auprc"] = {k: (_r(v) if isinstance(v, float) else v) for k, v in ci.to_dict().items()}
        if y.sum() == 0:
            row["note"] = "no stress event in this member's test period: AUROC and AUPRC are undefined"
        rows.append(row)
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Headline numbers: federated as % of centralised, members gaining over local-only, median gain."""
    defined = [r for r in rows if r.get("auprc_federated") is not None and r.get("auprc_local") is not None]
    gains = [r["auprc_federated"] - r["auprc_local"] for r in defined]
    fed = [r["auprc_federated"] for r in defined if r.get("auprc_central") is not None]
    cen = [r["auprc_central"] for r in defined if r.get("auprc_central") is not None]
    worse = [
        r["member"] for r in defined if r["fed_minus_local_auprc"].get("significant") and gains[defined.index(r)] < 0
    ]
    better = [
        r["member"] for r in defined if r["fed_minus_local_auprc"].get("significant") and gains[defined.index(r)] > 0
    ]
    heur_beaten = [
        r["member"]
        for r in defined
        if r.get("auprc_heuristic") is not None and r["auprc_federated"] > r["auprc_heuristic"]
    ]
    return {
        "federated_pct_of_central": _r(100 * float(np.mean(fed)) / float(np.mean(cen)), 1) if cen else None,
        "members_gaining": sum(g > 0 for g in gains),
        "members_evaluated": len(defined),
        "median_gain": _r(float(np.median(gains))) if gains else None,
        "members_significantly_better": better,
        "members_significantly_worse": worse,
        "federated_beats_heuristic": heur_beaten,
        "mean_auprc": {
            k: _r(float(np.mean([r[f"auprc_{k}"] for r in defined if r.get(f"auprc_{k}") is not None])))
            for k in MODEL_KEYS
            if any(r.get(f"auprc_{k}") is not None for r in defined)
        },
    }


def pooled_stats(run: StressRun, *, exclude: str | None = None) -> NormStats:
    """Normalisation statistics summed over members' training rows (a sum secure aggregation can compute)."""
    parts = [run.panels[m].fit_stats(tm.train_idx) for m, tm in run.members.items() if m != exclude]
    return reduce(operator.add, parts)


def onboarding(run: StressRun, step: Step) -> list[dict[str, Any]]:
    """A member joining with only k months of its own history, for each member in turn."""
    cfg, fed = run.config, run.config.federated
    out = []
    for k in cfg.onboarding_months:
        step(f"onboarding curve: {k:g} months of history")
        per_member = []
        for m in cfg.members:
            panel = run.panels[m]
            others = pooled_stats(run, exclude=m)  # the federation's pooled statistics (a secure sum)
            tm = prepare(panel, cfg.split, fed.window, months=k, stats=others if k == 0 else None)
            fed_w = run.outcomes[f"loo-{m}" if k == 0 else f"join-{m}-{k:g}"].weights
            res: dict[str, Any] = {"member": m, "months": k, "train_hours": int(tm.n_train)}
            model = new_model(fed.window, fed.hidden, fed.seed)
            set_weights(model, fed_w)
            y, p_fed = _cells(tm, tm.test_idx, predict(model, tm, tm.test_idx))
            res["auprc_federated"] = _r(auprc(y, p_fed))
            if k > 0 and tm.n_train > 0:
                loc = _fit(
                    run,
                    [tm],
                    max_steps=cfg.onboarding_local_steps,
                    eval_every=cfg.onboarding_local_steps // 3,
                    name=f"onb-local-{m}-{k}",
                )
                set_weights(model, loc.weights)
                res["auprc_local"] = _r(auprc(*_cells(tm, tm.test_idx, predict(model, tm, tm.test_idx))))
                tuned = _fit(
                    run,
                    [tm],
                    max_steps=cfg.finetune_steps,
                    eval_every=cfg.finetune_eval_every,
                    name=f"onb-tune-{m}-{k}",
                    lr=cfg.finetune_lr,
                    init=fed_w,
                )
                set_weights(model, tuned.weights)
                res["auprc_finetuned"] = _r(auprc(*_cells(tm, tm.test_idx, predict(model, tm, tm.test_idx))))
            else:
                res["auprc_local"] = None  # nothing to train on: a new member has no local model
                res["auprc_finetuned"] = res["auprc_federated"]
            per_member.append(res)
        out.append(_onboarding_row(k, per_member))
    return out


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return _r(float(np.median(vals))) if vals else None


def _onboarding_row(k: float, per_member: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "months": k,
        "auprc_local_median": _median(per_member, "auprc_local"),
        "auprc_federated_median": _median(per_member, "auprc_federated"),
        "auprc_finetuned_median": _median(per_member, "auprc_finetuned"),
        "members_federated_above_local": sum(
            1
            for r in per_member
            if r.get("auprc_local") is not None
            and r.get("auprc_federated") is not None
            and r["auprc_federated"] > r["auprc_local"]
        ),
        "members": per_member,
    }


def _hourly(panel: MemberPanel, idx: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """Long frame (ts_utc, asset, value) for the held assets."""
    frames = []
    for a, asset in enumerate(panel.assets):
        if asset not in panel.held_assets:
            continue
        obs = panel.observed[idx, a]
        frames.append(pd.DataFrame({"ts_utc": panel.ts[idx][obs], "asset": asset, "score": values[obs, a]}))
    return pd.concat(frames, ignore_index=True)


def early_warning(run: StressRun) -> dict[str, Any]:
    """Alarm thresholds on validation, lead times on test: federated vs each member's local model."""
    far = run.config.false_alarm_rate
    per_member = []
    thresholds: dict[str, dict[str, float]] = {}
    for m, tm in run.members.items():
        panel = run.panels[m]
        row: dict[str, Any] = {"member": m}
        for key in ("local", "federated"):
            yv, pv = _cells(tm, tm.val_idx, run.val_preds[key][m])
            try:
                thr = alarm_threshold(pv, yv, far=far)
            except ValueError:
                continue
            thresholds.setdefault(m, {})[key] = thr
            leads = _member_leads(panel, tm, run.test_preds[key][m], thr)
            row[key] = leads
        per_member.append(row)
    return {"false_alarm_rate": far, "members": per_member, "thresholds": thresholds}


def _member_leads(panel: MemberPanel, tm: TorchMember, probs: np.ndarray, thr: float) -> dict[str, Any]:
    idx = tm.test_idx
    span = idx[-1] - idx[0] + 1
    episodes, detected, leads = 0, 0, list[int]()
    for a, asset in enumerate(panel.assets):
        if asset not in panel.held_assets:
            continue
        alarms = np.zeros(span, dtype=bool)
        alarms[idx - idx[0]] = probs[:, a] > thr
        stress = panel.stress_hour[idx[0] : idx[-1] + 1, a]
        lt = lead_times(alarms, episode_onsets(stress))
        episodes += lt.episodes
        detected += lt.detected
        leads.extend(lt.leads)
    return {
        "episodes": episodes,
        "detected": detected,
        "detection_rate": _r(detected / episodes) if episodes else None,
        "median_lead_hours": float(np.median(leads)) if leads else None,
    }


def index_frames(run: StressRun) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validation and test stress index from the members' federated scores (withheld below 3 members)."""
    val_parts, test_parts = [], []
    for m, tm in run.members.items():
        panel = run.panels[m]
        v = _hourly(panel, tm.val_idx, run.val_preds["federated"][m]).assign(member=m)
        t = _hourly(panel, tm.test_idx, run.test_preds["federated"][m]).assign(member=m)
        val_parts.append(v)
        test_parts.append(t)
    return stress_index(pd.concat(val_parts)), stress_index(pd.concat(test_parts))


def consensus_stress(run: StressRun) -> pd.DataFrame:
    """Hours where at least half of the (≥ 3) members holding an asset flag an illiquid stress hour."""
    parts = []
    for m in run.members:
        panel = run.panels[m]
        for a, asset in enumerate(panel.assets):
            if asset in panel.held_assets:
                obs = panel.observed[:, a]
                parts.append(
                    pd.DataFrame({"ts_utc": panel.ts[obs], "asset": asset, "stress": panel.stress_hour[obs, a]})
                )
    flags = pd.concat(parts).groupby(["ts_utc", "asset"])["stress"].agg(["sum", "count"]).reset_index()
    flags["consensus"] = (flags["count"] >= 3) & (flags["sum"] >= flags["count"] / 2)
    return flags


def index_warning(run: StressRun, val_index: pd.DataFrame, test_index: pd.DataFrame) -> dict[str, Any]:
    """Index alarms at a fixed false-alarm rate (set on validation) and lead times before consensus episodes."""
    flags = consensus_stress(run)
    horizon = run.config.split.horizon
    out: dict[str, Any] = {"assets": {}}
    for asset, tgrid in test_index[test_index["asset"] != "MARKET"].groupby("asset"):
        vgrid = val_index[val_index["asset"] == asset].dropna(subset=["index"])
        cons = flags[flags["asset"] == asset].set_index("ts_utc")["consensus"]
        if vgrid.empty:
            continue
        vfull = vgrid.set_index("ts_utc")["index"]
        future = cons.reindex(vfull.index.union(cons.index)).fillna(False).astype(float)
        ahead = future[::-1].rolling(horizon, min_periods=1).max()[::-1].shift(-1).reindex(vfull.index).fillna(0)
        try:
            thr = alarm_threshold(vfull.to_numpy(), ahead.to_numpy(), far=run.config.false_alarm_rate)
        except ValueError:
            continue
        series = tgrid.set_index("ts_utc")["index"]
        hours = pd.date_range(series.index.min(), series.index.max(), freq="h")
        values = series.reindex(hours).to_numpy()
        stress = cons.reindex(hours).fillna(False).to_numpy(dtype=bool)
        onsets = episode_onsets(stress)
        lt = lead_times(np.nan_to_num(values, nan=-1.0) > thr, onsets)
        out["assets"][asset] = {"alarm_threshold": _r(thr, 3), **lt.to_dict()}
        out.setdefault("episodes", []).extend({"asset": asset, "onset_utc": hours[i].isoformat()} for i in onsets)
    return out


def data_provenance(data_dir: Path, members: tuple[str, ...]) -> list[dict[str, str]]:
    """SHA-256 of every input file used (provenance)."""
    return [
        {"file": str(p.relative_to(data_dir)) if p.is_relative_to(data_dir) else str(p), "sha256": sha256_of(p)}
        for p in find_hourly_files(data_dir)
        if venue_from_path(p) in members
    ]


def save_federated_model(run: StressRun, out_dir: Path, ew: dict[str, Any], index_thr: float | None) -> str:
    """Save the federated model with each member's normalisation, graph and alarm threshold."""
    cfg, fed = run.config, run.config.federated
    members = {
        m: SavedMember(
            run.panels[m].fit_stats(tm.train_idx).normaliser(),
            tm.adj.numpy(),
            ew["thresholds"].get(m, {}).get("federated"),
        )
        for m, tm in run.members.items()
    }
    thresholds = [v["federated"] for v in ew["thresholds"].values() if "federated" in v]
    return save_model(
        out_dir / "model",
        run.outcomes["federated"].weights,
        config=ModelConfig(n_features=len(FEATURES), window=fed.window, hidden=fed.hidden),
        features=FEATURES,
        members=members,
        pooled_normaliser=pooled_stats(run).normaliser(),
        alarm_threshold=float(np.median(thresholds)) if thresholds else 0.5,
        index_alarm_threshold=index_thr,
        extra={
            "split": cfg.split.as_dict(),
            "label": "illiquid stress hour within the next H hours "
            "(range > trailing-30d q95 and Amihud > trailing-30d q90)",
            "trained_by": "federated",
            "best_round": run.outcomes["federated"].best_round,
        },
    )


def run_stress(
    cfg: StressConfig, data_dir: Path, out_dir: Path, step: Step, *, trail: RunTrail | None = None
) -> tuple[dict[str, Any], StressRun]:
    """Run the whole stress job; return the ``stress`` section of results.json and the run state.

    With a ``trail``, every round of every federated job is recorded as its job ends, the members countersign the
    published job's rounds against their outbound logs, and the saved model is recorded as published.
    """
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    step("loading and validating hourly data")
    tidy, quality = load_hourly_dir(data_dir, venues=cfg.members)
    step("causal features and labels")
    feats = labelled_features(tidy, horizon=cfg.split.horizon)
    panels = {m: build_panel(feats, m) for m in cfg.members}
    members = {m: prepare(panels[m], cfg.split, cfg.federated.window) for m in cfg.members}
    timings["data_s"] = time.perf_counter() - t0
    empty = [m for m, tm in members.items() if tm.n_train == 0]
    if empty:
        from fedrisk.errors import DataValidationError

        raise DataValidationError(f"members {empty} have no labelled training hours before {cfg.split.val_start}.")
    step("federated training on Flower's simulation engine (all jobs)")
    t1 = time.perf_counter()
    outbound = out_dir / "outbound"
    plan = replace(_plan(cfg, data_dir), outbound_dir=str(outbound) if trail is not None else "")
    outcomes = {o.job.name: o for o in run_plan(plan, sink=None if trail is None else trail.job_finished)}
    if trail is not None:
        step("members countersign every round they took part in")
        for job_name in outcomes:
            trail.countersign(job_name, cfg.members, outbound)
    timings["federation_s"] = time.perf_counter() - t1
    run = StressRun(cfg, panels, members, outcomes, timings=timings)
    t2 = time.perf_counter()
    fit_all(run, step)
    timings["reference_models_s"] = time.perf_counter() - t2
    step("evaluating every member on its own test period")
    rows = member_table(run)
    t3 = time.perf_counter()
    onboard = onboarding(run, step) if cfg.onboarding_months else []
    timings["onboarding_s"] = time.perf_counter() - t3
    step("stress index and early warning")
    ew = early_warning(run)
    val_index, test_index = index_frames(run)
    idx_warn = index_warning(run, val_index, test_index)
    thr_values = [v["alarm_threshold"] for v in idx_warn["assets"].values() if v.get("alarm_threshold") is not None]
    sha = save_federated_model(run, out_dir, ew, float(np.median(thr_values)) if thr_values else None)
    if trail is not None:
        trail.model_published(out_dir / "model", weights_sha256=sha, job="federated")
    save_counterfactuals(run, out_dir, ew, trail)  # leave-one-member-out models for `fedrisk explain members`
    test_index.to_csv(out_dir / "stress_index.csv", index=False)
    timings["total_s"] = time.perf_counter() - t0
    fed_out = outcomes["federated"]
    section: dict[str, Any] = {
        "task": "illiquid stress hour within the next 12 hours",
        "members": rows,
        "summary": summary(rows),
        "onboarding": onboard,
        "early_warning": {k: v for k, v in ew.items() if k != "thresholds"},
        "index": {
            "formula": "100 * mean over >=3 members of p(member, asset, hour); market = mean of assets",
            "file": "stress_index.csv",
            "warning": idx_warn,
            "episodes": idx_warn.pop("episodes", []),
        },
        "federation": _federation_section(outcomes),
        "model": {
            "path": "model/",
            "weights_sha256": sha,
            "parameters": count_parameters(new_model(cfg.federated.window, cfg.federated.hidden, cfg.federated.seed)),
            "best_round": fed_out.best_round,
        },
        "data": {"quality": [asdict(q) for q in quality], "event_rates": _event_rates(run)},
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    return section, run


def _event_rates(run: StressRun) -> dict[str, dict[str, float | None]]:
    out = {}
    for m, tm in run.members.items():
        rates: dict[str, float | None] = {}
        for period, idx in (("train", tm.train_idx), ("validation", tm.val_idx), ("test", tm.test_idx)):
            t = torch.from_numpy(idx)
            y = tm.y[t].numpy()[tm.label_mask[t].numpy()]
            rates[period] = _r(float(y.mean())) if len(y) else None
        out[m] = rates
    return out


def _federation_section(outcomes: dict[str, JobOutcome]) -> dict[str, Any]:
    jobs = {}
    for name, o in outcomes.items():
        jobs[name] = {
            "strategy": o.job.strategy,
            "cohort": list(o.job.cohort),
            "rounds": o.job.settings.rounds,
            "best_round": o.best_round,
            "history": [{k: (_r(v) if isinstance(v, float) else v) for k, v in asdict(h).items()} for h in o.history],
        }
    return {"engine": "flwr simulation (Ray)", "jobs": jobs}
