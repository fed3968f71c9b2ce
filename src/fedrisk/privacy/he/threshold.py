"""Threshold mode: packed fixed-point vectors under threshold Paillier; no single party can decrypt.

* :class:`ThresholdMember` (a member: public key + its own key share) encrypts a vector, packing
  ``slots_per_plaintext`` fixed-point values per ciphertext, and produces its partial decryption of a sum.
* :class:`ThresholdAggregator` (the coordinator: public key only) multiplies ciphertexts, i.e. adds plaintexts.
* :func:`threshold_decrypt` combines any ``t`` members' partial decryptions; ``t - 1`` are refused.
* :func:`secure_index_sum` is the one-call version for the lead: sums of per-member scores (e.g. the stress
  index) and the number of members reporting each position, released only where >= 3 members report.

Key generation is dealer-based (see :mod:`.threshold_paillier` for what that does not protect).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fedrisk.errors import MIN_COHORT, ConfigError, PrivacyError, require_cohort
from fedrisk.privacy.he.base import HeAggregator
from fedrisk.privacy.he.packing import PackingSpec, decode_fixed, encode_fixed, pack, unpack
from fedrisk.privacy.he.threshold_paillier import (
    KeyShare,
    PartialDecryption,
    ThresholdPublicKey,
    add_ciphertexts,
    combine_partials,
    encrypt,
    generate_threshold_keypair,
    partial_decrypt,
)

__all__ = [
    "IndexSums",
    "PaillierVector",
    "ThresholdAggregator",
    "ThresholdMember",
    "secure_index_sum",
    "threshold_decrypt",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PaillierVector:
    """``length`` packed fixed-point values in Paillier ciphertexts; ``summands`` vectors were added into it."""

    ciphertexts: tuple[int, ...]
    length: int
    summands: int = 1

    def nbytes(self, pk: ThresholdPublicKey) -> int:
        """Size on the wire (each ciphertext is an element of ``Z_{n^2}``)."""
        return len(self.ciphertexts) * ((2 * pk.bits + 7) // 8)


class ThresholdMember:
    """A member: encrypts its vectors and partially decrypts sums with its own key share."""

    def __init__(self, pk: ThresholdPublicKey, share: KeyShare, spec: PackingSpec | None = None) -> None:
        if not 1 <= share.index <= pk.n_parties:
            raise ConfigError(f"key share index {share.index} does not belong to a {pk.n_parties}-party key")
        self.pk, self._share, self.spec = pk, share, spec or PackingSpec()

    @property
    def index(self) -> int:
        """This member's 1-based share index."""
        return self._share.index

    def encrypt(self, values: npt.ArrayLike) -> PaillierVector:
        """Encode, pack and encrypt a flat vector."""
        slots = encode_fixed(values, self.spec)
        if not slots:
            raise ConfigError("cannot encrypt an empty vector")
        plaintexts = pack(slots, self.spec, self.pk.bits)
        return PaillierVector(ciphertexts=tuple(encrypt(self.pk, p) for p in plaintexts), length=len(slots))

    def partial_decrypt(self, encrypted_sum: PaillierVector) -> PartialDecryption:
        """This member's partial decryption; reveals nothing without ``t - 1`` others."""
        return partial_decrypt(self.pk, self._share, list(encrypted_sum.ciphertexts))


class ThresholdAggregator(HeAggregator[PaillierVector]):
    """Coordinator side: holds the public key only."""

    def __init__(self, pk: ThresholdPublicKey) -> None:
        self.pk = pk

    @property
    def can_decrypt(self) -> bool:
        """Always ``False``: there is no secret here, and no single share suffices when ``t >= 2``."""
        return False

    def aggregate(self, encrypted_updates: Sequence[PaillierVector]) -> PaillierVector:
        """Encrypted sum of at least 3 vectors of equal length."""
        require_cohort(len(encrypted_updates), what="an encrypted sum")
        shapes = {(u.length, len(u.ciphertexts)) for u in encrypted_updates}
        if len(shapes) != 1:
            raise ConfigError(f"encrypted vectors differ in length: {sorted(shapes)}")
        cts = tuple(
            add_ciphertexts(self.pk, [u.ciphertexts[k] for u in encrypted_updates])
            for k in range(len(encrypted_updates[0].ciphertexts))
        )
        return PaillierVector(
            ciphertexts=cts, length=encrypted_updates[0].length, summands=sum(u.summands for u in encrypted_updates)
        )


def threshold_decrypt(
    pk: ThresholdPublicKey,
    encrypted_sum: PaillierVector,
    partials: Sequence[PartialDecryption],
    spec: PackingSpec | None = None,
) -> FloatArray:
    """Decode a sum from at least ``t`` partial decryptions (any ``t`` members; dropouts are fine).

    Raises
    ------
    PrivacyError
        Fewer than ``t`` distinct partials, or inconsistent partials.
    """
    spec = spec or PackingSpec()
    if encrypted_sum.summands > spec.max_summands:
        raise ConfigError(f"{encrypted_sum.summands} summands overflow {spec.headroom_bits} headroom bits")
    for p in partials:
        if len(p.values) != len(encrypted_sum.ciphertexts):
            raise ConfigError(f"partial from member {p.index} covers {len(p.values)} ciphertexts, not this sum")
    plaintexts = combine_partials(pk, list(partials))
    slots = unpack(plaintexts, spec, pk.bits, encrypted_sum.length)
    return decode_fixed(slots, spec, summands=encrypted_sum.summands)


@dataclass(frozen=True, slots=True)
class IndexSums:
    """Per-position sums and reporting counts; ``sums`` is NaN where fewer than 3 members report."""

    sums: FloatArray
    counts: npt.NDArray[np.int64]

    @property
    def means(self) -> FloatArray:
        """``sums / counts`` (NaN where withheld)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sums / self.counts


def secure_index_sum(
    scores_by_member: Mapping[str, npt.ArrayLike],
    *,
    keys: tuple[ThresholdPublicKey, Sequence[KeyShare]] | None = None,
    threshold: int | None = None,
    bits: int = 2048,
    spec: PackingSpec | None = None,
    decryptors: Sequence[str] | None = None,
) -> IndexSums:
    """Sum per-member score vectors (NaN = member does not report that position) under threshold Paillier.

    Each member encrypts its scores (NaN → 0) and a 0/1 "reports" indicator, packed into one vector; the
    coordinator adds; ``decryptors`` (default: the first ``t`` members) partially decrypt; the sums are
    released only where at least 3 members report. This runs every role in one process: use it where the lead
    computes the index itself, and the member/aggregator classes where the roles are separate processes.

    Parameters
    ----------
    scores_by_member
        Member name → vector (all the same length), e.g. ``p[m, a, t]`` flattened over ``(a, t)``.
    keys
        ``(public key, shares in member order)`` from a key ceremony; generated here (dealer-based) if ``None``.
    threshold
        ``t`` for generated keys (default: a majority, at least 2).
    bits
        Modulus size for generated keys (2048 in production; 512 in tests).
    """
    require_cohort(len(scores_by_member), what="a secure index sum")
    names = list(scores_by_member)
    vectors = [np.asarray(scores_by_member[m], dtype=np.float64).ravel() for m in names]
    length = {v.size for v in vectors}
    if len(length) != 1:
        raise ConfigError(f"members' score vectors differ in length: {sorted(length)}")
    if keys is None:
        t = threshold if threshold is not None else max(2, len(names) // 2 + 1)
        pk, shares = generate_threshold_keypair(bits, n_parties=len(names), threshold=t)
    else:
        pk, shares = keys[0], list(keys[1])
        if len(shares) != len(names) or pk.n_parties != len(names):
            raise ConfigError(f"keys are for {pk.n_parties} parties / {len(shares)} shares, not {len(names)} members")
    members = {m: ThresholdMember(pk, s, spec) for m, s in zip(names, shares, strict=True)}
    encrypted = []
    for m, v in zip(names, vectors, strict=True):
        reports = np.isfinite(v)
        encrypted.append(members[m].encrypt(np.concatenate([np.where(reports, v, 0.0), reports.astype(np.float64)])))
    total = ThresholdAggregator(pk).aggregate(encrypted)
    chosen = list(decryptors) if decryptors is not None else names[: pk.threshold]
    unknown = set(chosen) - set(names)
    if unknown:
        raise ConfigError(f"decryptors {sorted(unknown)} are not members")
    if len(set(chosen)) < pk.threshold:
        raise PrivacyError(f"{len(set(chosen))} decryptor(s) for a threshold of {pk.threshold}: cannot decrypt")
    plain = threshold_decrypt(pk, total, [members[m].partial_decrypt(total) for m in chosen], spec)
    n = length.pop()
    counts = np.rint(plain[n:]).astype(np.int64)
    sums = np.where(counts >= MIN_COHORT, plain[:n], np.nan)
    return IndexSums(sums=sums, counts=counts)
