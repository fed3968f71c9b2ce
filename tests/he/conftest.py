"""Shared test keys. TEST-ONLY sizes: 512-bit Paillier, CKKS poly 8192 (the production CKKS size is cheap)."""

from __future__ import annotations

import pytest

from fedrisk.privacy.he import CkksKeys, KeyShare, ThresholdPublicKey, ckks_keygen, generate_threshold_keypair

TEST_BITS = 512


@pytest.fixture(scope="session")
def paillier_keys() -> tuple[ThresholdPublicKey, list[KeyShare]]:
    """5 parties, threshold 3, 512-bit modulus (insecure size, tests only)."""
    return generate_threshold_keypair(TEST_BITS, n_parties=5, threshold=3)


@pytest.fixture(scope="session")
def ckks_keys() -> CkksKeys:
    """Default (production) CKKS parameters."""
    return ckks_keygen()
