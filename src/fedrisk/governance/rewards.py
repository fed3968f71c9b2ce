"""Split a round's reward pool under the constitution's floor, cap and tier premiums."""

from __future__ import annotations

from collections.abc import Mapping

from fedrisk.errors import ConfigError


def _clipped(weights: Mapping[str, float], scale: float, floor: float, cap: float) -> dict[str, float]:
    return {m: min(cap, max(floor, scale * w)) for m, w in weights.items()}


def split_fractions(weights: Mapping[str, float], *, floor: float, cap: float) -> dict[str, float]:
    """Return each member's fraction of the pool, proportional to ``weights`` within [floor, cap].

    Each fraction is ``clip(λ·weight, floor, cap)`` with one λ for all, chosen so the fractions
    sum to 1 (water-filling). That is possible whenever ``n·floor ≤ 1 ≤ n·cap``; when
    ``n·cap < 1`` everyone gets ``cap`` and the remainder stays in the pool. When all weighted
    members are capped, zero-weight members share the rest equally; all-zero weights split equally.

    >>> shares = split_fractions({"a": 8.0, "b": 1.0, "c": 1.0}, floor=0.2, cap=0.5)
    >>> {m: round(f, 6) for m, f in shares.items()}
    {'a': 0.5, 'b': 0.25, 'c': 0.25}
    """
    if not weights:
        return {}
    if any(w < 0 for w in weights.values()):
        raise ConfigError("reward weights must be ≥ 0: clip negative contribution scores to 0")
    if not 0.0 <= floor <= cap <= 1.0:
        raise ConfigError(f"need 0 ≤ floor ≤ cap ≤ 1, got floor={floor}, cap={cap}")
    if floor * len(weights) > 1.0 + 1e-12:
        raise ConfigError(f"floor {floor} × {len(weights)} members exceeds the pool: lower the floor")
    if sum(weights.values()) <= 0:
        weights = dict.fromkeys(weights, 1.0)
    # Fractions are clip(λ·w, floor, cap); their sum grows with λ, so bisect λ until it is 1.
    lo, hi = 0.0, 1.0
    while sum(_clipped(weights, hi, floor, cap).values()) < 1.0 and hi < 1e12:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if sum(_clipped(weights, mid, floor, cap).values()) < 1.0 else (lo, mid)
    shares = _clipped(weights, hi, floor, cap)
    # If every weighted member is capped, zero-weight members (held at the floor) share the rest.
    short = 1.0 - sum(shares.values())
    open_ = [m for m, f in shares.items() if f < cap - 1e-12]
    if short > 1e-12 and open_:
        for m in open_:
            shares[m] = min(cap, shares[m] + short / len(open_))
    return shares


def split_rewards(weights: Mapping[str, float], *, pool: float, floor: float, cap: float) -> dict[str, float]:
    """Return each member's reward amount: ``pool`` × :func:`split_fractions`."""
    return {m: pool * f for m, f in split_fractions(weights, floor=floor, cap=cap).items()}


__all__ = ["split_fractions", "split_rewards"]
