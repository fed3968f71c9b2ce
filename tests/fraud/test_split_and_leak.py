"""The exchanges' split (Dirichlet label skew: seeded, disjoint, skewed) and the leak study (with vs without
the missingness indicator) on generated accounts."""

from __future__ import annotations

import numpy as np
import pytest

from fedrisk.data.fraud import dirichlet_label_split, stratified_split, validate_accounts
from fedrisk.errors import ConfigError, QuorumError
from fedrisk.jobs.fraud import FraudConfig, leak_study, split_exchanges
from fedrisk.models.tabular import MomentSums, Normaliser, XgbSettings
from fraud.conftest import fraud_frame

LABELS = np.r_[np.zeros(3000, dtype=int), np.ones(800, dtype=int)]


def test_dirichlet_split_is_disjoint_complete_and_seeded() -> None:
    parts = dirichlet_label_split(LABELS, 5, alpha=0.5, rng=np.random.default_rng(3))
    allrows = np.concatenate(parts)
    assert len(allrows) == len(LABELS) and len(np.unique(allrows)) == len(LABELS)
    again = dirichlet_label_split(LABELS, 5, alpha=0.5, rng=np.random.default_rng(3))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    other = dirichlet_label_split(LABELS, 5, alpha=0.5, rng=np.random.default_rng(4))
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other, strict=True))
    assert min(min((LABELS[p] == c).sum() for c in (0, 1)) for p in parts) >= 20


def test_small_alpha_skews_labels_large_alpha_does_not() -> None:
    def rate_spread(alpha: float) -> float:
        parts = dirichlet_label_split(LABELS, 5, alpha=alpha, rng=np.random.default_rng(0))
        rates = [LABELS[p].mean() for p in parts]
        return float(max(rates) - min(rates))

    assert rate_spread(0.5) > 0.25  # fraud rates differ by more than 25 points between exchanges
    assert rate_spread(1000.0) < 0.03  # near-IID
    with pytest.raises(ConfigError, match="no Dirichlet"):
        dirichlet_label_split(LABELS[:100], 5, alpha=0.05, rng=np.random.default_rng(0), min_per_class=20)


def test_stratified_split_keeps_rates_and_is_disjoint() -> None:
    tr, va, te = stratified_split(LABELS, val=0.2, test=0.2, rng=np.random.default_rng(1))
    assert len(set(tr) | set(va) | set(te)) == len(LABELS) == len(tr) + len(va) + len(te)
    for part in (tr, va, te):
        assert abs(LABELS[part].mean() - LABELS.mean()) < 0.005
    assert len(te) == 760 and len(va) == 760


def test_exchanges_are_named_and_config_refuses_two_members() -> None:
    splits = split_exchanges(LABELS, FraudConfig(members=4))
    assert [s.name for s in splits] == ["exchange-1", "exchange-2", "exchange-3", "exchange-4"]
    with pytest.raises(ConfigError, match="at least 3"):
        FraudConfig(members=2)


def test_pooled_normalisation_refuses_fewer_than_three_members() -> None:
    x = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(QuorumError):
        Normaliser.from_sums([MomentSums.of(x), MomentSums.of(x)])
    pooled = Normaliser.from_sums([MomentSums.of(x[:20]), MomentSums.of(x[20:35]), MomentSums.of(x[35:])])
    np.testing.assert_allclose(pooled.mean, Normaliser.fit(x).mean)
    np.testing.assert_allclose(pooled.std, Normaliser.fit(x).std)


def test_the_indicator_inflates_metrics_and_the_default_does_not_use_the_leak() -> None:
    # Frauds with empty ERC20 rows: the indicator finds every one of them; the default cannot tell them apart
    # from zero-activity normal accounts, so its recall on them comes only from the Ether features.
    acc = validate_accounts(fraud_frame(2000, seed=11, missing_share=0.6, signal=0.3).astype(str))
    config = FraudConfig(members=3, xgb=XgbSettings(eta=0.3, max_depth=3), xgb_max_rounds=40)
    leak = leak_study(acc, split_exchanges(acc.labels, config), config)
    modes = leak["modes"]
    assert leak["default"] == "impute" and leak["test_frauds_erc20_missing"] > 30
    assert modes["indicator"]["features"] == modes["impute"]["features"] + 1
    assert modes["indicator"]["recall_on_erc20_missing_frauds"] >= 0.95
    assert modes["impute"]["recall_on_erc20_missing_frauds"] < 0.8  # measured 0.65
    assert leak["indicator_minus_default_f1"] > 0.1  # measured 0.85 vs 0.65
    assert 0.5 < modes["impute"]["f1"] < modes["indicator"]["f1"] <= 1.0
    assert leak["default_on_erc20_present_rows"]["accounts"] < leak["test_accounts"]
