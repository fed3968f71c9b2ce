"""Quality metrics and paired day-block bootstrap intervals.

Metrics return ``None`` when undefined (a test period without any event has no AUROC or AUPRC): a missing
number is reported as missing, never as 0 or 0.5.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

Metric = Callable[[np.ndarray, np.ndarray], float | None]


def auroc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Area under the ROC curve, or None with a single class."""
    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, p))


def auprc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Average precision (area under the precision-recall curve), or None without positives."""
    if y.sum() == 0 or len(np.unique(y)) < 2:
        return None
    return float(average_precision_score(y, p))


def brier(y: np.ndarray, p: np.ndarray) -> float | None:
    """Mean squared error of probabilities."""
    if len(y) == 0:
        return None
    return float(np.mean((p - y) ** 2))


METRICS: dict[str, Metric] = {"auroc": auroc, "auprc": auprc, "brier": brier}


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    """AUROC, AUPRC, Brier, counts and base rate."""
    out: dict[str, float | None] = {name: fn(y, p) for name, fn in METRICS.items()}
    out["n"] = float(len(y))
    out["positives"] = float(y.sum())
    out["base_rate"] = float(y.mean()) if len(y) else None
    return out


@dataclass(frozen=True, slots=True)
class BootstrapInterval:
    """Paired difference ``metric(b) - metric(a)`` with a percentile interval from day-block resampling."""

    delta: float | None
    low: float | None
    high: float | None
    n_boot: int

    @property
    def significant(self) -> bool | None:
        """True when the interval excludes 0."""
        if self.low is None or self.high is None:
            return None
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, float | int | bool | None]:
        """JSON-friendly form."""
        return {
            "delta": self.delta,
            "low": self.low,
            "high": self.high,
            "n_boot": self.n_boot,
            "significant": self.significant,
        }


def paired_day_bootstrap(
    y: np.ndarray,
    p_a: np.ndarray,
    p_b: np.ndarray,
    days: np.ndarray,
    *,
    metric: Metric = auprc,
    n_boot: int = 200,
    level: float = 0.95,
    rng: np.random.Generator,
) -> BootstrapInterval:
    """Resample whole days with replacement (labels overlap within a day), same days for both models."""
    point_a, point_b = metric(y, p_a), metric(y, p_b)
    if point_a is None or point_b is None:
        return BootstrapInterval(None, None, None, 0)
    uniq, inverse = np.unique(days, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
    deltas = []
    for _ in range(n_boot):
        picked = rng.integers(0, len(uniq), size=len(uniq))
        rows = np.concatenate([order[bounds[d] : bounds[d + 1]] for d in picked])
        a, b = metric(y[rows], p_a[rows]), metric(y[rows], p_b[rows])
        if a is not None and b is not None:
            deltas.append(b - a)
    if len(deltas) < n_boot // 2:
        return BootstrapInterval(point_b - point_a, None, None, len(deltas))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return BootstrapInterval(point_b - point_a, float(low), float(high), len(deltas))
