"""SecAgg+ preflight, index encoding and the DP update wrapper (no Flower run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedrisk.errors import ConfigError, QuorumError
from fedrisk.evaluation.early_warning import stress_index
from fedrisk.federation.dp import MemberDP, dp_clipping_range, private_update
from fedrisk.privacy.dp import NoiseSource
from fedrisk.privacy.secagg import IndexGrid, SecAggParams, decode_index, encode_scores, preflight


@pytest.mark.parametrize(
    ("members", "shares", "threshold", "tolerated"),
    [(3, 3, 3, 0), (4, 4, 3, 1), (5, 5, 3, 2), (7, 7, 4, 3), (10, 10, 6, 4)],
)
def test_default_plan_needs_an_honest_majority_and_three_survivors(
    members: int, shares: int, threshold: int, tolerated: int
) -> None:
    plan = preflight(SecAggParams(), members)
    assert (plan.num_shares, plan.threshold, plan.tolerated_dropouts) == (shares, threshold, tolerated)
    assert round(plan.threshold_arg * plan.num_shares) == threshold
    assert round(plan.num_shares_arg * members) == shares


def test_preflight_refuses_inconsistent_or_unsafe_settings() -> None:
    with pytest.raises(QuorumError, match="at least 3"):
        preflight(SecAggParams(), 2)
    with pytest.raises(ConfigError, match="exceeds the 4 members"):
        preflight(SecAggParams(num_shares=5), 4)
    with pytest.raises(ConfigError, match="must be odd"):
        preflight(SecAggParams(num_shares=4), 6)
    with pytest.raises(ConfigError, match="not above half"):
        preflight(SecAggParams(num_shares=9, reconstruction_threshold=4), 10)
    with pytest.raises(ConfigError, match="exceeds num_shares"):
        preflight(SecAggParams(num_shares=3, reconstruction_threshold=4), 10)
    with pytest.raises(ConfigError, match=">= 3"):
        SecAggParams(reconstruction_threshold=2)
    with pytest.raises(ConfigError, match="wrap"):
        preflight(SecAggParams(quantization_range=2**30), 5)
    assert preflight(SecAggParams(num_shares=5, reconstruction_threshold=3), 10).tolerated_dropouts == 2


def test_encoded_sums_decode_to_the_plain_index() -> None:
    hours = pd.date_range("2019-07-01", periods=6, freq="h", tz="UTC")
    grid = IndexGrid(hours[0], hours[-1] + pd.Timedelta(hours=1), ("BTC", "ETH"))
    rng = np.random.default_rng(0)
    frames = []
    for m, assets in {"a": ("BTC", "ETH"), "b": ("BTC",), "c": ("BTC", "ETH"), "d": ("ETH",)}.items():
        for asset in assets:
            frames.append(pd.DataFrame({"ts_utc": hours, "asset": asset, "score": rng.random(6), "member": m}))
    scores = pd.concat(frames, ignore_index=True)
    parts = [encode_scores(f, grid) for _, f in scores.groupby("member")]
    mean_s = np.mean([p[0] for p in parts], axis=0)
    mean_c = np.mean([p[1] for p in parts], axis=0)
    secure = decode_index(mean_s, mean_c, len(parts), grid)
    plain = stress_index(scores)
    pd.testing.assert_frame_equal(secure[plain.columns], plain, check_dtype=False, atol=1e-9)
    with pytest.raises(QuorumError):
        decode_index(mean_s, mean_c, 2, grid)


def test_private_update_is_clipped_and_noised_with_the_share_std() -> None:
    dp = MemberDP(noise_multiplier=2.0, clip_norm=1.0)
    std = dp.share_std(4)
    assert std == pytest.approx(1.0)
    big = [np.full(10_000, 1.0)]
    out, norm = private_update(big, clip_norm=1.0, share_std=std, source=NoiseSource())
    assert norm == pytest.approx(100.0)
    assert float(np.std(out[0])) == pytest.approx(1.0, rel=0.05)
    assert abs(float(np.mean(out[0])) - 0.01) < 0.05
    assert dp_clipping_range(1.0, std) == pytest.approx(9.0)
    with pytest.raises(ConfigError):
        MemberDP(noise_multiplier=0.0, clip_norm=1.0)
    with pytest.raises(ConfigError):
        dp.share_std(2)
