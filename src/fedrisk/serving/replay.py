"""``fedrisk stream replay``: stream recorded order events through the live feature and score path.

Events are read from the file one at a time (never loaded whole), pushed into :class:`BookFeatureEngine`, and
each closed interval is scored by :class:`OnlineLiquidityStress` at once; alerts are reported as they happen.
``speed`` replays at that multiple of real time (sleeping between events); by default events go as fast as the
code takes them, which is what the events-per-second figure measures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedrisk.serving.book_features import (
    FEATURES,
    BookFeatureEngine,
    OnlineLiquidityStress,
    Scored,
)
from fedrisk.serving.orderbook import Event, Snapshot, bitstamp_source, read_events


@dataclass(slots=True)
class ReplayReport:
    """What a replay measured."""

    source: str
    events: int = 0
    snapshots: int = 0
    intervals: int = 0
    alerts: int = 0
    first_ts: str = ""
    last_ts: str = ""
    wall_s: float = 0.0
    events_per_s: float = 0.0
    """End to end: reading and parsing the file, the book, features and scores."""
    process_events_per_s: float = 0.0
    """Book, features and scores only (time inside ``push`` and ``update``)."""
    push_p50_us: float = 0.0
    push_p99_us: float = 0.0
    push_max_us: float = 0.0
    threshold: float | None = None
    book: dict[str, Any] = field(default_factory=dict)
    alert_rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(ms: float) -> str:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def replay(
    source: Path,
    *,
    interval_s: float = 60.0,
    calibration_s: float = 3600.0,
    quantile: float = 0.99,
    seed_snapshot: bool = False,
    speed: float | None = None,
    max_events: int | None = None,
    on_interval: Callable[[Scored], None] | None = None,
    items: Iterable[Event | Snapshot] | None = None,
) -> tuple[ReplayReport, list[Scored]]:
    """Replay ``source`` (a Bitstamp folder or event file, or a LOBSTER message file) through the live path."""
    path = bitstamp_source(Path(source)) if items is None else Path(source)
    stream = items if items is not None else read_events(path)
    engine = BookFeatureEngine(round(interval_s * 1000), seed_snapshot=seed_snapshot)
    scorer = OnlineLiquidityStress(calibration_s=calibration_s, quantile=quantile)
    report = ReplayReport(source=path.name)
    scored: list[Scored] = []
    lat = np.empty(1 << 16, dtype=np.float64)
    n_lat = 0
    busy = 0.0
    first_ts: int | None = None
    last_ts = 0
    wall0 = time.perf_counter()
    clock = time.perf_counter

    def handle(rows: list[dict[str, float]]) -> float:
        spent = 0.0
        for row in rows:
            t = clock()
            s = scorer.update(row)
            spent += clock() - t
            scored.append(s)
            if on_interval is not None:
                on_interval(s)
        return spent

    for n, item in enumerate(stream):
        if max_events is not None and n >= max_events:
            break
        ts = item.ts_ms
        if first_ts is None:
            first_ts = ts
        last_ts = ts
        if speed:
            due = wall0 + (ts - first_ts) / 1000.0 / speed
            delay = due - clock()
            if delay > 0:
                time.sleep(delay)
        t = clock()
        rows = engine.push(item)
        dt = clock() - t
        if n_lat == len(lat):
            lat = np.concatenate([lat, np.empty_like(lat)])
        lat[n_lat] = dt
        n_lat += 1
        busy += dt
        if rows:
            busy += handle(rows)
    busy += handle(engine.close())
    wall = clock() - wall0
    n_items = engine.events + engine.snapshots
    lat_us = lat[:n_lat] * 1e6
    st = engine.book.stats
    report.events, report.snapshots = engine.events, engine.snapshots
    report.intervals = len(scored)
    report.alerts = sum(s.alert for s in scored)
    report.first_ts, report.last_ts = (_iso(first_ts), _iso(last_ts)) if first_ts is not None else ("", "")
    report.wall_s = round(wall, 3)
    report.events_per_s = round(n_items / wall, 1) if wall > 0 else 0.0
    report.process_events_per_s = round(n_items / busy, 1) if busy > 0 else 0.0
    if n_lat:
        report.push_p50_us = round(float(np.percentile(lat_us, 50)), 2)
        report.push_p99_us = round(float(np.percentile(lat_us, 99)), 2)
        report.push_max_us = round(float(lat_us.max()), 1)
    report.threshold = scorer.threshold
    report.book = {
        "open_orders_at_end": len(engine.book.orders),
        "unknown_deletes": st.unknown_deletes,
        "unknown_changes": st.unknown_changes,
        "stale_orders_purged": st.purged_orders,
        "seeded_levels": st.seeded_levels,
        "snapshots_compared": st.snapshots_compared,
        "top_of_book_agreement": round(st.top_matches / st.snapshots_compared, 4) if st.snapshots_compared else None,
        "top5_agreement": round(st.top5_matches / st.snapshots_compared, 4) if st.snapshots_compared else None,
    }
    report.alert_rows = [alert_line(s) for s in scored if s.alert]
    return report, scored


def alert_line(s: Scored) -> dict[str, Any]:
    r = s.row
    return {
        "start": _iso(r["start_ms"]),
        "score": round(s.score, 3),
        "threshold": round(s.threshold, 3) if s.threshold is not None else None,
        "drivers": s.drivers(),
        "spread_bps": round(r["spread_bps"], 2),
        "depth_100bps": round(r["depth_100bps"], 2),
        "imbalance_10": round(r["imbalance_10"], 3),
        "ofi_btc": round(r["ofi"], 2),
        "cancel_rate": round(r["cancel_rate"], 3),
    }


def scored_frame(scored: list[Scored]) -> pd.DataFrame:
    """Features, score and alert of every interval (for ``--out``)."""
    rows = []
    for s in scored:
        row = {"start_utc": _iso(s.row["start_ms"]), **{k: s.row[k] for k in ("start_ms", "end_ms", *FEATURES)}}
        row.update({"score": s.score, "calibrating": s.calibrating, "alert": s.alert})
        row.update({f"z_{k}": v for k, v in s.z.items()})
        rows.append(row)
    return pd.DataFrame(rows)
