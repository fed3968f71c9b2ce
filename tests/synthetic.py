"""Small synthetic hourly data in the CryptoDataDownload layouts, written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fedrisk.features.panel import Split

PREAMBLE = "Timestamps are UTC timezone,https://www.CryptoDataDownload.com"


def bars(n_hours: int, *, start: str = "2018-01-01", seed: int = 0, stress_every: int = 97) -> pd.DataFrame:
    """A random-walk OHLCV series with periodic thin-volume shocks (illiquid stress hours)."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=n_hours, freq="h", tz="UTC")
    vol = 0.004 * np.exp(0.3 * np.sin(np.arange(n_hours) / 200.0))
    shock = (np.arange(n_hours) % stress_every) == stress_every - 1
    ret = rng.normal(0, vol) + shock * rng.choice([-1, 1], n_hours) * 0.03
    close = 100 * np.exp(np.cumsum(ret))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0, vol)) + shock * 0.02
    high = np.maximum(open_, close) * np.exp(spread)
    low = np.minimum(open_, close) * np.exp(-spread)
    vbase = rng.lognormal(3, 0.4, n_hours) * np.where(shock, 0.2, 1.0)
    return pd.DataFrame(
        {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "vbase": vbase, "vquote": vbase * close}
    )


def write_cdd(
    path: Path,
    frame: pd.DataFrame,
    *,
    base: str = "BTC",
    quote: str = "USD",
    variant: str = "unix_s",
    newest_first: bool = True,
) -> Path:
    """Write ``frame`` (from :func:`bars`) as a CDD CSV.

    variant: ``unix_s`` (preamble, Unix seconds, 12-hour dates), ``plain`` (preamble, no Unix column),
    ``gemini`` ("Created on" preamble, Unix ms mixed with s, 24-hour dates, one base volume column),
    ``from_to`` (no preamble, ``Volume From`` / ``Volume To``).
    """
    f = frame.iloc[::-1] if newest_first else frame
    sym = f"{base}{quote}"
    lines = []
    if variant in ("unix_s", "plain"):
        lines.append(PREAMBLE)
        head = (
            "Unix Timestamp," if variant == "unix_s" else ""
        ) + f"Date,Symbol,Open,High,Low,Close,Volume {base},Volume {quote}"
        lines.append(head)
        for r in f.itertuples():
            date = r.ts.strftime("%Y-%m-%d %I-%p")
            unix = f"{r.ts.timestamp():.1f}," if variant == "unix_s" else ""
            lines.append(
                f"{unix}{date},{sym},{r.open:.4f},{r.high:.4f},{r.low:.4f},{r.close:.4f},{r.vbase:.4f},{r.vquote:.2f}"
            )
    elif variant == "gemini":
        lines.append("Created on 12-30-2020,https://www.CryptoDataDownload.com")
        lines.append("Unix Timestamp,Date,Symbol,Open,High,Low,Close,Volume")
        for i, r in enumerate(f.itertuples()):
            unix = int(r.ts.timestamp()) * (1000 if i % 2 == 0 else 1)
            lines.append(
                f"{unix},{r.ts.strftime('%Y-%m-%d %H:%M:%S')},{sym},{r.open:.4f},{r.high:.4f},{r.low:.4f},"
                f"{r.close:.4f},{r.vbase:.6f}"
            )
    elif variant == "from_to":
        lines.append("Date,Symbol,Open,High,Low,Close,Volume From,Volume To")
        for r in f.itertuples():
            lines.append(
                f"{r.ts.strftime('%Y-%m-%d %I-%p')},{sym},{r.open:.4f},{r.high:.4f},{r.low:.4f},{r.close:.4f},"
                f"{r.vbase:.4f},{r.vquote:.2f}"
            )
    else:
        raise ValueError(variant)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_data_dir(
    root: Path, venues: dict[str, tuple[str, ...]], *, n_hours: int, start: str = "2018-01-01", seed: int = 0
) -> Path:
    """A data dir laid out like shared/data with one file per (venue, asset)."""
    for v_i, (venue, assets) in enumerate(venues.items()):
        for a_i, asset in enumerate(assets):
            frame = bars(n_hours, start=start, seed=seed + 17 * v_i + a_i)
            name = f"{venue.capitalize()}_{asset}USD_1h.csv"
            write_cdd(root / "crypto-hourly-multivenue" / "raw" / venue / name, frame, base=asset)
    return root


SIM_VENUES: dict[str, tuple[str, ...]] = {
    "alpha": ("BTC", "ETH"),
    "beta": ("BTC",),
    "gamma": ("BTC", "ETH"),
    "delta": ("ETH",),
}
"""Four small venues for federation tests (write them with :func:`write_data_dir`)."""


SIM_SPLIT = Split(
    train_start=pd.Timestamp("2018-01-01", tz="UTC"),
    val_start=pd.Timestamp("2018-03-10", tz="UTC"),
    test_start=pd.Timestamp("2018-04-01", tz="UTC"),
    test_end=pd.Timestamp("2018-04-25", tz="UTC"),
)
"""The calendar of the synthetic venues: train January to 10 March 2018, validate to April, test to 25 April."""
