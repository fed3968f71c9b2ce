from __future__ import annotations

import numpy as np
import pytest

from fedrisk.errors import ConfigError, PrivacyError, QuorumError
from fedrisk.privacy.dp import global_l2_norm
from fedrisk.privacy.he import (
    CKKS_ABS_ERROR_BOUND,
    CkksAggregator,
    CkksKeys,
    CkksMember,
    flatten_update,
    unflatten_update,
)


def test_sum_matches_plain_within_bound_across_chunks(ckks_keys: CkksKeys) -> None:
    # Arrange: 10 000 values = 3 ciphertexts of 4096 slots (last one partial)
    rng = np.random.default_rng(0)
    member, coordinator = CkksMember(ckks_keys.secret), CkksAggregator(ckks_keys.public)
    vectors = [rng.uniform(-1.0, 1.0, 10_000) for _ in range(10)]
    # Act
    encrypted = [member.encrypt_vector(v) for v in vectors]
    total = member.decrypt(coordinator.aggregate(encrypted))
    # Assert
    assert len(encrypted[0].chunks) == 3
    error = float(np.max(np.abs(total - np.sum(vectors, axis=0))))
    assert error < CKKS_ABS_ERROR_BOUND
    assert encrypted[0].nbytes > 8 * 10_000  # ciphertext expansion is real


def test_coordinator_alone_cannot_decrypt(ckks_keys: CkksKeys) -> None:
    # Arrange
    member, coordinator = CkksMember(ckks_keys.secret), CkksAggregator(ckks_keys.public)
    total = coordinator.aggregate([member.encrypt_vector([1.0, 2.0, 3.0]) for _ in range(3)])
    # Act / Assert
    assert not coordinator.can_decrypt
    with pytest.raises(PrivacyError, match="cannot decrypt"):
        coordinator.try_decrypt(total)
    with pytest.raises(ConfigError):
        CkksMember(ckks_keys.public)  # a public context cannot make a member


def test_coordinator_refuses_a_secret_context(ckks_keys: CkksKeys) -> None:
    with pytest.raises(PrivacyError):
        CkksAggregator(ckks_keys.secret)


def test_public_context_is_small_without_galois_keys(ckks_keys: CkksKeys) -> None:
    assert len(ckks_keys.public) < 2_000_000


def test_encrypt_update_clips_and_scales(ckks_keys: CkksKeys) -> None:
    # Arrange
    member, coordinator = CkksMember(ckks_keys.secret), CkksAggregator(ckks_keys.public)
    update = [np.full((3, 4), 10.0), np.full(5, -10.0)]
    # Act
    enc = [member.encrypt_update(update, clip_norm=1.0, scale=1.0 / 3) for _ in range(3)]
    mean = unflatten_update(member.decrypt(coordinator.aggregate(enc)), update)
    # Assert: the mean of three identical clipped updates has norm <= 1
    assert [a.shape for a in mean] == [(3, 4), (5,)]
    assert abs(global_l2_norm(mean) - 1.0) < 1e-5
    assert float(mean[0][0, 0]) > 0 > float(mean[1][0])


def test_quorum_and_bad_input(ckks_keys: CkksKeys) -> None:
    member, coordinator = CkksMember(ckks_keys.secret), CkksAggregator(ckks_keys.public)
    with pytest.raises(QuorumError):
        coordinator.aggregate([member.encrypt_vector([1.0]) for _ in range(2)])
    with pytest.raises(ConfigError):
        coordinator.aggregate(
            [member.encrypt_vector([1.0]), member.encrypt_vector([1.0]), member.encrypt_vector([1.0, 2.0])]
        )
    with pytest.raises(ConfigError):
        member.encrypt_vector([float("nan")])
    with pytest.raises(ConfigError):
        member.encrypt_update([np.ones(3)], clip_norm=1.0, scale=0.0)
    with pytest.raises(ConfigError):
        flatten_update([])
    with pytest.raises(ConfigError):
        unflatten_update(np.zeros(3), [np.zeros(4)])
