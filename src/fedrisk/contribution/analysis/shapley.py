"""Exact and sampled Shapley values, and leave-one-out values, of a coalition game.

All functions are pure apart from calls to the injected ``utility`` (memoised, see
:class:`~fedrisk.contribution.analysis.CachedUtility`) and draws from the injected ``rng``.

The Shapley value of member :math:`i` in an :math:`n`-member game :math:`v` is

    phi_i = sum over S ⊆ N \\ {i} of  |S|! (n - |S| - 1)! / n!  *  (v(S ∪ {i}) - v(S)),

equivalently the mean marginal contribution of :math:`i` over the :math:`n!` orders in which members can join.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fedrisk.contribution.analysis._cache import (
    CachedUtility,
    CountingView,
    Utility,
    as_cached,
    check_players,
)
from fedrisk.errors import ConfigError, require_cohort

EXACT_MAX_PLAYERS = 16
"""Exact Shapley evaluates all 2**n coalitions; above 16 members (65 536 coalitions) use sampling."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ShapleyResult:
    """Contribution values of the members of one game.

    Attributes
    ----------
    values
        Shapley value (or its estimate) per member, in utility units.
    std_errors
        Standard error of each estimate (0 for the exact method): the sample standard deviation of the
        member's marginal contributions divided by the square root of the number of permutations.
    n_evaluations
        Distinct coalitions this estimator needed, i.e. its cost in coalition trainings on a cold cache.
    method
        ``"exact"``, ``"monte_carlo"`` or ``"gtg"``.
    n_permutations
        Permutations sampled (0 for the exact method); for GTG, summed over rounds.
    """

    values: dict[str, float]
    std_errors: dict[str, float]
    n_evaluations: int
    method: str
    n_permutations: int = 0

    @property
    def total(self) -> float:
        """Sum of the values; equals ``v(N) - v(∅)`` for the exact method (efficiency)."""
        return math.fsum(self.values.values())


def _coalition(names: Sequence[str], mask: int) -> frozenset[str]:
    return frozenset(name for bit, name in enumerate(names) if mask >> bit & 1)


def exact_shapley(players: Sequence[str], utility: Utility | CachedUtility) -> ShapleyResult:
    """Compute Shapley values exactly by evaluating all ``2**n`` coalitions.

    Parameters
    ----------
    players
        Distinct member ids; at most :data:`EXACT_MAX_PLAYERS`.
    utility
        Maps a frozenset of members to a finite number; evaluated once per coalition, the empty one included.

    Returns
    -------
    ShapleyResult
        ``method="exact"``, zero standard errors, ``n_evaluations == 2**n``.

    Raises
    ------
    ConfigError
        Bad or too many players, or a utility that is not a finite number.

    Examples
    --------
    Glove game: ``a`` and ``b`` each hold a left glove, ``c`` the only right glove; a pair is worth 1.

    >>> def gloves(s: frozenset[str]) -> float:
    ...     return float("c" in s and bool(s & {"a", "b"}))
    >>> r = exact_shapley(["a", "b", "c"], gloves)
    >>> {k: round(v, 4) for k, v in r.values.items()}
    {'a': 0.1667, 'b': 0.1667, 'c': 0.6667}
    """
    names = check_players(players)
    n = len(names)
    if n > EXACT_MAX_PLAYERS:
        raise ConfigError(
            f"exact Shapley over {n} members needs 2**{n} coalition evaluations; the limit is "
            f"{EXACT_MAX_PLAYERS} members. Use monte_carlo_shapley instead."
        )
    view = CountingView(as_cached(utility))
    n_masks = 1 << n
    table = np.fromiter((view(_coalition(names, m)) for m in range(n_masks)), dtype=np.float64, count=n_masks)
    masks = np.arange(n_masks)
    sizes = np.array([m.bit_count() for m in range(n_masks)])
    weight_by_size = np.array(
        [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)],
        dtype=np.float64,
    )
    values: dict[str, float] = {}
    for bit, name in enumerate(names):
        without = masks[(masks >> bit) & 1 == 0]
        gains = table[without | (1 << bit)] - table[without]
        values[name] = float(np.dot(weight_by_size[sizes[without]], gains))
    return ShapleyResult(
        values=values,
        std_errors=dict.fromkeys(names, 0.0),
        n_evaluations=view.n_evaluations,
        method="exact",
    )


def _check_sampling(permutations: int, truncation_tol: float) -> None:
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 2:
        raise ConfigError(
            f"permutations must be an integer >= 2 (a standard error needs two samples), got {permutations!r}"
        )
    if not (math.isfinite(truncation_tol) and truncation_tol >= 0):
        raise ConfigError(f"truncation_tol must be a finite number >= 0, got {truncation_tol!r}")


def _permutation(n: int, index: int, rng: np.random.Generator, *, guided: bool) -> npt.NDArray[np.int64]:
    """A uniformly random order; ``guided`` puts member ``index % n`` first (GTG's guided sampling)."""
    if not guided:
        return rng.permutation(n).astype(np.int64)
    first = index % n
    rest = np.array([j for j in range(n) if j != first], dtype=np.int64)
    return np.concatenate(([first], rng.permutation(rest))).astype(np.int64)


def _marginals_of(
    names: Sequence[str],
    order: npt.NDArray[np.int64],
    view: CountingView,
    *,
    v_empty: float,
    v_full: float,
    truncation_tol: float,
) -> FloatArray:
    """Marginal contribution of each member in one join order, truncated (Ghorbani & Zou 2019, Alg. 1).

    Once the running coalition is within ``truncation_tol`` of the grand coalition's utility, the members
    still to join are given a marginal contribution of 0 without evaluating their coalitions.
    """
    marginals = np.zeros(len(names), dtype=np.float64)
    prefix: list[str] = []
    previous = v_empty
    for position in order:
        if abs(v_full - previous) < truncation_tol:
            break
        prefix.append(names[position])
        current = view(frozenset(prefix))
        marginals[position] = current - previous
        previous = current
    return marginals


def sample_marginals(
    names: Sequence[str],
    view: CountingView,
    *,
    permutations: int,
    truncation_tol: float,
    rng: np.random.Generator,
    guided: bool = False,
    antithetic: bool = False,
    max_evaluations: int | None = None,
) -> FloatArray:
    """Sample truncated permutations; return one row of marginal contributions per independent sample.

    Without ``antithetic`` a row is one permutation. With it, permutations come in pairs (an order and its
    reverse) and a row is the mean of the pair, so rows stay independent and the standard error honest.
    With ``max_evaluations``, no new sample starts once the view has evaluated that many distinct
    coalitions (two samples always run), so the budget is exceeded by at most ``n - 1`` (``2n - 2`` when
    antithetic).
    """
    n = len(names)
    v_empty = view(frozenset())
    v_full = view(frozenset(names))
    per_row = 2 if antithetic else 1
    rows: list[FloatArray] = []
    for index in range(permutations // per_row):
        if max_evaluations is not None and index >= 2 and view.n_evaluations >= max_evaluations:
            break
        order = _permutation(n, index, rng, guided=guided)
        orders = [order, order[::-1].copy()] if antithetic else [order]
        pair = [
            _marginals_of(names, o, view, v_empty=v_empty, v_full=v_full, truncation_tol=truncation_tol) for o in orders
        ]
        rows.append(np.mean(pair, axis=0))
    return np.vstack(rows)


def _summarise(names: Sequence[str], samples: FloatArray) -> tuple[dict[str, float], dict[str, float]]:
    means = samples.mean(axis=0)
    errors = samples.std(axis=0, ddof=1) / math.sqrt(samples.shape[0])
    return (
        {name: float(means[i]) for i, name in enumerate(names)},
        {name: float(errors[i]) for i, name in enumerate(names)},
    )


def monte_carlo_shapley(
    players: Sequence[str],
    utility: Utility | CachedUtility,
    *,
    permutations: int,
    truncation_tol: float = 0.0,
    rng: np.random.Generator,
    antithetic: bool = False,
    max_evaluations: int | None = None,
) -> ShapleyResult:
    """Estimate Shapley values by truncated permutation sampling (TMC-Shapley, Ghorbani & Zou 2019).

    Each sampled permutation adds members one at a time; a member's sample is the utility gain when it joins.
    The estimate is the mean gain per member, unbiased when ``truncation_tol == 0``. Truncation stops a
    permutation once the running coalition's utility is within ``truncation_tol`` (absolute, utility units)
    of the grand coalition's, giving the remaining members 0: it saves evaluations at the price of a bias
    bounded by ``truncation_tol`` per permutation in total.

    Parameters
    ----------
    players
        Distinct member ids.
    utility
        Maps a frozenset of members to a finite number; each distinct coalition is evaluated once.
    permutations
        Number of permutations to sample, >= 2.
    truncation_tol
        Absolute tolerance in utility units; 0 disables truncation.
    rng
        Source of randomness (inject a seeded ``numpy.random.Generator`` for reproducible estimates).
    antithetic
        Sample each order together with its reverse (antithetic pairs; ``permutations`` must then be even
        and >= 4). A member that joins early in one joins late in the other, which cancels much of the
        variance when returns diminish: on the 7-member test game it halves the error at a budget of 25
        coalitions (see ``docs/contribution.md``).
    max_evaluations
        Optional budget of distinct coalition evaluations: no permutation starts once it is reached.

    Returns
    -------
    ShapleyResult
        ``method="monte_carlo"``, per-member standard errors, distinct coalitions evaluated.
    """
    names = check_players(players)
    _check_sampling(permutations, truncation_tol)
    if antithetic and (permutations % 2 or permutations < 4):
        raise ConfigError(f"antithetic sampling needs an even number of permutations >= 4, got {permutations}")
    if max_evaluations is not None and max_evaluations < 2:
        raise ConfigError(f"max_evaluations must be >= 2 (v(∅) and v(N)), got {max_evaluations}")
    view = CountingView(as_cached(utility))
    samples = sample_marginals(
        names,
        view,
        permutations=permutations,
        truncation_tol=truncation_tol,
        rng=rng,
        antithetic=antithetic,
        max_evaluations=max_evaluations,
    )
    values, errors = _summarise(names, samples)
    return ShapleyResult(
        values=values,
        std_errors=errors,
        n_evaluations=view.n_evaluations,
        method="monte_carlo",
        n_permutations=samples.shape[0] * (2 if antithetic else 1),
    )


def leave_one_out(players: Sequence[str], utility: Utility | CachedUtility) -> dict[str, float]:
    """Leave-one-out value of each member: ``v(N) - v(N \\ {i})``.

    Refused (``QuorumError``) unless at least :data:`fedrisk.errors.MIN_COHORT` members remain when one
    is left out: a model over fewer members would let each infer another's contribution.

    Examples
    --------
    >>> leave_one_out(["a", "b", "c", "d"], lambda s: float(len(s)) ** 2)
    {'a': 7.0, 'b': 7.0, 'c': 7.0, 'd': 7.0}
    """
    names = check_players(players)
    require_cohort(len(names) - 1, what="leave-one-out values (members remaining)")
    cached = as_cached(utility)
    full = cached(frozenset(names))
    return {name: full - cached(frozenset(names) - {name}) for name in names}
