"""Distributed key generation (no dealer) for threshold Paillier, with TNO's ``tno.mpc.protocols.distributed_keygen``.

What it does
------------
The members run TNO's protocol (Nishide–Sakurai style distributed RSA modulus generation with a biprimality
test, then a Shamir sharing over the integers of the decryption exponent): nobody ever holds ``p``, ``q`` or
``λ(n)``. Each member ends with an integer share ``s_i`` of a secret ``x`` with ``Δ x = θ (mod n)`` and
``x = 0 (mod λ(n))`` (``Δ = n_parties!``); ``n`` and ``θ`` are public. With corruption threshold ``c`` the sharing
has degree ``2c``, so **any ``2c + 1`` of the ``n >= 2c + 1`` members decrypt** and ``2c`` learn nothing.

How it plugs into fedrisk
-------------------------
:func:`distributed_keygen` returns the same :class:`~fedrisk.privacy.he.threshold_paillier.ThresholdPublicKey`
(with ``theta`` set) and :class:`~fedrisk.privacy.he.threshold_paillier.KeyShare` s as the dealer's ceremony, so
packing, :class:`~fedrisk.privacy.he.ThresholdMember`, :class:`~fedrisk.privacy.he.ThresholdAggregator`,
:func:`~fedrisk.privacy.he.threshold_decrypt` and :func:`~fedrisk.privacy.he.secure_index_sum` work unchanged.
One adaptation: TNO's own ``partial_decrypt`` bakes the reconstruction set ``{1, ..., 2c+1}`` into each partial
(no dropout tolerance); fedrisk's partials ``c^(2 Δ s_i)`` are set-independent and the combiner applies the
integer Lagrange coefficients ``Δ λ_i^S`` of whichever ``2c + 1`` members answered (Shoup's combining, valid for
any integer Shamir sharing whose coefficients ``Δ λ_i^S`` are integers). The decoding factor becomes ``4 Δ θ``.

Limits (measured, ``docs/he-and-attacks.md``)
---------------------------------------------
* :func:`distributed_keygen` runs every party in ONE process (asyncio, HTTP pools on loopback): a simulation of
  the protocol, like Flower's simulation engine. A real ceremony runs :func:`run_party` on each member's machine
  with a :class:`tno.mpc.communication.Pool` over TLS between members.
* It is slow on 2 shared cores: 3 parties need about a minute at 512 bits; 2048 bits (the production size) did
  not finish in 9.5 min with 3 parties on one box (``/work/shared/notes/privacy.md`` §7). Key generation is a
  once-per-federation ceremony, not per round.
* Semi-honest security only (as TNO's implementation); no proofs of correct partial decryption.
* Optional dependency: ``pip install tno.mpc.protocols.distributed_keygen
  "tno.mpc.encryption_schemes.utils[gmpy]>=0.10,<0.16"``. It also installs pytest plugins that import
  ``pytest_asyncio``: install ``pytest-asyncio`` beside it, or use a separate environment.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any

from fedrisk.errors import ConfigError, PrivacyError
from fedrisk.privacy.he.threshold_paillier import KeyShare, ThresholdPublicKey

__all__ = ["DkgResult", "distributed_keygen", "dkg_available", "run_party"]

INSTALL_HINT = (
    'pip install "fedrisk[dkg]" (TNO\'s tno.mpc.protocols.distributed_keygen with gmpy2, and pytest-asyncio for '
    "the pytest plugins it registers)"
)


def dkg_available() -> bool:
    """True when TNO's distributed key generation can be imported."""
    try:
        import tno.mpc.protocols.distributed_keygen  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class DkgResult:
    """The public key, each party's share (in party order) and how long the protocol took."""

    public: ThresholdPublicKey
    shares: tuple[KeyShare, ...]
    corruption_threshold: int
    seconds: float


def _free_ports(k: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(k)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


async def run_party(pool: Any, *, corruption_threshold: int, bits: int, prime_threshold: int) -> Any:
    """One member's side of the protocol over an already connected ``tno.mpc.communication.Pool``."""
    from tno.mpc.protocols.distributed_keygen import DistributedPaillier

    return await DistributedPaillier.from_security_parameter(
        pool,
        corruption_threshold,
        bits,
        prime_threshold,
        40,  # correct_param_biprime: biprimality test rounds (error 2^-40), TNO's default
        40,  # stat_sec_shamir: statistical security of the integer sharing, TNO's default
        distributed=False,
        precision=0,
    )


async def _run_all(n_parties: int, corruption_threshold: int, bits: int, prime_threshold: int) -> list[Any]:
    from tno.mpc.communication import Pool  # type: ignore[import-not-found]

    ports = _free_ports(n_parties)
    pools = []
    for i in range(n_parties):
        pool = Pool()
        pool.add_http_server(port=ports[i], addr="127.0.0.1")
        for j in range(n_parties):
            if j != i:
                pool.add_http_client(f"member{j}", "127.0.0.1", ports[j])
        pools.append(pool)
    try:
        return list(
            await asyncio.gather(
                *[
                    run_party(p, corruption_threshold=corruption_threshold, bits=bits, prime_threshold=prime_threshold)
                    for p in pools
                ]
            )
        )
    finally:
        await asyncio.gather(*[p.shutdown() for p in pools], return_exceptions=True)


def _to_fedrisk(schemes: list[Any], corruption_threshold: int) -> tuple[ThresholdPublicKey, tuple[KeyShare, ...]]:
    moduli = {int(s.public_key.n) for s in schemes}
    thetas = {int(s.secret_key.theta) for s in schemes}
    if len(moduli) != 1 or len(thetas) != 1:
        raise PrivacyError("distributed key generation ended with parties disagreeing on the public key")
    degree = int(schemes[0].secret_key.share.degree)
    pk = ThresholdPublicKey(n=moduli.pop(), n_parties=len(schemes), threshold=degree + 1, theta=thetas.pop())
    shares = tuple(KeyShare(index=int(s.index), share=int(s.secret_key.share.shares[int(s.index)])) for s in schemes)
    return pk, shares


def distributed_keygen(
    n_parties: int,
    *,
    corruption_threshold: int = 1,
    bits: int = 2048,
    prime_threshold: int | None = None,
    timeout_s: float | None = None,
) -> DkgResult:
    """Run TNO's distributed key generation with every party in this process (loopback HTTP); no dealer.

    ``n_parties >= 2 * corruption_threshold + 1``; the resulting threshold is ``2 * corruption_threshold + 1``.

    Raises
    ------
    ConfigError
        TNO's package is missing, or the party counts are impossible.
    PrivacyError
        The protocol did not finish within ``timeout_s`` or ended inconsistently.
    """
    if not dkg_available():
        raise ConfigError(f"distributed key generation needs TNO's package: {INSTALL_HINT}")
    if corruption_threshold < 1 or n_parties < 2 * corruption_threshold + 1:
        raise ConfigError(
            f"need corruption_threshold >= 1 and n_parties >= 2 * corruption_threshold + 1, "
            f"got {corruption_threshold} and {n_parties}"
        )
    if bits < 512:
        raise ConfigError(f"bits must be >= 512 for TNO's protocol (2048 in production), got {bits}")
    logging.getLogger("tno").setLevel(logging.CRITICAL)
    threshold = prime_threshold if prime_threshold is not None else (2000 if bits >= 1024 else 200)
    start = time.perf_counter()
    coro = _run_all(n_parties, corruption_threshold, bits, threshold)
    try:
        schemes = asyncio.run(asyncio.wait_for(coro, timeout_s) if timeout_s else coro)
    except TimeoutError as err:
        raise PrivacyError(f"distributed key generation did not finish in {timeout_s} s ({bits} bits)") from err
    pk, shares = _to_fedrisk(schemes, corruption_threshold)
    return DkgResult(pk, shares, corruption_threshold, time.perf_counter() - start)
