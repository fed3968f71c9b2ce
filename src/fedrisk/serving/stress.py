"""``/v1/stress/score``: from a request to scores, with the scoring math of ``fedrisk stress score``.

Two inputs per venue (an *item*):

* **feature rows** (the fast path): the model's hourly features per asset and hour, as the batch pipeline
  computes them. They are stacked into the venue's panel exactly as :func:`fedrisk.features.panel.build_panel`
  does (a full hourly grid from the first to the last hour, the fixed asset universe, missing = NaN) and
  scored by :class:`fedrisk.serving.inference.StressScorer`.
* **raw hourly bars**: turned into a tidy frame and scored by :func:`fedrisk.jobs.scoring.score_frame` itself
  (features, labels-free panel, model), so the service and ``fedrisk stress score`` cannot disagree.

Every hour with a full ``W``-hour window is scored; a score is returned where the asset is observed at that
hour (``latest_only`` keeps the last hour). With at least 3 venues in one request the stress index
(``100 x`` mean score over venues, withheld below 3) is returned too, as ``score_frame`` computes it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from fedrisk.evaluation.early_warning import stress_index
from fedrisk.features.panel import ASSETS
from fedrisk.features.stress import THRESHOLD_MIN_OBS
from fedrisk.serving.errors import NotFound, PayloadTooLarge, Unprocessable
from fedrisk.serving.inference import StressScorer, VenueInputs
from fedrisk.serving.schemas import MAX_HOURS, MAX_ITEMS, MAX_ROWS, StressScoreBatch, StressScoreItem

_ASSET_POS = {a: i for i, a in enumerate(ASSETS)}
_ASSET_NAMES = np.asarray(ASSETS, dtype=object)
_EPOCH_HOUR = 3600


def _hour(ts: datetime, where: str) -> int:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    if ts.minute or ts.second or ts.microsecond:
        raise Unprocessable(f"{where}.ts_utc {ts.isoformat()} is not on the hour; send hour starts (HH:00:00)")
    return int(ts.timestamp()) // _EPOCH_HOUR


def _iso(hour: int) -> str:
    return datetime.fromtimestamp(hour * _EPOCH_HOUR, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _asset(name: str, where: str) -> int:
    pos = _ASSET_POS.get(name.upper())
    if pos is None:
        raise Unprocessable(f"{where}.asset '{name}' is not in the model's universe {list(ASSETS)}")
    return pos


def count_rows(payload: StressScoreItem | StressScoreBatch) -> int:
    """Rows and bars in a request (for the size limits and the metrics)."""
    items = payload.items if isinstance(payload, StressScoreBatch) else [payload]
    return sum(
        len(i.rows or ()) + len(i.bars or ()) + (len(i.matrix.values) * len(i.matrix.assets) if i.matrix else 0)
        for i in items
    )


def check_limits(payload: StressScoreItem | StressScoreBatch) -> None:
    """Oversize batches are refused with a message saying the limit."""
    if isinstance(payload, StressScoreBatch) and len(payload.items) > MAX_ITEMS:
        raise PayloadTooLarge(f"{len(payload.items)} items in one batch; the limit is {MAX_ITEMS}. Split the batch.")
    n = count_rows(payload)
    if n > MAX_ROWS:
        raise PayloadTooLarge(f"{n} rows/bars in one request; the limit is {MAX_ROWS}. Split the request.")


class Scores:
    """Scores of one item: parallel arrays (hour since the epoch, asset, score, alarm)."""

    __slots__ = ("alarm", "asset", "hour", "score")

    def __init__(self, hour: np.ndarray, asset: np.ndarray, score: np.ndarray, alarm: np.ndarray) -> None:
        self.hour, self.asset, self.score, self.alarm = hour, asset, score, alarm

    def __len__(self) -> int:
        return len(self.hour)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"hour": self.hour, "asset": self.asset, "score": self.score, "alarm": self.alarm})


class FeaturePanel:
    """A venue's panel built from feature rows: hours ``h0 .. h0+T-1``, ``X[T, A, F]``, ``observed[T, A]``."""

    __slots__ = ("h0", "observed", "x")

    def __init__(self, h0: int, x: np.ndarray, observed: np.ndarray) -> None:
        self.h0, self.x, self.observed = h0, x, observed


def feature_panel(item: StressScoreItem, features: tuple[str, ...], where: str) -> FeaturePanel:
    """Stack feature rows as ``build_panel`` does; every problem raises a 422 that names the row."""
    rows = item.rows or []
    n_f = len(features)
    hour_of: dict[datetime, int] = {}
    hours_l: list[int] = []
    assets_l: list[int] = []
    observed_l: list[bool] = []
    values: list[Any] = []
    fset = set(features)
    getter = itemgetter(*features)
    for i, row in enumerate(rows):
        ts = row.ts_utc
        h = hour_of.get(ts)
        if h is None:
            h = hour_of[ts] = _hour(ts, f"{where}rows[{i}]")
        hours_l.append(h)
        pos = _ASSET_POS.get(row.asset)
        assets_l.append(pos if pos is not None else _asset(row.asset, f"{where}rows[{i}]"))
        observed_l.append(row.observed)
        f = row.features
        if isinstance(f, dict):
            if f.keys() != fset:
                missing = sorted(fset - f.keys())
                unknown = sorted(f.keys() - fset)
                parts = []
                if missing:
                    parts.append(f"missing {missing[:8]}{' ...' if len(missing) > 8 else ''}")
                if unknown:
                    parts.append(f"unknown {unknown[:8]}{' ...' if len(unknown) > 8 else ''}")
                raise Unprocessable(
                    f"{where}rows[{i}].features: {'; '.join(parts)}. The model takes exactly these {n_f} features "
                    "(GET /v1/models): send each of them, null where a value is missing"
                )
            values.append(getter(f) if n_f > 1 else (getter(f),))
        else:
            if len(f) != n_f:
                raise Unprocessable(
                    f"{where}rows[{i}].features has {len(f)} values; the model takes {n_f}, in the order of "
                    "GET /v1/models (or send an object {name: value})"
                )
            values.append(f)
    hours = np.array(hours_l, dtype=np.int64)
    assets = np.array(assets_l, dtype=np.int64)
    observed = np.array(observed_l, dtype=bool)
    if not rows:
        raise Unprocessable(f"{where}rows is empty; send at least one window of hours")
    h0 = int(hours.min())
    n_t = int(hours.max()) - h0 + 1
    if n_t > MAX_HOURS:
        raise PayloadTooLarge(f"{where}rows span {n_t} hours; the limit is {MAX_HOURS} per item. Split the request")
    cell = (hours - h0) * len(ASSETS) + assets
    if len(np.unique(cell)) != len(cell):
        _, first = np.unique(cell, return_index=True)
        dup = sorted(set(range(len(cell))) - set(first.tolist()))[0]
        raise Unprocessable(f"{where}rows[{dup}] repeats an (asset, hour) already sent; send each once")
    x = np.full((n_t, len(ASSETS), n_f), np.nan, dtype=np.float32)
    obs = np.zeros((n_t, len(ASSETS)), dtype=bool)
    x[hours - h0, assets] = np.asarray(values, dtype=np.float32)
    obs[hours - h0, assets] = observed
    return FeaturePanel(h0, x, obs)


def matrix_panel(item: StressScoreItem, n_f: int, where: str) -> FeaturePanel:
    """The panel of a feature matrix; shape problems raise a 422 that says the expected shape."""
    m = item.matrix
    assert m is not None
    pos = [_asset(a, f"{where}matrix.assets[{k}]") for k, a in enumerate(m.assets)]
    if len(set(pos)) != len(pos):
        raise Unprocessable(f"{where}matrix.assets {m.assets} repeats an asset; list each once")
    n_t, n_a = len(m.values), len(pos)
    if n_t > MAX_HOURS:
        raise PayloadTooLarge(f"{where}matrix spans {n_t} hours; the limit is {MAX_HOURS} per item. Split the request")
    expected = f"[hours][{n_a} assets][{n_f} features]"
    try:
        arr = np.array(m.values, dtype=np.float32)
    except ValueError as err:
        raise Unprocessable(f"{where}matrix.values is ragged; it must be {expected}") from err
    if arr.shape != (n_t, n_a, n_f):
        raise Unprocessable(f"{where}matrix.values has shape {list(arr.shape)}; it must be {expected}")
    obs_given = np.ones((n_t, n_a), dtype=bool)
    if m.observed is not None:
        try:
            obs_given = np.array(m.observed, dtype=bool)
        except ValueError as err:
            raise Unprocessable(f"{where}matrix.observed is ragged; it must be [hours][{n_a} assets]") from err
        if obs_given.shape != (n_t, n_a):
            raise Unprocessable(
                f"{where}matrix.observed has shape {list(obs_given.shape)}; it must be [{n_t} hours][{n_a} assets]"
            )
    x = np.full((n_t, len(ASSETS), n_f), np.nan, dtype=np.float32)
    obs = np.zeros((n_t, len(ASSETS)), dtype=bool)
    x[:, pos] = arr
    obs[:, pos] = obs_given
    return FeaturePanel(_hour(m.start_utc, f"{where}matrix.start_utc"), x, obs)


def _tidy_from_bars(item: StressScoreItem, where: str) -> tuple[pd.DataFrame, list[str]]:
    bars = item.bars or []
    if not bars:
        raise Unprocessable(f"{where}bars is empty; send hourly bars (744+ hours per asset for the 30-day features)")
    hours = [_hour(b.ts_utc, f"{where}bars[{i}]") for i, b in enumerate(bars)]
    assets = [ASSETS[_asset(b.asset, f"{where}bars[{i}]")] for i, b in enumerate(bars)]
    seen: set[tuple[int, str]] = set()
    for i, key in enumerate(zip(hours, assets, strict=True)):
        if key in seen:
            raise Unprocessable(f"{where}bars[{i}] repeats an (asset, hour) already sent; send each once")
        seen.add(key)
    span = max(hours) - min(hours) + 1
    if span > MAX_HOURS:
        raise PayloadTooLarge(f"{where}bars span {span} hours; the limit is {MAX_HOURS} per item. Split the request")
    for i, b in enumerate(bars):
        if b.high < b.low:
            raise Unprocessable(f"{where}bars[{i}]: high {b.high} is below low {b.low}")
    close = np.array([b.close for b in bars])
    vb = np.array([b.volume_base for b in bars])
    vq = np.array([np.nan if b.volume_quote is None else b.volume_quote for b in bars])
    vq = np.where(np.isfinite(vq), vq, vb * close)
    tidy = pd.DataFrame(
        {
            "venue": item.venue,
            "base": assets,
            "quote": [b.quote for b in bars],
            "ts_utc": pd.to_datetime(np.array(hours, dtype=np.int64) * _EPOCH_HOUR, unit="s", utc=True),
            "open": [b.open for b in bars],
            "high": [b.high for b in bars],
            "low": [b.low for b in bars],
            "close": close,
            "volume_base": vb,
            "volume_quote": vq,
        }
    )
    tidy["stale"] = tidy["volume_base"] <= 0
    tidy = tidy.sort_values(["base", "ts_utc"], kind="stable").reset_index(drop=True)
    warnings = []
    for asset, n in tidy.groupby("base").size().items():
        if n < THRESHOLD_MIN_OBS + 24:
            warnings.append(
                f"{asset}: {n} hourly bars; the features relative to the trailing 30 days need {THRESHOLD_MIN_OBS}+ "
                "hours and are missing (scored as average) until then. Send 744+ hours for full features"
            )
    return tidy, warnings


def score_item(
    scorer: StressScorer, item: StressScoreItem, *, where: str = ""
) -> tuple[VenueInputs, Scores, list[str]]:
    """Scores of one item: ``(venue inputs, scores, warnings)``."""
    venue = scorer.venue(item.venue)
    if sum(x is not None for x in (item.rows, item.matrix, item.bars)) != 1:
        raise Unprocessable(
            f"{where or 'the item'}: send exactly one of 'rows' or 'matrix' (model features) or 'bars' (hourly OHLCV)"
        )
    if item.rows is not None or item.matrix is not None:
        panel = (
            feature_panel(item, scorer.features, where)
            if item.rows is not None
            else matrix_panel(item, len(scorer.features), where)
        )
        n_t = panel.x.shape[0]
        w = scorer.window
        if n_t < w:
            raise Unprocessable(
                f"{where}{'rows' if item.rows is not None else 'matrix'} cover(s) {n_t} hour(s); the model needs "
                f"a {w}-hour window: send the last {w} hours (or more) of each asset"
            )
        probs = scorer.probabilities(venue, panel.x)  # [T-W+1, A]
        obs = panel.observed[w - 1 :]
        if item.latest_only:
            probs, obs = probs[-1:], obs[-1:]
            first = panel.h0 + n_t - 1
        else:
            first = panel.h0 + w - 1
        t_idx, a_idx = np.nonzero(obs)
        p = probs[t_idx, a_idx].astype(np.float64)
        return venue, Scores(first + t_idx, _ASSET_NAMES[a_idx], p, p > venue.threshold), []
    tidy, warnings = _tidy_from_bars(item, where)
    from fedrisk.jobs.scoring import score_frame  # the batch pipeline, imported on the first raw-bar request

    scored = score_frame(scorer.saved, tidy)
    scored = scored[scored["venue"] != "INDEX"]
    hours = scored["ts_utc"].astype("int64").to_numpy() // 1_000_000_000 // _EPOCH_HOUR
    out = Scores(
        hours,
        scored["asset"].to_numpy(dtype=object),
        scored["score"].to_numpy(dtype=np.float64),
        scored["alarm"].to_numpy(dtype=bool),
    )
    if item.latest_only and len(out):
        keep = out.hour == out.hour.max()
        out = Scores(out.hour[keep], out.asset[keep], out.score[keep], out.alarm[keep])
    return venue, out, warnings


def _scores_json(scores: Scores) -> list[dict[str, Any]]:
    hours = scores.hour.tolist()
    iso = {h: _iso(h) for h in set(hours)}
    return [
        {"ts_utc": iso[h], "asset": a, "score": s, "alarm": al}
        for h, a, s, al in zip(hours, scores.asset.tolist(), scores.score.tolist(), scores.alarm.tolist(), strict=True)
    ]


def index_points(frames: list[tuple[str, Scores]], threshold: float | None) -> list[dict[str, Any]]:
    """The stress index over the request's venues, as ``score_frame`` computes its INDEX rows."""
    if len({v for v, _ in frames}) < 3:
        return []
    scores = pd.concat([f.frame().assign(member=v) for v, f in frames], ignore_index=True).rename(
        columns={"hour": "ts_utc"}
    )
    index = stress_index(scores[["ts_utc", "member", "asset", "score"]]).dropna(subset=["index"])
    return [
        {
            "ts_utc": _iso(int(h)),
            "asset": a,
            "index": float(ix),
            "members": int(m),
            "alarm": bool(ix > threshold) if threshold is not None else None,
        }
        for h, a, ix, m in zip(index["ts_utc"], index["asset"], index["index"], index["members"], strict=True)
    ]


def score_request(scorer: StressScorer, payload: StressScoreItem | StressScoreBatch) -> dict[str, Any]:
    """The response body of ``POST /v1/stress/score``."""
    t0 = time.perf_counter()
    check_limits(payload)
    sha = scorer.saved.weights_sha256
    batch = isinstance(payload, StressScoreBatch)
    items = payload.items if isinstance(payload, StressScoreBatch) else [payload]
    for pinned in {payload.model_sha256, *(i.model_sha256 for i in items)} - {None}:
        if pinned != sha:
            raise NotFound(f"unknown model {pinned}: this service has stress model {sha} (GET /v1/models)")
    if batch:
        venues = [i.venue for i in items]
        dup = next((v for v in venues if venues.count(v) > 1), None)
        if dup is not None:
            raise Unprocessable(f"venue '{dup}' appears in more than one item; send each venue's hours in one item")
    results = []
    frames = []
    for k, item in enumerate(items):
        if batch and payload.latest_only:  # type: ignore[union-attr]
            item = item.model_copy(update={"latest_only": True})
        where = f"items[{k}]." if batch else ""
        venue, frame, warnings = score_item(scorer, item, where=where)
        frames.append((item.venue, frame))
        results.append(
            {
                "venue": item.venue,
                "normalisation": "member" if venue.is_member else "pooled",
                "alarm_threshold": venue.threshold,
                "scores": _scores_json(frame),
                "warnings": warnings,
            }
        )
    index = index_points(frames, scorer.saved.index_alarm_threshold)
    return {
        "model_sha256": sha,
        "items": results,
        "index": index,
        "elapsed_ms": round((time.perf_counter() - t0) * 1000.0, 3),
    }
