"""The ``privacy`` section of ``fedrisk demo``: privacy/utility curve, SecAgg+ round-time ratio, secure index.

One start of the simulation engine runs, over the stress members:

1. ``secagg``: SecAgg+ without DP (ε = ∞), the non-private reference of the curve;
2. ``plain``: the same training on plain legacy FedAvg (no SecAgg+), for the side-by-side round-time ratio;
3. ``dp-eps-8``, ``dp-eps-3``, ``dp-eps-1``: member-level DP-FedAvg under SecAgg+, noise calibrated (PLD, q = 1,
   every member every round) so that ε after all rounds is at most the target; each member's ε actually spent
   comes from the privacy ledger (``privacy_ledger.sqlite`` in the run directory);
3b. ``record-eps-8`` (one job per ``record_targets``): record-level DP-SGD inside every member
   (:mod:`fedrisk.federation.record_dp`) under SecAgg+; each member calibrates its own noise for its own sampling
   rate ``q = batch / n_train`` so that the rounds spend at most the target, and keeps its own ledger
   (``record_ledgers/<member>.sqlite``);
4. ``index``: the secure-sum stress index of the ``secagg`` model over the test period, compared with the plain
   index the members' scores would give.

Each DP job keeps its last round (choosing a round on members' validation data would release more than the
ledger counts). AUPRC is computed per member on its own test period, exactly like the stress section.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fedrisk.evaluation.early_warning import stress_index
from fedrisk.evaluation.metrics import auprc
from fedrisk.federation.coordinator import initial_weights
from fedrisk.federation.dp import MemberDP
from fedrisk.federation.member_node import MemberJob, build_model, load_member, parse_job
from fedrisk.federation.plan import FederationPlan, Job, job_config
from fedrisk.federation.record_dp import RecordDP, member_ledger
from fedrisk.federation.secagg import ConfigValue, SecureJob, SecureOutcome, member_scores, run_secure
from fedrisk.jobs.stress_config import StressConfig, quick_config
from fedrisk.models.stgraph import predict
from fedrisk.privacy.accounting import calibrate_noise, epsilon_for_history
from fedrisk.privacy.ledger import BudgetPolicy, PrivacyLedger, open_ledger
from fedrisk.privacy.secagg import IndexGrid, SecAggParams, decode_index

_log = logging.getLogger(__name__)

TARGETS: tuple[float, ...] = (8.0, 3.0, 1.0)
DELTA = 1e-5
CLIP_NORM = 0.5
"""Member update clip norm C, fixed a priori (not tuned on members' data, which would itself leak)."""
LEDGER_FILE = "privacy_ledger.sqlite"
RECORD_TARGETS: tuple[float, ...] = (8.0,)
"""Record-level points of the demo: one (each costs ``rounds`` DP-SGD rounds, about 1.5x a SecAgg+ round)."""
RECORD_CLIP_NORM = 2.0
"""Per-hour gradient clip of record-level DP-SGD. Chosen once, on the quick members' *training* hours and validation
AUPRC (never test data): the per-hour gradient norm of the initial model is 0.70-0.73 at the median and 1.5-2.0 at
the 99th percentile, and C = 1 clipped the rare event hours hard (median validation AUPRC 0.025 at ε = 8 vs 0.060
with C = 2 and 0.061 with C = 3; 0.071 without DP). That look at training data is itself outside ε."""
RECORD_LEDGER_DIR = "record_ledgers"
PLOT_FILE = "privacy_utility.png"


@dataclass(frozen=True, slots=True)
class PrivacySettings:
    """What the section runs (goes into ``privacy.settings``)."""

    members: tuple[str, ...]
    rounds: int
    local_steps: int
    clip_norm: float = CLIP_NORM
    delta: float = DELTA
    targets: tuple[float, ...] = TARGETS
    secure_mode: bool = True
    record_targets: tuple[float, ...] = RECORD_TARGETS
    record_clip_norm: float = RECORD_CLIP_NORM


PRIVACY_MAX_ROUNDS = 5
"""Rounds of each privacy job in the full demo (five jobs under SecAgg+: kept short for the demo's time budget)."""


def _settings(cfg: StressConfig) -> PrivacySettings:
    return PrivacySettings(cfg.members, min(cfg.federated.rounds, PRIVACY_MAX_ROUNDS), cfg.federated.local_steps)


def _member_job(config: dict[str, ConfigValue], member: str) -> MemberJob:
    from flwr.app import ConfigRecord, Context, RecordDict

    context = Context(run_id=0, node_id=0, node_config={"member": member}, state=RecordDict(), run_config={})
    return parse_job(context, ConfigRecord(config))  # type: ignore[arg-type]


def _test_auprc(
    config: dict[str, ConfigValue], members: tuple[str, ...], weights: list[np.ndarray]
) -> dict[str, float | None]:
    """Each member's test AUPRC of ``weights`` (the driver plays each member, as in the stress job)."""
    torch.set_num_threads(1)
    out: dict[str, float | None] = {}
    for m in members:
        job = _member_job(config, m)
        data = load_member(job.member, str(job.data_dir), job.split, job.window, job.months)
        probs = predict(build_model(job, weights), data, data.test_idx)
        t = torch.from_numpy(data.test_idx)
        mask = data.label_mask[t].numpy()
        ap = auprc(data.y[t].numpy()[mask], probs[mask])
        out[m] = None if ap is None else round(ap, 4)
    return out


def _median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return round(float(np.median(vals)), 4) if vals else None


def _plain_index(config: dict[str, ConfigValue], members: tuple[str, ...], weights: list[np.ndarray]) -> pd.DataFrame:
    frames = []
    for m in members:
        job = _member_job(config, m)
        data = load_member(job.member, str(job.data_dir), job.split, job.window, job.months)
        frames.append(member_scores(job, data, build_model(job, weights)).assign(member=m))
    return stress_index(pd.concat(frames, ignore_index=True))


def _round_times(outcome: SecureOutcome) -> list[float]:
    return [h.fit_s for h in outcome.history if h.status == "committed"]


def _plot(curve: list[dict[str, Any]], path: Path, record_curve: list[dict[str, Any]] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    finite = [c for c in curve if c["target_epsilon"] is not None]
    ref = next(c for c in curve if c["target_epsilon"] is None)
    members = sorted(ref["auprc"])
    for m in members:
        xs = [c["epsilon_spent_median"] for c in finite if c["auprc"].get(m) is not None]
        ys = [c["auprc"][m] for c in finite if c["auprc"].get(m) is not None]
        if xs:
            ax.plot(xs, ys, color="#999999", lw=0.8, marker=".", alpha=0.7)
    xs = [c["epsilon_spent_median"] for c in finite]
    ys = [c["auprc_median"] for c in finite]
    ax.plot(xs, ys, color="#0072B2", lw=2, marker="o", label="median over members, DP-FedAvg + SecAgg+")
    rec = [c for c in record_curve or [] if c["epsilon_spent_median"] and c["auprc_median"] is not None]
    if rec:
        ax.plot(
            [c["epsilon_spent_median"] for c in rec],
            [c["auprc_median"] for c in rec],
            color="#009E73",
            lw=2,
            marker="s",
            label="median over members, record-level DP-SGD + SecAgg+",
        )
    if ref["auprc_median"] is not None:
        ax.axhline(ref["auprc_median"], color="#D55E00", ls="--", label="ε = ∞ (SecAgg+, no DP), median")
    ax.set_xscale("log")
    ax.set_xlabel("ε spent per member (PLD, δ = 1e-5; record level: per training hour), log scale")
    ax.set_ylabel("test AUPRC")
    ax.set_title("Stress model: privacy / utility (member- and record-level DP)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _record_settings(s: PrivacySettings, target: float, stamp: str, out_dir: Path) -> RecordDP:
    return RecordDP(
        epsilon_max=max(s.record_targets),  # a member has one budget; each curve point is its own period
        target_epsilon=target,
        clip_norm=s.record_clip_norm,
        planned_rounds=s.rounds,
        delta=s.delta,
        secure_mode=s.secure_mode,
        period=f"record-eps-{target:g}-{stamp}",
        ledger_dir=str(out_dir / RECORD_LEDGER_DIR),
    )


def _record_config(config: dict[str, ConfigValue], settings: RecordDP, name: str) -> dict[str, ConfigValue]:
    """The job config of a record-level DP job (what ``job_config`` gives a ``Job`` with ``record_dp``)."""
    return {**config, **settings.to_config(), "job": name}


def _record_point(
    config: dict[str, ConfigValue],
    s: PrivacySettings,
    settings: RecordDP,
    outcome: SecureOutcome,
    ref_median: float | None,
    secagg_round_s: float,
) -> dict[str, Any]:
    """One record-level point: per-member z, q and ε from the members' own ledgers, test AUPRC, round time."""
    z: dict[str, float | None] = {}
    q: dict[str, float | None] = {}
    spent: dict[str, float | None] = {}
    spent_rdp: dict[str, float | None] = {}
    for m in s.members:
        ledger = member_ledger(settings, m)
        entries = ledger.entries(member=m, level="record", period=settings.period)
        close = getattr(ledger, "close", None)
        if callable(close):
            close()
        z[m] = round(entries[-1].noise_multiplier, 4) if entries else None
        q[m] = round(entries[-1].sample_rate, 5) if entries else None
        spent[m] = round(entries[-1].epsilon_after, 4) if entries else 0.0
        steps = [e.step for e in entries]
        spent_rdp[m] = round(epsilon_for_history(steps, delta=s.delta, accountant="rdp"), 4) if entries else 0.0
    scores = _test_auprc(config, s.members, outcome.weights)
    med = _median(list(scores.values()))
    times = _round_times(outcome)
    round_s = float(np.median(times)) if times else None
    return {
        "target_epsilon": settings.target_epsilon,
        "level": "record",
        "noise_multiplier": z,
        "sample_rate": q,
        "epsilon_spent": spent,
        "epsilon_spent_median": _median(list(spent.values())),
        "epsilon_spent_rdp": spent_rdp,
        "auprc": scores,
        "auprc_median": med,
        "pct_of_nonprivate": round(100.0 * med / ref_median, 1) if med is not None and ref_median else None,
        "rounds_committed": len(outcome.committed),
        "round_s_median": None if round_s is None else round(round_s, 3),
        "round_time_vs_secagg": round(round_s / secagg_round_s, 2) if round_s and secagg_round_s > 0 else None,
    }


def run_privacy_section(data_dir: Path, out_dir: Path, *, quick: bool, seed: int) -> dict[str, Any]:
    """Run the privacy experiments and return the ``privacy`` section of ``results.json``.

    Writes ``privacy_ledger.sqlite`` and ``privacy_utility.png`` into ``out_dir``. Seeds are fixed (training
    batches); the DP noise comes from the OS CSPRNG (``secure_mode=True``), so ε is exact but the AUPRC of a DP
    point varies from run to run.
    """
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = quick_config(seed) if quick else StressConfig(seed=seed)
    s = _settings(cfg)
    job = Job("privacy", s.members, settings=cfg.federated)
    plan = FederationPlan(members=s.members, jobs=(job,), split=cfg.split, sim_data_dir=str(data_dir))
    config: dict[str, ConfigValue] = dict(job_config(plan, job))
    init = initial_weights(job)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    ledger_path = out_dir / LEDGER_FILE
    ledger: PrivacyLedger = open_ledger(
        ledger_path, BudgetPolicy.from_config({"epsilon_max": max(s.targets), "delta": s.delta})
    )
    secagg = SecAggParams()
    record = {e: _record_settings(s, e, stamp, out_dir) for e in s.record_targets}
    noise = {e: calibrate_noise(target_epsilon=e, sample_rate=1.0, rounds=s.rounds, delta=s.delta) for e in s.targets}
    grid = IndexGrid(cfg.split.test_start, cfg.split.test_end, ("BTC", "ETH", "LTC", "XRP"))
    index_config: dict[str, ConfigValue] = {
        **config,
        "index-start": grid.start.isoformat(),
        "index-end": grid.end.isoformat(),
        "index-assets": list(grid.assets),
    }
    jobs = [
        SecureJob("secagg", config, init, rounds=s.rounds, secagg=secagg),
        SecureJob("plain", config, init, rounds=s.rounds, secagg=None),
        *[
            SecureJob(
                f"dp-eps-{e:g}",
                config,
                init,
                rounds=s.rounds,
                secagg=secagg,
                dp=MemberDP(
                    noise[e], s.clip_norm, secure_mode=s.secure_mode, period=f"eps-{e:g}-{stamp}", delta=s.delta
                ),
            )
            for e in s.targets
        ],
        *[
            SecureJob(
                f"record-eps-{e:g}",
                _record_config(config, record[e], f"record-eps-{e:g}"),
                init,
                rounds=s.rounds,
                secagg=secagg,
            )
            for e in s.record_targets
        ],
        SecureJob("index", index_config, init, task="index", secagg=secagg),
    ]
    first: dict[str, SecureOutcome] = {}

    def chain(previous: SecureOutcome, nxt: SecureJob) -> SecureJob:
        first.setdefault(previous.job.name, previous)
        if nxt.task == "index":
            return replace(nxt, init=first["secagg"].weights)
        return nxt

    outcomes = {o.job.name: o for o in run_secure(jobs, num_members=len(s.members), ledger=ledger, chain=chain)}
    federation_s = time.perf_counter() - start

    curve: list[dict[str, Any]] = []
    reference = _test_auprc(config, s.members, outcomes["secagg"].weights)
    ref_median = _median(list(reference.values()))
    curve.append(
        {
            "target_epsilon": None,
            "noise_multiplier": 0.0,
            "epsilon_spent": {m: None for m in s.members},
            "epsilon_spent_median": None,
            "auprc": reference,
            "auprc_median": ref_median,
            "pct_of_nonprivate": 100.0 if ref_median else None,
            "rounds_committed": len(outcomes["secagg"].committed),
        }
    )
    for e in s.targets:
        out = outcomes[f"dp-eps-{e:g}"]
        period = f"eps-{e:g}-{stamp}"
        spent = {m: round(ledger.spent(m, level="member", period=period), 4) for m in s.members}
        scores = _test_auprc(config, s.members, out.weights)
        med = _median(list(scores.values()))
        curve.append(
            {
                "target_epsilon": e,
                "noise_multiplier": round(noise[e], 4),
                "epsilon_spent": spent,
                "epsilon_spent_median": _median(list(spent.values())),
                "auprc": scores,
                "auprc_median": med,
                "pct_of_nonprivate": round(100.0 * med / ref_median, 1) if med is not None and ref_median else None,
                "rounds_committed": len(out.committed),
                "refused": {str(h.round): h.refused for h in out.history if h.refused},
            }
        )
    secure_t, plain_t = _round_times(outcomes["secagg"]), _round_times(outcomes["plain"])
    secure_med, plain_med = float(np.median(secure_t)), float(np.median(plain_t))
    record_curve = [
        _record_point(config, s, record[e], outcomes[f"record-eps-{e:g}"], ref_median, secure_med)
        for e in s.record_targets
    ]

    idx_out = outcomes["index"]
    mean_scores, mean_counts = idx_out.released[1]
    secure_index = decode_index(mean_scores, mean_counts, idx_out.history[0].members, grid)
    plain = _plain_index(config, s.members, first["secagg"].weights)
    merged = plain.merge(secure_index, on=["ts_utc", "asset"], suffixes=("_plain", "_secure"), how="outer")
    diff = (merged["index_plain"] - merged["index_secure"]).abs()
    _plot(curve, out_dir / PLOT_FILE, record_curve)
    headline = max(s.targets)  # the run's budget: the ledger of the ε = max-target job is what the report shows
    entries = [
        {"member": e.member, "round": e.round, "epsilon_after": round(e.epsilon_after, 4), "period": e.period}
        for e in ledger.entries(level="member", period=f"eps-{headline:g}-{stamp}")
    ]
    ledger_closed = getattr(ledger, "close", None)
    if callable(ledger_closed):
        ledger_closed()
    return {
        "mode": "member-level DP-FedAvg (members clip and add noise shares) under Flower SecAgg+",
        "settings": {
            "members": list(s.members),
            "rounds": s.rounds,
            "local_steps": s.local_steps,
            "clip_norm": s.clip_norm,
            "delta": s.delta,
            "sample_rate": 1.0,
            "accountant": "pld",
            "secure_mode": s.secure_mode,
            "secagg": outcomes["secagg"].history[0].plan,
            "parameters": int(sum(w.size for w in init)),
        },
        "curve": curve,
        "secagg_timing": {
            "plain_round_s": [round(t, 3) for t in plain_t],
            "secagg_round_s": [round(t, 3) for t in secure_t],
            "plain_round_s_median": round(plain_med, 3),
            "secagg_round_s_median": round(secure_med, 3),
            "ratio": round(secure_med / plain_med, 2) if plain_med > 0 else None,
            "what": "fit stage of a round (local training + aggregation), same members, same run, legacy path",
        },
        "index": {
            "cells": len(merged),
            "published": int(secure_index["index"].notna().sum()),
            "withheld": int(secure_index["index"].isna().sum()),
            "max_abs_diff_vs_plain": round(float(diff.max()), 6) if diff.notna().any() else None,
            "same_cells_withheld": bool(merged["index_plain"].isna().equals(merged["index_secure"].isna())),
        },
        "record_level": {
            "mode": "record-level DP-SGD inside each member (per-hour clipping, Poisson sampling), under SecAgg+",
            "clip_norm": s.record_clip_norm,
            "delta": s.delta,
            "accountant": "pld (rdp cross-check)",
            "calibration": "each member calibrates z (PLD) for its own q = batch / n_train and the planned rounds",
            "secure_mode": s.secure_mode,
            "ledgers": f"{RECORD_LEDGER_DIR}/<member>.sqlite",
            "curve": record_curve,
        },
        "ledger": LEDGER_FILE,
        "ledger_entries": entries,
        "policy": {"epsilon_max": headline, "delta": s.delta, "level": "member", "job": f"dp-eps-{headline:g}"},
        "plot": PLOT_FILE,
        "timings_s": {"federation": round(federation_s, 1), "total": round(time.perf_counter() - start, 1)},
    }
