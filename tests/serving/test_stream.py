"""Order-book reconstruction, interval features (live = batch), the online score, and the real Bitstamp replay."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedrisk.serving.book_features import (
    COMPONENTS,
    FEATURES,
    BookFeatureEngine,
    OnlineLiquidityStress,
    features_frame,
    score_frame_batch,
)
from fedrisk.serving.orderbook import (
    ASK,
    BID,
    CHANGED,
    CREATED,
    CROSS_TOLERANCE_MS,
    DELETED,
    SATOSHI,
    TRADE,
    Event,
    OrderBook,
    Snapshot,
    parse_bitstamp_line,
    read_events,
)
from fedrisk.serving.replay import replay

BITSTAMP = "bitstamp-btcusd-orderbook-events-2015-05-01"
LOBSTER = "lobster-aapl-2012-06-21-l10-first998"


def synthetic_events(n: int = 6000, seed: int = 0) -> list[Event]:
    """A random but well-formed order flow around a drifting mid (prices in cents, volumes in satoshi)."""
    rng = np.random.default_rng(seed)
    events: list[Event] = []
    live: dict[int, tuple[int, int, int]] = {}
    ts, mid, next_id = 1_430_438_400_000, 23_500, 1
    for _ in range(n):
        ts += int(rng.exponential(300))
        mid += int(rng.integers(-1, 2))
        r = rng.random()
        if r < 0.5 or len(live) < 20:
            side = BID if rng.random() < 0.5 else ASK
            price = mid - 1 - int(rng.integers(0, 40)) if side == BID else mid + 1 + int(rng.integers(0, 40))
            vol = int(rng.integers(1, 50)) * SATOSHI // 10
            live[next_id] = (side, price, vol)
            events.append(Event(ts, CREATED, next_id, side, price, vol))
            next_id += 1
        elif r < 0.85:
            oid = int(rng.choice(list(live)))
            side, price, vol = live.pop(oid)
            events.append(Event(ts, DELETED, oid, side, price, vol if rng.random() < 0.8 else 0))
        elif r < 0.95:
            oid = int(rng.choice(list(live)))
            side, price, vol = live[oid]
            vol = max(vol // 2, 1)
            live[oid] = (side, price, vol)
            events.append(Event(ts, CHANGED, oid, side, price, vol))
        else:
            events.append(Event(ts, TRADE, 0, -1, mid, int(rng.integers(1, 10)) * SATOSHI // 100))
    return events


# -- the book --------------------------------------------------------------------------------------------------


def test_book_create_change_delete() -> None:
    book = OrderBook()
    book.apply(Event(0, CREATED, 1, BID, 100, 5))
    book.apply(Event(1, CREATED, 2, BID, 101, 3))
    book.apply(Event(2, CREATED, 3, ASK, 103, 4))
    book.apply(Event(3, CREATED, 4, BID, 101, 2))
    assert book.best() == (101, 5, 103, 4)
    book.apply(Event(4, CHANGED, 2, BID, 101, 1))  # partial fill
    assert book.best() == (101, 3, 103, 4)
    book.apply(Event(5, CHANGED, 4, BID, 99, 2))  # repriced
    assert book.best() == (101, 1, 103, 4) and book.sides[BID].top(3) == [(101, 1), (100, 5), (99, 2)]
    book.apply(Event(6, DELETED, 2, BID, 101, 0))
    assert book.best() == (100, 5, 103, 4)
    book.apply(Event(7, DELETED, 999, ASK, 103, 4))  # an order from before the recording: counted, ignored
    assert book.stats.unknown_deletes == 1 and book.best()[2] == 103


def test_a_lasting_cross_purges_the_stale_side() -> None:
    book = OrderBook()
    book.apply(Event(0, CREATED, 1, BID, 110, 5))  # its deletion will be "missed"
    book.apply(Event(1000, CREATED, 2, ASK, 105, 3))
    book.apply(Event(1000 + CROSS_TOLERANCE_MS // 2, CREATED, 3, ASK, 106, 1))
    assert book.crossed()  # a fill may still be on its way
    book.apply(Event(1000 + 2 * CROSS_TOLERANCE_MS, CREATED, 4, BID, 100, 1))
    assert not book.crossed() and book.best() == (100, 1, 105, 3) and book.stats.purged_orders == 1


def test_seed_and_agreement() -> None:
    book = OrderBook()
    snap = Snapshot(0, ((100, 7), (99, 2)), ((102, 4),))
    book.seed(snap)
    assert book.best() == (100, 7, 102, 4)
    book.apply(Event(1, DELETED, 77, BID, 100, 3))  # unknown order at a seeded level consumes anonymous volume
    assert book.best()[:2] == (100, 4)
    assert book.agreement(Snapshot(2, ((100, 4), (99, 2)), ((102, 4),))) == (True, True)


def test_parse_bitstamp_lines() -> None:
    ev = parse_bitstamp_line(
        '1430438404518 order_created {"price": "236.47", "amount": "2.00000000", '
        '"datetime": "1430438404", "id": 65595247, "order_type": 0}'
    )
    assert ev == Event(1430438404518, CREATED, 65595247, BID, 23647, 2 * SATOSHI)
    tr = parse_bitstamp_line('1430438404645 trade {"price": 236.47, "amount": 0.21144331, "id": 8111041}')
    assert tr == Event(1430438404645, TRADE, 8111041, -1, 23647, 21144331)
    snap = parse_bitstamp_line('1 order_book {"bids": [["1.00", "2.0"]], "asks": [["1.01", "0.5"]]}')
    assert isinstance(snap, Snapshot) and snap.bids == ((100, 2 * SATOSHI),)
    from fedrisk.errors import DataValidationError

    with pytest.raises(DataValidationError, match="cannot read"):
        parse_bitstamp_line('1 order_created {"price": "x"}', "f:1")


# -- live = batch ------------------------------------------------------------------------------------------------


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    np.testing.assert_array_equal(a.to_numpy(dtype=float), b.to_numpy(dtype=float))  # NaN == NaN here


@pytest.mark.parametrize("interval_ms", [5_000, 60_000])
def test_live_event_by_event_equals_batch(interval_ms: int) -> None:
    events = synthetic_events()
    batch = features_frame(events, interval_ms)
    assert len(batch) > 10 and list(batch.columns[2:]) == list(FEATURES)
    engine = BookFeatureEngine(interval_ms)
    rows: list[dict[str, float]] = []
    rng = np.random.default_rng(1)
    i = 0
    while i < len(events):  # arrival in irregular bursts, as from a socket
        k = int(rng.integers(1, 50))
        for ev in events[i : i + k]:
            rows.extend(engine.push(ev))
        i += k
    rows.extend(engine.close())
    _same(pd.DataFrame(rows, columns=batch.columns), batch)


def test_features_against_an_independent_count() -> None:
    events = synthetic_events()
    batch = features_frame(events, 10_000)
    frame = pd.DataFrame(events, columns=["ts_ms", "kind", "order_id", "side", "price", "volume"])
    frame["bucket"] = frame["ts_ms"] // 10_000 * 10_000
    grouped = frame.groupby("bucket")
    created = grouped.apply(lambda g: (g["kind"] == CREATED).sum(), include_groups=False)
    cancelled = grouped.apply(lambda g: ((g["kind"] == DELETED) & (g["volume"] > 0)).sum(), include_groups=False)
    trade_vol = grouped.apply(lambda g: g.loc[g["kind"] == TRADE, "volume"].sum() / SATOSHI, include_groups=False)
    got = batch.set_index("start_ms")
    for bucket in created.index:
        assert got.loc[bucket, "created"] == created[bucket]
        assert got.loc[bucket, "cancelled"] == cancelled[bucket]
        assert got.loc[bucket, "trade_volume"] == pytest.approx(trade_vol[bucket])
    # state features against a book rebuilt independently up to each interval's end
    book = OrderBook()
    ends = iter(batch["end_ms"].tolist())
    end = next(ends)
    checked = 0
    for ev in events:
        while ev.ts_ms >= end:
            row = batch[batch["end_ms"] == end].iloc[0]
            b, bq, a, _aq = book.best()
            assert row["spread"] == pytest.approx((a - b) / 100) and row["bid_depth_1"] == bq / SATOSHI
            bids = book.sides[BID].top(5)
            assert row["bid_depth_5"] == pytest.approx(sum(v for _, v in bids) / SATOSHI)
            checked += 1
            end = next(ends)
        book.apply(ev)
    assert checked > 10


def test_online_score_equals_batch_score_after_calibration() -> None:
    events = synthetic_events(8000, seed=4)
    frame = features_frame(events, 5_000)
    online = OnlineLiquidityStress(calibration_s=600.0, quantile=0.95)
    scored = [online.update(r) for r in frame.to_dict("records")]
    batch = score_frame_batch(frame, calibration_s=600.0, quantile=0.95)
    live = np.array([s.score for s in scored])
    post = ~batch["calibrating"].to_numpy()
    assert post.sum() > 10 and (~post).sum() > 10
    np.testing.assert_allclose(live[post], batch["score"].to_numpy()[post], rtol=1e-12)
    assert [s.alert for s in scored] == batch["alert"].tolist()
    assert online.threshold == pytest.approx(batch.attrs["threshold"])
    assert not any(s.alert for s in scored if s.calibrating)
    assert set(scored[-1].z) == set(COMPONENTS)


def test_calibration_uses_only_the_first_part() -> None:
    events = synthetic_events(8000, seed=5)
    frame = features_frame(events, 5_000)
    cut = 600.0
    a = score_frame_batch(frame, calibration_s=cut)
    changed = frame.copy()
    late = (changed["end_ms"] - changed["start_ms"].iloc[0]) > cut * 1000
    changed.loc[late, "spread_bps"] *= 50  # the future must not move the threshold
    b = score_frame_batch(changed, calibration_s=cut)
    assert a.attrs["threshold"] == b.attrs["threshold"]
    assert b.loc[late, "alert"].sum() >= a.loc[late, "alert"].sum()


def test_replay_on_synthetic_items(tmp_path: Path) -> None:
    events = synthetic_events()
    report, scored = replay(tmp_path / "synthetic", interval_s=5.0, calibration_s=60.0, items=iter(events))
    assert report.events == len(events) and report.intervals == len(scored) > 10
    assert report.process_events_per_s > 0 and report.push_p99_us > 0
    batch = features_frame(events, 5_000)
    _same(pd.DataFrame([s.row for s in scored], columns=batch.columns), batch)


# -- the real data -------------------------------------------------------------------------------------------------


@pytest.fixture
def bitstamp_dir(shared_data_dir: Path) -> Path:
    path = shared_data_dir / BITSTAMP
    if not path.is_dir():
        pytest.skip(f"{path} is not available")
    return path


@pytest.mark.data
def test_real_bitstamp_replay(bitstamp_dir: Path) -> None:
    report, scored = replay(bitstamp_dir, interval_s=60.0)
    # counts of SOURCE.md: 24,894 created + 24,918 deleted + 602 changed + 575 trades; 5,011 snapshots
    assert report.events == 24_894 + 24_918 + 602 + 575 and report.snapshots == 5_011
    assert report.first_ts == "2015-05-01T00:00:04Z" and report.last_ts == "2015-05-01T05:04:42Z"
    assert report.intervals == 305
    assert report.book["top_of_book_agreement"] > 0.97 and report.book["top5_agreement"] > 0.9
    post = [s for s in scored if not s.calibrating]
    assert len(post) == 305 - 60 and report.alerts == sum(s.alert for s in post)
    assert report.threshold is not None and math.isfinite(report.threshold)
    spreads = [s.row["spread_bps"] for s in scored]
    assert 0 < np.nanmedian(spreads) < 50  # BTC/USD in 2015: a few bps


@pytest.mark.data
def test_real_bitstamp_flow_counts_match_orders_csv(bitstamp_dir: Path) -> None:
    log_events = [e for e in read_events(bitstamp_dir / "2015-05-01.log.xz") if isinstance(e, Event)]
    csv_events = list(read_events(bitstamp_dir / "orders.csv.xz"))
    orders_only = [e for e in log_events if e.kind != TRADE]
    # Two encodings of the same feed agree; orders.csv's satoshi were truncated from floats (off by <= 1).
    assert [e[:5] for e in orders_only] == [e[:5] for e in csv_events]
    assert max(abs(a.volume - b.volume) for a, b in zip(orders_only, csv_events, strict=True)) <= 1
    live = features_frame(log_events, 60_000)
    orders = pd.read_csv(bitstamp_dir / "orders.csv.xz")
    orders["bucket"] = orders["timestamp"] // 60_000 * 60_000
    cancels = orders[(orders["action"] == "deleted") & (orders["volume"] > 0)].groupby("bucket").size()
    creates = orders[orders["action"] == "created"].groupby("bucket").size()
    got = live.set_index("start_ms")
    assert (got.loc[creates.index, "created"].to_numpy() == creates.to_numpy()).all()
    assert (got.loc[cancels.index, "cancelled"].to_numpy() == cancels.to_numpy()).all()


@pytest.mark.data
def test_lobster_fixture_parses(bitstamp_dir: Path) -> None:
    folder = bitstamp_dir.parent / LOBSTER
    message = next(folder.glob("*_message_10.csv"))
    events = list(read_events(message))
    assert len(events) >= 998
    frame = features_frame(events, 1_000)
    assert len(frame) > 0 and frame["created"].sum() > 0


@pytest.mark.data
def test_stream_replay_cli(bitstamp_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.csv"
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fedrisk.cli.app",
            "stream",
            "replay",
            "--events",
            str(bitstamp_dir),
            "--interval",
            "60",
            "--out",
            str(out),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "events/s" in res.stderr and "top of book agrees" in res.stderr
    frame = pd.read_csv(out)
    assert len(frame) == 305 and {"score", "alert", "spread_bps", "ofi", "cancel_rate"} <= set(frame.columns)


def test_replay_at_a_multiple_of_real_time(tmp_path: Path) -> None:
    events = synthetic_events(400)
    span_s = (events[-1].ts_ms - events[0].ts_ms) / 1000.0
    t0 = time.perf_counter()
    report, _ = replay(
        tmp_path / "synthetic", interval_s=5.0, calibration_s=30.0, items=iter(events), speed=span_s / 0.3
    )
    assert time.perf_counter() - t0 >= 0.25  # paced: about 0.3 s of wall time for the whole span
    assert report.events == len(events)
