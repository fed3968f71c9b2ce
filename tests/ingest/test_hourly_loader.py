"""The CDD hourly loader: every file variant, validation rules, clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedrisk.data.datadir import dataset_dir, resolve_data_dir
from fedrisk.data.hourly import TIDY_COLUMNS, load_hourly_csv, load_hourly_dir, split_symbol
from fedrisk.errors import DataNotFoundError, DataValidationError
from synthetic import bars, write_cdd


@pytest.mark.parametrize("variant", ["unix_s", "plain", "gemini", "from_to"])
@pytest.mark.parametrize("newest_first", [True, False])
def test_every_variant_loads_to_the_same_tidy_frame(tmp_path: Path, variant: str, newest_first: bool) -> None:
    # Arrange
    frame = bars(50, seed=3)
    path = write_cdd(tmp_path / f"Kraken_BTCUSD_{variant}.csv", frame, variant=variant, newest_first=newest_first)
    # Act
    series = load_hourly_csv(path)
    # Assert
    out = series.frame
    assert tuple(out.columns) == TIDY_COLUMNS
    assert len(out) == 50
    assert out["ts_utc"].is_monotonic_increasing
    assert out["ts_utc"].iloc[0] == pd.Timestamp("2018-01-01 00:00", tz="UTC")
    assert out["ts_utc"].iloc[-1] == pd.Timestamp("2018-01-03 01:00", tz="UTC")
    np.testing.assert_allclose(out["close"].to_numpy(), frame["close"].round(4).to_numpy(), rtol=1e-9)
    assert (out["venue"] == "kraken").all() and (out["base"] == "BTC").all() and (out["quote"] == "USD").all()
    expected_quote = out["volume_base"] * out["close"] if variant == "gemini" else frame["vquote"].round(2).to_numpy()
    np.testing.assert_allclose(out["volume_quote"].to_numpy(), np.asarray(expected_quote), rtol=1e-3)
    assert series.quality.volume_quote_derived is (variant == "gemini")


def test_twelve_hour_clock_is_parsed_around_noon_and_midnight(tmp_path: Path) -> None:
    frame = bars(26, start="2019-03-01 10:00")
    out = load_hourly_csv(write_cdd(tmp_path / "X_BTCUSD.csv", frame, variant="plain")).frame
    hours = out["ts_utc"].dt.hour.tolist()
    assert hours[:4] == [10, 11, 12, 13] and hours[14] == 0


def test_gaps_are_flagged_never_filled(tmp_path: Path) -> None:
    frame = bars(100).drop(index=range(40, 45))
    series = load_hourly_csv(write_cdd(tmp_path / "Kraken_BTCUSD.csv", frame))
    assert len(series.frame) == 95
    assert series.quality.missing_hours == 5 and series.quality.gaps == 1 and series.quality.longest_gap_hours == 5


def test_duplicates_exact_dropped_and_conflicting_counted(tmp_path: Path) -> None:
    frame = bars(30)
    dup_exact = frame.iloc[[5]]
    dup_conflict = frame.iloc[[7]].assign(close=frame["close"].iloc[7] * 1.01)
    path = write_cdd(tmp_path / "Kraken_BTCUSD.csv", pd.concat([frame, dup_exact, dup_conflict]), newest_first=False)
    series = load_hourly_csv(path)
    assert len(series.frame) == 30
    assert series.quality.exact_duplicates_dropped == 1
    assert series.quality.conflicting_duplicates == 1


def test_zero_volume_bars_are_kept_and_flagged_stale(tmp_path: Path) -> None:
    frame = bars(20)
    frame.loc[3:5, ["vbase", "vquote"]] = 0.0
    series = load_hourly_csv(write_cdd(tmp_path / "Kraken_BTCUSD.csv", frame))
    assert series.frame["stale"].sum() == 3
    assert series.quality.stale_hours == 3


def test_non_positive_price_row_is_rejected_and_named(tmp_path: Path) -> None:
    frame = bars(20)
    frame.loc[4, "low"] = 0.0
    path = write_cdd(tmp_path / "Gemini_BTCUSD.csv", frame, newest_first=False)
    series = load_hourly_csv(path)
    assert len(series.frame) == 19
    # line 1 preamble, line 2 header, row 4 (0-based) is line 7
    assert series.quality.rejected_rows == ("Gemini_BTCUSD.csv:7: non-positive price",)


def test_corrupt_row_names_file_and_line(tmp_path: Path) -> None:
    path = write_cdd(tmp_path / "Kraken_BTCUSD.csv", bars(10), newest_first=False)
    lines = path.read_text().splitlines()
    parts = lines[5].split(",")
    parts[4] = "12x.5"
    lines[5] = ",".join(parts)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError, match=r"Kraken_BTCUSD.csv, line 6: High is not a number"):
        load_hourly_csv(path)


def test_wrong_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "Kraken_BTCUSD.csv"
    path.write_text("Date,Symbol,Open,Hi,Lo,Close,Volume BTC,Volume USD\n2019-01-01 01-AM,BTCUSD,1,2,1,1,1,1\n")
    with pytest.raises(DataValidationError, match=r"missing column\(s\) \['High', 'Low'\]"):
        load_hourly_csv(path)


@pytest.mark.parametrize(
    "content", ["", "Timestamps are UTC timezone,x\nDate,Symbol,Open,High,Low,Close,Volume A,Volume B\n"]
)
def test_empty_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "Kraken_BTCUSD.csv"
    path.write_text(content)
    with pytest.raises(DataValidationError, match=r"empty|no data rows"):
        load_hourly_csv(path)


def test_unknown_volume_layout_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "Kraken_BTCUSD.csv"
    path.write_text("Date,Symbol,Open,High,Low,Close\n2019-01-01 01-AM,BTCUSD,1,2,1,1\n")
    with pytest.raises(DataValidationError, match="volume columns"):
        load_hourly_csv(path)


def test_missing_data_dir_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"--data-dir.*FEDRISK_DATA_DIR"):
        resolve_data_dir(tmp_path / "nope", env_value=None)
    with pytest.raises(DataNotFoundError, match="from FEDRISK_DATA_DIR"):
        resolve_data_dir(None, env_value=str(tmp_path / "nope"))
    with pytest.raises(DataNotFoundError, match="dataset 'crypto-hourly-multivenue' not found"):
        dataset_dir(tmp_path, "crypto-hourly-multivenue")


def test_data_dir_precedence(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert resolve_data_dir(a, env_value=str(b)) == a.resolve()
    assert resolve_data_dir(None, env_value=str(b)) == b.resolve()
    assert "fedrisk" in str(resolve_data_dir(None, env_value=None))


def test_empty_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="no hourly CSV files"):
        load_hourly_dir(tmp_path)


def test_split_symbol() -> None:
    assert split_symbol("XRPUSD") == ("XRP", "USD")
    assert split_symbol("LTCUSDT") == ("LTC", "USDT")
    with pytest.raises(DataValidationError):
        split_symbol("FOO")


@pytest.mark.data
def test_every_shared_file_loads_with_its_quirks(shared_data_dir: Path) -> None:
    tidy, quality = load_hourly_dir(shared_data_dir)
    assert len(quality) == 20
    assert set(tidy["venue"]) == {"binance", "bitfinex", "bitstamp", "bittrex", "coinbase", "gemini", "kraken"}
    by_file = {Path(q.file).name: q for q in quality}
    assert by_file["Bitstamp_BTCUSD_1h.csv"].longest_gap_hours == 1209  # the 50-day gap of SOURCE.md
    assert by_file["gemini_BTCUSD_1hr.csv"].volume_quote_derived
    assert by_file["gemini_BTCUSD_1hr.csv"].rejected_rows  # the open=0 first bar
    assert by_file["Binance_BTCUSDT_1h.csv"].exact_duplicates_dropped > 0
    assert (tidy["close"] > 0).all() and tidy["ts_utc"].dt.year.max() <= 2019
