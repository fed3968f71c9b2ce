"""A coordinator isolating one member with a crafted small cohort.

Variant 1 (blocked by the minimum-cohort rule): plan a job over ``[target]`` or ``[target, accomplice]``, or
aggregate fewer than 3 replies, so the "aggregate" is the target's own update. Every layer refuses: the
:class:`~fedrisk.federation.plan.Job` constructor, the coordinator's quorum check
(:class:`~fedrisk.federation.coordinator.CohortFedAvg`), and every aggregator of this package. Metric:
share of the isolation attempts that released an aggregate over < 3 members (success: > 0).

Variant 2 (NOT blocked by the rule, measured honestly): a cohort of the target plus two *sybils* the
coordinator controls, sending zero updates. The sum of 3 "members" is then the target's update, and the
gradient-inversion attack runs on it. Only DP noise added by the target itself (``all``) or admission
control (members are vetted institutions, see ``docs/governance.md``) stops it. Metric: relative
reconstruction error of the target's record (success <= 0.10).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from flwr.app import RecordDict

from fedrisk.errors import ConfigError, QuorumError
from fedrisk.federation.coordinator import CohortFedAvg
from fedrisk.federation.plan import Job
from fedrisk.privacy.attacks._sim import Aggregation, Mode, Protection, gradient, make_model, make_task, sample
from fedrisk.privacy.attacks.gradient_inversion import LR, analytic_inversion, relative_error, target_view
from fedrisk.privacy.attacks.result import AttackResult

__all__ = ["THRESHOLD", "attempt_isolation", "run"]

THRESHOLD = 0.10


def attempt_isolation(mode: Mode, *, seed: int) -> dict[str, bool]:
    """Try each small-cohort route; ``True`` means an aggregate over < 3 members was released."""
    released: dict[str, bool] = {}
    for name, cohort in (("job_of_1", ("target",)), ("job_of_2", ("target", "accomplice"))):
        try:
            Job(name=name, cohort=cohort)
            released[name] = True
        except ConfigError:
            released[name] = False
    strategy = CohortFedAvg({1, 2, 3})
    reply = SimpleNamespace(has_error=lambda: False, content=RecordDict({}))
    kept = strategy._quorum(1, [reply, reply])  # type: ignore[list-item]
    released["coordinator_2_replies"] = bool(kept)
    agg = Aggregation(mode=mode, seed=seed)
    try:
        agg([[np.zeros(2)], [np.zeros(2)]])
        released[f"aggregate_2_updates_{mode}"] = True
    except QuorumError:
        released[f"aggregate_2_updates_{mode}"] = False
    return released


def run(mode: Mode, *, seed: int, quick: bool = True, protection: Protection | None = None) -> list[AttackResult]:
    """Both variants under ``mode``."""
    released = attempt_isolation(mode, seed=seed)
    rng = np.random.default_rng(seed)
    w = make_task(rng)
    model = make_model(w.size, 32, seed)
    weights = [p.detach().numpy().copy() for p in model.parameters()]
    agg = Aggregation(mode=mode, protection=protection or Protection(clip_norm=0.1), seed=seed)
    errors = []
    for _ in range(3 if quick else 10):
        record = sample(rng, w, 1)
        target = [-LR * g for g in gradient(model, weights, record)]
        sybil = [np.zeros_like(a) for a in target]
        view = agg([target, sybil, [a.copy() for a in sybil]], cheaters=(1, 2))
        observed, _ = target_view(view.seen, view.mean, 0)
        errors.append(relative_error(analytic_inversion(observed), record.X[0]))
    return [
        AttackResult(
            attack="isolation_small_cohort",
            mode=mode,
            metric="released_share",
            value=float(np.mean(list(released.values()))),
            chance=0.0,
            threshold=1e-9,
            higher_is_success=True,
            defence="min cohort 3",
            note="routes tried: " + ", ".join(f"{k}={'released' if v else 'refused'}" for k, v in released.items()),
        ),
        AttackResult(
            attack="isolation_sybil_cohort",
            mode=mode,
            metric="relative_error",
            value=float(np.median(errors)),
            chance=1.0,
            threshold=THRESHOLD,
            higher_is_success=False,
            defence="min cohort 3 (counts identities, not honest members)",
            note="target + 2 coordinator-controlled members sending zeros; analytic inversion of the sum",
        ),
    ]
