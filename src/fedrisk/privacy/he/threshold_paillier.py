"""Threshold Paillier (Shoup 2000 / Damgård–Jurik 2001 with s = 1), dealer-based key generation, on gmpy2.

Scheme
------
* ``n = p q`` with safe primes ``p = 2p' + 1``, ``q = 2q' + 1``; ``m = p' q'``; ``g = n + 1``.
* The decryption exponent ``d`` satisfies ``d = 0 (mod m)`` and ``d = 1 (mod n)``; it is Shamir-shared with a
  random polynomial of degree ``t - 1`` over ``Z_{n m}``: member ``i`` (1-based) holds ``s_i = f(i)``.
* Encrypt ``M``: ``c = (1 + M n) r^n mod n^2`` with ``r`` uniform in ``Z_n^*`` (from :mod:`secrets`).
* Partial decryption by member ``i``: ``c_i = c^(2 Δ s_i) mod n^2`` with ``Δ = n_parties!``.
* Combining any ``t`` partials of a set ``S``: ``c' = prod c_i^(2 μ_i)`` with the integer Lagrange
  coefficients ``μ_i = Δ prod_{j in S, j != i} j / (j - i)``; then ``c' = c^(4 Δ^2 d) = (1+n)^(4 Δ^2 M)`` and
  ``M = L(c') (4 Δ^2)^-1 mod n`` with ``L(x) = (x - 1) / n``. ``t - 1`` partials give nothing: the shares are
  a ``(t-1)``-private Shamir sharing of ``d`` (Shoup's argument, squares subgroup of order ``n m``).

What this does NOT protect (read before using)
----------------------------------------------
* **Dealer**: :func:`generate_threshold_keypair` sees ``p, q`` and ``d`` while it runs. Whoever runs the key
  ceremony could keep them and decrypt everything. This is *not* distributed key generation. Run the ceremony
  on a machine no single party controls (or a trusted third party), and discard the process afterwards;
  fedrisk never writes ``p``, ``q`` or ``d`` anywhere. A true DKG (``tno.mpc.protocols.distributed_keygen``)
  removes the dealer; see ``docs/he-and-attacks.md`` for why it is not wired here.
* **Malicious decryptors**: partial decryptions carry no zero-knowledge proof of correctness (Shoup's
  verification keys are not implemented). A member that sends a wrong partial makes the result wrong (the
  decode then usually fails its range check, but this is not guaranteed); it cannot learn anything extra.
* **Malicious encryptors**: nothing proves a ciphertext encrypts an in-range, clipped value.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import gmpy2  # type: ignore[import-untyped]
from gmpy2 import mpz  # type: ignore[import-untyped]

from fedrisk.errors import ConfigError, PrivacyError

__all__ = [
    "KeyShare",
    "PartialDecryption",
    "ThresholdPublicKey",
    "add_ciphertexts",
    "combine_partials",
    "encrypt",
    "generate_threshold_keypair",
    "partial_decrypt",
    "random_safe_prime",
]

MIN_TEST_BITS = 256
"""Smallest modulus accepted (tests only; production uses 2048 bits, 112-bit security per NIST SP 800-57)."""


@dataclass(frozen=True, slots=True)
class ThresholdPublicKey:
    """Public key: the modulus, the number of parties and the threshold. Holds no secret."""

    n: int
    n_parties: int
    threshold: int
    theta: int = 0
    """0 for the dealer's keys (``d = 1 mod n``). Keys from distributed key generation (:mod:`.dkg`) share a
    secret ``x`` with ``Δ x = θ (mod n)``, ``x = 0 (mod λ(n))``; ``θ`` is public and enters the decoding."""

    def __post_init__(self) -> None:
        if self.n.bit_length() < MIN_TEST_BITS:
            raise ConfigError(f"modulus of {self.n.bit_length()} bits is too small (>= {MIN_TEST_BITS})")
        if not 1 <= self.threshold <= self.n_parties:
            raise ConfigError(f"threshold must be in [1, {self.n_parties}], got {self.threshold}")

    @property
    def n_sq(self) -> int:
        """``n**2``, the ciphertext modulus."""
        return self.n * self.n

    @property
    def delta(self) -> int:
        """``n_parties!``, clears the denominators of the Lagrange coefficients."""
        return math.factorial(self.n_parties)

    @property
    def bits(self) -> int:
        """Bit length of ``n`` (the plaintext space is ``Z_n``)."""
        return self.n.bit_length()

    @property
    def decode_factor(self) -> int:
        """``L(c^(4 Δ^2 x)) = decode_factor * M (mod n)``: ``4 Δ^2`` (dealer) or ``4 Δ θ`` (DKG)."""
        return 4 * self.delta * (self.theta or self.delta)

    def to_dict(self) -> dict[str, int]:
        """JSON-friendly form (the integer as a hex string is not needed: JSON ints are arbitrary size)."""
        out = {"n": self.n, "n_parties": self.n_parties, "threshold": self.threshold}
        return out | ({"theta": self.theta} if self.theta else {})

    @staticmethod
    def from_dict(d: dict[str, int]) -> ThresholdPublicKey:
        """Inverse of :meth:`to_dict`."""
        return ThresholdPublicKey(
            n=int(d["n"]), n_parties=int(d["n_parties"]), threshold=int(d["threshold"]), theta=int(d.get("theta", 0))
        )


@dataclass(frozen=True, slots=True)
class KeyShare:
    """Member ``index``'s (1-based) share of the decryption exponent. Secret: keep it with the member."""

    index: int
    share: int

    def __repr__(self) -> str:
        """Never print the share."""
        return f"KeyShare(index={self.index}, share=<secret>)"


@dataclass(frozen=True, slots=True)
class PartialDecryption:
    """``c^(2 Δ s_i) mod n^2`` for each ciphertext of a vector, from member ``index``."""

    index: int
    values: tuple[int, ...]


_SMALL_PRIMES_PRODUCT = math.prod(p for p in range(3, 2000) if all(p % k for k in range(2, int(p**0.5) + 1)))


def random_safe_prime(bits: int) -> int:
    """A uniformly drawn safe prime ``p = 2p' + 1`` of exactly ``bits`` bits (randomness from :mod:`secrets`)."""
    if bits < MIN_TEST_BITS // 2:
        raise ConfigError(f"prime size {bits} bits is too small")
    while True:
        q = mpz(secrets.randbits(bits - 1)) | (mpz(1) << (bits - 2)) | 1
        if gmpy2.gcd(q * (2 * q + 1), _SMALL_PRIMES_PRODUCT) != 1:  # cheap sieve of q and 2q + 1
            continue
        if not gmpy2.is_prime(q, 1):
            continue
        p = 2 * q + 1
        if gmpy2.is_prime(p, 40) and gmpy2.is_prime(q, 40):
            return int(p)


def _randbelow_mpz(upper: int) -> mpz:
    return mpz(secrets.randbelow(upper))


def generate_threshold_keypair(
    bits: int, *, n_parties: int, threshold: int
) -> tuple[ThresholdPublicKey, list[KeyShare]]:
    """Dealer-based key ceremony: a public key and one share per party (index 1..n_parties).

    ``bits`` is the size of ``n`` (2048 in production; >= 256 only for tests). The dealer's secrets
    (``p, q, d`` and the polynomial) exist only inside this call; see the module docstring for what that
    does not protect.
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < MIN_TEST_BITS or bits % 2:
        raise ConfigError(f"bits must be an even integer >= {MIN_TEST_BITS}, got {bits!r}")
    if n_parties < 1 or not 1 <= threshold <= n_parties:
        raise ConfigError(f"need 1 <= threshold <= n_parties, got threshold={threshold}, n_parties={n_parties}")
    while True:
        p, q = random_safe_prime(bits // 2), random_safe_prime(bits // 2)
        n = mpz(p) * q
        if p != q and n.bit_length() == bits:
            break
    m = ((p - 1) // 2) * ((q - 1) // 2)
    d = m * int(gmpy2.invert(m, n))  # d = 0 mod m, d = 1 mod n
    modulus = n * m
    coeffs = [mpz(d)] + [_randbelow_mpz(int(modulus)) for _ in range(threshold - 1)]
    shares = []
    for i in range(1, n_parties + 1):
        acc = mpz(0)
        for c in reversed(coeffs):
            acc = (acc * i + c) % modulus
        shares.append(KeyShare(index=i, share=int(acc)))
    return ThresholdPublicKey(n=int(n), n_parties=n_parties, threshold=threshold), shares


def encrypt(pk: ThresholdPublicKey, message: int) -> int:
    """Paillier encryption of ``0 <= message < n`` with fresh randomness from :mod:`secrets`."""
    if not 0 <= message < pk.n:
        raise ConfigError(f"plaintext must be in [0, n), got a {int(message).bit_length()}-bit value")
    n, n_sq = mpz(pk.n), mpz(pk.n_sq)
    while True:
        r = _randbelow_mpz(pk.n - 1) + 1
        if gmpy2.gcd(r, n) == 1:
            break
    return int(((1 + message * n) % n_sq) * gmpy2.powmod(r, n, n_sq) % n_sq)


def add_ciphertexts(pk: ThresholdPublicKey, ciphertexts: list[int]) -> int:
    """Homomorphic sum: the product of ciphertexts modulo ``n^2``."""
    if not ciphertexts:
        raise ConfigError("nothing to add")
    n_sq = mpz(pk.n_sq)
    acc = mpz(1)
    for c in ciphertexts:
        if not 0 < c < pk.n_sq:
            raise ConfigError("ciphertext outside (0, n^2): not a ciphertext under this key")
        acc = acc * c % n_sq
    return int(acc)


def partial_decrypt(pk: ThresholdPublicKey, share: KeyShare, ciphertexts: list[int]) -> PartialDecryption:
    """Member ``share.index``'s partial decryption of each ciphertext."""
    if not 1 <= share.index <= pk.n_parties:
        raise ConfigError(f"share index {share.index} not in [1, {pk.n_parties}]")
    n_sq = mpz(pk.n_sq)
    exponent = mpz(2 * pk.delta * share.share)
    return PartialDecryption(
        index=share.index, values=tuple(int(gmpy2.powmod(mpz(c), exponent, n_sq)) for c in ciphertexts)
    )


def _lagrange_times_delta(indices: list[int], i: int, delta: int) -> int:
    num, den = delta, 1
    for j in indices:
        if j != i:
            num *= j
            den *= j - i
    if num % den:  # pragma: no cover - Δ = n! always clears the denominator
        raise PrivacyError("internal error: Lagrange coefficient is not an integer")
    return num // den


def combine_partials(pk: ThresholdPublicKey, partials: list[PartialDecryption]) -> list[int]:
    """Plaintexts from at least ``threshold`` partial decryptions of the same ciphertexts.

    Raises
    ------
    PrivacyError
        Fewer than ``threshold`` distinct members' partials: the ciphertexts stay sealed.
    ConfigError
        Partials of different lengths, or an index outside ``[1, n_parties]``.
    """
    distinct: dict[int, PartialDecryption] = {}
    for p in partials:
        if not 1 <= p.index <= pk.n_parties:
            raise ConfigError(f"partial decryption index {p.index} not in [1, {pk.n_parties}]")
        distinct.setdefault(p.index, p)
    if len(distinct) < pk.threshold:
        raise PrivacyError(
            f"only {len(distinct)} distinct partial decryption(s) for a threshold of {pk.threshold}: "
            "the sum cannot be decrypted. Wait for more members' partial decryptions"
        )
    chosen = sorted(distinct)[: pk.threshold]
    lengths = {len(distinct[i].values) for i in chosen}
    if len(lengths) != 1:
        raise ConfigError(f"partial decryptions cover different numbers of ciphertexts: {sorted(lengths)}")
    n, n_sq = mpz(pk.n), mpz(pk.n_sq)
    delta = pk.delta
    coeffs = {i: 2 * _lagrange_times_delta(chosen, i, delta) for i in chosen}
    inv = gmpy2.invert(mpz(pk.decode_factor) % n, n)
    out = []
    for k in range(lengths.pop()):
        acc = mpz(1)
        for i in chosen:
            acc = acc * gmpy2.powmod(mpz(distinct[i].values[k]), coeffs[i], n_sq) % n_sq
        if (acc - 1) % n:
            raise PrivacyError("combined partial decryptions are inconsistent (a wrong share or partial?)")
        out.append(int((acc - 1) // n * inv % n))
    return out
