"""Linkage across rounds: re-identify pseudonymous members' updates from one round to the next.

Setting: members send updates under per-round pseudonyms (identities shuffled each round). The coordinator sees
the updates of round ``t`` (with identities) and the updates of round ``t + 1`` in a random order, and tries to
say which update of ``t + 1`` belongs to which member of ``t``. Members hold non-IID data (each its own feature
shift and class balance), which makes the direction of their updates distinctive and persistent.

Attack: cosine similarity between every pair of (round ``t``, round ``t + 1``) updates, then the one-to-one
assignment of maximal total similarity (Hungarian). Metric: re-identification accuracy over all members and round
pairs; chance ``1 / K`` for ``K`` members. Success: accuracy >= 0.60 (fixed before running; chance 0.20).

Under ``he`` / ``all`` the coordinator sees only the sum of the updates: there is nothing individual to link,
the accuracy is chance by construction (the row says so). Under ``dp`` the coordinator sees each *clipped*
update (noise is added to the mean, after it has seen them); clipping is a rescaling, cosine similarity is
scale-invariant. The ``dp`` mode also reports a ``member-side noise`` row: each member adds the distributed-DP
noise of the ``all`` mode (std ``z C / sqrt(K)``) to its clipped update before sending it in the clear.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linear_sum_assignment

from fedrisk.errors import ConfigError
from fedrisk.privacy.attacks._sim import (
    Arrays,
    Dataset,
    FloatArray,
    Mode,
    Protection,
    accuracy,
    fedavg,
    make_task,
    seeded_noise,
)
from fedrisk.privacy.attacks.result import AttackResult
from fedrisk.privacy.dp import add_gaussian_noise, distributed_noise_std
from fedrisk.privacy.he import flatten_update

__all__ = ["N_MEMBERS", "THRESHOLD", "link", "member_data", "run"]

THRESHOLD = 0.60
N_MEMBERS = 5


def member_data(rng: np.random.Generator, w: FloatArray, n: int, shift: FloatArray, positive_rate: float) -> Dataset:
    """``n`` rows of the shared task (the rule of ``_sim.sample``) with features shifted by ``shift``, resampled to
    ``positive_rate`` positives: one member's non-IID data."""
    X = rng.normal(0.0, 1.0, (6 * n, w.size)) + shift
    logits = X @ w + 0.5 * np.sin(2.0 * X[:, 0])
    y = (logits + rng.logistic(0.0, 0.3, len(X)) > 0).astype(np.float64)
    y = np.where(rng.random(len(X)) < 0.15, 1.0 - y, y)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    k = min(round(positive_rate * n), len(pos))
    idx = np.concatenate([rng.choice(pos, k, replace=False), rng.choice(neg, n - k, replace=False)])
    rng.shuffle(idx)
    return Dataset(X=X[idx].astype(np.float64), y=y[idx])


def link(before: list[FloatArray], after: list[FloatArray]) -> list[int]:
    """For each update of ``before``, the index in ``after`` it is linked to (max total cosine similarity)."""
    if len(before) != len(after) or not before:
        raise ConfigError(f"linkage needs two equal, non-empty rounds; got {len(before)} and {len(after)} updates")
    a = np.vstack([v / max(float(np.linalg.norm(v)), 1e-12) for v in before])
    b = np.vstack([v / max(float(np.linalg.norm(v)), 1e-12) for v in after])
    rows, cols = linear_sum_assignment(-(a @ b.T))
    order = np.empty(len(before), dtype=int)
    order[rows] = cols
    return [int(c) for c in order]


def _accuracy(rounds: list[list[FloatArray]], rng: np.random.Generator) -> float:
    """Share of (member, round pair) links right, round ``t + 1`` shuffled before linking."""
    hits: list[bool] = []
    for before, after in itertools.pairwise(rounds):
        perm = rng.permutation(len(after))  # pseudonyms: position j of the shuffled round is member perm[j]
        guess = link(before, [after[p] for p in perm])
        hits += [int(perm[g]) == i for i, g in enumerate(guess)]
    return float(np.mean(hits))


def run(mode: Mode, *, seed: int, quick: bool = True, protection: Protection | None = None) -> list[AttackResult]:
    """Train a non-IID 5-member federation under ``mode``, link each member's updates across rounds."""
    rng = np.random.default_rng(seed)
    prot = protection or Protection(clip_norm=1.0)
    w = make_task(rng)
    rates = rng.uniform(0.2, 0.8, N_MEMBERS)
    members = [member_data(rng, w, 60, rng.normal(0.0, 0.5, w.size), float(r)) for r in rates]
    test = Dataset(X=np.vstack([m.X for m in members]), y=np.concatenate([m.y for m in members]))
    rounds = 6 if quick else 12
    model, views = fedavg(members, mode=mode, rounds=rounds, epochs=5, hidden=16, seed=seed, protection=prot)
    utility = accuracy(model, test)
    chance = 1.0 / N_MEMBERS
    common = {"mode": mode, "metric": "reid_accuracy", "chance": chance, "threshold": THRESHOLD}
    if any(s is None for v in views for s in v.seen):
        return [
            AttackResult(
                attack="linkage_across_rounds",
                value=chance,
                higher_is_success=True,
                defence="coordinator sees only the sum",
                utility=utility,
                note="nothing individual to link: accuracy = chance by construction (SecAgg+/HE)",
                **common,  # type: ignore[arg-type]
            )
        ]
    seen: list[list[FloatArray]] = [[flatten_update(s) for s in v.seen if s is not None] for v in views]
    results = [
        AttackResult(
            attack="linkage_across_rounds",
            value=_accuracy(seen, rng),
            higher_is_success=True,
            defence="clipping (scale only)" if mode == "dp" else "",
            utility=utility,
            note=f"{N_MEMBERS} non-IID members, {rounds - 1} round pairs; utility = accuracy on members' data",
            **common,  # type: ignore[arg-type]
        )
    ]
    if mode == "dp":
        std = distributed_noise_std(
            noise_multiplier=prot.noise_multiplier, clip_norm=prot.clip_norm, min_contributors=N_MEMBERS
        )
        noise = seeded_noise(seed + 1)
        noised: list[list[FloatArray]] = []
        for v in views:
            ups: list[Arrays] = [s for s in v.seen if s is not None]
            noised.append([flatten_update(add_gaussian_noise(u, std, noise)) for u in ups])
        results.append(
            AttackResult(
                attack="linkage_across_rounds",
                value=_accuracy(noised, rng),
                higher_is_success=True,
                defence=f"member-side noise std {std:.3f}",
                note="each member adds the all-mode distributed DP noise before sending in the clear (same run)",
                **common,  # type: ignore[arg-type]
            )
        )
    return results
