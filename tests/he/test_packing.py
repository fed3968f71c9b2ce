from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedrisk.errors import ConfigError
from fedrisk.privacy.he.packing import PackingSpec, decode_fixed, encode_fixed, pack, unpack

SPEC = PackingSpec()
VALUES = st.lists(st.floats(min_value=-32767.0, max_value=32767.0, allow_nan=False), min_size=0, max_size=200)


@given(VALUES)
def test_encode_decode_round_trip_within_half_ulp(values: list[float]) -> None:
    # Act
    decoded = decode_fixed(encode_fixed(values, SPEC), SPEC)
    # Assert
    assert decoded.shape == (len(values),)
    assert np.all(np.abs(decoded - np.array(values, dtype=np.float64)) <= 2.0 ** -(SPEC.frac_bits + 1))


@given(VALUES, st.sampled_from([256, 512, 1024, 2048]))
def test_pack_unpack_round_trip(values: list[float], bits: int) -> None:
    # Arrange
    slots = encode_fixed(values, SPEC)
    # Act
    plain = pack(slots, SPEC, bits)
    # Assert
    assert all(0 <= p < 2 ** (bits - 1) for p in plain)
    assert unpack(plain, SPEC, bits, len(slots)) == slots


@settings(max_examples=50)
@given(st.lists(st.lists(st.floats(-100.0, 100.0), min_size=7, max_size=7), min_size=1, max_size=40))
def test_packed_integer_sum_is_slotwise_sum(vectors: list[list[float]]) -> None:
    # Arrange: adding packed plaintexts as integers is what Paillier does to ciphertexts
    bits = 512
    total = [0] * len(pack(encode_fixed(vectors[0], SPEC), SPEC, bits))
    for v in vectors:
        total = [a + b for a, b in zip(total, pack(encode_fixed(v, SPEC), SPEC, bits), strict=True)]
    # Act
    decoded = decode_fixed(unpack(total, SPEC, bits, 7), SPEC, summands=len(vectors))
    # Assert
    expected = np.sum(np.array(vectors), axis=0)
    assert np.max(np.abs(decoded - expected)) <= len(vectors) * 2.0 ** -(SPEC.frac_bits + 1) + 1e-9


def test_slot_geometry() -> None:
    assert SPEC.slot_bits == 48
    assert SPEC.slots_per_plaintext(2048) == 42
    assert SPEC.max_summands == 256


@pytest.mark.parametrize("bad", [[float("nan")], [float("inf")], [40000.0], [-32768.0]])
def test_encode_rejects_out_of_range(bad: list[float]) -> None:
    with pytest.raises(ConfigError):
        encode_fixed(bad, SPEC)


def test_bad_specs_and_layouts_rejected() -> None:
    with pytest.raises(ConfigError):
        PackingSpec(headroom_bits=0)
    with pytest.raises(ConfigError):
        PackingSpec(frac_bits=-1)
    with pytest.raises(ConfigError):
        SPEC.slots_per_plaintext(40)
    with pytest.raises(ConfigError):
        pack([-1], SPEC, 512)
    with pytest.raises(ConfigError):
        unpack([1, 2], SPEC, 512, 1)
    with pytest.raises(ConfigError):
        decode_fixed([1], SPEC, summands=0)
