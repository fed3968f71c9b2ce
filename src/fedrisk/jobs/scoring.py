"""Score hourly data of any venue and period with a saved stress model (``fedrisk stress score``).

Venues that were members use their own saved normalisation and graph; other venues use the federation's
pooled normalisation (summed statistics, no member's alone) and the mean graph. Every hour with a full
look-back window is scored. Index rows (``venue = INDEX``) carry the stress index divided by 100 (the mean
score of at least 3 venues) so that every ``score`` is on the 0–1 scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fedrisk.data.hourly import load_hourly_dir
from fedrisk.errors import ModelError
from fedrisk.evaluation.early_warning import stress_index
from fedrisk.features.panel import build_panel
from fedrisk.features.pipeline import labelled_features
from fedrisk.jobs.trail import require_committed_model
from fedrisk.models.saved import SavedModel, load_model
from fedrisk.models.stgraph import TorchMember, predict

OUTPUT_COLUMNS = ("ts_utc", "venue", "asset", "score", "alarm")


def score_frame(saved: SavedModel, tidy: pd.DataFrame, *, feats: pd.DataFrame | None = None) -> pd.DataFrame:
    """Scores per (hour, venue, asset) for a tidy hourly frame, plus index rows.

    ``feats`` (``labelled_features(tidy)``) may be passed to score the same data with several models.
    """
    if tuple(saved.features) != tuple(saved.metadata["features"]):
        raise ModelError("saved model features are inconsistent with its metadata")
    feats = labelled_features(tidy) if feats is None else feats
    window = saved.config.window
    rows = []
    for venue in sorted(feats["venue"].unique()):
        panel = build_panel(feats, venue)
        member = saved.member(venue)
        idx = np.arange(window - 1, len(panel.ts))
        if len(idx) == 0:
            continue
        tm = TorchMember(
            venue,
            torch.from_numpy(member.normaliser.apply(panel.X)),
            torch.zeros(panel.y.shape),
            torch.zeros(panel.y.shape, dtype=torch.bool),
            torch.from_numpy(member.graph.astype(np.float32)),
            idx,
            idx,
            idx,
            window,
        )
        probs = predict(saved.model, tm, idx)
        thr = member.alarm_threshold if member.alarm_threshold is not None else saved.alarm_threshold
        for a, asset in enumerate(panel.assets):
            obs = panel.observed[idx, a]
            if not obs.any():
                continue
            p = probs[obs, a].astype(float)
            rows.append(
                pd.DataFrame(
                    {"ts_utc": panel.ts[idx][obs], "venue": venue, "asset": asset, "score": p, "alarm": p > thr}
                )
            )
    if not rows:
        raise ModelError(f"nothing to score: every series is shorter than the model's {window}-hour window.")
    scores = pd.concat(rows, ignore_index=True)
    index = stress_index(scores.rename(columns={"venue": "member"}))
    index = index.dropna(subset=["index"])
    thr_index = saved.index_alarm_threshold
    index_rows = pd.DataFrame(
        {
            "ts_utc": index["ts_utc"],
            "venue": "INDEX",
            "asset": index["asset"],
            "score": index["index"] / 100.0,
            "alarm": (index["index"] > thr_index) if thr_index is not None else False,
        }
    )
    return pd.concat([scores, index_rows], ignore_index=True)[list(OUTPUT_COLUMNS)]


def score_data_dir(model_path: Path, data_dir: Path, out: Path) -> dict[str, Any]:
    """Load a saved model, score every hourly file under ``data_dir``, write ``out`` (CSV)."""
    saved = load_model(model_path)
    run_dir = model_path if (model_path / "model").is_dir() else model_path.parent
    require_committed_model(run_dir, saved.weights_sha256)
    tidy, _ = load_hourly_dir(data_dir)
    frame = score_frame(saved, tidy)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return {
        "rows": len(frame),
        "index_rows": int((frame["venue"] == "INDEX").sum()),
        "alarms": int(frame["alarm"].sum()),
        "venues": sorted(set(frame["venue"]) - {"INDEX"}),
        "model_sha256": saved.weights_sha256,
        "out": str(out),
    }
