"""Causal liquidity features per (venue, asset, hour).

Every feature at hour t uses bars at or before t only (a test changes data after t and checks that nothing at
or before t moves). Each series is first put on a full hourly grid so rolling windows are measured in clock
time; missing hours are NaN and stay so (``observed`` is False there).

Per-hour building blocks (``x`` = log price):

* ``ret`` — log return close-to-close; ``absret`` its magnitude.
* ``pk`` — Parkinson range ``log(H/L)`` (Parkinson volatility is ``pk / sqrt(4 ln 2)``).
* ``cs`` — Corwin–Schultz (2012) two-bar high-low spread estimate, negative estimates set to 0.
* ``ar`` — Abdi–Ranaldo (2017) two-bar close-high-low spread, in its causal form
  ``4 (c_{t-1} - eta_{t-1})(c_{t-1} - eta_t)`` with ``eta`` the mid of log high and low; averaged over 24 h,
  then ``sqrt(max(., 0))``.
* ``ami`` — Amihud illiquidity ``|r| / quote volume`` per million of quote currency, ``log1p`` scaled;
  undefined (NaN) on zero-volume bars.
* ``volz`` — log quote volume z-score against the trailing 168 h.
* ``zero_vol_24`` — share of zero-volume hours in the trailing 24 h.

Model features (:data:`FEATURES`) are rolling summaries of these, "distance to threshold" ratios against the
trailing 30-day distribution, hour of day, and cross-asset context (the member's other assets at the same hour).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

HOUR = pd.Timedelta(hours=1)
THRESHOLD_WINDOW = 720
"""Trailing window (hours) for the 30-day distribution used by thresholds and relative features."""
THRESHOLD_MIN_OBS = 360

BASE_FEATURES: tuple[str, ...] = (
    "ret",
    "absret_level",
    "pk_level",
    "cs24",
    "ar24",
    "ami_level",
    "volz",
    "zero_vol_24",
    "ret_24",
    "ret_72",
    "pk_m24",
    "pk_m72",
    "pk_s24",
    "pk_max24",
    "absret_m24",
    "absret_max24",
    "ami_m24",
    "ami_m72",
    "pk_rel",
    "pk_rel_m24",
    "pk_exc6",
    "pk_exc24",
    "pk_q95_med",
    "ami_rel",
    "ami_rel_m24",
    "ami_exc24",
    "hr24_rel",
    "hour_sin",
    "hour_cos",
)
CROSS_FEATURES: tuple[str, ...] = ("x_pk_rel", "x_absret", "x_ami_rel", "x_n_assets")
FEATURES: tuple[str, ...] = BASE_FEATURES + CROSS_FEATURES
"""Every model feature, in order."""

_RANGE_SCALED = (
    "pk_level",
    "absret_level",
    "cs24",
    "ar24",
    "pk_m24",
    "pk_m72",
    "pk_s24",
    "pk_max24",
    "absret_m24",
    "absret_max24",
)
HEURISTIC_FEATURE = "hr24_rel"
"""No-training heuristic: mean range of the last 24 h relative to its trailing 30-day median (log ratio)."""


def to_hourly_grid(series: pd.DataFrame) -> pd.DataFrame:
    """Reindex one venue-asset series onto a full hourly grid from its first to its last bar.

    Missing hours become rows of NaN with ``observed`` False; they are never filled.
    """
    frame = series.set_index("ts_utc").sort_index()
    grid = pd.date_range(frame.index[0], frame.index[-1], freq="h")
    out = frame.reindex(grid)
    out.index.name = "ts_utc"
    out["observed"] = out["close"].notna()
    for col in ("venue", "base", "quote"):
        out[col] = series[col].iat[0]  # type: ignore[assignment]
    return out


def _rolling(x: pd.Series, window: int, min_periods: int | None = None) -> Any:
    return x.rolling(window, min_periods=min_periods if min_periods is not None else max(1, window // 2))


def corwin_schultz(high: pd.Series, low: pd.Series) -> pd.Series:
    """Two-bar Corwin–Schultz spread estimate at each bar (uses bars t-1 and t), negatives set to 0."""
    hl = pd.Series(np.log(high / low) ** 2, index=high.index)
    beta = hl + hl.shift(1)
    gamma = np.log(np.maximum(high, high.shift(1)) / np.minimum(low, low.shift(1))) ** 2
    k = 3.0 - 2.0 * np.sqrt(2.0)
    alpha = (np.sqrt(2.0 * beta) - np.sqrt(beta)) / k - np.sqrt(gamma / k)
    spread = pd.Series(2.0 * (np.exp(alpha) - 1.0) / (1.0 + np.exp(alpha)), index=high.index)
    return spread.clip(lower=0.0)


def abdi_ranaldo_sq(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """Causal two-bar Abdi–Ranaldo squared-spread term at t (uses bars t-1 and t)."""
    eta = pd.Series((np.log(high) + np.log(low)) / 2.0, index=high.index)
    c_prev = pd.Series(np.log(close), index=close.index).shift(1)
    return pd.Series(4.0 * (c_prev - eta.shift(1)) * (c_prev - eta), index=high.index)


def hourly_blocks(grid: pd.DataFrame) -> pd.DataFrame:
    """Per-hour building blocks (see the module docstring) on a grid from :func:`to_hourly_grid`."""
    out = pd.DataFrame(index=grid.index)
    logc = np.log(grid["close"])
    out["ret"] = logc.diff()
    out["absret"] = out["ret"].abs()
    out["pk"] = np.log(grid["high"] / grid["low"])
    out["cs"] = corwin_schultz(grid["high"], grid["low"])
    out["ar_sq"] = abdi_ranaldo_sq(grid["high"], grid["low"], grid["close"])
    vq = grid["volume_quote"].where(grid["volume_quote"] > 0)
    out["ami"] = np.log1p(1e6 * out["absret"] / vq)
    out["logvol"] = np.log(vq)
    out["zero_vol"] = (grid["volume_base"] <= 0).astype(float).where(grid["observed"])
    return out


def _rel(x: pd.Series, q95: pd.Series) -> pd.Series:
    """log(x / q95) with x floored at a small share of the threshold, so flat hours stay finite."""
    floor = 0.02 * q95
    return pd.Series(np.log(np.maximum(x, floor) / q95), index=x.index)


def series_features(series: pd.DataFrame) -> pd.DataFrame:
    """Causal features of one venue-asset series, on its full hourly grid.

    The frame also carries ``pk``, ``ami`` and their trailing thresholds (``pk_q95``, ``ami_q95``, ``ami_q90``)
    for the label builder, and ``observed``.
    """
    grid = to_hourly_grid(series)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _series_features(grid)


def _series_features(grid: pd.DataFrame) -> pd.DataFrame:
    b = hourly_blocks(grid)
    f = pd.DataFrame(index=grid.index)
    f["observed"] = grid["observed"]
    f["ret"] = b["ret"]
    f["absret"] = b["absret"]
    f["absret_level"] = b["absret"]
    f["pk"] = b["pk"]
    f["pk_level"] = b["pk"]
    f["cs24"] = _rolling(b["cs"], 24).mean()
    f["ar24"] = np.sqrt(_rolling(b["ar_sq"], 24).mean().clip(lower=0.0))
    f["ami"] = b["ami"]
    lv = b["logvol"]
    f["volz"] = (lv - _rolling(lv, 168, 48).mean()) / _rolling(lv, 168, 48).std()
    f["zero_vol_24"] = _rolling(b["zero_vol"], 24).mean()
    f["ret_24"] = _rolling(b["ret"], 24).sum()
    f["ret_72"] = _rolling(b["ret"], 72).sum()
    f["pk_m24"] = _rolling(b["pk"], 24).mean()
    f["pk_m72"] = _rolling(b["pk"], 72).mean()
    f["pk_s24"] = _rolling(b["pk"], 24).std()
    f["pk_max24"] = _rolling(b["pk"], 24).max()
    f["absret_m24"] = _rolling(b["absret"], 24).mean()
    f["absret_max24"] = _rolling(b["absret"], 24).max()
    f["ami_m24"] = _rolling(b["ami"], 24).mean()
    f["ami_m72"] = _rolling(b["ami"], 72).mean()
    long_pk = _rolling(b["pk"], THRESHOLD_WINDOW, THRESHOLD_MIN_OBS)
    long_ami = _rolling(b["ami"], THRESHOLD_WINDOW, THRESHOLD_MIN_OBS)
    f["pk_q95"] = long_pk.quantile(0.95)
    f["pk_q99"] = long_pk.quantile(0.99)
    pk_med = long_pk.median()
    f["ami_q95"] = long_ami.quantile(0.95)
    f["ami_q90"] = long_ami.quantile(0.90)
    f["pk_rel"] = _rel(b["pk"], f["pk_q95"])
    f["pk_rel_m24"] = _rolling(f["pk_rel"], 24).mean()
    exc = (b["pk"] > f["pk_q95"]).astype(float).where(b["pk"].notna())
    f["pk_exc6"] = _rolling(exc, 6, 1).sum()
    f["pk_exc24"] = _rolling(exc, 24, 1).sum()
    f["pk_q95_med"] = np.log(f["pk_q95"] / pk_med.clip(lower=1e-12))
    f["ami_rel"] = b["ami"] - f["ami_q95"]
    f["ami_rel_m24"] = _rolling(f["ami_rel"], 24).mean()
    exc_a = (b["ami"] > f["ami_q95"]).astype(float).where(b["ami"].notna())
    f["ami_exc24"] = _rolling(exc_a, 24, 1).sum()
    f[HEURISTIC_FEATURE] = np.log(f["pk_m24"].clip(lower=1e-12) / pk_med.clip(lower=1e-12))
    hours = pd.DatetimeIndex(grid.index).hour.to_numpy()
    f["hour_sin"] = np.sin(2 * np.pi * hours / 24.0)
    f["hour_cos"] = np.cos(2 * np.pi * hours / 24.0)
    # Scale-free: levels drift between regimes (the 2017-18 boom vs 2019), so every level feature is
    # expressed relative to its own trailing 30-day median; the label thresholds use the raw levels.
    med = pk_med.clip(lower=1e-12)
    for col in _RANGE_SCALED:
        f[col] = np.log(np.maximum(f[col], 0.02 * med) / med)
    ami_med = long_ami.median()
    for col in ("ami_m24", "ami_m72"):
        f[col] = f[col] - ami_med
    f["ami_level"] = b["ami"] - ami_med
    f.loc[~f["observed"], list(BASE_FEATURES)] = np.nan
    f = f.replace([np.inf, -np.inf], np.nan)
    f.insert(0, "venue", grid["venue"])
    f.insert(1, "base", grid["base"])
    return f.reset_index()


def add_cross_asset(features: pd.DataFrame) -> pd.DataFrame:
    """Add each member's cross-asset context: the mean over the venue's *other* assets at the same hour.

    Only the member's own assets are used (no other member's data). ``x_n_assets`` counts the others observed.
    """
    out = features.copy()
    keys = ["venue", "ts_utc"]
    for src, dst in (("pk_rel", "x_pk_rel"), ("absret_level", "x_absret"), ("ami_rel", "x_ami_rel")):
        grp = out.groupby(keys, sort=False)[src]
        total = grp.transform("sum")
        count = grp.transform("count")
        own = out[src].notna().astype(float)
        n_other = count - own
        out[dst] = (total - out[src].fillna(0.0)) / n_other.where(n_other > 0)
    own_obs = out["observed"].astype(float)
    out["x_n_assets"] = out.groupby(keys, sort=False)["observed"].transform("sum") - own_obs
    return out


def build_features(tidy: pd.DataFrame) -> pd.DataFrame:
    """Causal features for every (venue, asset) series in a tidy hourly frame."""
    parts = [series_features(g) for _, g in tidy.groupby(["venue", "base"], sort=True)]
    return add_cross_asset(pd.concat(parts, ignore_index=True))
