"""Split a reward pool between members by their contribution values, under configured rules.

The rule, precisely (``n`` members, pool ``P``, floor ``f`` and cap ``c`` as fractions of the pool):

1. **Clip.** Each value ``v_i`` becomes ``s_i = max(v_i, 0)``: a member who made the model worse gets no more
   than one who added nothing.
2. **Premium.** With ``premium_top_k = k > 0``, the premium members are those with ``s_i > 0`` and ``s_i``
   at least the ``k``-th largest positive ``s`` (ties at the boundary are all included, so two members with
   equal values are always treated alike). Their weight is multiplied by ``premium_factor`` (>= 1), and the
   ``premium`` flag tells the platform to grant them its premium access (e.g. extra model outputs).
3. **Weights.** ``split="shapley"``: ``w_i = s_i`` (times the factor for premium members);
   ``split="equal"``: ``w_i = 1`` (times the factor for premium members).
4. **Bounded proportional split.** Amounts are ``a_i = clip(λ·w_i, f·P, c·P)`` with the single ``λ >= 0``
   for which they sum to ``P`` (a water-filling: a member held at the floor or the cap frees or takes the
   difference, which the others share in proportion to their weights). Weights below ``1e-12`` of the
   largest count as 0. Two edge cases: if every ``w_i`` is 0 the pool is split equally; if even
   ``λ → ∞`` cannot reach ``P`` (members with weight 0 are stuck at the floor while all others sit at
   the cap), the members with weight 0 share the remainder equally.

The rules need ``n·f <= 1 <= n·c`` to be satisfiable; otherwise :class:`~fedrisk.errors.ConfigError`.
Properties (tested): the amounts sum to ``P``; each lies in ``[f·P, c·P]``; a higher value never gets a
smaller amount; raising one member's value never lowers its amount.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Literal

from fedrisk.errors import ConfigError

Split = Literal["shapley", "equal"]
SPLITS: tuple[str, ...] = ("shapley", "equal")
_TOL = 1e-12
_NEGLIGIBLE = 1e-12


@dataclass(frozen=True)
class RewardRules:
    """How a reward pool is split (see the module docstring for the exact rule).

    Parameters
    ----------
    pool
        Amount to split, > 0 (any unit: currency, credits).
    split
        ``"shapley"`` (proportional to clipped values) or ``"equal"``.
    floor
        Minimum amount per member, as a fraction of the pool, in ``[0, 1]``.
    cap
        Maximum amount per member, as a fraction of the pool, in ``[floor, 1]``.
    premium_top_k
        Number of top contributors who get premium status (0: none).
    premium_factor
        Multiplier (>= 1) applied to the premium members' weights before the split.
    """

    pool: float
    split: Split = "shapley"
    floor: float = 0.0
    cap: float = 1.0
    premium_top_k: int = 0
    premium_factor: float = 1.0

    def __post_init__(self) -> None:
        """Check every field; report all problems at once."""
        problems = _rule_problems(self)
        if problems:
            raise ConfigError("invalid reward rules: " + "; ".join(problems))

    @classmethod
    def from_mapping(cls, config: Mapping[str, object]) -> RewardRules:
        """Build rules from a configuration mapping (e.g. a TOML table); unknown keys are rejected."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ConfigError(f"unknown reward rule keys {unknown}; known keys are {sorted(known)}")
        if "pool" not in config:
            raise ConfigError("reward rules need a 'pool' (the amount to split)")
        return cls(**config)  # type: ignore[arg-type]

    def check_feasible(self, n_members: int) -> None:
        """Raise :class:`ConfigError` unless the floor and cap can be met by ``n_members`` members."""
        if n_members < 1:
            raise ConfigError("no members to reward: give at least one member value")
        if n_members * self.floor > 1 + 1e-12:
            raise ConfigError(
                f"floor {self.floor} of the pool for each of {n_members} members exceeds the pool: "
                f"lower the floor to at most {1 / n_members:.6g}"
            )
        if n_members * self.cap < 1 - 1e-12:
            raise ConfigError(
                f"cap {self.cap} of the pool for each of {n_members} members cannot use the whole pool: "
                f"raise the cap to at least {1 / n_members:.6g}"
            )


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _rule_problems(rules: RewardRules) -> list[str]:
    problems = []
    if not (_is_number(rules.pool) and rules.pool > 0):
        problems.append(f"pool must be a finite number > 0, got {rules.pool!r}")
    if rules.split not in SPLITS:
        problems.append(f"split must be one of {list(SPLITS)}, got {rules.split!r}")
    if not (_is_number(rules.floor) and 0 <= rules.floor <= 1):
        problems.append(f"floor must be a fraction of the pool in [0, 1], got {rules.floor!r}")
    if not (_is_number(rules.cap) and 0 < rules.cap <= 1):
        problems.append(f"cap must be a fraction of the pool in (0, 1], got {rules.cap!r}")
    elif _is_number(rules.floor) and rules.cap < rules.floor:
        problems.append(f"cap {rules.cap} must be >= floor {rules.floor}")
    k = rules.premium_top_k
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        problems.append(f"premium_top_k must be an integer >= 0, got {k!r}")
    if not (_is_number(rules.premium_factor) and rules.premium_factor >= 1):
        problems.append(f"premium_factor must be a number >= 1, got {rules.premium_factor!r}")
    return problems


@dataclass(frozen=True)
class Reward:
    """One member's reward.

    Attributes
    ----------
    member
        Member id.
    value
        The contribution value given (e.g. Shapley), before clipping.
    weight
        The weight the split used (clipped value or 1, times the premium factor).
    amount
        Amount of the pool awarded.
    share
        ``amount / pool``.
    premium
        Whether the member is a premium (top) contributor.
    bound
        ``"floor"``, ``"cap"`` or ``"proportional"``: which part of the rule set the amount.
    """

    member: str
    value: float
    weight: float
    amount: float
    share: float
    premium: bool
    bound: str


def _premium_members(clipped: Mapping[str, float], k: int) -> set[str]:
    positive = sorted((s for s in clipped.values() if s > 0), reverse=True)
    if k == 0 or not positive:
        return set()
    threshold = positive[min(k, len(positive)) - 1]
    return {m for m, s in clipped.items() if s > 0 and s >= threshold}


def _bounded_proportional(weights: Sequence[float], total: float, lo: float, hi: float) -> list[float]:
    """Amounts ``clip(λ·w_i, lo, hi)`` summing to ``total`` (see the module docstring for edge cases)."""
    n = len(weights)
    top = max(weights)
    if top <= 0:
        return [total / n] * n
    # Scale-free and overflow-safe: weights below 1e-12 of the largest count as 0.
    weights = [w / top if w / top >= _NEGLIGIBLE else 0.0 for w in weights]
    n_zero = sum(1 for w in weights if w == 0)
    if (n - n_zero) * hi + n_zero * lo <= total * (1 + 1e-12):
        if n_zero == 0:  # the caps exactly absorb the pool (n * cap == 1, up to rounding)
            return [hi] * n
        rest = (total - (n - n_zero) * hi) / n_zero
        return [hi if w > 0 else max(rest, lo) for w in weights]

    def spend(lam: float) -> float:
        return math.fsum(min(max(lam * w, lo), hi) for w in weights)

    breaks = sorted({b / w for w in weights if w > 0 for b in (lo, hi)})
    low = lam = 0.0
    for high in breaks:
        lam = high
        g_low, g_high = spend(low), spend(high)
        if g_high >= total:
            if g_high > g_low:
                lam = low + (total - g_low) * (high - low) / (g_high - g_low)
            break
        low = high
    return [min(max(lam * w, lo), hi) for w in weights]


def _bound_of(amount: float, lo: float, hi: float, pool: float) -> str:
    if amount >= hi - _TOL * pool and hi < pool:
        return "cap"
    if amount <= lo + _TOL * pool and lo > 0:
        return "floor"
    return "proportional"


def _check_values(values: Mapping[str, float]) -> None:
    if not values:
        raise ConfigError("no member values to split the pool by")
    bad = {m: v for m, v in values.items() if not _is_number(v)}
    if bad:
        raise ConfigError(f"member values must be finite numbers, got {bad}")


def split_rewards(values: Mapping[str, float], rules: RewardRules) -> dict[str, Reward]:
    """Split ``rules.pool`` between members according to their contribution ``values``.

    Parameters
    ----------
    values
        Contribution value per member (e.g. Shapley values); negative values count as 0.
    rules
        The split rules; their floor and cap must be feasible for ``len(values)`` members.

    Returns
    -------
    dict[str, Reward]
        One reward per member, in the order of ``values``; the amounts sum to the pool.

    Examples
    --------
    >>> rules = RewardRules(pool=100.0, floor=0.1, cap=0.5)
    >>> r = split_rewards({"a": 6.0, "b": 3.0, "c": 1.0, "d": -2.0}, rules)
    >>> {m: round(x.amount, 2) for m, x in r.items()}
    {'a': 50.0, 'b': 30.0, 'c': 10.0, 'd': 10.0}
    """
    _check_values(values)
    rules.check_feasible(len(values))
    members = list(values)
    clipped = {m: max(float(values[m]), 0.0) for m in members}
    premium = _premium_members(clipped, rules.premium_top_k)
    base = clipped if rules.split == "shapley" else dict.fromkeys(members, 1.0)
    weights = [base[m] * (rules.premium_factor if m in premium else 1.0) for m in members]
    lo, hi = rules.floor * rules.pool, rules.cap * rules.pool
    amounts = _bounded_proportional(weights, rules.pool, lo, hi)
    return {
        m: Reward(
            member=m,
            value=float(values[m]),
            weight=w,
            amount=a,
            share=a / rules.pool,
            premium=m in premium,
            bound=_bound_of(a, lo, hi, rules.pool),
        )
        for m, w, a in zip(members, weights, amounts, strict=True)
    }
