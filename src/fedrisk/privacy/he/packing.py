"""Fixed-point encoding and packing of many values into one big integer plaintext (pure functions).

Paillier encrypts one integer modulo ``n`` (2048 bits in production). One value per ciphertext would cost
about 13 ms each (measured, ``docs/he-and-attacks.md``); packing ``k`` values into ``k`` slots of ``b`` bits
divides that by ``k``.

Layout of one slot (``b = frac_bits + int_bits + 1 + headroom_bits`` bits)::

    value x  ->  v = round(x * 2**frac_bits)         |v| < 2**(frac_bits + int_bits)
             ->  slot = v + offset,  offset = 2**(frac_bits + int_bits)   (0 <= slot < 2**(b - headroom_bits))

Adding the plaintexts of ``K <= 2**headroom_bits`` members adds slot by slot without carries (each slot
stays below ``2**b``); decoding subtracts ``K * offset``. The plaintext ``sum_j slot_j * 2**(b*j)`` must stay
below ``n``, hence ``slots_per_plaintext = (bits(n) - 2) // b``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fedrisk.errors import ConfigError

__all__ = ["PackingSpec", "decode_fixed", "encode_fixed", "pack", "unpack"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PackingSpec:
    """Fixed-point format and slot width.

    Parameters
    ----------
    frac_bits
        Fractional bits: the rounding error per value is at most ``2**-(frac_bits+1)``.
    int_bits
        Integer bits: values must satisfy ``|x| < 2**int_bits``.
    headroom_bits
        Up to ``2**headroom_bits`` ciphertexts can be added before a slot could overflow.
    """

    frac_bits: int = 24
    int_bits: int = 15
    headroom_bits: int = 8

    def __post_init__(self) -> None:
        for name in ("frac_bits", "int_bits", "headroom_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 512:
                raise ConfigError(f"PackingSpec.{name} must be an integer in [0, 512], got {value!r}")
        if self.headroom_bits < 1:
            raise ConfigError("PackingSpec.headroom_bits must be >= 1 (a sum needs at least 2 summands' room)")

    @property
    def slot_bits(self) -> int:
        """Width of one slot in bits."""
        return self.frac_bits + self.int_bits + 1 + self.headroom_bits

    @property
    def offset(self) -> int:
        """Added to each signed fixed-point value so that slots are non-negative."""
        return 1 << (self.frac_bits + self.int_bits)

    @property
    def max_summands(self) -> int:
        """How many packed plaintexts can be added without a slot overflowing."""
        return 1 << self.headroom_bits

    def slots_per_plaintext(self, modulus_bits: int) -> int:
        """Slots that fit below a modulus of ``modulus_bits`` bits."""
        k = (modulus_bits - 2) // self.slot_bits
        if k < 1:
            raise ConfigError(f"a {self.slot_bits}-bit slot does not fit in a {modulus_bits}-bit modulus")
        return k


def encode_fixed(values: npt.ArrayLike, spec: PackingSpec) -> list[int]:
    """Signed fixed-point integers ``round(x * 2**frac_bits)`` shifted by ``spec.offset`` (all >= 0).

    Raises
    ------
    ConfigError
        A value is not finite or ``|x| >= 2**int_bits``.
    """
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise ConfigError("cannot encode NaN or infinite values; clip or drop them first")
    limit = float(2**spec.int_bits)
    if arr.size and float(np.max(np.abs(arr))) >= limit:
        raise ConfigError(
            f"value {float(np.max(np.abs(arr))):.6g} out of range: |x| must be < 2**{spec.int_bits} = {limit:g}; "
            "scale or clip the values, or raise PackingSpec.int_bits"
        )
    scale = 1 << spec.frac_bits
    return [round(float(x) * scale) + spec.offset for x in arr]


def decode_fixed(slots: list[int], spec: PackingSpec, *, summands: int = 1) -> FloatArray:
    """Inverse of :func:`encode_fixed` for the sum of ``summands`` encoded vectors."""
    if summands < 1 or summands > spec.max_summands:
        raise ConfigError(f"summands must be in [1, {spec.max_summands}], got {summands}")
    shift = summands * spec.offset
    scale = float(1 << spec.frac_bits)
    return np.array([(s - shift) / scale for s in slots], dtype=np.float64)


def pack(slots: list[int], spec: PackingSpec, modulus_bits: int) -> list[int]:
    """Pack non-negative slot values into plaintext integers of ``slots_per_plaintext`` slots each."""
    k = spec.slots_per_plaintext(modulus_bits)
    limit = 1 << (spec.slot_bits - spec.headroom_bits)
    out: list[int] = []
    for start in range(0, len(slots), k):
        acc = 0
        for j, s in enumerate(slots[start : start + k]):
            if s < 0 or s >= limit:
                raise ConfigError(f"slot value {s} outside [0, 2**{spec.slot_bits - spec.headroom_bits})")
            acc |= s << (spec.slot_bits * j)
        out.append(acc)
    return out


def unpack(plaintexts: list[int], spec: PackingSpec, modulus_bits: int, length: int) -> list[int]:
    """Split plaintext integers back into ``length`` slot values (inverse of :func:`pack`)."""
    k = spec.slots_per_plaintext(modulus_bits)
    if length < 0 or math.ceil(length / k) != len(plaintexts):
        raise ConfigError(f"{len(plaintexts)} plaintexts cannot hold exactly {length} values of {k} per plaintext")
    mask = (1 << spec.slot_bits) - 1
    out: list[int] = []
    for p in plaintexts:
        if p < 0:
            raise ConfigError("a packed plaintext cannot be negative (wrong key or corrupted ciphertext?)")
        for j in range(k):
            if len(out) == length:
                break
            out.append((p >> (spec.slot_bits * j)) & mask)
    return out
