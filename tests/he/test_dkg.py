"""Distributed key generation with TNO (no dealer): any t of n decrypt, t - 1 do not, dropouts before decryption.

Skipped where TNO's package is not installed (the optional extra `fedrisk[dkg]`: it installs pytest plugins that
need pytest-asyncio). Run it in an environment that has it, e.g.
``python -m pytest tests/he/test_dkg.py -p no:tno_communication_pools -p no:reset_encryption_scheme``.
Key generation takes 5 s to 2.5 min at 512 bits on a shared 2-core box (prime search): one key per module.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fedrisk.errors import ConfigError, PrivacyError
from fedrisk.privacy.he import ThresholdAggregator, ThresholdMember, secure_index_sum, threshold_decrypt
from fedrisk.privacy.he.dkg import DkgResult, distributed_keygen, dkg_available
from fedrisk.privacy.he.threshold_paillier import (
    ThresholdPublicKey,
    add_ciphertexts,
    combine_partials,
    encrypt,
    partial_decrypt,
)

MEMBERS = ["a", "b", "c", "d", "e"]


@pytest.fixture(scope="module")
def dkg() -> DkgResult:
    if not dkg_available():
        pytest.skip('TNO\'s distributed_keygen is not installed (optional: pip install "fedrisk[dkg]")')
    return distributed_keygen(5, corruption_threshold=1, bits=512, timeout_s=900)


def test_dkg_key_is_three_of_five_without_a_dealer(dkg: DkgResult) -> None:
    pk = dkg.public
    assert (pk.n_parties, pk.threshold) == (5, 3)
    assert pk.theta != 0 and pk.bits >= 512
    assert sorted(s.index for s in dkg.shares) == [1, 2, 3, 4, 5]
    assert ThresholdPublicKey.from_dict(pk.to_dict()) == pk


def test_any_three_of_five_decrypt_and_two_do_not(dkg: DkgResult) -> None:
    # Arrange
    pk = dkg.public
    total = add_ciphertexts(pk, [encrypt(pk, v) for v in (5, 7, 11)])
    # Act / Assert
    for subset in itertools.combinations(dkg.shares, 3):
        assert combine_partials(pk, [partial_decrypt(pk, s, [total]) for s in subset]) == [23]
    for pair in itertools.combinations(dkg.shares, 2):
        with pytest.raises(PrivacyError, match="cannot be decrypted"):
            combine_partials(pk, [partial_decrypt(pk, s, [total]) for s in pair])


def test_packed_vectors_and_a_dropout_before_decryption(dkg: DkgResult) -> None:
    # Arrange: 5 members encrypt packed vectors; the coordinator (public key only) adds them
    pk = dkg.public
    members = [ThresholdMember(pk, s) for s in dkg.shares]
    rng = np.random.default_rng(0)
    values = [rng.uniform(-1, 1, size=100) for _ in members]
    total = ThresholdAggregator(pk).aggregate([m.encrypt(v) for m, v in zip(members, values, strict=True)])
    # Act: member 0 and member 3 drop out before decrypting; 3 remain (= threshold)
    partials = [m.partial_decrypt(total) for k, m in enumerate(members) if k not in (0, 3)]
    decrypted = threshold_decrypt(pk, total, partials)
    # Assert
    assert np.max(np.abs(decrypted - np.sum(values, axis=0))) < 1e-6
    with pytest.raises(PrivacyError):
        threshold_decrypt(pk, total, partials[:2])


def test_secure_index_with_dkg_keys(dkg: DkgResult) -> None:
    scores = {m: np.array([0.1 * k, np.nan, 0.5]) for k, m in enumerate(MEMBERS)}
    scores["e"][1] = 0.9
    sums = secure_index_sum(scores, keys=(dkg.public, dkg.shares), decryptors=["b", "d", "e"])
    assert np.allclose(sums.sums[[0, 2]], [1.0, 2.5], atol=1e-6)
    assert np.isnan(sums.sums[1])  # one member reports: withheld


def test_impossible_dkg_settings_are_refused() -> None:
    if not dkg_available():
        with pytest.raises(ConfigError, match="pip install"):
            distributed_keygen(3)
        return
    with pytest.raises(ConfigError, match="2 \\* corruption_threshold"):
        distributed_keygen(4, corruption_threshold=2, bits=512)
    with pytest.raises(ConfigError, match="bits"):
        distributed_keygen(3, bits=256)
