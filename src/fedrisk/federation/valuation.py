"""Coalition federations for contribution valuation: many small federations in one simulation start.

:func:`run_valuation` runs every job of a plan (one job per coalition) on the same connected member nodes, and
after each job sends the job's final model to **every** member (not only the coalition), which evaluates it on
its own validation period and answers with scalars only (AUPRC, whether it is defined, the number of labelled
cells). The coalition model stays inside the coordinator process and is dropped after evaluation: it is never
saved or released. The utility of "no coalition" is measured the same way on the seeded initial model.

Jobs train without per-round validation and keep their last round (cheap). For the *fast* utility mode a job can
also record every member's individual update per round (``record_updates``): that is exactly what secure
aggregation prevents, so the caller must only ask for it when the configuration accepts it
(:func:`fedrisk.contribution.coalitions.fast_shapley` checks).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid

from fedrisk.errors import FederationError
from fedrisk.federation import drills as drill_keys
from fedrisk.federation.coordinator import CohortFedAvg, cohort_nodes, initial_weights, roll_call_nodes, run_rounds
from fedrisk.federation.member_node import app as member_app
from fedrisk.federation.plan import FederationPlan, Job, job_config
from fedrisk.federation.runner import server_app_running, simulate

Params = list[np.ndarray]


@dataclass(frozen=True, slots=True)
class Drills:
    """Planted members for checking a valuation (see :mod:`fedrisk.federation.drills`); empty in real runs."""

    shuffle_labels: tuple[str, ...] = ()
    free_ride: tuple[str, ...] = ()
    alias: tuple[tuple[str, str], ...] = ()
    """``(alias, source)``: the node ``alias`` holds ``source``'s data."""

    def config(self) -> dict[str, list[str]]:
        """Job config keys for the member nodes."""
        return {
            drill_keys.SHUFFLE_KEY: list(self.shuffle_labels),
            drill_keys.FREE_RIDE_KEY: list(self.free_ride),
            drill_keys.ALIAS_KEY: [f"{a}={s}" for a, s in self.alias],
        }


@dataclass(frozen=True, slots=True)
class MemberScore:
    """What one member reports about a model: validation AUPRC (None when it has no event) and labelled cells."""

    member: str
    auprc: float | None
    n: int


@dataclass(slots=True)
class JobValuation:
    """One coalition federation: who trained, how every member scored its model, what it cost."""

    job: str
    cohort: tuple[str, ...]
    scores: dict[str, MemberScore]
    wall_s: float
    rounds_committed: int
    round_updates: list[dict[str, Params]] = field(default_factory=list)
    """Only for jobs in ``record_updates``: per round, member -> ``local_after - global_before``."""
    global_before: list[Params] = field(default_factory=list)
    n_train: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class ValuationRun:
    """Every coalition job of a valuation plan and the untrained baseline."""

    baseline: dict[str, MemberScore]
    jobs: dict[str, JobValuation]
    wall_s: float


class _RecordingFedAvg(CohortFedAvg):
    """FedAvg over a cohort that also keeps each member's individual update (fast mode only)."""

    def __init__(self, cohort: set[int]) -> None:
        super().__init__(cohort, evaluate=False)
        self.local: dict[int, dict[str, Params]] = {}
        self.n_train: dict[str, float] = {}

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        kept: dict[str, Params] = {}
        for r in replies:
            if r.has_error() or "claim" not in r.content:
                continue
            member = str(r.content["claim"]["member"])  # type: ignore[index]
            kept[member] = r.content["arrays"].to_numpy_ndarrays()  # type: ignore[union-attr]
            self.n_train[member] = float(r.content["metrics"]["num-examples"])  # type: ignore[index,arg-type]
        self.local[server_round] = kept
        return super().aggregate_train(server_round, replies)


def _scores(replies: Iterable[Message], node_member: Mapping[int, str]) -> dict[str, MemberScore]:
    out = {}
    for r in replies:
        member = node_member[r.metadata.src_node_id]
        if r.has_error():
            raise FederationError(f"member {member} failed to evaluate a coalition model: {r.error}")
        m = r.content["metrics"]
        defined = bool(int(m.get("val-auprc-defined", 1)))  # type: ignore[union-attr,call-overload,arg-type]
        ap = float(m["val-auprc"]) if defined else None  # type: ignore[index,arg-type]
        out[member] = MemberScore(member, ap, int(m["num-examples"]))  # type: ignore[index,call-overload,arg-type]
    return out


def evaluate_everywhere(
    grid: Grid, config: dict[str, object], weights: Params, nodes: Mapping[str, int]
) -> dict[str, MemberScore]:
    """Send ``weights`` to every member for evaluation on its own validation period; collect the scalars."""
    record = ConfigRecord(config)  # type: ignore[arg-type]
    messages = [
        Message(
            content=RecordDict({"arrays": ArrayRecord(weights), "config": record}),
            message_type="evaluate",
            dst_node_id=node,
        )
        for node in nodes.values()
    ]
    node_member = {node: member for member, node in nodes.items()}
    return _scores(grid.send_and_receive(messages, timeout=600.0), node_member)


def _run_one(
    grid: Grid, plan: FederationPlan, job: Job, nodes: dict[str, int], extra: dict[str, object], record: bool
) -> JobValuation:
    start = time.perf_counter()
    cohort = cohort_nodes(job.name, job.cohort, nodes)
    strategy = _RecordingFedAvg(cohort) if record else CohortFedAvg(cohort, evaluate=False)
    config = {**job_config(plan, job), **extra}
    init = initial_weights(job)
    history, per_round = run_rounds(
        strategy,
        grid,
        init,
        rounds=job.settings.rounds,
        config=ConfigRecord(config),  # type: ignore[arg-type]
    )
    committed = [h.round for h in history if h.status == "committed"]
    if not committed:
        raise FederationError(f"coalition job '{job.name}': no round committed")
    scores = evaluate_everywhere(grid, config, per_round[committed[-1]], nodes)
    out = JobValuation(job.name, job.cohort, scores, 0.0, len(committed))
    if isinstance(strategy, _RecordingFedAvg):
        for rnd in committed:
            before = per_round[rnd - 1]
            local = strategy.local.get(rnd, {})
            out.round_updates.append({m: [a - b for a, b in zip(w, before, strict=True)] for m, w in local.items()})
            out.global_before.append(before)
        out.n_train = dict(strategy.n_train)
    out.wall_s = time.perf_counter() - start
    return out


def run_valuation(
    plan: FederationPlan,
    *,
    drills: Drills = Drills(),
    record_updates: tuple[str, ...] = (),
    num_cpus: int | None = None,
) -> ValuationRun:
    """Run every coalition job of ``plan`` in one simulation start; every member evaluates every job's model.

    Parameters
    ----------
    plan
        One job per coalition (each of at least the minimum cohort), all with ``select_by_validation=False``
        semantics (the last committed round is the coalition's model).
    drills
        Planted members (valuation checks only).
    record_updates
        Names of jobs whose individual member updates are kept (fast mode; the coordinator then sees them).
    """
    if not plan.jobs:
        raise FederationError("a valuation plan needs at least one coalition job")
    extra: dict[str, object] = dict(drills.config())
    found: dict[str, object] = {}

    def body(grid: Grid) -> None:
        start = time.perf_counter()
        nodes = roll_call_nodes(grid, len(plan.members), {**job_config(plan, plan.jobs[0]), **extra})
        first = plan.jobs[0]
        found["baseline"] = evaluate_everywhere(
            grid, {**job_config(plan, first), **extra}, initial_weights(first), nodes
        )
        found["jobs"] = {j.name: _run_one(grid, plan, j, nodes, extra, j.name in record_updates) for j in plan.jobs}
        found["wall_s"] = time.perf_counter() - start

    simulate(server_app_running(body), member_app, len(plan.members), num_cpus=num_cpus)
    if "jobs" not in found:
        raise FederationError("the valuation simulation ended before its jobs finished; see the log above")
    return ValuationRun(found["baseline"], found["jobs"], float(found["wall_s"]))  # type: ignore[arg-type]
