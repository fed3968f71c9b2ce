"""Member-level DP-FedAvg for the stress federation, as a wrapper around a member's update.

Each member clips its update (new weights − global weights) to L2 norm ``C`` and adds its *share* of the Gaussian
noise, ``N(0, σ²)`` with ``σ = z C / sqrt(k)`` (:func:`fedrisk.privacy.dp.distributed_noise_std`), before the update
is masked by SecAgg+. ``k`` is the smallest number of contributors any released aggregate can have (the SecAgg+
reconstruction threshold, itself at least :data:`~fedrisk.errors.MIN_COHORT`), so every released sum carries noise
of std at least ``z C`` and the coordinator never needs, nor sees, an individual update. Updates are weighted
equally (the sensitivity of the sum to one member is then ``C``). The coordinator owns the member-level privacy
ledger: it checks every member's budget before a round (an over-budget member is refused for that round) and
records the round for each contributor once the aggregate is released, with ``q = 1`` (every member is asked every
round; no sampling amplification is claimed).

This module only transforms arrays; it never touches the aggregation algorithm.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fedrisk.errors import MIN_COHORT, ConfigError
from fedrisk.privacy.dp import NoiseSource, add_gaussian_noise, clip_update, distributed_noise_std

__all__ = ["MemberDP", "dp_clipping_range", "noise_source", "private_update"]

NOISE_TAIL = 8.0
"""SecAgg+ clips values before quantising; its range covers ``C`` plus this many noise std (P ≈ 1e-15 each)."""


@dataclass(frozen=True, slots=True)
class MemberDP:
    """Member-level DP settings of a federation job.

    Parameters
    ----------
    noise_multiplier
        ``z``: std of the total noise on the sum is ``z * clip_norm``.
    clip_norm
        ``C``: every member's update is clipped to this L2 norm.
    secure_mode
        Noise from the OS CSPRNG (default); ``False`` only for reproducible research runs (warns loudly).
    period
        Ledger period label the rounds are charged to.
    delta
        δ at which ε is reported (the ledger's policy decides the budget).
    """

    noise_multiplier: float
    clip_norm: float
    secure_mode: bool = True
    period: str = "default"
    delta: float = 1e-5

    def __post_init__(self) -> None:
        if not (math.isfinite(self.noise_multiplier) and self.noise_multiplier > 0):
            raise ConfigError(
                f"noise_multiplier must be > 0 (z = 0 has ε = ∞: run without DP instead), got {self.noise_multiplier}"
            )
        if not (math.isfinite(self.clip_norm) and self.clip_norm > 0):
            raise ConfigError(f"clip_norm must be a finite number > 0, got {self.clip_norm}")

    def share_std(self, min_contributors: int) -> float:
        """Std of each member's noise share when at least ``min_contributors`` (>= 3) members are summed."""
        if min_contributors < MIN_COHORT:
            raise ConfigError(f"min_contributors must be >= {MIN_COHORT}, got {min_contributors}")
        return distributed_noise_std(
            noise_multiplier=self.noise_multiplier, clip_norm=self.clip_norm, min_contributors=min_contributors
        )


def dp_clipping_range(clip_norm: float, share_std: float, *, floor: float = 1.0) -> float:
    """SecAgg+ ``clipping_range`` that leaves a clipped, noised update untouched (``C + 8σ``, at least ``floor``)."""
    return max(floor, clip_norm + NOISE_TAIL * share_std)


def noise_source(*, secure_mode: bool, seed: int, member: str, server_round: int) -> NoiseSource:
    """The member's noise source: CSPRNG in secure mode, else seeded per (seed, member, round) for research."""
    if secure_mode:
        return NoiseSource(secure_mode=True)
    return NoiseSource(secure_mode=False, rng=np.random.default_rng([seed, zlib.crc32(member.encode()), server_round]))


def private_update(
    update: Sequence[np.ndarray], *, clip_norm: float, share_std: float, source: NoiseSource
) -> tuple[list[np.ndarray], float]:
    """Clip ``update`` to ``clip_norm`` and add this member's noise share; returns it and the norm before clipping.

    >>> src = NoiseSource(secure_mode=True)
    >>> out, norm = private_update([np.array([3.0, 4.0])], clip_norm=1.0, share_std=0.0, source=src)
    >>> norm, round(float(np.linalg.norm(out[0])), 6)
    (5.0, 1.0)
    """
    clipped, norm = clip_update(list(update), clip_norm)
    return [np.asarray(a) for a in add_gaussian_noise(clipped, share_std, source)], norm
