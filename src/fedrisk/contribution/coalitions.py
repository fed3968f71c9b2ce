"""Coalition utility: train a coalition as its own federation, return one number. The contribution job's one
entry point into federation runs (it imports Flower: keep it out of ``fedrisk.contribution.__init__``).

**Utility of a coalition S** = the mean, over the members whose validation period holds at least one event, of
the validation AUPRC of the model S trains, each member scoring it on its own validation data (equal weight per
member: each institution counts once, whatever its size; AUPRC is undefined for a member without events, which
is then left out of every coalition's mean alike).

**Small coalitions.** A federation needs at least :data:`~fedrisk.errors.MIN_COHORT` members, so a coalition of
1 or 2 members cannot train a shared model under the federation's rules: its utility is the *empty-coalition
baseline*, the utility of the seeded, untrained initial model (what the federation has before anyone
contributes). The game is still a game, so every Shapley axiom holds; it says "value is created only by
coalitions large enough to federate".

**Private mode** (:func:`private_utilities`): every needed coalition of >= 3 members trains as its own
federation (few rounds, few local steps, no per-round validation, the last round kept), all coalitions as jobs
of one plan in one simulation start; members evaluate each coalition model on their own data and only scalars
come back; coalition models are never saved. **Fast mode** (:func:`fast_shapley`): GTG-Shapley over the
individual round updates of one federation of everyone, refused unless the configuration accepts that the
coordinator sees (DP-noised) individual updates.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fedrisk.contribution.analysis import CachedUtility, ShapleyResult, gtg_shapley, monte_carlo_shapley
from fedrisk.contribution.analysis._cache import check_players
from fedrisk.errors import MIN_COHORT, ConfigError, PrivacyError
from fedrisk.features.panel import Split
from fedrisk.federation.plan import FederationPlan, Job, TrainSettings
from fedrisk.federation.valuation import Drills, MemberScore, ValuationRun, run_valuation

WEIGHTING = "equal weight per member with validation events (mean of members' validation AUPRC)"
COALITION_SETTINGS = TrainSettings(rounds=2, local_steps=40, batch_size=256, window=24, hidden=32, seed=7)
"""Cheap coalition training: 2 rounds of 40 local steps, no per-round validation (the demo's federation: 10 rounds
of 30 with validation every round). 2 rounds of 10 steps left every coalition at the event-rate level on the quick
members (no signal to value); 3 rounds of 30 gave utilities 0.073-0.082 against a 0.063 baseline."""


def combine(scores: Mapping[str, MemberScore]) -> float:
    """The documented weighting: mean of defined AUPRCs (0.0 when no member has a validation event)."""
    vals = [s.auprc for s in scores.values() if s.auprc is not None and math.isfinite(s.auprc)]
    return float(np.mean(vals)) if vals else 0.0


def job_name(coalition: Iterable[str]) -> str:
    """The job name of a coalition federation (sorted members)."""
    return "coalition-" + "+".join(sorted(coalition))


@dataclass(frozen=True, slots=True)
class CoalitionTable:
    """Utilities of trained coalitions, the baseline, and a :class:`CachedUtility`-ready function."""

    players: tuple[str, ...]
    baseline: float
    values: Mapping[frozenset[str], float]
    per_member: Mapping[frozenset[str], Mapping[str, float | None]] = field(default_factory=dict)
    seconds: float = 0.0
    train_seconds: Mapping[frozenset[str], float] = field(default_factory=dict)

    def __call__(self, coalition: frozenset[str]) -> float:
        """``v(S)``: the trained value for ``|S| >= 3``, the baseline below."""
        unknown = set(coalition) - set(self.players)
        if unknown:
            raise ConfigError(f"coalition names members {sorted(unknown)} that are not players")
        if len(coalition) < MIN_COHORT:
            return self.baseline
        if coalition not in self.values:
            raise ConfigError(
                f"coalition {sorted(coalition)} was not trained: list it in the coalitions passed to "
                "private_utilities (needed_coalitions gives what an estimator will ask for)"
            )
        return self.values[coalition]


def all_coalitions(players: Sequence[str]) -> list[frozenset[str]]:
    """Every coalition that can federate (>= the minimum cohort), smallest first: what exact Shapley needs."""
    names = check_players(players)
    return [frozenset(c) for k in range(MIN_COHORT, len(names) + 1) for c in itertools.combinations(names, k)]


def needed_coalitions(
    players: Sequence[str], *, permutations: int, seed: int, antithetic: bool, max_evaluations: int | None
) -> list[frozenset[str]]:
    """The coalitions (>= the minimum cohort) a Monte-Carlo estimate with this seed will ask for.

    Without truncation, the coalitions a permutation estimator visits depend only on its random orders, so
    recording them with a dummy utility and rerunning with the same seed asks for exactly the same ones.
    """
    asked: list[frozenset[str]] = []

    def record(s: frozenset[str]) -> float:
        asked.append(s)
        return 0.0

    monte_carlo_shapley(
        players,
        CachedUtility(record),
        permutations=permutations,
        rng=np.random.default_rng(seed),
        antithetic=antithetic,
        max_evaluations=max_evaluations,
    )
    big = {s for s in asked if len(s) >= MIN_COHORT}
    return sorted(big, key=lambda s: (len(s), sorted(s)))


def coalition_plan(
    players: Sequence[str],
    coalitions: Sequence[frozenset[str]],
    *,
    data_dir: Path,
    split: Split,
    settings: TrainSettings = COALITION_SETTINGS,
) -> FederationPlan:
    """One plan, one job per coalition (last round kept, no per-round validation)."""
    jobs = tuple(Job(job_name(c), tuple(sorted(c)), settings=settings, select_by_validation=False) for c in coalitions)
    return FederationPlan(members=tuple(players), jobs=jobs, split=split, sim_data_dir=str(data_dir))


def table_from_run(players: Sequence[str], coalitions: Sequence[frozenset[str]], run: ValuationRun) -> CoalitionTable:
    """Combine a valuation run's member scores into coalition utilities (judged by ``players`` only).

    A run may serve several games over different players (the bench); each game's utility averages the scores
    of its own players.
    """
    judges = set(players)
    values, per_member, secs = {}, {}, {}
    for c in coalitions:
        jv = run.jobs[job_name(c)]
        scores = {m: s for m, s in jv.scores.items() if m in judges}
        values[c] = combine(scores)
        per_member[c] = {m: s.auprc for m, s in scores.items()}
        secs[c] = jv.wall_s
    return CoalitionTable(
        players=tuple(players),
        baseline=combine({m: s for m, s in run.baseline.items() if m in judges}),
        values=values,
        per_member=per_member,
        seconds=run.wall_s,
        train_seconds=secs,
    )


def private_utilities(
    players: Sequence[str],
    coalitions: Sequence[frozenset[str]],
    *,
    data_dir: Path,
    split: Split,
    settings: TrainSettings = COALITION_SETTINGS,
    drills: Drills = Drills(),
    num_cpus: int | None = None,
) -> CoalitionTable:
    """Private-mode utilities: each coalition trains as its own federation (one simulation start for all).

    Only scalars leave the valuation; coalition models are never saved. Coalitions below the minimum cohort
    are not trained (their utility is the baseline, see the module docstring).
    """
    names = check_players(players)
    if len(names) < MIN_COHORT:
        raise ConfigError(f"valuing contributions needs at least {MIN_COHORT} members, got {list(names)}")
    big = [c for c in dict.fromkeys(frozenset(c) for c in coalitions) if len(c) >= MIN_COHORT]
    if not big:
        raise ConfigError(f"no coalition of at least {MIN_COHORT} members to train")
    plan = coalition_plan(names, big, data_dir=data_dir, split=split, settings=settings)
    run = run_valuation(plan, drills=drills, num_cpus=num_cpus)
    return table_from_run(names, big, run)


def fast_shapley(
    players: Sequence[str],
    *,
    allow_individual_updates: bool,
    data_dir: Path,
    split: Split,
    evaluate: Callable[[list[np.ndarray]], float],
    settings: TrainSettings = COALITION_SETTINGS,
    permutations: int = 8,
    truncation_tol: float = 0.0,
    rng: np.random.Generator,
    drills: Drills = Drills(),
) -> tuple[ShapleyResult, float]:
    """Fast mode: GTG-Shapley from the individual round updates of one federation of every member.

    Refused (:class:`PrivacyError`) unless ``allow_individual_updates``: the coordinator must see each member's
    update, which secure aggregation exists to prevent. Returns the values and the seconds taken.
    """
    if not allow_individual_updates:
        raise PrivacyError(
            "fast contribution mode reconstructs coalition models from each member's individual update, so the "
            "coordinator sees (DP-noised) individual updates; the configuration does not allow that. Fix: use "
            "utility_mode='private' (a federation per coalition, nothing individual is seen), or set "
            "allow_individual_updates=true in the contribution configuration if every member accepts it."
        )
    names = check_players(players)
    start = time.perf_counter()
    grand = frozenset(names)
    plan = coalition_plan(names, [grand], data_dir=data_dir, split=split, settings=settings)
    run = run_valuation(plan, drills=drills, record_updates=(job_name(grand),))
    jv = run.jobs[job_name(grand)]
    result = gtg_shapley(
        names,
        jv.round_updates,
        jv.global_before,
        {m: jv.n_train.get(m, 1.0) for m in names},
        evaluate,
        permutations=permutations,
        truncation_tol=truncation_tol,
        rng=rng,
    )
    return result, time.perf_counter() - start


def member_evaluator(
    players: Sequence[str],
    *,
    data_dir: Path,
    split: Split,
    settings: TrainSettings = COALITION_SETTINGS,
    drills: Drills = Drills(),
) -> Callable[[list[np.ndarray]], float]:
    """``evaluate(weights)`` for fast mode: every member's validation AUPRC of a model, combined by :func:`combine`.

    In the simulation this scores with each member's validation panel inside the valuation process, standing in
    for an evaluation message to each member (what :func:`private_utilities` sends); only the combined scalar
    is returned.
    """
    from fedrisk.federation.member_node import MemberJob, build_model, load_member, validate

    names = check_players(players)
    alias = dict(drills.alias)

    def evaluate(weights: list[np.ndarray]) -> float:
        scores = {}
        for m in names:
            data = load_member(alias.get(m, m), str(data_dir), split, settings.window, None)
            job = MemberJob(
                m, data_dir, split, settings.window, settings.hidden, None, 0, 1, 1e-3, 0.0, 0.0, settings.seed
            )
            _, n, ap = validate(build_model(job, [np.asarray(w, dtype=np.float32) for w in weights]), data)
            scores[m] = MemberScore(m, ap, n)
        return combine(scores)

    return evaluate
