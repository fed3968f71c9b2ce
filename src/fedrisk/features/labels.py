"""The liquidity-stress label: "an illiquid stress hour within the next H hours".

Definition (default ``H = 12``). An hour ``s`` is an **illiquid stress hour** for a venue-asset when *both*

* its price range is extreme: Parkinson range ``pk_s`` above the 95th percentile of the trailing 30 days, and
* the move happened on thin trading: Amihud price impact ``ami_s`` above the 90th percentile of the trailing
  30 days,

where both thresholds are computed from data up to the hour the prediction is made (``t`` for the label at
``t``; ``s - 1`` for marking event hours themselves). The label at ``t`` is 1 when at least one hour in
``(t, t + H]`` is an illiquid stress hour, 0 when none is, and missing when fewer than ``min_observed`` of the
``H`` future hours were observed or the thresholds are not yet defined (fewer than 15 days of history).

Why this event: a range spike alone is turbulence, and on these venues it usually comes *with* a volume
spike (the feasibility study measured corr(range label, Amihud label) = -0.08); an Amihud spike alone is
mostly a quiet, thin hour. A large move on thin volume is the liquidity dry-up a risk officer worries about:
prices gap because the book is empty. It is also rarer (base rate about 3-6 % per member, reported in
``results.json``) and therefore a harder, more consequential target than the 11-20 % range-only label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_HORIZON = 12
DEFAULT_MIN_OBSERVED = 10


def _shift_up(values: np.ndarray, k: int) -> np.ndarray:
    """``values`` shifted k steps towards the past (element t holds t + k), NaN padded."""
    out = np.full_like(values, np.nan, dtype=float)
    if k < len(values):
        out[: len(values) - k] = values[k:]
    return out


def stress_hours(series: pd.DataFrame) -> pd.Series:
    """Boolean illiquid-stress-hour flag of one series grid, thresholds taken from data before the hour."""
    pk_thr = series["pk_q95"].shift(1)
    ami_thr = series["ami_q90"].shift(1)
    flag = (series["pk"] > pk_thr) & (series["ami"] > ami_thr)
    return flag.fillna(False).astype(bool)


def stress_label(
    series: pd.DataFrame, *, horizon: int = DEFAULT_HORIZON, min_observed: int = DEFAULT_MIN_OBSERVED
) -> pd.Series:
    """Label of one venue-asset series on its full hourly grid (rows sorted by hour, no gaps in the index).

    Returns a float Series: 1.0, 0.0 or NaN (missing).
    """
    if min_observed > horizon:
        raise ValueError(f"min_observed ({min_observed}) cannot exceed horizon ({horizon})")
    pk = series["pk"].to_numpy(dtype=float)
    ami = series["ami"].to_numpy(dtype=float)
    pk_thr = series["pk_q95"].to_numpy(dtype=float)
    ami_thr = series["ami_q90"].to_numpy(dtype=float)
    events = np.zeros(len(series))
    observed = np.zeros(len(series))
    with np.errstate(invalid="ignore"):
        for k in range(1, horizon + 1):
            pk_k = _shift_up(pk, k)
            ami_k = _shift_up(ami, k)
            observed += np.isfinite(pk_k)
            events += (pk_k > pk_thr) & (ami_k > ami_thr)
    label = (events >= 1).astype(float)
    label[(observed < min_observed) | ~np.isfinite(pk_thr) | ~np.isfinite(ami_thr)] = np.nan
    return pd.Series(label, index=series.index, name="label")


def add_labels(
    features: pd.DataFrame, *, horizon: int = DEFAULT_HORIZON, min_observed: int = DEFAULT_MIN_OBSERVED
) -> pd.DataFrame:
    """Add ``label`` and ``stress_hour`` to a feature frame holding full-grid series (see features.stress)."""
    out = features.sort_values(["venue", "base", "ts_utc"], kind="stable").reset_index(drop=True)
    labels = []
    flags = []
    for _, g in out.groupby(["venue", "base"], sort=False):
        labels.append(stress_label(g, horizon=horizon, min_observed=min_observed))
        flags.append(stress_hours(g))
    out["label"] = pd.concat(labels)
    out["stress_hour"] = pd.concat(flags)
    return out
