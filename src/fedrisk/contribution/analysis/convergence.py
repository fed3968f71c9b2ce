"""How far the sampled estimator is from exact, against how many coalitions it evaluated."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fedrisk.contribution.analysis._cache import CachedUtility, Utility, as_cached, check_players
from fedrisk.contribution.analysis.shapley import ShapleyResult, exact_shapley, monte_carlo_shapley
from fedrisk.errors import ConfigError


@dataclass(frozen=True)
class SampledVsExact:
    """Error and cost of one sampled estimate against the exact values.

    Attributes
    ----------
    max_abs_error
        ``max_i |phi_hat_i - phi_i|`` in utility units.
    max_error_pct_of_total
        ``max_abs_error`` as a percentage of the total value ``|sum_i phi_i| = |v(N) - v(∅)|``;
        ``None`` when the total value is 0.
    evaluation_fraction
        Distinct coalitions the sampled estimate evaluated, over the ``2**n`` of the exact one.
    """

    max_abs_error: float
    max_error_pct_of_total: float | None
    sampled_evaluations: int
    exact_evaluations: int
    evaluation_fraction: float


def compare_to_exact(exact: ShapleyResult, sampled: ShapleyResult) -> SampledVsExact:
    """Measure a sampled estimate against the exact values of the same game."""
    if set(exact.values) != set(sampled.values):
        raise ConfigError("exact and sampled results cover different members: compare results of one game")
    error = max(abs(sampled.values[m] - exact.values[m]) for m in exact.values)
    total = abs(exact.total)
    return SampledVsExact(
        max_abs_error=error,
        max_error_pct_of_total=100.0 * error / total if total > 0 else None,
        sampled_evaluations=sampled.n_evaluations,
        exact_evaluations=exact.n_evaluations,
        evaluation_fraction=sampled.n_evaluations / exact.n_evaluations,
    )


@dataclass(frozen=True)
class ConvergenceRow:
    """Mean error and cost of ``repeats`` independent sampled estimates at one permutation count."""

    permutations: int
    truncation_tol: float
    antithetic: bool
    repeats: int
    mean_evaluations: float
    evaluation_fraction: float
    mean_max_error_pct_of_total: float
    worst_max_error_pct_of_total: float
    mean_std_error: float


def convergence_report(
    players: Sequence[str],
    utility: Utility | CachedUtility,
    *,
    permutation_grid: Sequence[int],
    truncation_tol: float = 0.0,
    antithetic: bool = False,
    repeats: int = 5,
    rng: np.random.Generator,
) -> list[ConvergenceRow]:
    """Error of the Monte-Carlo estimator against exact Shapley, per permutation count.

    The exact values are computed once; each grid point runs ``repeats`` independent estimates (sharing the
    cache, so nothing is trained twice, while each estimate's own cost is counted as on a cold cache).
    """
    names = check_players(players)
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    cached = as_cached(utility)
    exact = exact_shapley(names, cached)
    if exact.total == 0:
        raise ConfigError("the game's total value v(N) - v(∅) is 0: an error relative to it is undefined")
    rows = []
    for permutations in permutation_grid:
        runs = [
            monte_carlo_shapley(
                names,
                cached,
                permutations=permutations,
                truncation_tol=truncation_tol,
                antithetic=antithetic,
                rng=rng,
            )
            for _ in range(repeats)
        ]
        errors = [compare_to_exact(exact, run) for run in runs]
        pct = [e.max_error_pct_of_total or 0.0 for e in errors]
        rows.append(
            ConvergenceRow(
                permutations=permutations,
                truncation_tol=truncation_tol,
                antithetic=antithetic,
                repeats=repeats,
                mean_evaluations=float(np.mean([r.n_evaluations for r in runs])),
                evaluation_fraction=float(np.mean([e.evaluation_fraction for e in errors])),
                mean_max_error_pct_of_total=float(np.mean(pct)),
                worst_max_error_pct_of_total=max(pct),
                mean_std_error=float(np.mean([math.fsum(r.std_errors.values()) / len(names) for r in runs])),
            )
        )
    return rows


def format_convergence(rows: Sequence[ConvergenceRow]) -> str:
    """Render rows as a plain-text table (for logs, tests and the docs)."""
    lines = ["permutations  anti  tol     evals  frac   mean_err%  worst_err%  mean_se"]
    lines += [
        f"{r.permutations:>12}  {'yes' if r.antithetic else 'no':<4}  {r.truncation_tol:<6.3g}"
        f"  {r.mean_evaluations:>5.1f}"
        f"  {r.evaluation_fraction:5.2f}  {r.mean_max_error_pct_of_total:9.2f}"
        f"  {r.worst_max_error_pct_of_total:10.2f}  {r.mean_std_error:7.4f}"
        for r in rows
    ]
    return "\n".join(lines)
