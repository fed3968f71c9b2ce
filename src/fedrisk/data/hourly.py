"""Loader for CryptoDataDownload-style hourly OHLCV CSVs.

Handles every variant found in the public files:

* with or without the preamble line (``Timestamps are UTC timezone,...`` / ``Created on ...``);
* with or without a ``Unix Timestamp`` column, in seconds or milliseconds (mixed within one file);
* ``Date`` as ``YYYY-MM-DD HH-AM`` or ``YYYY-MM-DD HH:MM:SS`` (hour start, UTC);
* newest-first or oldest-first rows;
* volume columns named ``Volume <BASE>`` / ``Volume <QUOTE>``, ``Volume From`` / ``Volume To``, or a single
  ``Volume`` in base units (Gemini), for which ``volume_quote = volume_base * close`` is derived and flagged.

The result is a tidy frame with the columns of :data:`TIDY_COLUMNS`. Validation rules:

* a non-numeric price or an unparsable date makes the file unusable: an error names the file and line;
* a row with a non-positive price (an invalid bar, seen in the public Gemini file) is rejected: dropped,
  logged and listed in the quality report by file and line;
* ``high < low`` is rejected the same way (a corrupt bar);
* exact duplicate hours are dropped and counted; duplicate hours with different values keep the row that
  comes first in the file (CDD writes newest first, so the latest write) and are counted as conflicts;
* missing hours stay missing (gaps are flagged, never filled with invented trades);
* a row missing one of its two volumes gets it derived from the other and the close (counted);
* zero-volume bars (CDD forward-fills the price when nothing traded) are kept and flagged ``stale``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fedrisk.errors import DataNotFoundError, DataValidationError

TIDY_COLUMNS: tuple[str, ...] = (
    "venue",
    "base",
    "quote",
    "ts_utc",
    "open",
    "high",
    "low",
    "close",
    "volume_base",
    "volume_quote",
    "stale",
)
"""Columns of a tidy hourly frame, in order."""

_PRICE_COLUMNS = ("Open", "High", "Low", "Close")
_log = logging.getLogger(__name__)
_QUOTES = ("USDT", "USDC", "USD", "EUR", "GBP", "BTC", "ETH")
_DATE_FORMATS = ("%Y-%m-%d %I-%p", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
_MS_THRESHOLD = 1e11  # a Unix time above this is in milliseconds (1e11 s is the year 5138)


@dataclass(frozen=True, slots=True)
class SeriesQuality:
    """Data-quality flags of one loaded file (one venue-asset series)."""

    file: str
    venue: str
    base: str
    quote: str
    rows: int
    first_hour: str
    last_hour: str
    missing_hours: int
    gaps: int
    longest_gap_hours: int
    stale_hours: int
    exact_duplicates_dropped: int
    conflicting_duplicates: int
    volume_quote_derived: bool
    volumes_filled: int
    rejected_rows: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HourlySeries:
    """A validated series and its quality report."""

    frame: pd.DataFrame
    quality: SeriesQuality


def _read_header(path: Path) -> tuple[int, list[str]]:
    """Return (rows to skip before the header, header columns)."""
    with path.open("r", encoding="utf-8-sig", errors="replace") as fh:
        lines = [fh.readline() for _ in range(2)]
    if not lines[0].strip():
        raise DataValidationError(f"{path}: the file is empty. Fix: re-download it or remove it from the data dir.")
    for skip, line in enumerate(lines):
        cols = [c.strip() for c in line.strip().split(",")]
        if "Date" in cols and "Close" in cols:
            return skip, cols
    raise DataValidationError(
        f"{path}: no header with 'Date' and 'Close' in the first two lines (saw {lines[0].strip()[:80]!r}). "
        "Expected a CryptoDataDownload hourly CSV: [preamble line,] [Unix Timestamp,]Date,Symbol,Open,High,Low,Close,"
        "Volume <BASE>,Volume <QUOTE>."
    )


def _volume_columns(path: Path, cols: list[str]) -> tuple[str, str | None]:
    """Pick the base and quote volume columns; the quote column may be absent (Gemini)."""
    vols = [c for c in cols if c.lower().startswith("volume")]
    if "Volume From" in vols and "Volume To" in vols:
        return "Volume From", "Volume To"
    if vols == ["Volume"]:
        return "Volume", None
    if len(vols) == 2:
        return vols[0], vols[1]
    raise DataValidationError(
        f"{path}: cannot identify the volume columns among {vols or 'none'}. Expected 'Volume <BASE>' and "
        "'Volume <QUOTE>', 'Volume From' and 'Volume To', or a single 'Volume' in base units."
    )


def split_symbol(symbol: str) -> tuple[str, str]:
    """Split a CDD symbol such as ``BTCUSDT`` or ``BTC/USD`` into (base, quote).

    >>> split_symbol("BTCUSDT")
    ('BTC', 'USDT')
    >>> split_symbol("ethusd")
    ('ETH', 'USD')
    """
    sym = re.sub(r"[^A-Z]", "", symbol.upper())
    for quote in _QUOTES:
        if sym.endswith(quote) and len(sym) > len(quote):
            return sym[: -len(quote)], quote
    raise DataValidationError(
        f"cannot split symbol {symbol!r} into base and quote (known quotes: {', '.join(_QUOTES)})."
    )


def venue_from_path(path: Path) -> str:
    """The venue is the file name's prefix before the first underscore, lower case (``Kraken_BTCUSD_1h.csv``)."""
    return path.name.split("_", 1)[0].lower()


def _bad_line(path: Path, mask: np.ndarray, skip: int, what: str, raw: pd.DataFrame) -> DataValidationError:
    idx = int(np.flatnonzero(mask)[0])
    line_no = idx + skip + 2  # 1-based, after the preamble and the header
    row = ",".join(str(v) for v in raw.iloc[idx].tolist())
    return DataValidationError(
        f"{path}, line {line_no}: {what} ({int(mask.sum())} such row(s); first: {row[:120]!r}). "
        "Fix: repair or delete the row, or re-download the file."
    )


def _parse_times(path: Path, raw: pd.DataFrame, skip: int) -> pd.Series:
    if "Unix Timestamp" in raw.columns:
        unix = pd.to_numeric(raw["Unix Timestamp"], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(unix)
        if bad.any():
            raise _bad_line(path, bad, skip, "the Unix timestamp is not a number", raw)
        seconds = np.where(unix > _MS_THRESHOLD, unix / 1000.0, unix)
        return pd.Series(pd.to_datetime(np.round(seconds).astype("int64"), unit="s", utc=True), index=raw.index)
    text = raw["Date"].astype(str).str.strip()
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
        if parsed.notna().mean() > 0.5:
            bad = parsed.isna().to_numpy()
            if bad.any():
                raise _bad_line(path, bad, skip, f"the Date does not match the format {fmt}", raw)
            return parsed
    raise _bad_line(path, np.ones(len(raw), bool), skip, f"the Date matches none of the formats {_DATE_FORMATS}", raw)


def _read_raw(path: Path) -> tuple[pd.DataFrame, int]:
    if not path.is_file():
        raise DataNotFoundError(
            f"{path} does not exist. Fix: check the data dir layout (DIR/crypto-hourly-multivenue/raw/<venue>/*.csv)."
        )
    skip, cols = _read_header(path)
    missing = [c for c in ("Date", "Symbol", *_PRICE_COLUMNS) if c not in cols]
    if missing:
        raise DataValidationError(
            f"{path}: missing column(s) {missing}; found {cols}. Expected a CryptoDataDownload hourly CSV."
        )
    raw = pd.read_csv(path, skiprows=skip, dtype=str, keep_default_na=False, skipinitialspace=True)
    raw.columns = [c.strip() for c in raw.columns]
    if raw.empty:
        raise DataValidationError(f"{path}: the file has a header but no data rows. Fix: re-download it or remove it.")
    return raw, skip


def load_hourly_csv(path: Path, *, venue: str | None = None) -> HourlySeries:
    """Load and validate one hourly CSV into a tidy frame sorted by time.

    Parameters
    ----------
    path
        The CSV file.
    venue
        The venue name; by default the file-name prefix (``Kraken_...`` → ``kraken``).
    """
    raw, skip = _read_raw(path)
    vol_base_col, vol_quote_col = _volume_columns(path, list(raw.columns))
    ts = _parse_times(path, raw, skip)
    prices = {c: pd.to_numeric(raw[c], errors="coerce").to_numpy(dtype=float) for c in _PRICE_COLUMNS}
    for name, values in prices.items():
        if (~np.isfinite(values)).any():
            raise _bad_line(path, ~np.isfinite(values), skip, f"{name} is not a number", raw)
    non_positive = np.zeros(len(raw), dtype=bool)
    for values in prices.values():
        non_positive |= values <= 0
    rejected = tuple(f"{path.name}:{i + skip + 2}: non-positive price" for i in np.flatnonzero(non_positive))
    for message in rejected:
        _log.info("rejected row %s", message)
    if non_positive.all():
        raise _bad_line(path, non_positive, skip, "every row has a non-positive price", raw)
    if non_positive.any():
        keep = ~non_positive
        raw = raw.loc[keep].reset_index(drop=True)
        ts = ts.loc[keep].reset_index(drop=True)
        prices = {c: v[keep] for c, v in prices.items()}
    if (prices["High"] < prices["Low"]).any():
        raise _bad_line(path, prices["High"] < prices["Low"], skip, "High is below Low", raw)
    vol_base = pd.to_numeric(raw[vol_base_col], errors="coerce").to_numpy(dtype=float)
    if vol_quote_col is None:
        vol_quote = vol_base * prices["Close"]
    else:
        vol_quote = pd.to_numeric(raw[vol_quote_col], errors="coerce").to_numpy(dtype=float)
    both_missing = ~np.isfinite(vol_base) & ~np.isfinite(vol_quote)
    if both_missing.any():
        raise _bad_line(path, both_missing, skip, "both volumes are missing", raw)
    # One volume missing (seen in the public files): derive it from the other and the close, and count it.
    filled = int((~np.isfinite(vol_base)).sum() + (~np.isfinite(vol_quote)).sum())
    vol_base = np.where(np.isfinite(vol_base), vol_base, vol_quote / prices["Close"])
    vol_quote = np.where(np.isfinite(vol_quote), vol_quote, vol_base * prices["Close"])
    for name, values in ((vol_base_col, vol_base), (vol_quote_col or "derived quote volume", vol_quote)):
        if (values < 0).any():
            raise _bad_line(path, values < 0, skip, f"{name} is negative", raw)
    symbols = raw["Symbol"].astype(str).str.strip().unique()
    if len(symbols) != 1:
        raise DataValidationError(f"{path}: expected one Symbol per file, found {list(symbols)[:5]}.")
    base, quote = split_symbol(str(symbols[0]))
    frame = pd.DataFrame(
        {
            "ts_utc": ts.to_numpy(),
            "open": prices["Open"],
            "high": prices["High"],
            "low": prices["Low"],
            "close": prices["Close"],
            "volume_base": vol_base,
            "volume_quote": vol_quote,
        }
    )
    frame["ts_utc"] = pd.to_datetime(frame["ts_utc"], utc=True).dt.floor("h")
    n_before = len(frame)
    frame = frame.drop_duplicates()
    exact_dups = n_before - len(frame)
    conflicts = int(frame["ts_utc"].duplicated().sum())
    frame = frame.drop_duplicates(subset="ts_utc", keep="first").sort_values("ts_utc", kind="stable")
    frame = frame.reset_index(drop=True)
    frame.insert(0, "quote", quote)
    frame.insert(0, "base", base)
    frame.insert(0, "venue", venue or venue_from_path(path))
    frame["stale"] = frame["volume_base"] <= 0
    frame = frame[list(TIDY_COLUMNS)]
    quality = _quality(path, frame, exact_dups, conflicts, vol_quote_col is None, filled, rejected)
    return HourlySeries(frame=frame, quality=quality)


def _quality(
    path: Path,
    frame: pd.DataFrame,
    exact_dups: int,
    conflicts: int,
    derived: bool,
    filled: int,
    rejected: tuple[str, ...],
) -> SeriesQuality:
    steps = frame["ts_utc"].diff().dt.total_seconds().div(3600).dropna().to_numpy()
    holes = steps[steps > 1] - 1
    return SeriesQuality(
        file=str(path),
        venue=str(frame["venue"].iat[0]),
        base=str(frame["base"].iat[0]),
        quote=str(frame["quote"].iat[0]),
        rows=len(frame),
        first_hour=pd.Timestamp(frame["ts_utc"].iat[0]).isoformat(),  # type: ignore[arg-type]
        last_hour=pd.Timestamp(frame["ts_utc"].iat[-1]).isoformat(),  # type: ignore[arg-type]
        missing_hours=int(holes.sum()),
        gaps=len(holes),
        longest_gap_hours=int(holes.max()) if len(holes) else 0,
        stale_hours=int(frame["stale"].sum()),
        exact_duplicates_dropped=exact_dups,
        conflicting_duplicates=conflicts,
        volume_quote_derived=derived,
        volumes_filled=filled,
        rejected_rows=rejected,
    )


HOURLY_DATASET = "crypto-hourly-multivenue"


def find_hourly_files(root: Path) -> list[Path]:
    """All hourly CSVs under ``root`` (a data dir, the dataset folder, or its ``raw`` folder)."""
    for candidate in (root / HOURLY_DATASET / "raw", root / "raw", root):
        if candidate.is_dir():
            files = sorted(p for p in candidate.rglob("*.csv") if p.is_file())
            if files:
                return files
    raise DataNotFoundError(
        f"no hourly CSV files under {root}. Fix: point --data-dir / FEDRISK_DATA_DIR at a directory laid out like "
        f"shared/data, i.e. DIR/{HOURLY_DATASET}/raw/<venue>/<Venue>_<PAIR>_1h.csv."
    )


def load_hourly_dir(root: Path, *, venues: Iterable[str] | None = None) -> tuple[pd.DataFrame, list[SeriesQuality]]:
    """Load every hourly CSV under ``root`` into one tidy frame (optionally only some venues)."""
    wanted = None if venues is None else {v.lower() for v in venues}
    frames: list[pd.DataFrame] = []
    report: list[SeriesQuality] = []
    for path in find_hourly_files(root):
        if wanted is not None and venue_from_path(path) not in wanted:
            continue
        series = load_hourly_csv(path)
        frames.append(series.frame)
        report.append(series.quality)
    if not frames:
        raise DataNotFoundError(f"none of the venues {sorted(wanted or [])} has a file under {root}.")
    tidy = pd.concat(frames, ignore_index=True)
    dup = tidy.duplicated(subset=["venue", "base", "ts_utc"])
    if dup.any():
        first = tidy.loc[dup].iloc[0]
        raise DataValidationError(
            f"two files hold the same series {first['venue']} {first['base']} (e.g. hour {first['ts_utc']}). "
            "Fix: keep one file per venue and asset in the data dir."
        )
    return tidy, report
