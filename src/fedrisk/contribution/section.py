"""The ``"contribution"`` section of a run's ``results.json``: build it, read it back, validate it.

The schema is documented in ``docs/contribution.md``. :func:`build_contribution_section` is the one call a
job makes (it runs the estimators, the leave-one-out values and the reward split over a coalition utility);
:func:`read_contribution_section` is what ``fedrisk contribution report`` reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedrisk.contribution.analysis import (
    CachedUtility,
    ShapleyResult,
    Utility,
    compare_to_exact,
    exact_shapley,
    leave_one_out,
    monte_carlo_shapley,
)
from fedrisk.contribution.analysis._cache import as_cached, check_players
from fedrisk.contribution.rewards import RewardRules, split_rewards
from fedrisk.errors import MIN_COHORT, ConfigError, DataNotFoundError, DataValidationError, require_cohort

SECTION_KEY = "contribution"
SCHEMA_VERSION = 1
SECTION_EXACT_MAX_PLAYERS = 8
"""Up to this many members the section reports exact Shapley values (2**8 = 256 coalition trainings)."""
UTILITY_MODES = ("private", "fast")
METHODS = ("exact", "monte_carlo", "gtg")


def _sampled_block(
    exact: ShapleyResult, sampled: ShapleyResult, truncation_tol: float, antithetic: bool
) -> dict[str, Any]:
    cmp = compare_to_exact(exact, sampled)
    return {
        "exact_evaluations": cmp.exact_evaluations,
        "sampled_evaluations": cmp.sampled_evaluations,
        "evaluation_fraction": cmp.evaluation_fraction,
        "sampled_permutations": sampled.n_permutations,
        "truncation_tol": truncation_tol,
        "antithetic": antithetic,
        "max_abs_error": cmp.max_abs_error,
        "max_error_pct_of_total": cmp.max_error_pct_of_total,
        "sampled": dict(sampled.values),
        "sampled_std_error": dict(sampled.std_errors),
    }


def _check_section_args(utility_mode: str, utility_metric: str, exact_max_players: int) -> None:
    if utility_mode not in UTILITY_MODES:
        raise ConfigError(f"utility_mode must be one of {list(UTILITY_MODES)}, got {utility_mode!r}")
    if not isinstance(utility_metric, str) or not utility_metric:
        raise ConfigError(f"utility_metric must name the metric (e.g. 'auprc'), got {utility_metric!r}")
    if not 1 <= exact_max_players <= 16:
        raise ConfigError(f"exact_max_players must be in [1, 16], got {exact_max_players}")


def build_contribution_section(
    players: Sequence[str],
    utility: Utility | CachedUtility,
    rules: RewardRules,
    *,
    sampled_permutations: int,
    rng: np.random.Generator,
    truncation_tol: float = 0.0,
    sampled_antithetic: bool = True,
    sampled_max_evaluations: int | None = None,
    utility_metric: str = "auprc",
    utility_mode: str = "private",
    exact_max_players: int = SECTION_EXACT_MAX_PLAYERS,
) -> dict[str, Any]:
    """Value every member, split the reward pool, and return the JSON-ready ``"contribution"`` section.

    With at most ``exact_max_players`` members the reported values are exact, and a Monte-Carlo estimate is
    computed alongside with its cost and its error against exact (``exact_vs_sampled``); above, the sampled
    estimate is reported and ``exact_vs_sampled`` is ``None``. Leave-one-out values are given only when at
    least :data:`~fedrisk.errors.MIN_COHORT` members remain without each one (else ``None`` and a note).

    Parameters
    ----------
    players
        Distinct member ids, at least :data:`~fedrisk.errors.MIN_COHORT`.
    utility
        Coalition utility (e.g. AUPRC of the model a coalition trains); each coalition is evaluated once
        across all estimators. Pass a :class:`CachedUtility` to reuse evaluations made elsewhere.
    rules
        Reward split rules.
    sampled_permutations
        Permutations for the Monte-Carlo estimate.
    rng
        Source of randomness of the Monte-Carlo estimate.
    truncation_tol, sampled_antithetic, sampled_max_evaluations
        Passed to :func:`monte_carlo_shapley` (as ``truncation_tol``, ``antithetic``, ``max_evaluations``).
    utility_metric, utility_mode
        Recorded in the section; ``utility_mode`` is ``"private"`` or ``"fast"`` (see the threat model).
    exact_max_players
        Largest member count for which exact values are computed.
    """
    names = check_players(players)
    require_cohort(len(names), what="contribution values")
    _check_section_args(utility_mode, utility_metric, exact_max_players)
    cached = as_cached(utility)
    exact = exact_shapley(names, cached) if len(names) <= exact_max_players else None
    sampled = monte_carlo_shapley(
        names,
        cached,
        permutations=sampled_permutations,
        truncation_tol=truncation_tol,
        rng=rng,
        antithetic=sampled_antithetic,
        max_evaluations=sampled_max_evaluations,
    )
    reported = exact if exact is not None else sampled
    loo: dict[str, float] | None = None
    loo_note = None
    if len(names) - 1 >= MIN_COHORT:
        loo = leave_one_out(names, cached)
    else:
        loo_note = f"withheld: leaving one of {len(names)} members out leaves fewer than {MIN_COHORT}"
    rewards = split_rewards(reported.values, rules)
    v_full, v_empty = cached(frozenset(names)), cached(frozenset())
    return {
        "schema_version": SCHEMA_VERSION,
        "method": reported.method,
        "utility_metric": utility_metric,
        "utility_mode": utility_mode,
        "grand_coalition_utility": v_full,
        "empty_coalition_utility": v_empty,
        "total_value": v_full - v_empty,
        "members": [
            {
                "member": m,
                "shapley": reported.values[m],
                "std_error": reported.std_errors[m],
                "loo": None if loo is None else loo[m],
                "reward": rewards[m].amount,
                "reward_share": rewards[m].share,
                "premium": rewards[m].premium,
            }
            for m in names
        ],
        "loo_note": loo_note,
        "rewards": asdict(rules),
        "exact_vs_sampled": None
        if exact is None
        else _sampled_block(exact, sampled, truncation_tol, sampled_antithetic),
        "n_coalitions_evaluated": cached.n_evaluations,
        "utility_seconds": cached.total_seconds,
    }


@dataclass(frozen=True)
class MemberContribution:
    """One member's row of the section."""

    member: str
    shapley: float
    std_error: float
    loo: float | None
    reward_share: float
    premium: bool
    reward: float | None = None


@dataclass(frozen=True)
class ContributionSection:
    """A validated ``"contribution"`` section (``raw`` keeps every field as read)."""

    method: str
    utility_metric: str
    members: tuple[MemberContribution, ...]
    exact_vs_sampled: Mapping[str, Any] | None
    n_coalitions_evaluated: int
    raw: Mapping[str, Any]


def _num(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _member_problems(i: int, row: object) -> list[str]:
    if not isinstance(row, dict):
        return [f"members[{i}] must be an object, got {type(row).__name__}"]
    where = f"members[{i}]"
    problems = []
    if not isinstance(row.get("member"), str) or not row.get("member"):
        problems.append(f"{where}.member must be a non-empty string")
    for key in ("shapley", "std_error", "reward_share"):
        if not _num(row.get(key)):
            problems.append(f"{where}.{key} must be a finite number, got {row.get(key)!r}")
    if "loo" not in row or not (row["loo"] is None or _num(row["loo"])):
        problems.append(f"{where}.loo must be a finite number or null")
    if not isinstance(row.get("premium"), bool):
        problems.append(f"{where}.premium must be true or false")
    if row.get("reward") is not None and not _num(row.get("reward")):
        problems.append(f"{where}.reward must be a finite number when present")
    return problems


def _section_problems(raw: Mapping[str, Any]) -> list[str]:
    problems = []
    if raw.get("method") not in METHODS:
        problems.append(f"method must be one of {list(METHODS)}, got {raw.get('method')!r}")
    if not isinstance(raw.get("utility_metric"), str):
        problems.append("utility_metric must be a string")
    n_eval = raw.get("n_coalitions_evaluated")
    if isinstance(n_eval, bool) or not isinstance(n_eval, int) or n_eval < 0:
        problems.append(f"n_coalitions_evaluated must be an integer >= 0, got {n_eval!r}")
    evs = raw.get("exact_vs_sampled")
    if evs is not None and not isinstance(evs, dict):
        problems.append("exact_vs_sampled must be an object or null")
    members = raw.get("members")
    if not isinstance(members, list) or not members:
        problems.append("members must be a non-empty list")
        return problems
    for i, row in enumerate(members):
        problems += _member_problems(i, row)
    names = [r.get("member") for r in members if isinstance(r, dict)]
    if len(set(map(str, names))) != len(names):
        problems.append(f"members lists a member more than once: {names}")
    return problems


def parse_contribution_section(raw: object, *, source: str = "results.json") -> ContributionSection:
    """Validate a ``"contribution"`` section; :class:`DataValidationError` lists every problem at once.

    A section over fewer than :data:`~fedrisk.errors.MIN_COHORT` members is refused (``QuorumError``).
    """
    if not isinstance(raw, dict):
        raise DataValidationError(f"{source}: the '{SECTION_KEY}' section must be an object")
    problems = _section_problems(raw)
    if problems:
        raise DataValidationError(
            f"{source}: invalid '{SECTION_KEY}' section: " + "; ".join(problems) + " (see docs/contribution.md)"
        )
    require_cohort(len(raw["members"]), what="contribution values")
    members = tuple(
        MemberContribution(
            member=r["member"],
            shapley=float(r["shapley"]),
            std_error=float(r["std_error"]),
            loo=None if r["loo"] is None else float(r["loo"]),
            reward_share=float(r["reward_share"]),
            premium=r["premium"],
            reward=None if r.get("reward") is None else float(r["reward"]),
        )
        for r in raw["members"]
    )
    return ContributionSection(
        method=raw["method"],
        utility_metric=raw["utility_metric"],
        members=members,
        exact_vs_sampled=raw.get("exact_vs_sampled"),
        n_coalitions_evaluated=raw["n_coalitions_evaluated"],
        raw=raw,
    )


def read_contribution_section(run_dir: str | Path) -> ContributionSection:
    """Read and validate the ``"contribution"`` section of ``RUN_DIR/results.json``."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise DataNotFoundError(f"{path} not found: pass the directory of a finished run (it holds results.json)")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataValidationError(f"{path} is not valid JSON ({err}): the run may not have finished") from err
    if not isinstance(results, dict) or SECTION_KEY not in results:
        raise DataValidationError(
            f"{path} has no '{SECTION_KEY}' section: the run did not value contributions "
            "(enable contribution in the job configuration and rerun)"
        )
    return parse_contribution_section(results[SECTION_KEY], source=str(path))
