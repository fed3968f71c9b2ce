"""Leave-one-member-out counterfactual models of a stress run: save them, and explain a score with them.

:func:`save_counterfactuals` is the stress job's hook: it saves the chosen model of every ``loo-<member>`` job
(trained by the others, only where at least 3 members remain: the plan refuses smaller cohorts) under
``RUN_DIR/counterfactuals/<member>/`` in the layout of ``model/``, and records each in the audit trail so that
the scoring service (``POST /v1/explain/members``) and :func:`explain_at` accept it.

:func:`explain_at` scores real hourly data at one hour with the federated model and each counterfactual model
(``fedrisk explain members``), and returns :func:`fedrisk.contribution.counterfactual.member_deltas`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fedrisk.contribution.counterfactual import COUNTERFACTUALS_DIR, member_deltas
from fedrisk.data.hourly import load_hourly_dir
from fedrisk.errors import ConfigError, DataValidationError, ModelError
from fedrisk.features.pipeline import labelled_features
from fedrisk.features.stress import FEATURES
from fedrisk.jobs.scoring import score_frame
from fedrisk.jobs.trail import require_committed_model
from fedrisk.models.saved import METADATA, SavedMember, SavedModel, load_model, save_model
from fedrisk.models.stgraph import ModelConfig

if TYPE_CHECKING:
    from fedrisk.jobs.stress import StressRun
    from fedrisk.jobs.trail import RunTrail

LOOKBACK = pd.Timedelta(days=45)
"""Hours of data before the explained hour that are scored (30-day features + the 24-hour window + margin)."""


def save_counterfactuals(run: StressRun, out_dir: Path, ew: dict[str, Any], trail: RunTrail | None) -> list[str]:
    """Save every leave-one-member-out job's model as ``counterfactuals/<member>/``; return the members saved."""
    from fedrisk.jobs.stress import pooled_stats

    fed = run.config.federated
    members = {
        m: SavedMember(
            run.panels[m].fit_stats(tm.train_idx).normaliser(),
            tm.adj.numpy(),
            ew["thresholds"].get(m, {}).get("federated"),
        )
        for m, tm in run.members.items()
    }
    saved = []
    for m in run.members:
        outcome = run.outcomes.get(f"loo-{m}")
        if outcome is None:
            continue
        directory = out_dir / COUNTERFACTUALS_DIR / m
        sha = save_model(
            directory,
            outcome.weights,
            config=ModelConfig(n_features=len(FEATURES), window=fed.window, hidden=fed.hidden),
            features=FEATURES,
            members=members,
            pooled_normaliser=pooled_stats(run, exclude=m).normaliser(),
            alarm_threshold=0.5,
            index_alarm_threshold=None,
            extra={
                "split": run.config.split.as_dict(),
                "trained_by": f"federation without {m}",
                "left_out": m,
                "cohort": list(outcome.job.cohort),
                "rounds": outcome.job.settings.rounds,
                "best_round": outcome.best_round,
            },
        )
        if trail is not None:
            trail.model_published(directory, weights_sha256=sha, job=f"loo-{m}")
        saved.append(m)
    return saved


def load_counterfactuals(run_dir: Path) -> dict[str, SavedModel]:
    """The run's counterfactual models, each checked against its hash and the run's audit trail."""
    root = run_dir / COUNTERFACTUALS_DIR
    subs = sorted(p for p in root.iterdir() if (p / METADATA).is_file()) if root.is_dir() else []
    if not subs:
        raise ModelError(
            f"no leave-one-member-out models under {root}: the run was made before counterfactuals were saved, or "
            "with fewer than 4 members (leaving one out must leave at least 3). Fix: rerun `fedrisk demo`."
        )
    out = {}
    for sub in subs:
        saved = load_model(sub)
        require_committed_model(run_dir, saved.weights_sha256)
        out[sub.name] = saved
    return out


def _scores(
    saved: SavedModel, tidy: pd.DataFrame, feats: pd.DataFrame, at: pd.Timestamp, asset: str, venue: str | None
) -> pd.DataFrame:
    frame = score_frame(saved, tidy, feats=feats)
    frame = frame[(frame["ts_utc"] == at) & (frame["asset"] == asset)]
    key = venue if venue is not None else "INDEX"
    return frame[frame["venue"] == key][["ts_utc", "asset", "score"]]


def explain_at(
    run_dir: Path,
    data_dir: Path,
    *,
    at: str,
    asset: str,
    member: str | None = None,
    venue: str | None = None,
) -> dict[str, Any]:
    """Score ``asset`` at hour ``at`` with all members and without each one (or only without ``member``).

    The score is the stress index (mean of the member venues' scores, published only with at least 3 venues,
    on the 0–1 scale) unless ``venue`` names one venue, whose own score is then explained.
    """
    try:
        ts = pd.Timestamp(at)
    except ValueError as err:
        raise ConfigError(f"--at {at!r} is not a timestamp (use e.g. '2019-06-26 20:00')") from err
    ts = (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).floor("h")
    asset = asset.upper()
    saved = load_model(run_dir)
    require_committed_model(run_dir, saved.weights_sha256)
    cfs = load_counterfactuals(run_dir)
    if member is not None:
        if member not in cfs:
            raise ConfigError(f"no counterfactual without {member!r}; this run has: {', '.join(sorted(cfs))}")
        cfs = {member: cfs[member]}
    venues = sorted(set(saved.members) | ({venue} if venue else set()))
    tidy, _ = load_hourly_dir(data_dir, venues=tuple(venues))
    tidy = tidy[(tidy["ts_utc"] > ts - LOOKBACK) & (tidy["ts_utc"] <= ts)]
    feats = labelled_features(tidy)
    base = _scores(saved, tidy, feats, ts, asset, venue)
    if base.empty:
        where = f"venue {venue}" if venue else "the stress index (needs >= 3 member venues holding it)"
        raise DataValidationError(f"no score of {asset} at {ts:%Y-%m-%d %H:%M} UTC for {where} in {data_dir}")
    without = {m: _scores(s, tidy, feats, ts, asset, venue) for m, s in cfs.items()}
    what = f"stress score at {venue}" if venue else "stress index score"
    deltas = member_deltas(base, without, what=what)
    return {
        "at": ts.isoformat(),
        "asset": asset,
        "score": "venue" if venue else "index",
        "venue": venue,
        "score_all": float(np.asarray(base["score"])[0]),
        "model_sha256": saved.weights_sha256,
        "members": [d.to_dict() for d in deltas],
    }
