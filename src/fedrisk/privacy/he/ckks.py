"""CKKS aggregation with TenSEAL: members encrypt, the coordinator adds ciphertexts it cannot read.

Roles and keys
--------------
* :func:`ckks_keygen` makes one CKKS key pair. The *secret context* (secret + public key) goes to every member;
  the *public context* (public key only, **no Galois or relinearisation keys**: sums need neither) goes to the
  coordinator. TenSEAL has no threshold API, so every member holds the same secret key: the coordinator cannot
  decrypt anything, but a member that obtained another member's ciphertext could. Members must therefore only
  ever receive the encrypted *sum* (which the coordinator guarantees covers >= 3 members), and a coordinator
  colluding with one member breaks the scheme. The threshold mode (:mod:`.threshold_paillier`) removes that.
* :class:`CkksMember` flattens, clips (``fedrisk.privacy.dp.clip_update``), scales and encrypts an update in
  chunks of ``poly_modulus_degree / 2`` slots, and decrypts a sum.
* :class:`CkksAggregator` (the coordinator side) holds only the public context, refuses a context that has a
  secret key, refuses fewer than 3 updates, and adds ciphertexts chunk by chunk.

Precision
---------
Default parameters: ``poly_modulus_degree = 8192``, ``coeff_mod_bit_sizes = (60, 40, 60)``, scale ``2**40``
(128-bit security per the HE standard for ``log q = 160 <= 218``). The error of a decrypted sum of ``K``
fresh ciphertexts is measured at about ``1e-8`` per value for ``|x| <= 1`` (``docs/he-and-attacks.md``);
:data:`CKKS_ABS_ERROR_BOUND` is the bound the tests hold it to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import tenseal as ts  # type: ignore[import-untyped]

from fedrisk.errors import ConfigError, PrivacyError, require_cohort
from fedrisk.privacy.dp.clipping import clip_update
from fedrisk.privacy.he.base import HeAggregator

__all__ = [
    "CKKS_ABS_ERROR_BOUND",
    "CkksAggregator",
    "CkksKeys",
    "CkksMember",
    "CkksParams",
    "EncryptedVector",
    "ckks_keygen",
    "flatten_update",
    "unflatten_update",
]

FloatArray = npt.NDArray[np.float64]

CKKS_ABS_ERROR_BOUND = 1e-6
"""Max abs error per value of a decrypted sum of up to 100 ciphertexts of values in [-1, 1] (default params)."""


@dataclass(frozen=True, slots=True)
class CkksParams:
    """CKKS parameters. The defaults are the production ones (aggregation only, 128-bit security)."""

    poly_modulus_degree: int = 8192
    coeff_mod_bit_sizes: tuple[int, ...] = (60, 40, 60)
    scale_bits: int = 40

    def __post_init__(self) -> None:
        if self.poly_modulus_degree not in (4096, 8192, 16384, 32768):
            raise ConfigError(f"poly_modulus_degree must be 4096..32768 (power of 2), got {self.poly_modulus_degree}")
        if not 20 <= self.scale_bits <= 60:
            raise ConfigError(f"scale_bits must be in [20, 60], got {self.scale_bits}")

    @property
    def slots(self) -> int:
        """Values per ciphertext."""
        return self.poly_modulus_degree // 2


@dataclass(frozen=True, slots=True)
class CkksKeys:
    """Serialized contexts: ``secret`` for members only, ``public`` for the coordinator."""

    secret: bytes
    public: bytes
    params: CkksParams


@dataclass(frozen=True, slots=True)
class EncryptedVector:
    """A vector of ``length`` values as serialized CKKS ciphertexts of ``slots`` values each.

    ``summands`` counts how many members' vectors were added into it.
    """

    chunks: tuple[bytes, ...]
    length: int
    summands: int = 1

    @property
    def nbytes(self) -> int:
        """Size on the wire."""
        return sum(len(c) for c in self.chunks)


def ckks_keygen(params: CkksParams | None = None) -> CkksKeys:
    """One CKKS key pair; the secret key comes from SEAL's CSPRNG (seeded from the OS)."""
    params = params or CkksParams()
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, params.poly_modulus_degree, -1, list(params.coeff_mod_bit_sizes))
    ctx.global_scale = float(2**params.scale_bits)
    secret = ctx.serialize(save_public_key=True, save_secret_key=True, save_galois_keys=False, save_relin_keys=False)
    public = ctx.serialize(save_public_key=True, save_secret_key=False, save_galois_keys=False, save_relin_keys=False)
    return CkksKeys(secret=bytes(secret), public=bytes(public), params=params)


def flatten_update(arrays: Sequence[npt.NDArray[np.floating]]) -> FloatArray:
    """Concatenate layers into one float64 vector."""
    if not arrays:
        raise ConfigError("an update needs at least one array")
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


def unflatten_update(vector: FloatArray, like: Sequence[npt.NDArray[np.floating]]) -> list[FloatArray]:
    """Split a flat vector back into arrays shaped like ``like``."""
    sizes = [int(np.asarray(a).size) for a in like]
    if sum(sizes) != vector.size:
        raise ConfigError(f"vector has {vector.size} values, the layers need {sum(sizes)}")
    out, start = [], 0
    for a, size in zip(like, sizes, strict=True):
        out.append(vector[start : start + size].reshape(np.asarray(a).shape))
        start += size
    return out


class CkksMember:
    """Member side: encrypts (clipped, scaled) updates and decrypts sums. Holds the secret context."""

    def __init__(self, secret_context: bytes, params: CkksParams | None = None) -> None:
        self._ctx = ts.context_from(secret_context)
        if not self._ctx.has_secret_key():
            raise ConfigError("this context has no secret key: a member needs the secret context from keygen")
        self.params = params or CkksParams()

    def encrypt_vector(self, vector: npt.ArrayLike) -> EncryptedVector:
        """Encrypt a flat vector in chunks of ``params.slots`` values."""
        v = np.asarray(vector, dtype=np.float64).ravel()
        if v.size == 0 or not np.all(np.isfinite(v)):
            raise ConfigError("cannot encrypt an empty vector or NaN/infinite values")
        step = self.params.slots
        chunks = tuple(bytes(ts.ckks_vector(self._ctx, v[i : i + step]).serialize()) for i in range(0, v.size, step))
        return EncryptedVector(chunks=chunks, length=int(v.size))

    def encrypt_update(
        self, arrays: Sequence[npt.NDArray[np.floating]], *, clip_norm: float, scale: float = 1.0
    ) -> EncryptedVector:
        """Clip the update to L2 norm ``clip_norm`` (over all layers), multiply by ``scale``, encrypt.

        ``scale`` is the member's aggregation weight (e.g. ``1 / expected_members`` so the decrypted sum is
        already a mean); clipping first bounds each member's influence on the sum.
        """
        if not math.isfinite(scale) or scale <= 0:
            raise ConfigError(f"scale must be a finite number > 0, got {scale!r}")
        clipped, _ = clip_update([np.asarray(a, dtype=np.float64) for a in arrays], clip_norm)
        return self.encrypt_vector(flatten_update(clipped) * scale)

    def decrypt(self, encrypted: EncryptedVector) -> FloatArray:
        """Decrypt a (summed) vector."""
        parts = [np.asarray(ts.ckks_vector_from(self._ctx, c).decrypt(), dtype=np.float64) for c in encrypted.chunks]
        out = np.concatenate(parts) if parts else np.zeros(0)
        if out.size != encrypted.length:
            raise PrivacyError(f"decrypted {out.size} values, expected {encrypted.length}: corrupted ciphertext?")
        return out


class CkksAggregator(HeAggregator[EncryptedVector]):
    """Coordinator side: adds encrypted vectors. Holds the public context only (checked)."""

    def __init__(self, public_context: bytes) -> None:
        self._ctx = ts.context_from(public_context)
        if self._ctx.has_secret_key():
            raise PrivacyError(
                "the coordinator was given a context WITH a secret key: it could decrypt every update. "
                "Give it only the public context written by keygen"
            )

    @property
    def can_decrypt(self) -> bool:
        """Always ``False`` (checked at construction)."""
        return bool(self._ctx.has_secret_key())

    def aggregate(self, encrypted_updates: Sequence[EncryptedVector]) -> EncryptedVector:
        """Encrypted sum of at least ``MIN_COHORT`` vectors of the same length.

        Raises
        ------
        QuorumError
            Fewer than 3 updates.
        ConfigError
            Vectors of different lengths or chunk counts.
        """
        require_cohort(len(encrypted_updates), what="an encrypted sum")
        lengths = {(u.length, len(u.chunks)) for u in encrypted_updates}
        if len(lengths) != 1:
            raise ConfigError(f"encrypted updates differ in length/chunks: {sorted(lengths)}")
        out = []
        for k in range(len(encrypted_updates[0].chunks)):
            acc = ts.ckks_vector_from(self._ctx, encrypted_updates[0].chunks[k])
            for u in encrypted_updates[1:]:
                acc += ts.ckks_vector_from(self._ctx, u.chunks[k])
            out.append(bytes(acc.serialize()))
        return EncryptedVector(
            chunks=tuple(out),
            length=encrypted_updates[0].length,
            summands=sum(u.summands for u in encrypted_updates),
        )

    def try_decrypt(self, encrypted: EncryptedVector) -> FloatArray:
        """What a curious coordinator would try; always fails with :class:`PrivacyError`."""
        try:
            vec = ts.ckks_vector_from(self._ctx, encrypted.chunks[0])
            return np.asarray(vec.decrypt(), dtype=np.float64)
        except ValueError as err:
            raise PrivacyError(f"the coordinator cannot decrypt: {err}") from err
