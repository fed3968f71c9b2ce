"""Secure publication of the stress index: each member's scores enter only through a secure sum.

The plain index (:func:`fedrisk.evaluation.early_warning.stress_index`) is ``100 * sum_m p[m,a,t] / count[a,t]``
withheld where fewer than :data:`~fedrisk.errors.MIN_COHORT` members report. Both the sum and the count are sums
over members, so each member encodes two vectors on a grid that everyone knows in advance (every hour of the
publication period × the asset universe): its scores (0 where it does not report) and its reporting indicator
(1 or 0). SecAgg+ returns the *mean* of these vectors over the ``k`` surviving members; ``k`` cancels in the
ratio, and ``count = k * mean_count`` decides what is withheld. The coordinator learns the index and the number
of reporting members per cell, and nothing about any one member's score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from fedrisk.errors import MIN_COHORT, ConfigError, require_cohort

__all__ = ["IndexGrid", "decode_index", "encode_scores"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class IndexGrid:
    """The public grid of an index publication: hourly timestamps ``[start, end)`` × ``assets``."""

    start: pd.Timestamp
    end: pd.Timestamp
    assets: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ConfigError(f"index grid end {self.end} must be after start {self.start}")
        if not self.assets or len(set(self.assets)) != len(self.assets):
            raise ConfigError(f"index grid needs distinct assets, got {self.assets}")

    @property
    def hours(self) -> pd.DatetimeIndex:
        """Every hour of the grid."""
        return pd.date_range(self.start, self.end, freq="h", inclusive="left")

    @property
    def shape(self) -> tuple[int, int]:
        """``(assets, hours)``."""
        return len(self.assets), len(self.hours)


def encode_scores(scores: pd.DataFrame, grid: IndexGrid) -> tuple[FloatArray, FloatArray]:
    """A member's score and reporting-indicator arrays ``[assets, hours]`` (what it feeds to the secure sum).

    ``scores`` is the member's long frame ``ts_utc, asset, score``; rows outside the grid and NaN scores are
    dropped (the plain index drops NaN scores too).
    """
    a_pos = {a: i for i, a in enumerate(grid.assets)}
    valid = scores.dropna(subset=["score"])
    valid = valid[valid["asset"].isin(a_pos) & (valid["ts_utc"] >= grid.start) & (valid["ts_utc"] < grid.end)]
    if valid.duplicated(["ts_utc", "asset"]).any():
        raise ConfigError("a member reports one (hour, asset) cell twice; send one score per cell")
    rows = valid["asset"].map(a_pos).to_numpy(dtype=np.int64)
    cols = ((valid["ts_utc"] - grid.start) // pd.Timedelta(hours=1)).to_numpy(dtype=np.int64)
    total, count = np.zeros(grid.shape), np.zeros(grid.shape)
    total[rows, cols] = valid["score"].to_numpy(dtype=np.float64)
    count[rows, cols] = 1.0
    return total, count


def decode_index(
    mean_scores: FloatArray, mean_counts: FloatArray, members: int, grid: IndexGrid, *, min_members: int = MIN_COHORT
) -> pd.DataFrame:
    """The published index from the secure mean over ``members`` survivors.

    Returns the frame of :func:`~fedrisk.evaluation.early_warning.stress_index`: ``ts_utc, asset, index,
    members``, with ``MARKET`` the mean of the published asset indices; cells where nobody reports are left out
    and cells with fewer than ``min_members`` reporting members are withheld (``index`` NaN).

    Raises
    ------
    QuorumError
        If fewer than ``MIN_COHORT`` members contributed to the secure sum.
    """
    require_cohort(members, what="a secure stress index")
    if mean_scores.shape != grid.shape or mean_counts.shape != grid.shape:
        raise ConfigError(f"secure sums have shapes {mean_scores.shape}, {mean_counts.shape}; grid is {grid.shape}")
    counts = np.rint(mean_counts * members)  # exact integers up to quantisation error (<< 0.5)
    sums = mean_scores * members
    hours = grid.hours
    a_idx, t_idx = np.nonzero(counts > 0)
    n = counts[a_idx, t_idx]
    index = np.where(n >= min_members, 100.0 * sums[a_idx, t_idx] / np.maximum(n, 1.0), np.nan)
    per_asset = pd.DataFrame(
        {
            "ts_utc": hours[t_idx],
            "asset": np.asarray(grid.assets, dtype=object)[a_idx],
            "index": index,
            "members": n.astype(np.int64),
        }
    )
    published = per_asset.dropna(subset=["index"])
    market = published.groupby("ts_utc").agg(index=("index", "mean"), members=("members", "max")).reset_index()
    market["asset"] = "MARKET"
    out = pd.concat([per_asset, market[["ts_utc", "asset", "index", "members"]]], ignore_index=True)
    return out.sort_values(["asset", "ts_utc"]).reset_index(drop=True)
