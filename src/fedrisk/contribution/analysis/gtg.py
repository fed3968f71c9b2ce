"""GTG-Shapley: per-round Shapley values from reconstructed coalition models (Liu et al. 2022).

Instead of training a federation per coalition, GTG-Shapley rebuilds, in every round ``t``, the model a
coalition ``S`` would have produced from the round's individual updates::

    w_S^t = w^t + sum_{i in S} (n_i / sum_{j in S} n_j) * delta_i^t        (w_∅^t = w^t)

and values members by truncated, *guided* permutation sampling of the round game
``U_t(S) = evaluate(w_S^t)`` (each member starts a permutation in turn). A round whose full update changes
the utility by less than ``round_tol`` is skipped (everyone gets 0 for it); within a round, permutations are
truncated like TMC-Shapley. The final value is the sum of the per-round values.

Threat model: it needs every member's individual update, so the coordinator sees them. Use it only in the
*fast* utility mode, where the configuration accepts that the coordinator sees (DP-noised) individual updates;
under secure aggregation use the *private* mode (a federation per coalition) instead.

Reference: Z. Liu, Y. Chen, H. Yu, Y. Liu, L. Cui, "GTG-Shapley: Efficient and Accurate Participant
Contribution Evaluation in Federated Learning", ACM TIST 13(4), 2022.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fedrisk.contribution.analysis._cache import CachedUtility, CountingView, check_players
from fedrisk.contribution.analysis.shapley import ShapleyResult, _check_sampling, sample_marginals
from fedrisk.errors import ConfigError

Params = list[npt.NDArray[Any]]
"""Model parameters or an update: one array per layer."""


def _check_weights(names: Sequence[str], weights: Mapping[str, float]) -> dict[str, float]:
    missing = [name for name in names if name not in weights]
    if missing:
        raise ConfigError(f"weights has no entry for members {missing}: give every member its sample count")
    bad = {k: weights[k] for k in names if not (math.isfinite(weights[k]) and weights[k] > 0)}
    if bad:
        raise ConfigError(f"aggregation weights must be finite and > 0, got {bad}")
    return {name: float(weights[name]) for name in names}


def _check_round(index: int, names: Sequence[str], updates: Mapping[str, Params], before: Params) -> tuple[str, ...]:
    unknown = sorted(set(updates) - set(names))
    if unknown:
        raise ConfigError(f"round {index}: updates from members {unknown} who are not in players")
    shapes = [np.shape(layer) for layer in before]
    for member, update in updates.items():
        got = [np.shape(layer) for layer in update]
        if got != shapes:
            raise ConfigError(
                f"round {index}: the update of {member!r} has layer shapes {got}, the global model {shapes}"
            )
    return tuple(name for name in names if name in updates)


def reconstruct(
    before: Params, updates: Mapping[str, Params], weights: Mapping[str, float], coalition: frozenset[str]
) -> Params:
    """Rebuild the model that ``coalition`` would have produced this round (weighted mean of its updates)."""
    total = math.fsum(weights[m] for m in coalition)
    members = sorted(coalition)
    model: Params = []
    for k, layer in enumerate(before):
        acc = np.array(layer, dtype=np.float64, copy=True)
        for m in members:
            acc += (weights[m] / total) * np.asarray(updates[m][k], dtype=np.float64)
        model.append(acc)
    return model


def _round_utility(
    before: Params,
    updates: Mapping[str, Params],
    weights: Mapping[str, float],
    evaluate: Callable[[Params], float],
) -> Callable[[frozenset[str]], float]:
    def utility(coalition: frozenset[str]) -> float:
        return evaluate(reconstruct(before, updates, weights, coalition))

    return utility


def gtg_shapley(
    players: Sequence[str],
    round_updates: Sequence[Mapping[str, Params]],
    global_before: Sequence[Params],
    weights: Mapping[str, float],
    evaluate: Callable[[Params], float],
    *,
    permutations: int,
    truncation_tol: float = 0.0,
    round_tol: float | None = None,
    rng: np.random.Generator,
) -> ShapleyResult:
    """Estimate members' Shapley values from per-round updates (GTG-Shapley, Liu et al. 2022).

    Parameters
    ----------
    players
        Distinct member ids.
    round_updates
        One mapping per round from member id to its update ``local_after - global_before`` (a list of
        arrays shaped like the model). A member absent from a round gets 0 for that round.
    global_before
        The global model at the start of each round (same length as ``round_updates``).
    weights
        Aggregation weight per member (e.g. its number of training samples), > 0.
    evaluate
        Utility of a model (e.g. AUPRC on the validation data); each reconstructed model is evaluated once.
    permutations
        Permutations sampled per round (>= 2); guided: member ``k % n`` starts permutation ``k``.
    truncation_tol
        Within-round truncation tolerance, absolute in utility units; 0 disables it.
    round_tol
        Between-round truncation: a round whose grand-coalition gain ``|U_t(N) - U_t(∅)|`` is below it is
        skipped. Defaults to ``truncation_tol``.
    rng
        Source of randomness.

    Returns
    -------
    ShapleyResult
        ``method="gtg"``; values summed over rounds; standard errors combined as the root of the summed
        per-round variances; ``n_evaluations`` = model evaluations summed over rounds.
    """
    names = check_players(players)
    _check_sampling(permutations, truncation_tol)
    skip_tol = truncation_tol if round_tol is None else round_tol
    if not (math.isfinite(skip_tol) and skip_tol >= 0):
        raise ConfigError(f"round_tol must be a finite number >= 0, got {round_tol!r}")
    if len(round_updates) != len(global_before):
        raise ConfigError(
            f"round_updates has {len(round_updates)} rounds but global_before {len(global_before)}: "
            "give the global model at the start of every round"
        )
    w = _check_weights(names, weights)
    totals = dict.fromkeys(names, 0.0)
    variances = dict.fromkeys(names, 0.0)
    n_evaluations = n_permutations = 0
    for t, (updates, before) in enumerate(zip(round_updates, global_before, strict=True)):
        members = _check_round(t, names, updates, before)
        if not members:
            continue
        view = CountingView(CachedUtility(_round_utility(before, updates, w, evaluate)))
        gain = view(frozenset(members)) - view(frozenset())
        if abs(gain) < skip_tol:
            n_evaluations += view.n_evaluations
            continue
        samples = sample_marginals(
            members, view, permutations=permutations, truncation_tol=truncation_tol, rng=rng, guided=True
        )
        for i, name in enumerate(members):
            totals[name] += float(samples[:, i].mean())
            variances[name] += float(samples[:, i].var(ddof=1)) / samples.shape[0]
        n_evaluations += view.n_evaluations
        n_permutations += samples.shape[0]
    return ShapleyResult(
        values=totals,
        std_errors={name: math.sqrt(v) for name, v in variances.items()},
        n_evaluations=n_evaluations,
        method="gtg",
        n_permutations=n_permutations,
    )
