"""Per-member panels: the arrays a member's node trains on, built from its own feature frame only.

A panel stacks a member's assets on one hourly time axis: ``X[T, A, F]`` features, ``y[T, A]`` labels,
``observed[T, A]``. Assets follow the fixed universe :data:`ASSETS`, absent ones are all-missing, so every member
shares one model shape. Normalisation is fitted on the member's own training rows only.

Time-forward splits use the same calendar cut dates for everyone (:class:`Split`). Samples whose label window
``(t, t + H]`` crosses a cut are purged from the earlier period, so no label in training looks into validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fedrisk.errors import DataValidationError
from fedrisk.features.labels import DEFAULT_HORIZON
from fedrisk.features.stress import FEATURES, HEURISTIC_FEATURE

ASSETS: tuple[str, ...] = ("BTC", "ETH", "LTC", "XRP")
"""The asset universe; a member holds a subset."""


@dataclass(frozen=True, slots=True)
class Split:
    """Calendar cut dates shared by every member (UTC, half-open periods)."""

    train_start: pd.Timestamp = pd.Timestamp("2015-01-01", tz="UTC")
    val_start: pd.Timestamp = pd.Timestamp("2019-01-01", tz="UTC")
    test_start: pd.Timestamp = pd.Timestamp("2019-07-01", tz="UTC")
    test_end: pd.Timestamp = pd.Timestamp("2020-01-01", tz="UTC")
    horizon: int = DEFAULT_HORIZON

    def __post_init__(self) -> None:
        if not self.train_start < self.val_start < self.test_start < self.test_end:
            raise DataValidationError(
                f"split dates must increase: train_start {self.train_start} < val_start {self.val_start} < "
                f"test_start {self.test_start} < test_end {self.test_end}"
            )

    def as_dict(self) -> dict[str, str | int]:
        """JSON-friendly form."""
        return {
            "train_start": self.train_start.isoformat(),
            "val_start": self.val_start.isoformat(),
            "test_start": self.test_start.isoformat(),
            "test_end": self.test_end.isoformat(),
            "horizon_hours": self.horizon,
        }


@dataclass(frozen=True, slots=True)
class Normaliser:
    """Per-feature mean and standard deviation; applying it maps NaN to 0 (the mean) and clips at ±8."""

    mean: np.ndarray
    std: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Normalise an array whose last axis is the feature axis."""
        z = (x - self.mean) / self.std
        out: np.ndarray = np.clip(np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0), -8.0, 8.0).astype(np.float32)
        return out

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-friendly form."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, raw: dict[str, list[float]]) -> Normaliser:
        """Inverse of :meth:`to_dict`."""
        return cls(np.asarray(raw["mean"], dtype=np.float64), np.asarray(raw["std"], dtype=np.float64))


@dataclass(frozen=True, slots=True)
class NormStats:
    """Sufficient statistics (count, sum, sum of squares) of features: summable across members."""

    count: np.ndarray
    total: np.ndarray
    total_sq: np.ndarray

    def __add__(self, other: NormStats) -> NormStats:
        return NormStats(self.count + other.count, self.total + other.total, self.total_sq + other.total_sq)

    def normaliser(self) -> Normaliser:
        """The normaliser these statistics define; features never observed get mean 0 and std 1."""
        n = np.maximum(self.count, 1.0)
        mean = self.total / n
        var = np.maximum(self.total_sq / n - mean**2, 0.0)
        std = np.sqrt(var)
        std = np.where((std > 1e-9) & (self.count > 1), std, 1.0)
        return Normaliser(np.where(self.count > 0, mean, 0.0), std)


def norm_stats(x: np.ndarray) -> NormStats:
    """Statistics of rows ``x[..., F]``, ignoring NaN."""
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    finite = np.isfinite(flat)
    vals = np.where(finite, flat, 0.0)
    return NormStats(finite.sum(axis=0).astype(np.float64), vals.sum(axis=0), (vals**2).sum(axis=0))


@dataclass(slots=True)
class MemberPanel:
    """One member's stacked data; ``X`` is raw (not normalised)."""

    member: str
    assets: tuple[str, ...]
    ts: pd.DatetimeIndex
    X: np.ndarray
    y: np.ndarray
    observed: np.ndarray
    stress_hour: np.ndarray
    heuristic: np.ndarray
    features: tuple[str, ...] = FEATURES
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def held_assets(self) -> tuple[str, ...]:
        """The assets this member actually holds (observed at least once)."""
        return tuple(a for i, a in enumerate(self.assets) if self.observed[:, i].any())

    def period_mask(self, start: pd.Timestamp, end: pd.Timestamp, *, purge_hours: int = 0) -> np.ndarray:
        """Hours t in [start, end - purge_hours h)."""
        ts = self.ts
        return np.asarray((ts >= start) & (ts < end - pd.Timedelta(hours=purge_hours)))

    def sample_index(
        self, start: pd.Timestamp, end: pd.Timestamp, *, purge_hours: int = 0, window: int = 1
    ) -> np.ndarray:
        """Indices t in the period with at least one labelled asset and a full look-back window."""
        in_period = self.period_mask(start, end, purge_hours=purge_hours)
        labelled = np.isfinite(self.y).any(axis=1) & self.observed.any(axis=1)
        idx = np.flatnonzero(in_period & labelled)
        return idx[idx >= window - 1]

    def train_index(self, split: Split, *, window: int = 1, months: float | None = None) -> np.ndarray:
        """Training hours (purged before the validation cut); ``months`` keeps only the last k months."""
        start = split.train_start if months is None else split.val_start - pd.Timedelta(days=30.44 * months)
        return self.sample_index(
            max(start, split.train_start), split.val_start, purge_hours=split.horizon, window=window
        )

    def val_index(self, split: Split, *, window: int = 1) -> np.ndarray:
        """Validation hours (purged before the test cut)."""
        return self.sample_index(split.val_start, split.test_start, purge_hours=split.horizon, window=window)

    def test_index(self, split: Split, *, window: int = 1) -> np.ndarray:
        """Test hours."""
        return self.sample_index(split.test_start, split.test_end, window=window)

    def fit_stats(self, idx: np.ndarray) -> NormStats:
        """Normalisation statistics over the given hours (all held assets, observed rows only)."""
        rows = self.X[idx][self.observed[idx]]
        return norm_stats(rows)


def build_panel(features: pd.DataFrame, member: str) -> MemberPanel:
    """Stack one member's labelled feature frame (from features.stress + labels) into a panel."""
    own = features[features["venue"] == member]
    if own.empty:
        raise DataValidationError(f"member '{member}' has no rows. Fix: check the venue name and the data dir.")
    unknown = sorted(set(own["base"]) - set(ASSETS))
    if unknown:
        raise DataValidationError(f"member '{member}' holds assets {unknown} outside the universe {ASSETS}.")
    ts = pd.date_range(own["ts_utc"].min(), own["ts_utc"].max(), freq="h")
    n_t, n_a, n_f = len(ts), len(ASSETS), len(FEATURES)
    X = np.full((n_t, n_a, n_f), np.nan, dtype=np.float32)
    y = np.full((n_t, n_a), np.nan, dtype=np.float32)
    observed = np.zeros((n_t, n_a), dtype=bool)
    stress = np.zeros((n_t, n_a), dtype=bool)
    heur = np.full((n_t, n_a), np.nan, dtype=np.float32)
    pos = pd.Index(ts)
    for a, asset in enumerate(ASSETS):
        g = own[own["base"] == asset]
        if g.empty:
            continue
        rows = pos.get_indexer(pd.DatetimeIndex(g["ts_utc"]))
        X[rows, a, :] = g[list(FEATURES)].to_numpy(dtype=np.float32)
        y[rows, a] = g["label"].to_numpy(dtype=np.float32)
        observed[rows, a] = g["observed"].to_numpy(dtype=bool)
        stress[rows, a] = g["stress_hour"].to_numpy(dtype=bool)
        heur[rows, a] = g[HEURISTIC_FEATURE].to_numpy(dtype=np.float32)
    y[~observed] = np.nan
    return MemberPanel(member, ASSETS, ts, X, y, observed, stress, heur)


def asset_graph(panel: MemberPanel, idx: np.ndarray) -> np.ndarray:
    """Cross-asset adjacency from training-period return correlations of the member's own assets.

    Weights are positive correlations, zero diagonal, rows normalised to sum to 1; assets the member does not
    hold have zero rows and columns.
    """
    ret = panel.X[idx][:, :, FEATURES.index("ret")].astype(np.float64)
    n_a = len(panel.assets)
    adj = np.zeros((n_a, n_a))
    held = [i for i in range(n_a) if np.isfinite(ret[:, i]).sum() > 48]
    for i in held:
        for j in held:
            if i == j:
                continue
            ok = np.isfinite(ret[:, i]) & np.isfinite(ret[:, j])
            if ok.sum() > 48:
                adj[i, j] = max(float(np.corrcoef(ret[ok, i], ret[ok, j])[0, 1]), 0.0)
    sums = adj.sum(axis=1, keepdims=True)
    graph: np.ndarray = np.divide(adj, sums, out=np.zeros_like(adj), where=sums > 0).astype(np.float32)
    return graph
