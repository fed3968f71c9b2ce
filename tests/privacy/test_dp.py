"""DP mechanisms: clipping properties, noise statistics, noise sources, DP-FedAvg mean, DP-SGD."""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fedrisk.errors import ConfigError, PrivacyError, QuorumError
from fedrisk.privacy.accounting import GaussianStep
from fedrisk.privacy.dp import (
    INSECURE_WARNING,
    NoiseSource,
    add_gaussian_noise,
    clip_update,
    distributed_noise_std,
    dp_fedavg_mean,
    gaussian_noise_like,
    global_l2_norm,
    make_private,
)


def _seeded(seed: int = 0) -> NoiseSource:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return NoiseSource(secure_mode=False, rng=seed)


_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=64)
_dtypes = st.sampled_from([np.float32, np.float64])
_updates = st.lists(
    _dtypes.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(max_dims=2, max_side=6), elements=_floats.map(dt))),
    min_size=1,
    max_size=4,
)


@settings(max_examples=80, deadline=None)
@given(update=_updates, clip=st.floats(min_value=1e-6, max_value=1e4))
def test_clipping_never_exceeds_the_bound(update: list[np.ndarray], clip: float) -> None:
    # Act
    clipped, norm = clip_update(update, clip)
    # Assert
    assert global_l2_norm(clipped) <= clip
    assert norm == pytest.approx(global_l2_norm(update))
    assert [a.shape for a in clipped] == [a.shape for a in update]
    assert [a.dtype for a in clipped] == [a.dtype for a in update]


@settings(max_examples=50, deadline=None)
@given(update=_updates)
def test_clipping_is_identity_under_the_bound(update: list[np.ndarray]) -> None:
    # Arrange
    clip = global_l2_norm(update) + 1.0
    # Act
    clipped, _ = clip_update(update, clip)
    # Assert
    for before, after in zip(update, clipped, strict=True):
        np.testing.assert_array_equal(before, after)
        assert after is not before


@settings(max_examples=30, deadline=None)
@given(update=_updates, clip=st.floats(min_value=1e-3, max_value=1e3))
def test_clipping_preserves_direction(update: list[np.ndarray], clip: float) -> None:
    # Act
    clipped, norm = clip_update(update, clip)
    # Assert: clipped = factor * update with one factor for every array
    if norm > clip:
        flat_in = np.concatenate([a.ravel().astype(np.float64) for a in update])
        flat_out = np.concatenate([a.ravel().astype(np.float64) for a in clipped])
        np.testing.assert_allclose(flat_out, flat_in * (global_l2_norm(clipped) / norm), rtol=1e-5, atol=1e-30)


def test_clipping_known_value_and_bad_input() -> None:
    # Act
    clipped, norm = clip_update([np.array([3.0]), np.array([[4.0]])], clip_norm=1.0)
    # Assert
    assert norm == 5.0
    np.testing.assert_allclose(clipped[0], [0.6], rtol=1e-12)
    np.testing.assert_allclose(clipped[1], [[0.8]], rtol=1e-12)
    with pytest.raises(PrivacyError, match="NaN or infinite"):
        clip_update([np.array([1.0, np.nan])], 1.0)
    with pytest.raises(ConfigError, match="clip_norm must be a finite number > 0"):
        clip_update([np.ones(2)], 0.0)
    with pytest.raises(ConfigError, match=r"update\[0\] must be a floating numpy array, got int64"):
        clip_update([np.ones(2, dtype=np.int64)], 1.0)
    with pytest.raises(ConfigError, match="list of arrays"):
        clip_update(np.ones(3), 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("secure", [True, False])
def test_noise_std_is_right_on_large_samples(secure: bool) -> None:
    # Arrange
    source = NoiseSource() if secure else _seeded(1)
    n, std = 400_000, 2.5
    # Act
    noise = gaussian_noise_like([np.zeros(n // 2), np.zeros((n // 4, 2), dtype=np.float32)], std, source)
    flat = np.concatenate([a.ravel().astype(np.float64) for a in noise])
    # Assert: sample std has standard error std / sqrt(2n) ≈ 0.0028; mean's is 0.004
    assert noise[1].dtype == np.float32
    assert abs(flat.mean()) < 0.02
    assert flat.std() == pytest.approx(std, abs=0.015)
    # Gaussian shape: fourth standardised moment 3 (s.e. ≈ 0.008), 95.45 % within 2σ
    assert np.mean((flat / std) ** 4) == pytest.approx(3.0, abs=0.06)
    assert np.mean(np.abs(flat) < 2 * std) == pytest.approx(0.9545, abs=0.003)


def test_secure_uniforms_are_in_the_half_open_unit_interval_and_fresh() -> None:
    # Arrange
    source = NoiseSource()
    # Act
    u, v = source.uniform(100_000), source.uniform(100_000)
    # Assert
    assert u.min() > 0.0 and u.max() <= 1.0
    assert u.mean() == pytest.approx(0.5, abs=0.005)
    assert not np.array_equal(u, v)


def test_seeded_source_is_reproducible_and_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    # Act
    with (
        caplog.at_level(logging.WARNING, logger="fedrisk.privacy.dp.noise"),
        pytest.warns(UserWarning, match="privacy guarantee is VOID"),
    ):
        a = NoiseSource(secure_mode=False, rng=7)
    b = _seeded(7)
    # Assert
    np.testing.assert_array_equal(a.normal((5, 3), std=1.0), b.normal((5, 3), std=1.0))
    assert INSECURE_WARNING in caplog.text


def test_secure_source_does_not_warn_and_refuses_a_seed() -> None:
    # Act / Assert
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NoiseSource(secure_mode=True)
    with pytest.raises(ConfigError, match="secure noise cannot be seeded"):
        NoiseSource(secure_mode=True, rng=1)
    with pytest.raises(ConfigError, match="needs rng"):
        NoiseSource(secure_mode=False)
    with pytest.raises(ConfigError, match="std must be"):
        NoiseSource().normal((2,), std=-1.0)
    with pytest.raises(ConfigError, match="noise dtype must be floating"):
        NoiseSource().normal((2,), std=1.0, dtype=np.int32)


def test_add_gaussian_noise_with_zero_std_is_identity() -> None:
    # Arrange
    arrays = [np.arange(4.0), np.ones((2, 2), dtype=np.float32)]
    # Act
    out = add_gaussian_noise(arrays, 0.0, NoiseSource())
    # Assert
    for before, after in zip(arrays, out, strict=True):
        np.testing.assert_array_equal(before, after)


def test_dp_fedavg_mean_known_value_noise_and_guards() -> None:
    # Arrange: three clipped updates (norm ≤ 1)
    updates = [[np.array([0.6, 0.8])], [np.array([0.0, 1.0])], [np.array([0.3, 0.0])]]
    # Act
    exact = dp_fedavg_mean(updates, clip_norm=1.0, noise_multiplier=0.0, source=NoiseSource())
    zeros = [[np.zeros(20_000)] for _ in range(3)]
    noisy = dp_fedavg_mean(zeros, clip_norm=1.0, noise_multiplier=2.0, source=NoiseSource(), expected_members=3)
    # Assert: mean, and noise std z*C/d = 2/3 on the mean (s.e. of the sample std ≈ 0.5 %)
    np.testing.assert_allclose(exact[0], [0.3, 0.6])
    assert np.std(noisy[0]) == pytest.approx(2 / 3, rel=0.025)
    with pytest.raises(QuorumError, match="over 2 members"):
        dp_fedavg_mean(updates[:2], clip_norm=1.0, noise_multiplier=1.0, source=NoiseSource())
    with pytest.raises(PrivacyError, match="clip it with clip_update"):
        dp_fedavg_mean([*updates, [np.array([3.0, 4.0])]], clip_norm=1.0, noise_multiplier=1.0, source=NoiseSource())
    with pytest.raises(ConfigError, match="layer shapes"):
        dp_fedavg_mean([*updates, [np.zeros(3)]], clip_norm=1.0, noise_multiplier=1.0, source=NoiseSource())


def test_distributed_noise_std_adds_up_over_min_contributors() -> None:
    # Act
    std = distributed_noise_std(noise_multiplier=1.2, clip_norm=0.5, min_contributors=4)
    # Assert: four shares have total variance (zC)^2
    assert math.sqrt(4 * std**2) == pytest.approx(1.2 * 0.5)
    with pytest.raises(ConfigError, match="min_contributors"):
        distributed_noise_std(noise_multiplier=1.0, clip_norm=1.0, min_contributors=0)


def _tiny_training(secure_mode: bool, seed: int | None, epochs: int = 4) -> tuple[float, int, GaussianStep, float]:
    torch.manual_seed(0)
    x = torch.randn(256, 6)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    private = make_private(
        model, optimizer, loader, noise_multiplier=0.8, max_grad_norm=1.0, secure_mode=secure_mode, rng=seed
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Full backward hook.*")
        for _ in range(epochs):
            for xb, yb in private.data_loader:
                private.optimizer.zero_grad()
                loss = nn.functional.cross_entropy(private.model(xb), yb)
                loss.backward()  # type: ignore[no-untyped-call]
                private.optimizer.step()
    with torch.no_grad():
        accuracy = float((private.model(x).argmax(1) == y).float().mean())
    first_weight = float(next(private.model.parameters()).detach().flatten()[0])
    return accuracy, private.steps_taken(), private.accounting_step(), first_weight


def test_make_private_trains_and_reports_ledger_figures() -> None:
    # Act
    accuracy, steps, step, _ = _tiny_training(secure_mode=True, seed=None)
    # Assert: 256 records, batch 32 → q = 1/8, 8 steps per epoch, 4 epochs
    assert step == GaussianStep(0.8, 0.125, 32)
    assert steps == 32
    assert accuracy > 0.7  # learns despite noise (a linear rule, 4 noisy epochs)


def test_make_private_seeded_is_reproducible_and_secure_is_not() -> None:
    # Act
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _, _, _, w1 = _tiny_training(secure_mode=False, seed=3, epochs=1)
        _, _, _, w2 = _tiny_training(secure_mode=False, seed=3, epochs=1)
    _, _, _, w3 = _tiny_training(secure_mode=True, seed=None, epochs=1)
    _, _, _, w4 = _tiny_training(secure_mode=True, seed=None, epochs=1)
    # Assert
    assert w1 == w2
    assert w3 != w4


def test_make_private_refuses_bad_parameters() -> None:
    # Arrange
    model = nn.Linear(2, 2)
    loader = DataLoader(TensorDataset(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)), batch_size=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    # Act / Assert
    with pytest.raises(ConfigError, match="max_grad_norm must be"):
        make_private(model, opt, loader, noise_multiplier=1.0, max_grad_norm=0.0)
    with pytest.raises(ConfigError, match="noise_multiplier must be"):
        make_private(model, opt, loader, noise_multiplier=-1.0, max_grad_norm=1.0)
    with pytest.raises(ConfigError, match="secure noise cannot be seeded"):
        make_private(model, opt, loader, noise_multiplier=1.0, max_grad_norm=1.0, rng=1)
