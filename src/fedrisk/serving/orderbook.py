"""Order-book reconstruction from real order events (Bitstamp's public feed; LOBSTER files as a parser fixture).

Events are plain tuples ``(ts_ms, kind, order_id, side, price, volume)`` with integer prices in ticks
(cents) and integer volumes (satoshi for Bitstamp, shares for LOBSTER), so books rebuilt two ways agree
exactly. Kinds: :data:`CREATED`, :data:`CHANGED` (remaining volume after a partial fill, sometimes a new price),
:data:`DELETED` (remaining volume > 0: a cancellation; 0: filled), :data:`TRADE`; snapshots of the exchange's
top 20 levels travel as :class:`Snapshot`.

**What the book knows.** The recording starts mid-session: orders resting before its first event are
unknown. :class:`OrderBook` can be *seeded* with the first exchange snapshot: those levels' volume is held as
anonymous volume, which deletions and changes of unknown orders at that price then consume. Orders that
rested deeper than the snapshot's 20 levels before the recording started, and were not touched during it,
stay unknown; they sit far from the touch (the features use the top 10 levels and bands of 25 and 100 bps
around the mid).

**Missed events.** The public feed drops some events (a deletion that never arrives leaves a stale order; a
creation that never arrives leaves a hole). A stale order shows itself when the book stays *crossed*: a real
matching engine never rests a bid at or above an ask. When the book has been crossed for
:data:`CROSS_TOLERANCE_MS` of event time, the crossing orders of the side that rested there longer are
dropped (and counted in :class:`BookStats`). :meth:`OrderBook.agreement` compares the rebuilt book with each
exchange snapshot; the replay reports how often the two agree.
"""

from __future__ import annotations

import bisect
import json
import lzma
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

from fedrisk.errors import DataNotFoundError, DataValidationError

CREATED, CHANGED, DELETED, TRADE = 0, 1, 2, 3
KIND_NAMES = {CREATED: "created", CHANGED: "changed", DELETED: "deleted", TRADE: "trade"}
BID, ASK = 0, 1
SATOSHI = 100_000_000
TICKS = 100  # prices in cents
CROSS_TOLERANCE_MS = 1_000
"""A cross lasting longer than this (event time) is taken as a stale order, not as a fill in progress."""


class Event(NamedTuple):
    """One order event or trade."""

    ts_ms: int
    kind: int
    order_id: int
    side: int
    price: int
    volume: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The exchange's own top-of-book levels at ``ts_ms`` (validation and seeding only)."""

    ts_ms: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


def _ticks(text: str | float) -> int:
    return round(float(text) * TICKS)


def _units(text: str | float) -> int:
    return round(float(text) * SATOSHI)


_LOG_KINDS = {"order_created": CREATED, "order_changed": CHANGED, "order_deleted": DELETED}
BITSTAMP_LOG = "2015-05-01.log.xz"
BITSTAMP_ORDERS = "orders.csv.xz"


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".xz":
        return lzma.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def parse_bitstamp_line(line: str, where: str = "") -> Event | Snapshot | None:
    """One line ``<ms> <event> <json>`` of the raw Bitstamp feed; ``None`` for an event type not used here."""
    parts = line.split(" ", 2)
    if len(parts) != 3:
        raise DataValidationError(f"{where}: expected '<ms> <event> <json>', got {line[:80]!r}")
    ts_text, name, payload = parts
    try:
        ts = int(ts_text)
        obj = json.loads(payload)
        kind = _LOG_KINDS.get(name)
        if kind is not None:
            side = int(obj["order_type"])
            if side not in (BID, ASK):
                raise ValueError(f"order_type {side}")
            return Event(ts, kind, int(obj["id"]), side, _ticks(obj["price"]), _units(obj["amount"]))
        if name == "trade":
            return Event(ts, TRADE, int(obj["id"]), -1, _ticks(obj["price"]), _units(obj["amount"]))
        if name == "order_book":
            return Snapshot(
                ts,
                tuple((_ticks(p), _units(a)) for p, a in obj["bids"]),
                tuple((_ticks(p), _units(a)) for p, a in obj["asks"]),
            )
    except (ValueError, KeyError, TypeError) as err:
        raise DataValidationError(f"{where}: cannot read this {name} event ({err}): {line[:120]!r}") from err
    return None


def read_bitstamp_log(path: Path) -> Iterator[Event | Snapshot]:
    """Stream the raw feed file (``.log`` or ``.log.xz``) event by event, in arrival order."""
    with _open_text(path) as fh:
        for n, line in enumerate(fh, start=1):
            line = line.rstrip("\n")
            if not line:
                continue
            item = parse_bitstamp_line(line, f"{path.name}:{n}")
            if item is not None:
                yield item


def read_bitstamp_orders(path: Path) -> Iterator[Event]:
    """The parsed order events of ``orders.csv(.xz)`` (no trades, no snapshots), in arrival order."""
    actions = {"created": CREATED, "changed": CHANGED, "deleted": DELETED}
    with _open_text(path) as fh:
        header = fh.readline().strip().split(",")
        expected = ["id", "timestamp", "exchange.timestamp", "price", "volume", "action", "direction"]
        if header != expected:
            raise DataValidationError(f"{path}: header {header}, expected {expected}")
        for n, line in enumerate(fh, start=2):
            f = line.rstrip("\n").split(",")
            try:
                yield Event(int(f[1]), actions[f[5]], int(f[0]), BID if f[6] == "bid" else ASK, _ticks(f[3]), int(f[4]))
            except (IndexError, KeyError, ValueError) as err:
                raise DataValidationError(f"{path}:{n}: unreadable row ({err})") from err


def bitstamp_source(events_dir: Path) -> Path:
    """The event file of a Bitstamp folder: the raw feed (with trades and snapshots) when present."""
    if events_dir.is_file():
        return events_dir
    for name in (BITSTAMP_LOG, BITSTAMP_LOG.removesuffix(".xz"), BITSTAMP_ORDERS):
        if (events_dir / name).is_file():
            return events_dir / name
    logs = sorted(events_dir.glob("*.log*"))
    if logs:
        return logs[0]
    raise DataNotFoundError(
        f"no order events under {events_dir} (looked for {BITSTAMP_LOG} and {BITSTAMP_ORDERS}). Fix: pass the "
        "bitstamp-btcusd-orderbook-events-2015-05-01 folder of the shared data, or a LOBSTER message file"
    )


def read_events(source: Path) -> Iterator[Event | Snapshot]:
    """Events from a Bitstamp log, a Bitstamp ``orders.csv`` or a LOBSTER message file."""
    name = source.name
    if "orders.csv" in name:
        return read_bitstamp_orders(source)
    if "_message_" in name:
        return read_lobster_messages(source)
    return read_bitstamp_log(source)


def read_lobster_messages(path: Path, *, day_start_ms: int = 0) -> Iterator[Event]:
    """LOBSTER message file (time s after midnight, type, id, size, price x 10000, direction).

    Types 1 submit, 2 partial cancel, 3 full delete, 4 visible execution, 5 hidden execution, 7 halt. Prices
    are kept in 1/100 of a cent (LOBSTER's unit); partial cancels and executions become ``CHANGED`` with the
    remaining size, which needs the order's size: resting orders from before the file appear with size 0 known.
    """
    remaining: dict[int, int] = {}
    with _open_text(path) as fh:
        for n, line in enumerate(fh, start=1):
            f = line.strip().split(",")
            if len(f) < 6:
                raise DataValidationError(f"{path}:{n}: expected 6 LOBSTER message columns, got {len(f)}")
            try:
                ts = day_start_ms + round(float(f[0]) * 1000)
                typ, oid, size, price, direction = int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5])
            except ValueError as err:
                raise DataValidationError(f"{path}:{n}: unreadable LOBSTER message ({err})") from err
            side = BID if direction == 1 else ASK
            if typ == 1:
                remaining[oid] = size
                yield Event(ts, CREATED, oid, side, price, size)
            elif typ in (2, 4):
                left = max(remaining.get(oid, size) - size, 0)
                if left == 0:
                    remaining.pop(oid, None)
                    yield Event(ts, DELETED, oid, side, price, 0)
                else:
                    remaining[oid] = left
                    yield Event(ts, CHANGED, oid, side, price, left)
                if typ == 4:
                    yield Event(ts, TRADE, oid, -1, price, size)
            elif typ == 3:
                remaining.pop(oid, None)
                yield Event(ts, DELETED, oid, side, price, size)
            elif typ == 5:
                yield Event(ts, TRADE, oid, -1, price, size)


class _Side:
    """Aggregated volume per price on one side, with the prices kept sorted."""

    __slots__ = ("descending", "prices", "volume")

    def __init__(self, descending: bool) -> None:
        self.volume: dict[int, int] = {}
        self.prices: list[int] = []  # ascending
        self.descending = descending

    def add(self, price: int, qty: int) -> None:
        if qty == 0:
            return
        if price in self.volume:
            new = self.volume[price] + qty
            if new <= 0:
                del self.volume[price]
                del self.prices[bisect.bisect_left(self.prices, price)]
            else:
                self.volume[price] = new
        elif qty > 0:
            self.volume[price] = qty
            bisect.insort(self.prices, price)

    def best(self) -> int | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.descending else self.prices[0]

    def top(self, n: int) -> list[tuple[int, int]]:
        """The best ``n`` levels, best first."""
        ps = self.prices[-n:][::-1] if self.descending else self.prices[:n]
        return [(p, self.volume[p]) for p in ps]

    def within(self, limit: float) -> int:
        """Volume at prices within ``limit`` of the touch (bids >= limit, asks <= limit)."""
        total = 0
        if self.descending:
            for p in reversed(self.prices):
                if p < limit:
                    break
                total += self.volume[p]
        else:
            for p in self.prices:
                if p > limit:
                    break
                total += self.volume[p]
        return total


@dataclass(slots=True)
class BookStats:
    """Counts of what the reconstruction could and could not place."""

    events: int = 0
    unknown_deletes: int = 0
    unknown_changes: int = 0
    seeded_levels: int = 0
    anonymous_consumed: int = 0
    purged_orders: int = 0
    purges: int = 0
    snapshots_compared: int = 0
    top_matches: int = 0
    top5_matches: int = 0


class OrderBook:
    """A limit-order book rebuilt event by event (order ids known from their creation, or seeded)."""

    __slots__ = ("_anon", "_anon_ts", "_crossed_since", "orders", "sides", "stats")

    def __init__(self) -> None:
        self.orders: dict[int, tuple[int, int, int, int]] = {}  # id -> (side, price, volume, ts of last update)
        self.sides = (_Side(descending=True), _Side(descending=False))
        self._anon: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self._anon_ts = 0
        self._crossed_since: int | None = None
        self.stats = BookStats()

    def crossed(self) -> bool:
        """Best bid at or above best ask."""
        b, a = self.sides[BID].best(), self.sides[ASK].best()
        return b is not None and a is not None and b >= a

    def _check_cross(self, ts: int) -> None:
        if not self.crossed():
            self._crossed_since = None
            return
        if self._crossed_since is None:
            self._crossed_since = ts
            return
        if ts - self._crossed_since < CROSS_TOLERANCE_MS:
            return
        best_bid, best_ask = self.sides[BID].best(), self.sides[ASK].best()
        assert best_bid is not None and best_ask is not None
        crossing: tuple[list[int], list[int]] = ([], [])
        newest = [-1, -1]
        for oid, (side, price, _vol, ots) in self.orders.items():
            if (side == BID and price >= best_ask) or (side == ASK and price <= best_bid):
                crossing[side].append(oid)
                newest[side] = max(newest[side], ots)
        for side, limit in ((BID, best_ask), (ASK, best_bid)):
            if any((p >= limit if side == BID else p <= limit) for p in self._anon[side]):
                newest[side] = max(newest[side], self._anon_ts)
        stale = BID if newest[BID] < newest[ASK] else ASK
        limit = best_ask if stale == BID else best_bid
        for oid in crossing[stale]:
            side, price, vol, _ = self.orders.pop(oid)
            self.sides[side].add(price, -vol)
            self.stats.purged_orders += 1
        for price in [p for p in self._anon[stale] if (p >= limit if stale == BID else p <= limit)]:
            self.sides[stale].add(price, -self._anon[stale].pop(price))
        self.stats.purges += 1
        self._crossed_since = None
        self._check_cross(ts)

    # -- state ------------------------------------------------------------------------------------
    def best(self) -> tuple[int | None, int, int | None, int]:
        """``(best bid, its volume, best ask, its volume)``; prices None on an empty side."""
        bids, asks = self.sides
        b, a = bids.best(), asks.best()
        return b, (bids.volume[b] if b is not None else 0), a, (asks.volume[a] if a is not None else 0)

    def seed(self, snap: Snapshot) -> None:
        """Take the snapshot's levels as anonymous resting volume (orders from before the recording)."""
        self._anon_ts = snap.ts_ms
        for side, levels in ((BID, snap.bids), (ASK, snap.asks)):
            for price, vol in levels:
                known = self.sides[side].volume.get(price, 0)
                extra = vol - known
                if extra > 0:
                    self._anon[side][price] = self._anon[side].get(price, 0) + extra
                    self.sides[side].add(price, extra)
                    self.stats.seeded_levels += 1

    def _consume_anon(self, side: int, price: int, qty: int) -> None:
        anon = self._anon[side]
        have = anon.get(price, 0)
        take = min(have, qty)
        if take > 0:
            if have == take:
                del anon[price]
            else:
                anon[price] = have - take
            self.sides[side].add(price, -take)
            self.stats.anonymous_consumed += take

    # -- events -----------------------------------------------------------------------------------
    def apply(self, ev: Event) -> bool:
        """Apply one event; True when the book changed."""
        if ev.kind == TRADE:
            return False
        self.stats.events += 1
        changed = self._apply(ev)
        if changed or self._crossed_since is not None:
            self._check_cross(ev.ts_ms)
        return changed

    def _apply(self, ev: Event) -> bool:
        kind = ev.kind
        oid = ev.order_id
        if kind == CREATED:
            old = self.orders.pop(oid, None)
            if old is not None:  # a re-used id: replace
                self.sides[old[0]].add(old[1], -old[2])
            self.orders[oid] = (ev.side, ev.price, ev.volume, ev.ts_ms)
            self.sides[ev.side].add(ev.price, ev.volume)
            return True
        old = self.orders.get(oid)
        if kind == DELETED:
            if old is None:
                self.stats.unknown_deletes += 1
                before = self.sides[ev.side].volume.get(ev.price)
                # An order from before the recording: its volume at deletion is its last remaining volume.
                self._consume_anon(ev.side, ev.price, ev.volume)
                return self.sides[ev.side].volume.get(ev.price) != before
            del self.orders[oid]
            self.sides[old[0]].add(old[1], -old[2])
            return True
        # CHANGED: the remaining volume (and sometimes a new price)
        if old is None:
            self.stats.unknown_changes += 1
            self._consume_anon(ev.side, ev.price, ev.volume)
        else:
            self.sides[old[0]].add(old[1], -old[2])
        self.orders[oid] = (ev.side, ev.price, ev.volume, ev.ts_ms)
        self.sides[ev.side].add(ev.price, ev.volume)
        return True

    def apply_all(self, events: Iterable[Event]) -> None:
        for ev in events:
            self.apply(ev)

    def agreement(self, snap: Snapshot) -> tuple[bool, bool]:
        """Does the rebuilt book show the snapshot's best levels (price and volume)? (top 1, top 5)."""
        ours_b, ours_a = self.sides[BID].top(5), self.sides[ASK].top(5)
        top = ours_b[:1] == list(snap.bids[:1]) and ours_a[:1] == list(snap.asks[:1])
        top5 = ours_b == list(snap.bids[:5]) and ours_a == list(snap.asks[:5])
        self.stats.snapshots_compared += 1
        self.stats.top_matches += top
        self.stats.top5_matches += top5
        return top, top5
