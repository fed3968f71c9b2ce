from __future__ import annotations

import itertools

import numpy as np
import pytest

from fedrisk.errors import ConfigError, PrivacyError, QuorumError
from fedrisk.privacy.he import (
    KeyShare,
    ThresholdAggregator,
    ThresholdMember,
    ThresholdPublicKey,
    secure_index_sum,
    threshold_decrypt,
)
from fedrisk.privacy.he.threshold_paillier import (
    add_ciphertexts,
    combine_partials,
    encrypt,
    generate_threshold_keypair,
    partial_decrypt,
)

Keys = tuple[ThresholdPublicKey, list[KeyShare]]


def test_every_t_subset_decrypts_and_no_t_minus_1_subset_does(paillier_keys: Keys) -> None:
    # Arrange
    pk, shares = paillier_keys
    c = add_ciphertexts(pk, [encrypt(pk, 1234567), encrypt(pk, 7654321), encrypt(pk, 1)])
    # Act / Assert
    for subset in itertools.combinations(shares, pk.threshold):
        assert combine_partials(pk, [partial_decrypt(pk, s, [c]) for s in subset]) == [8888889]
    for subset in itertools.combinations(shares, pk.threshold - 1):
        with pytest.raises(PrivacyError):
            combine_partials(pk, [partial_decrypt(pk, s, [c]) for s in subset])


def test_t_minus_1_partials_posing_as_a_lower_threshold_do_not_decrypt(paillier_keys: Keys) -> None:
    # Arrange: an attacker lies about t and combines only t-1 genuine partials
    pk, shares = paillier_keys
    c = encrypt(pk, 42)
    fake = ThresholdPublicKey(n=pk.n, n_parties=pk.n_parties, threshold=pk.threshold - 1)
    # Act / Assert
    with pytest.raises(PrivacyError):
        combine_partials(fake, [partial_decrypt(pk, s, [c]) for s in shares[: pk.threshold - 1]])


def test_duplicate_partials_do_not_count_twice(paillier_keys: Keys) -> None:
    pk, shares = paillier_keys
    c = encrypt(pk, 5)
    p = partial_decrypt(pk, shares[0], [c])
    with pytest.raises(PrivacyError):
        combine_partials(pk, [p, p, p, partial_decrypt(pk, shares[1], [c])])


def test_encryption_is_randomised(paillier_keys: Keys) -> None:
    pk, _ = paillier_keys
    assert encrypt(pk, 7) != encrypt(pk, 7)


def test_vector_sum_with_dropout_before_decryption(paillier_keys: Keys) -> None:
    # Arrange: 5 members encrypt, members 1 and 4 drop out before decrypting; 3 = t remain
    pk, shares = paillier_keys
    rng = np.random.default_rng(3)
    members = [ThresholdMember(pk, s) for s in shares]
    vectors = [rng.normal(0.0, 3.0, 23) for _ in members]
    aggregator = ThresholdAggregator(pk)
    # Act
    total = aggregator.aggregate([m.encrypt(v) for m, v in zip(members, vectors, strict=True)])
    survivors = [members[i].partial_decrypt(total) for i in (0, 2, 3)]
    result = threshold_decrypt(pk, total, survivors)
    # Assert
    assert not aggregator.can_decrypt
    assert total.summands == 5
    assert np.max(np.abs(result - np.sum(vectors, axis=0))) < 5 * 2.0**-25
    with pytest.raises(PrivacyError):
        threshold_decrypt(pk, total, survivors[:2])


def test_aggregator_refuses_small_cohorts_and_mismatched_vectors(paillier_keys: Keys) -> None:
    pk, shares = paillier_keys
    m = ThresholdMember(pk, shares[0])
    agg = ThresholdAggregator(pk)
    with pytest.raises(QuorumError):
        agg.aggregate([m.encrypt([1.0]), m.encrypt([2.0])])
    with pytest.raises(ConfigError):
        agg.aggregate([m.encrypt([1.0]), m.encrypt([2.0]), m.encrypt([1.0, 2.0])])


def test_bad_keys_and_inputs(paillier_keys: Keys) -> None:
    pk, shares = paillier_keys
    with pytest.raises(ConfigError):
        generate_threshold_keypair(512, n_parties=3, threshold=4)
    with pytest.raises(ConfigError):
        generate_threshold_keypair(128, n_parties=3, threshold=2)
    with pytest.raises(ConfigError):
        encrypt(pk, pk.n)
    with pytest.raises(ConfigError):
        add_ciphertexts(pk, [0])
    with pytest.raises(ConfigError):
        ThresholdMember(pk, KeyShare(index=9, share=1))
    assert "secret" in repr(shares[0]) and str(shares[0].share) not in repr(shares[0])


def test_secure_index_sum_matches_plain_and_withholds_small_counts(paillier_keys: Keys) -> None:
    # Arrange
    pk, shares = paillier_keys
    rng = np.random.default_rng(0)
    scores = {f"m{i}": rng.uniform(0.0, 1.0, 30) for i in range(5)}
    scores["m0"][:4] = np.nan
    scores["m1"][:4] = np.nan
    scores["m2"][:2] = np.nan
    # Act
    result = secure_index_sum(scores, keys=(pk, shares), decryptors=["m4", "m2", "m0"])
    # Assert
    stacked = np.vstack(list(scores.values()))
    assert result.counts.tolist() == np.isfinite(stacked).sum(axis=0).tolist()
    assert np.all(np.isnan(result.sums[:2]))  # 2 reporting members: withheld
    np.testing.assert_allclose(result.sums[2:], np.nansum(stacked, axis=0)[2:], atol=1e-6)
    np.testing.assert_allclose(result.means[4:], np.mean(stacked[:, 4:], axis=0), atol=1e-6)


def test_secure_index_sum_refuses_two_members_and_too_few_decryptors(paillier_keys: Keys) -> None:
    pk, shares = paillier_keys
    with pytest.raises(QuorumError):
        secure_index_sum({"a": [0.1], "b": [0.2]}, bits=512)
    scores = {f"m{i}": [0.5] for i in range(5)}
    with pytest.raises(PrivacyError):
        secure_index_sum(scores, keys=(pk, shares), decryptors=["m0", "m1"])
