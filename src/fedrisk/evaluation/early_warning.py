"""The liquidity stress index and early-warning analysis.

**Index formula.** For asset ``a`` and hour ``t``::

    index[a, t] = 100 * mean over members m holding a, scored at t, of p[m, a, t]

where ``p`` is the federated model's probability of an illiquid stress hour within the next H hours, computed by
each member on its own data. The mean (not the median) is used so that the index is a plain sum divided by a
count: exactly what secure aggregation can compute without revealing any member's score. The index is
withheld (NaN) at hours where fewer than 3 members report (:data:`~fedrisk.errors.MIN_COHORT`). The market
index is the mean of the published asset indices at that hour.

**Alarms.** A model's alarm threshold is the ``1 - far`` quantile of its scores on validation hours without an
event, so it fires on about ``far`` of quiet hours (default 5 %). It is fixed before the test period.

**Episodes and lead time.** An episode starts at a stress hour preceded by ``quiet_hours`` hours without any
(default 24). The lead time is the time from the first alarm inside the ``lookback`` hours before the onset to
the onset; an episode with no alarm in that window is missed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fedrisk.errors import MIN_COHORT


def alarm_threshold(val_scores: np.ndarray, val_labels: np.ndarray, *, far: float = 0.05) -> float:
    """Score above which an alarm fires, set on validation hours without an event."""
    if not 0 < far < 1:
        raise ValueError(f"false-alarm rate must be in (0, 1), got {far}")
    quiet = val_scores[(val_labels == 0) & np.isfinite(val_scores)]
    if len(quiet) == 0:
        raise ValueError("no quiet validation hours to set an alarm threshold on")
    return float(np.quantile(quiet, 1 - far))


def episode_onsets(stress: np.ndarray, *, quiet_hours: int = 24) -> np.ndarray:
    """Indices of episode onsets in an hourly boolean series (a stress hour after ``quiet_hours`` calm ones)."""
    onsets = []
    last = -(10**9)
    for i in np.flatnonzero(stress).tolist():
        if i - last > quiet_hours:
            onsets.append(i)
        last = i
    return np.asarray(onsets, dtype=int)


@dataclass(frozen=True, slots=True)
class LeadTimes:
    """Early-warning summary over episodes."""

    episodes: int
    detected: int
    median_lead_hours: float | None
    leads: tuple[int, ...]

    @property
    def detection_rate(self) -> float | None:
        """Share of episodes with an alarm before the onset."""
        return self.detected / self.episodes if self.episodes else None

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {
            "episodes": self.episodes,
            "detected": self.detected,
            "detection_rate": self.detection_rate,
            "median_lead_hours": self.median_lead_hours,
        }


def lead_times(alarms: np.ndarray, onsets: np.ndarray, *, lookback: int = 24) -> LeadTimes:
    """Lead time of the first alarm in the ``lookback`` hours before each onset."""
    leads = []
    for onset in onsets:
        lo = max(0, onset - lookback)
        window = np.flatnonzero(alarms[lo:onset])
        if len(window):
            leads.append(int(onset - (lo + window[0])))
    median = float(np.median(leads)) if leads else None
    return LeadTimes(len(onsets), len(leads), median, tuple(leads))


def stress_index(scores: pd.DataFrame, *, min_members: int = MIN_COHORT) -> pd.DataFrame:
    """Hourly index per asset and for the market from member scores.

    Parameters
    ----------
    scores
        Long frame with columns ``ts_utc``, ``member``, ``asset``, ``score`` (probabilities).

    Returns
    -------
    DataFrame
        Columns ``ts_utc``, ``asset`` (an asset or ``MARKET``), ``index`` (0-100, NaN when withheld),
        ``members`` (how many members reported).
    """
    valid = scores.dropna(subset=["score"])
    grouped = valid.groupby(["ts_utc", "asset"])["score"].agg(["sum", "count"]).reset_index()
    grouped["index"] = np.where(grouped["count"] >= min_members, 100.0 * grouped["sum"] / grouped["count"], np.nan)
    per_asset = grouped.rename(columns={"count": "members"})[["ts_utc", "asset", "index", "members"]]
    published = per_asset.dropna(subset=["index"])
    market = published.groupby("ts_utc").agg(index=("index", "mean"), members=("members", "max")).reset_index()
    market["asset"] = "MARKET"
    out = pd.concat([per_asset, market[["ts_utc", "asset", "index", "members"]]], ignore_index=True)
    return out.sort_values(["asset", "ts_utc"]).reset_index(drop=True)
