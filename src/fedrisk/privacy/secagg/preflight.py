"""Preflight of a SecAgg+ round: shares, reconstruction threshold, tolerated dropouts and the minimum cohort.

Flower's ``SecAggPlusWorkflow`` (Bell et al. 2020, "Secure single-server aggregation with (poly)logarithmic
overhead", CCS) splits each member's mask seed and mask key into ``num_shares`` Shamir shares held by its
neighbours (itself included); any ``reconstruction_threshold`` of them rebuild a secret. The coordinator learns
the sum of the surviving members' quantised vectors and nothing else *provided that* it cannot collect both kinds
of share for one member. The rules checked here, before every round:

* ``n >= MIN_COHORT`` members take part: with two, each could subtract its own update from the sum.
* ``MIN_COHORT <= threshold``: a round only completes when every member keeps at least ``threshold`` live
  neighbours, so a completed round always sums at least ``threshold >= 3`` members — no aggregate is ever
  released over fewer than three, whatever drops out.
* ``threshold > num_shares / 2``: an honest majority of each neighbourhood is needed to reconstruct; below it a
  coordinator that claims different dropouts to different members could rebuild one member's masks (Bonawitz et
  al. 2017, section 4, the ``t > n/2`` condition against an active server).
* ``threshold <= num_shares <= n``, ``num_shares`` odd when it is below ``n`` (Flower's neighbour ring is
  symmetric), and ``n * quantization_range < modulus_range`` so the masked sum cannot wrap around.
* Tolerated dropouts (worst case, all in one neighbourhood) are ``num_shares - threshold``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fedrisk.errors import MIN_COHORT, ConfigError, require_cohort

__all__ = ["SecAggParams", "SecAggPlan", "preflight"]


@dataclass(frozen=True, slots=True)
class SecAggParams:
    """SecAgg+ settings of a federation (before the number of members of a round is known).

    Parameters
    ----------
    num_shares
        Shares per secret (neighbourhood size, the member itself included); ``None``: every member of the round.
    reconstruction_threshold
        Shares needed to rebuild a secret; ``None``: ``max(MIN_COHORT, num_shares // 2 + 1)`` (an honest majority).
    clipping_range
        Values are clipped to ``[-clipping_range, clipping_range]`` before quantisation (choose it so nothing is
        clipped: fedrisk sends model *updates*, and the DP path widens it to cover the noise).
    quantization_range
        Integer levels of the quantiser (step ``2 * clipping_range / quantization_range``).
    modulus_range
        Masks are uniform in ``[0, modulus_range)``; a power of two, at most ``2**32``.
    max_weight
        Largest FedAvg weight (number of examples) a member may send; each weight is divided by it.
    timeout_s
        How long the coordinator waits for each stage's replies (``None``: until all replied or failed).
    """

    num_shares: int | None = None
    reconstruction_threshold: int | None = None
    clipping_range: float = 8.0
    quantization_range: int = 2**22
    modulus_range: int = 2**32
    max_weight: float = 1000.0
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.num_shares is not None and self.num_shares < MIN_COHORT:
            raise ConfigError(f"num_shares must be >= {MIN_COHORT}, got {self.num_shares}")
        if self.reconstruction_threshold is not None and self.reconstruction_threshold < MIN_COHORT:
            raise ConfigError(
                f"reconstruction_threshold must be >= {MIN_COHORT} (a completed round then sums at least "
                f"{MIN_COHORT} members), got {self.reconstruction_threshold}"
            )
        if not (math.isfinite(self.clipping_range) and self.clipping_range > 0):
            raise ConfigError(f"clipping_range must be a finite number > 0, got {self.clipping_range}")
        if self.quantization_range <= 0:
            raise ConfigError(f"quantization_range must be > 0, got {self.quantization_range}")
        m = self.modulus_range
        if m <= self.quantization_range or m > 2**32 or m & (m - 1):
            raise ConfigError(f"modulus_range must be a power of two in (quantization_range, 2**32], got {m}")
        if not (math.isfinite(self.max_weight) and self.max_weight > 0):
            raise ConfigError(f"max_weight must be > 0, got {self.max_weight}")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0, got {self.timeout_s}")


@dataclass(frozen=True, slots=True)
class SecAggPlan:
    """The checked settings of one round.

    ``num_shares_arg`` and ``threshold_arg`` are what to pass to Flower's ``SecAggPlusWorkflow``: fractions that
    it resolves back to exactly ``num_shares`` and ``threshold`` (its integer form refuses ``threshold ==
    num_shares``, which a 3-member round needs).
    """

    members: int
    num_shares: int
    threshold: int
    tolerated_dropouts: int
    num_shares_arg: float
    threshold_arg: float

    def as_dict(self) -> dict[str, int]:
        """JSON-friendly summary."""
        return {
            "members": self.members,
            "num_shares": self.num_shares,
            "threshold": self.threshold,
            "tolerated_dropouts": self.tolerated_dropouts,
        }


def _flower_resolution(members: int, num_shares: int, threshold: int) -> tuple[float, float]:
    """Fractions that Flower 1.42's ``setup_stage`` turns back into ``num_shares`` and ``threshold``."""
    shares_arg = num_shares / members
    threshold_arg = threshold / num_shares
    resolved_shares = round(shares_arg * members)
    if resolved_shares < members and resolved_shares & 1 == 0:
        resolved_shares += 1
    if resolved_shares <= 2:
        resolved_shares = members
    resolved_threshold = max(round(threshold_arg * resolved_shares), 2)
    if (resolved_shares, resolved_threshold) != (num_shares, threshold):  # pragma: no cover - guarded above
        raise ConfigError(
            f"Flower would resolve num_shares={num_shares}, threshold={threshold} over {members} members to "
            f"{resolved_shares}, {resolved_threshold}; choose an odd num_shares below the number of members"
        )
    return shares_arg, threshold_arg


def preflight(params: SecAggParams, members: int) -> SecAggPlan:
    """Check that a SecAgg+ round over ``members`` members is consistent and safe to run.

    Raises
    ------
    QuorumError
        Fewer than ``MIN_COHORT`` members would take part (nothing may be released).
    ConfigError
        Shares, threshold, dropout tolerance or quantisation are inconsistent; the message says what to change.

    >>> preflight(SecAggParams(), 5).as_dict()
    {'members': 5, 'num_shares': 5, 'threshold': 3, 'tolerated_dropouts': 2}
    >>> preflight(SecAggParams(), 3).tolerated_dropouts
    0
    """
    require_cohort(members, what="a secure aggregate")
    shares = members if params.num_shares is None else params.num_shares
    if shares > members:
        raise ConfigError(
            f"num_shares={shares} exceeds the {members} members of this round: each member can only send one share "
            "to each neighbour; lower num_shares or leave it unset (all members)"
        )
    if shares < members and shares % 2 == 0:
        raise ConfigError(f"num_shares={shares} below the number of members ({members}) must be odd (neighbour ring)")
    threshold = (
        max(MIN_COHORT, shares // 2 + 1)
        if params.reconstruction_threshold is None
        else (params.reconstruction_threshold)
    )
    if threshold > shares:
        raise ConfigError(
            f"reconstruction_threshold={threshold} exceeds num_shares={shares}: no secret could ever be rebuilt"
        )
    if 2 * threshold <= shares:
        raise ConfigError(
            f"reconstruction_threshold={threshold} is not above half of num_shares={shares}: a coordinator claiming "
            "different dropouts to different members could rebuild both secrets of one member and unmask its update; "
            f"use at least {shares // 2 + 1}"
        )
    if members * params.quantization_range >= params.modulus_range:
        raise ConfigError(
            f"{members} members x quantization_range {params.quantization_range} would wrap modulus_range "
            f"{params.modulus_range}: lower quantization_range"
        )
    shares_arg, threshold_arg = _flower_resolution(members, shares, threshold)
    return SecAggPlan(members, shares, threshold, shares - threshold, shares_arg, threshold_arg)
