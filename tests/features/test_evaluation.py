"""Metrics, bootstrap intervals, the summary and early-warning helpers, including members without events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedrisk.evaluation.early_warning import alarm_threshold, episode_onsets, lead_times, stress_index
from fedrisk.evaluation.metrics import auprc, binary_metrics, paired_day_bootstrap
from fedrisk.jobs.stress import summary


def test_metrics_are_none_without_events_never_zero() -> None:
    y, p = np.zeros(100), np.linspace(0, 1, 100)
    m = binary_metrics(y, p)
    assert m["auprc"] is None and m["auroc"] is None and m["brier"] == pytest.approx(np.mean(p**2))


def test_bootstrap_detects_a_real_difference_and_not_a_null_one() -> None:
    rng = np.random.default_rng(0)
    n = 24 * 60
    y = (rng.random(n) < 0.1).astype(float)
    good = y * 0.6 + rng.random(n) * 0.5
    noise = rng.random(n)
    days = np.repeat(np.arange(60), 24)
    better = paired_day_bootstrap(y, noise, good, days, n_boot=100, rng=np.random.default_rng(1))
    assert better.significant and better.delta is not None and better.delta > 0.3
    same = paired_day_bootstrap(y, good, good + 1e-9 * noise, days, n_boot=100, rng=np.random.default_rng(1))
    assert not same.significant
    none = paired_day_bootstrap(np.zeros(n), noise, good, days, n_boot=10, rng=np.random.default_rng(1))
    assert none.delta is None and none.significant is None


def _row(member: str, local: float | None, fed: float | None, central: float | None, sig: bool) -> dict[str, object]:
    delta = None if local is None or fed is None else fed - local
    return {
        "member": member,
        "auprc_local": local,
        "auprc_federated": fed,
        "auprc_central": central,
        "auprc_heuristic": 0.05,
        "fed_minus_local_auprc": {"delta": delta, "significant": sig},
    }


def test_summary_counts_only_members_with_events() -> None:
    rows = [
        _row("a", 0.10, 0.12, 0.13, True),
        _row("b", 0.20, 0.18, 0.20, False),
        _row("c", 0.05, 0.07, 0.06, False),
        _row("quiet", None, None, None, False),
    ]
    s = summary(rows)
    assert s["members_evaluated"] == 3 and s["members_gaining"] == 2
    assert s["median_gain"] == pytest.approx(0.02)
    assert s["federated_pct_of_central"] == pytest.approx(100 * (0.37 / 3) / (0.39 / 3), abs=0.1)
    assert s["members_significantly_better"] == ["a"] and s["members_significantly_worse"] == []


def test_alarm_threshold_fires_on_the_chosen_share_of_quiet_hours() -> None:
    scores = np.linspace(0, 1, 1001)
    thr = alarm_threshold(scores, np.zeros(1001), far=0.05)
    assert np.mean(scores > thr) == pytest.approx(0.05, abs=0.002)
    with pytest.raises(ValueError):
        alarm_threshold(scores, np.ones(1001))


def test_episodes_and_lead_times() -> None:
    stress = np.zeros(200, dtype=bool)
    stress[[50, 51, 60, 120]] = True  # 50-60 is one episode (gap < 24 h), 120 a second
    onsets = episode_onsets(stress, quiet_hours=24)
    assert onsets.tolist() == [50, 120]
    alarms = np.zeros(200, dtype=bool)
    alarms[[40, 45]] = True  # first alarm 10 h before the first onset; none before the second
    lt = lead_times(alarms, onsets, lookback=24)
    assert lt.episodes == 2 and lt.detected == 1 and lt.median_lead_hours == 10.0


def test_index_is_withheld_below_three_members() -> None:
    ts = pd.Timestamp("2019-07-01", tz="UTC")
    scores = pd.DataFrame(
        {
            "ts_utc": [ts] * 5 + [ts + pd.Timedelta(hours=1)] * 2,
            "member": ["a", "b", "c", "a", "b", "a", "b"],
            "asset": ["BTC", "BTC", "BTC", "XRP", "XRP", "BTC", "BTC"],
            "score": [0.1, 0.2, 0.3, 0.5, 0.5, 0.9, 0.9],
        }
    )
    idx = stress_index(scores)
    btc = idx[idx["asset"] == "BTC"].set_index("ts_utc")["index"]
    assert btc.iloc[0] == pytest.approx(20.0) and np.isnan(btc.iloc[1])
    assert idx[idx["asset"] == "XRP"]["index"].isna().all()
    market = idx[idx["asset"] == "MARKET"]
    assert len(market) == 1 and market["index"].iloc[0] == pytest.approx(20.0)
    assert auprc(np.array([0.0, 1.0]), np.array([0.1, 0.9])) == 1.0
