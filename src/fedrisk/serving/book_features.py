"""Order-book features per time interval, and an online liquidity-stress score over them.

One code path serves live and batch: :class:`BookFeatureEngine` is pushed events one at a time (live) and
returns each interval's features when the first event after its end arrives; :func:`features_frame` (batch)
runs the very same engine over a whole file. ``tests/serving/test_stream.py`` checks that pushing events one
by one (and in arbitrary chunks, through the live replay) gives exactly the batch frame.

Features of an interval ``[start, start + Δ)``. The *state* features describe the book after the last event
before ``start + Δ``; the *flow* features count the events inside the interval.

=====================  ========================================================================================
``mid``, ``spread``    mid price (USD) and best ask − best bid (USD)
``spread_bps``         spread / mid × 10⁴
``bid_depth_L``,       BTC resting on the best L levels of each side, L = 1, 5, 10
``ask_depth_L``
``depth_25bps``,       BTC on both sides within 25 / 100 bps of the mid
``depth_100bps``
``imbalance_L``        (bid depth − ask depth) / (bid depth + ask depth) on the best L levels (L = 1, 5, 10)
``ofi``                order-flow imbalance at the touch (Cont, Kukanov & Stoikov 2014), summed over the
                       interval's events, in BTC: bid-side inflow minus ask-side inflow
``ofi_norm``           ``ofi`` / mean of (bid_depth_1 + ask_depth_1) / 2 over the interval's book changes
``created``,           orders created, cancelled (deleted with volume left), filled (deleted at 0), changed
``cancelled``,         (partially filled or repriced), trades
``filled``, ``changed``,
``trades``
``cancel_rate``        cancelled / created (0 when nothing was created)
``cancel_volume``,     BTC cancelled, BTC traded
``trade_volume``
``ret_bps``            log mid change over the interval × 10⁴
``events``, ``crossed`` events in the interval; whether the book was crossed at its end
=====================  ========================================================================================

**The score** (:class:`OnlineLiquidityStress`) is not a trained model: the hourly stress model takes hourly
bar features, not book features, and this five-hour recording has no labels. It is a transparent
anomaly score. Five components, each oriented so that larger means less liquid:

    log(spread_bps), −log(depth_100bps), |imbalance_10|, |ofi_norm|, cancel_rate

Each is turned into a robust z-score, ``(x − median) / (1.4826 × MAD)``, with median and MAD taken from the
**calibration period only** (the first ``calibration_s`` seconds of the stream, 60 minutes by default); the
score is the mean of the positive parts, ``S = mean_k max(z_k, 0)`` (capped at 10 per component), and the
alert threshold is the ``quantile`` (0.99) of S over the calibration intervals. Nothing after the
calibration period moves the statistics or the threshold, so every later score and alert uses only the past.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fedrisk.serving.orderbook import (
    ASK,
    BID,
    CHANGED,
    CREATED,
    DELETED,
    SATOSHI,
    TICKS,
    TRADE,
    Event,
    OrderBook,
    Snapshot,
)

LEVELS = (1, 5, 10)
BANDS_BPS = (25, 100)
FEATURES: tuple[str, ...] = (
    "mid",
    "spread",
    "spread_bps",
    *(f"{s}_depth_{n}" for n in LEVELS for s in ("bid", "ask")),
    *(f"depth_{b}bps" for b in BANDS_BPS),
    *(f"imbalance_{n}" for n in LEVELS),
    "ofi",
    "ofi_norm",
    "created",
    "cancelled",
    "filled",
    "changed",
    "trades",
    "cancel_rate",
    "cancel_volume",
    "trade_volume",
    "ret_bps",
    "events",
    "crossed",
)
"""Feature columns, in order (after ``start_ms`` and ``end_ms``)."""


@dataclass(slots=True)
class _Flow:
    created: int = 0
    cancelled: int = 0
    filled: int = 0
    changed: int = 0
    trades: int = 0
    cancel_volume: int = 0
    trade_volume: int = 0
    events: int = 0
    ofi: int = 0
    l1_sum: float = 0.0
    l1_n: int = 0


class BookFeatureEngine:
    """Rebuilds the book from pushed events and emits one feature row per closed interval.

    ``interval_ms``: interval length. ``seed_snapshot``: take the first exchange snapshot as the resting book
    before the recording (see :mod:`fedrisk.serving.orderbook`); off by default (the book is rebuilt from order
    events alone). Snapshots are otherwise used only to measure how well the rebuilt book agrees with the
    exchange's.
    """

    def __init__(self, interval_ms: int = 60_000, *, seed_snapshot: bool = False) -> None:
        if interval_ms <= 0:
            raise ValueError("interval_ms must be positive")
        self.interval_ms = interval_ms
        self.seed_snapshot = seed_snapshot
        self.book = OrderBook()
        self._start: int | None = None
        self._flow = _Flow()
        self._prev_best: tuple[int | None, int, int | None, int] = (None, 0, None, 0)
        self._mid_open: float | None = None
        self._seeded = False
        self.snapshots = 0
        self.events = 0

    # -- live ---------------------------------------------------------------------------------------
    def push(self, item: Event | Snapshot) -> list[dict[str, float]]:
        """Apply one event; return the rows of the intervals it closed (usually none, sometimes several)."""
        ts = item.ts_ms
        out: list[dict[str, float]] = []
        if self._start is None:
            self._start = ts - ts % self.interval_ms
            self._mid_open = None
        while ts >= self._start + self.interval_ms:
            out.append(self._close())
        if isinstance(item, Snapshot):
            self.snapshots += 1
            if self.seed_snapshot and not self._seeded:
                self.book.seed(item)
                self._seeded = True
                self._prev_best = self.book.best()
            else:
                self.book.agreement(item)
            return out
        self.events += 1
        f = self._flow
        f.events += 1
        kind = item.kind
        if kind == TRADE:
            f.trades += 1
            f.trade_volume += item.volume
            return out
        if kind == CREATED:
            f.created += 1
        elif kind == DELETED:
            if item.volume > 0:
                f.cancelled += 1
                f.cancel_volume += item.volume
            else:
                f.filled += 1
        elif kind == CHANGED:
            f.changed += 1
        if self.book.apply(item):
            self._ofi_step()
        return out

    def close(self) -> list[dict[str, float]]:
        """Emit the last (partial) interval at the end of a stream."""
        if self._start is None or self._flow.events == 0:
            return []
        return [self._close()]

    # -- internals ----------------------------------------------------------------------------------
    def _ofi_step(self) -> None:
        best = self.book.best()
        pb, qb, pa, qa = best
        ppb, pqb, ppa, pqa = self._prev_best
        if pb is not None and pa is not None and ppb is not None and ppa is not None:
            e = 0
            if pb >= ppb:
                e += qb
            if pb <= ppb:
                e -= pqb
            if pa <= ppa:
                e -= qa
            if pa >= ppa:
                e += pqa
            f = self._flow
            f.ofi += e
            f.l1_sum += (qb + qa) / 2.0
            f.l1_n += 1
        self._prev_best = best

    def _close(self) -> dict[str, float]:
        assert self._start is not None
        row = self.snapshot_features()
        f = self._flow
        mid = row["mid"]
        mean_l1 = f.l1_sum / f.l1_n / SATOSHI if f.l1_n else math.nan
        row.update(
            {
                "ofi": f.ofi / SATOSHI,
                "ofi_norm": (f.ofi / SATOSHI) / mean_l1 if f.l1_n and mean_l1 > 0 else 0.0,
                "created": float(f.created),
                "cancelled": float(f.cancelled),
                "filled": float(f.filled),
                "changed": float(f.changed),
                "trades": float(f.trades),
                "cancel_rate": f.cancelled / f.created if f.created else 0.0,
                "cancel_volume": f.cancel_volume / SATOSHI,
                "trade_volume": f.trade_volume / SATOSHI,
                "ret_bps": 1e4 * math.log(mid / self._mid_open)
                if (self._mid_open and not math.isnan(mid) and mid > 0)
                else math.nan,
                "events": float(f.events),
            }
        )
        out = {"start_ms": float(self._start), "end_ms": float(self._start + self.interval_ms)}
        out.update({k: row[k] for k in FEATURES})
        self._start += self.interval_ms
        self._flow = _Flow()
        self._mid_open = mid if not math.isnan(mid) else self._mid_open
        return out

    def snapshot_features(self) -> dict[str, float]:
        """The state features of the book as it is now."""
        book = self.book
        bids, asks = book.sides[BID], book.sides[ASK]
        top_b, top_a = bids.top(max(LEVELS)), asks.top(max(LEVELS))
        row: dict[str, float] = {}
        if top_b and top_a:
            b, a = top_b[0][0] / TICKS, top_a[0][0] / TICKS
            mid = (a + b) / 2.0
            row.update({"mid": mid, "spread": a - b, "spread_bps": 1e4 * (a - b) / mid})
            for band in BANDS_BPS:
                lo, hi = mid * (1 - band / 1e4) * TICKS, mid * (1 + band / 1e4) * TICKS
                row[f"depth_{band}bps"] = (bids.within(lo) + asks.within(hi)) / SATOSHI
        else:
            row.update({"mid": math.nan, "spread": math.nan, "spread_bps": math.nan})
            for band in BANDS_BPS:
                row[f"depth_{band}bps"] = math.nan
        for n in LEVELS:
            bd = sum(v for _, v in top_b[:n]) / SATOSHI
            ad = sum(v for _, v in top_a[:n]) / SATOSHI
            row[f"bid_depth_{n}"], row[f"ask_depth_{n}"] = bd, ad
            row[f"imbalance_{n}"] = (bd - ad) / (bd + ad) if bd + ad > 0 else math.nan
        row["crossed"] = float(book.crossed())
        return row


def stream_features(items: Iterable[Event | Snapshot], engine: BookFeatureEngine) -> Iterator[dict[str, float]]:
    """Live: yield each interval's row as soon as the event that closes it has been pushed."""
    for item in items:
        yield from engine.push(item)
    yield from engine.close()


def features_frame(
    items: Iterable[Event | Snapshot], interval_ms: int = 60_000, *, seed_snapshot: bool = False
) -> pd.DataFrame:
    """Batch: every interval's features of a whole event file, as a frame (same engine as live)."""
    engine = BookFeatureEngine(interval_ms, seed_snapshot=seed_snapshot)
    rows = list(stream_features(items, engine))
    return pd.DataFrame(rows, columns=["start_ms", "end_ms", *FEATURES])


# -- the online liquidity-stress score --------------------------------------------------------------------------

COMPONENTS: tuple[str, ...] = (
    "log_spread_bps",
    "neg_log_depth_100bps",
    "abs_imbalance_10",
    "abs_ofi_norm",
    "cancel_rate",
)
Z_CAP = 10.0


def components(row: dict[str, float]) -> np.ndarray:
    """The five stress components of a feature row (larger = less liquid); NaN where undefined."""
    spread = row["spread_bps"]
    depth = row["depth_100bps"]
    return np.array(
        [
            math.log(max(spread, 0.01)) if not math.isnan(spread) else math.nan,
            -math.log(depth + 0.01) if not math.isnan(depth) else math.nan,
            abs(row["imbalance_10"]),
            abs(row["ofi_norm"]),
            row["cancel_rate"],
        ],
        dtype=float,
    )


def robust_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and robust scale (1.4826 MAD; the standard deviation where the MAD is 0; 1 where both are)."""
    med = np.nanmedian(values, axis=0)
    mad = 1.4826 * np.nanmedian(np.abs(values - med), axis=0)
    sd = np.nanstd(values, axis=0)
    scale = np.where(mad > 1e-12, mad, np.where(sd > 1e-12, sd, 1.0))
    return med, scale


def stress_scores(comp: np.ndarray, med: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``S`` and z-scores of component rows ``comp[n, K]``."""
    z = np.clip((comp - med) / scale, -Z_CAP, Z_CAP)
    s = np.nanmean(np.clip(z, 0.0, None), axis=-1)
    return s, z


@dataclass(slots=True)
class Scored:
    """One interval's score."""

    row: dict[str, float]
    score: float
    z: dict[str, float]
    calibrating: bool
    threshold: float | None
    alert: bool

    def drivers(self, n: int = 2) -> list[str]:
        """The components that pushed the score most."""
        return [k for k, v in sorted(self.z.items(), key=lambda kv: -(kv[1] if kv[1] == kv[1] else -1e9))[:n] if v > 0]


@dataclass(slots=True)
class OnlineLiquidityStress:
    """Scores interval rows as they arrive; calibrates on the first ``calibration_s`` seconds only."""

    calibration_s: float = 3600.0
    quantile: float = 0.99
    _calib: list[np.ndarray] = field(default_factory=list)
    _t0: float | None = None
    med: np.ndarray | None = None
    scale: np.ndarray | None = None
    threshold: float | None = None

    def calibrated(self) -> bool:
        return self.threshold is not None

    def _freeze(self) -> None:
        comp = np.array(self._calib) if self._calib else np.full((1, len(COMPONENTS)), np.nan)
        self.med, self.scale = robust_stats(comp)
        s, _ = stress_scores(comp, self.med, self.scale)
        s = s[np.isfinite(s)]
        self.threshold = float(np.quantile(s, self.quantile)) if len(s) else math.inf

    def update(self, row: dict[str, float]) -> Scored:
        comp = components(row)
        if self._t0 is None:
            self._t0 = row["start_ms"]
        in_calibration = row["end_ms"] - self._t0 <= self.calibration_s * 1000.0
        if in_calibration and not self.calibrated():
            self._calib.append(comp)
            # provisional statistics from what has been seen so far (reported, never alerted on)
            med, scale = robust_stats(np.array(self._calib))
            s, z = stress_scores(comp, med, scale)
            return Scored(row, float(s), dict(zip(COMPONENTS, z.tolist(), strict=True)), True, None, False)
        if not self.calibrated():
            self._freeze()
        assert self.med is not None and self.scale is not None and self.threshold is not None
        s, z = stress_scores(comp, self.med, self.scale)
        score = float(s)
        return Scored(
            row,
            score,
            dict(zip(COMPONENTS, z.tolist(), strict=True)),
            False,
            self.threshold,
            bool(score > self.threshold),
        )


def score_frame_batch(frame: pd.DataFrame, calibration_s: float = 3600.0, quantile: float = 0.99) -> pd.DataFrame:
    """Batch scores of a feature frame with the same rule (vectorised; checked against the online scorer)."""
    records: list[dict[str, float]] = frame.to_dict("records")  # type: ignore[assignment]
    comp = np.array([components(r) for r in records]) if len(frame) else np.zeros((0, len(COMPONENTS)))
    t0 = frame["start_ms"].iloc[0] if len(frame) else 0.0
    calib = (frame["end_ms"] - t0 <= calibration_s * 1000.0).to_numpy()
    med, scale = robust_stats(comp[calib] if calib.any() else np.full((1, len(COMPONENTS)), np.nan))
    s, _ = stress_scores(comp, med, scale)
    cal_s = s[calib]
    cal_s = cal_s[np.isfinite(cal_s)]
    thr = float(np.quantile(cal_s, quantile)) if len(cal_s) else math.inf
    out = frame[["start_ms", "end_ms"]].copy()
    out["score"] = s
    out["calibrating"] = calib
    out["alert"] = (~calib) & (s > thr)
    out.attrs["threshold"] = thr
    return out


def row_summary(scored: Scored) -> dict[str, Any]:
    """JSON-friendly form of a scored interval."""
    r = scored.row
    return {
        "start": pd.Timestamp(int(r["start_ms"]), unit="ms", tz="UTC").isoformat(),
        "score": round(scored.score, 4),
        "alert": scored.alert,
        "calibrating": scored.calibrating,
        "drivers": scored.drivers(),
        "spread_bps": r["spread_bps"],
        "depth_100bps": r["depth_100bps"],
        "imbalance_10": r["imbalance_10"],
        "ofi": r["ofi"],
        "cancel_rate": r["cancel_rate"],
    }
