"""Causal features, the label, panels: no look-ahead, known values, a member without any event."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedrisk.errors import DataValidationError
from fedrisk.features.labels import add_labels, stress_hours, stress_label
from fedrisk.features.panel import ASSETS, Split, asset_graph, build_panel, norm_stats
from fedrisk.features.stress import FEATURES, build_features, corwin_schultz, series_features
from synthetic import bars


def tidy(frame: pd.DataFrame, venue: str = "kraken", base: str = "BTC") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "venue": venue,
            "base": base,
            "quote": "USD",
            "ts_utc": frame["ts"],
            "open": frame["open"],
            "high": frame["high"],
            "low": frame["low"],
            "close": frame["close"],
            "volume_base": frame["vbase"],
            "volume_quote": frame["vquote"],
            "stale": frame["vbase"] <= 0,
        }
    )


BASE = tidy(bars(1500, seed=11))
BASE_FEATURES = series_features(BASE)


@settings(max_examples=12, deadline=None)
@given(cut=st.integers(min_value=50, max_value=1400), seed=st.integers(0, 10_000))
def test_changing_data_after_t_leaves_features_up_to_t_unchanged(cut: int, seed: int) -> None:
    # Arrange: replace every bar after `cut` with unrelated random bars
    rng = np.random.default_rng(seed)
    changed = BASE.copy()
    n = len(changed) - cut - 1
    factor = np.exp(rng.normal(0, 0.2, n))
    for col in ("open", "high", "low", "close"):
        changed.loc[cut + 1 :, col] = changed.loc[cut + 1 :, col].to_numpy() * factor
    changed.loc[cut + 1 :, "high"] = changed.loc[cut + 1 :, ["open", "high", "close"]].max(axis=1) * 1.01
    changed.loc[cut + 1 :, "volume_quote"] = rng.lognormal(5, 2, n)
    # Act
    after = series_features(changed)
    # Assert
    cols = [*FEATURES[:-4], "pk_q95", "ami_q90"]  # cross-asset features are tested below
    pd.testing.assert_frame_equal(BASE_FEATURES.loc[:cut, cols], after.loc[:cut, cols])
    assert not BASE_FEATURES.loc[cut + 2 :, "pk_m24"].equals(after.loc[cut + 2 :, "pk_m24"])


def test_cross_asset_context_is_causal_and_uses_other_assets_only() -> None:
    eth = tidy(bars(1500, seed=12), base="ETH")
    both = pd.concat([BASE, eth])
    f = build_features(both)
    btc = f[f["base"] == "BTC"].set_index("ts_utc")
    eth_f = f[f["base"] == "ETH"].set_index("ts_utc")
    common = btc.index.intersection(eth_f.index)[800:805]
    np.testing.assert_allclose(btc.loc[common, "x_pk_rel"], eth_f.loc[common, "pk_rel"])
    assert (btc.loc[common, "x_n_assets"] == 1).all()
    changed = both.copy()
    late = changed["ts_utc"] > common[-1]
    changed.loc[late, "close"] = changed.loc[late, "close"] * 1.5
    changed.loc[late, "high"] = changed.loc[late, ["high", "close"]].max(axis=1)
    g = build_features(changed)
    early = g["ts_utc"] <= common[-1]
    pd.testing.assert_frame_equal(
        f.loc[early, list(FEATURES)].reset_index(drop=True), g.loc[early, list(FEATURES)].reset_index(drop=True)
    )


def test_gaps_stay_missing_on_the_hourly_grid() -> None:
    holes = BASE.drop(index=range(500, 520)).reset_index(drop=True)
    f = series_features(holes)
    assert len(f) == len(BASE)
    assert (~f["observed"]).sum() == 20
    assert f.loc[~f["observed"], "pk_rel"].isna().all()


def test_corwin_schultz_known_value() -> None:
    # Two identical bars with H/L = e^0.01: beta = 2*0.01^2, gamma = 0.01^2 -> alpha, spread by the paper's formula
    high = pd.Series([np.exp(0.01), np.exp(0.01)])
    low = pd.Series([1.0, 1.0])
    beta, gamma, k = 2e-4, 1e-4, 3 - 2 * np.sqrt(2)
    alpha = (np.sqrt(2 * beta) - np.sqrt(beta)) / k - np.sqrt(gamma / k)
    expected = max(2 * (np.exp(alpha) - 1) / (1 + np.exp(alpha)), 0.0)
    assert corwin_schultz(high, low).iloc[1] == pytest.approx(expected)


def _label_frame(pk: np.ndarray, ami: np.ndarray, pk_thr: float = 1.0, ami_thr: float = 1.0) -> pd.DataFrame:
    n = len(pk)
    return pd.DataFrame({"pk": pk, "ami": ami, "pk_q95": np.full(n, pk_thr), "ami_q90": np.full(n, ami_thr)})


def test_label_is_one_when_a_joint_event_falls_in_the_next_h_hours() -> None:
    pk, ami = np.zeros(40), np.zeros(40)
    pk[20], ami[20] = 2.0, 2.0  # the one illiquid stress hour
    pk[30] = 2.0  # a range spike on normal volume is not an event
    y = stress_label(_label_frame(pk, ami), horizon=12, min_observed=10)
    assert y.iloc[8:20].eq(1).all()  # t in [8, 19]: hour 20 lies in (t, t+12]
    assert y.iloc[7] == 0 and y.iloc[20] == 0 and y.iloc[25] == 0
    assert y.iloc[-1:].isna().all()  # no future hours observed


def test_label_thresholds_come_from_hour_t_and_event_hours_from_before() -> None:
    frame = _label_frame(np.array([0.5, 3.0, 0.5]), np.array([0.5, 3.0, 0.5]))
    frame.loc[1, "pk_q95"] = 5.0  # the threshold at the event hour itself must not matter for the flag...
    flags = stress_hours(frame)
    assert flags.tolist() == [False, True, False]  # ...the flag at hour 1 uses the threshold of hour 0


def test_a_member_without_any_event_builds_and_reports_no_auprc() -> None:
    calm = tidy(bars(1500, seed=5, stress_every=10**9))
    feats = add_labels(build_features(calm))
    panel = build_panel(feats, "kraken")
    from fedrisk.evaluation.metrics import binary_metrics

    y = panel.y[np.isfinite(panel.y)]
    metrics = binary_metrics((y > 2).astype(float), np.zeros_like(y))  # a period without any event
    assert metrics["auprc"] is None and metrics["auroc"] is None and metrics["positives"] == 0.0


def test_panel_layout_split_and_graph() -> None:
    eth = tidy(bars(1500, seed=12), base="ETH")
    feats = add_labels(build_features(pd.concat([BASE, eth])))
    panel = build_panel(feats, "kraken")
    assert panel.X.shape == (1500, len(ASSETS), len(FEATURES))
    assert panel.held_assets == ("BTC", "ETH")
    split = Split(
        train_start=pd.Timestamp("2018-01-01", tz="UTC"),
        val_start=pd.Timestamp("2018-02-01", tz="UTC"),
        test_start=pd.Timestamp("2018-02-20", tz="UTC"),
        test_end=pd.Timestamp("2018-03-10", tz="UTC"),
    )
    tr, va = panel.train_index(split, window=24), panel.val_index(split, window=24)
    assert panel.ts[tr].max() < split.val_start - pd.Timedelta(hours=split.horizon - 1)  # purged
    assert panel.ts[va].min() >= split.val_start
    assert len(panel.train_index(split, window=24, months=0.25)) < len(tr)
    adj = asset_graph(panel, tr)
    assert adj.shape == (4, 4) and np.allclose(adj[:2].sum(axis=1), 1.0) and np.allclose(adj[2:], 0.0)
    stats = norm_stats(panel.X[tr])
    norm = stats.normaliser()
    assert np.all(norm.std > 0)
    with pytest.raises(DataValidationError, match="no rows"):
        build_panel(feats, "nobody")


def test_split_dates_must_increase() -> None:
    with pytest.raises(DataValidationError, match="must increase"):
        Split(val_start=pd.Timestamp("2020-01-01", tz="UTC"))
