"""Pure contribution estimators: exact, Monte-Carlo (TMC) and GTG Shapley values, leave-one-out."""

from __future__ import annotations

from fedrisk.contribution.analysis._cache import CachedUtility as CachedUtility
from fedrisk.contribution.analysis._cache import Utility as Utility
from fedrisk.contribution.analysis.convergence import ConvergenceRow as ConvergenceRow
from fedrisk.contribution.analysis.convergence import SampledVsExact as SampledVsExact
from fedrisk.contribution.analysis.convergence import compare_to_exact as compare_to_exact
from fedrisk.contribution.analysis.convergence import convergence_report as convergence_report
from fedrisk.contribution.analysis.convergence import format_convergence as format_convergence
from fedrisk.contribution.analysis.gtg import gtg_shapley as gtg_shapley
from fedrisk.contribution.analysis.shapley import EXACT_MAX_PLAYERS as EXACT_MAX_PLAYERS
from fedrisk.contribution.analysis.shapley import ShapleyResult as ShapleyResult
from fedrisk.contribution.analysis.shapley import exact_shapley as exact_shapley
from fedrisk.contribution.analysis.shapley import leave_one_out as leave_one_out
from fedrisk.contribution.analysis.shapley import monte_carlo_shapley as monte_carlo_shapley

__all__ = [
    "EXACT_MAX_PLAYERS",
    "CachedUtility",
    "ConvergenceRow",
    "SampledVsExact",
    "ShapleyResult",
    "Utility",
    "compare_to_exact",
    "convergence_report",
    "exact_shapley",
    "format_convergence",
    "gtg_shapley",
    "leave_one_out",
    "monte_carlo_shapley",
]
