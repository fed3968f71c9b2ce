"""The coordinator: a Flower ServerApp running a :class:`~fedrisk.federation.plan.FederationPlan`.

For each job it runs Flower's FedAvg or FedProx over the job's cohort only (a roll call maps member ids to
nodes first), keeps the global model of every round, and picks the round with the lowest federated validation
loss (members evaluate on their own validation period; only the weighted mean reaches the coordinator). A round
with fewer than :data:`~fedrisk.errors.MIN_COHORT` valid replies publishes nothing: the previous global model
stays and the round is recorded as failed.

The coordinator sees each member's parameters in plain mode; the secure-aggregation and DP modes (see
``docs/threat-model.md``) remove that.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, FedProx

from fedrisk.errors import MIN_COHORT, FederationError, QuorumError
from fedrisk.features.stress import FEATURES
from fedrisk.federation.plan import FederationPlan, Job, job_config
from fedrisk.models.stgraph import ModelConfig, STGraphNet, get_weights

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class RoundRecord:
    """What the coordinator knows about one round."""

    round: int
    status: str
    members: int
    val_loss: float | None
    val_auprc: float | None
    train_loss: float | None
    wall_s: float
    local_compute_max_s: float | None
    local_compute_mean_s: float | None
    claims: dict[str, dict[str, str | int]] = field(default_factory=dict)
    """What each contributing member states it sent (SHA-256 and size of its update)."""


@dataclass(slots=True)
class JobOutcome:
    """A finished job: the chosen global model and the round history."""

    job: Job
    best_round: int
    weights: list[np.ndarray]
    history: list[RoundRecord] = field(default_factory=list)
    n_parameters: int = 0


Sink = Callable[[JobOutcome], None]


def _aggregate_train_metrics(contents: list[RecordDict], weight_key: str) -> MetricRecord:
    weights = np.array([float(c["metrics"][weight_key]) for c in contents])  # type: ignore[index,arg-type]
    losses = np.array([float(c["metrics"]["train-loss"]) for c in contents])  # type: ignore[index,arg-type]
    times = np.array([float(c["metrics"]["train-time-s"]) for c in contents])  # type: ignore[index,arg-type]
    w = weights / max(weights.sum(), 1.0)
    return MetricRecord(
        {
            "train-loss": float((w * losses).sum()),
            "train-time-max-s": float(times.max()),
            "train-time-mean-s": float(times.mean()),
            "replies": len(contents),
        }
    )


class _CohortMixin:
    """Sends to the job's cohort only and refuses to aggregate below the minimum cohort.

    Put it first in the bases of a Flower strategy (``class X(_CohortMixin, FedAvg)``) and call
    :meth:`_init_cohort` from ``__init__``.
    """

    cohort_nodes: set[int]
    failed_rounds: list[int]
    claims: dict[int, dict[str, dict[str, str | int]]]

    def _init_cohort(self, cohort_nodes: set[int]) -> None:
        self.cohort_nodes, self.failed_rounds, self.claims = cohort_nodes, [], {}

    def _only_cohort(self, messages: Iterable[Message]) -> list[Message]:
        return [m for m in messages if m.metadata.dst_node_id in self.cohort_nodes]

    def _quorum(self, server_round: int, replies: Iterable[Message]) -> list[Message]:
        ok = [r for r in replies if not r.has_error()]
        self.claims[server_round] = {
            str(r.content["claim"]["member"]): dict(r.content["claim"])  # type: ignore[index,call-overload,arg-type]
            for r in ok
            if "claim" in r.content
        }
        if len(ok) < MIN_COHORT:
            _log.warning("round %s: %s valid replies < %s; nothing aggregated", server_round, len(ok), MIN_COHORT)
            self.failed_rounds.append(server_round)
            return []
        return ok

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """The strategy's training messages, for the cohort's nodes only."""
        return self._only_cohort(super().configure_train(server_round, arrays, config, grid))  # type: ignore[misc]

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """The strategy's evaluation messages, for the cohort's nodes only."""
        return self._only_cohort(super().configure_evaluate(server_round, arrays, config, grid))  # type: ignore[misc]

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Aggregate with the strategy's rule when at least the minimum cohort replied; else publish nothing."""
        ok = self._quorum(server_round, replies)
        if not ok:
            return None, None
        result: tuple[ArrayRecord | None, MetricRecord | None] = super().aggregate_train(  # type: ignore[misc]
            server_round, ok
        )
        return result


class CohortFedAvg(_CohortMixin, FedAvg):
    """Flower FedAvg restricted to a cohort, with the minimum-cohort rule."""

    def __init__(self, cohort_nodes: set[int], *, evaluate: bool = True) -> None:
        n = len(cohort_nodes)
        super().__init__(
            min_train_nodes=n,
            min_evaluate_nodes=n,
            min_available_nodes=n,
            fraction_evaluate=1.0 if evaluate else 0.0,
            train_metrics_aggr_fn=_aggregate_train_metrics,
        )
        self._init_cohort(cohort_nodes)


class CohortFedProx(_CohortMixin, FedProx):
    """Flower FedProx restricted to a cohort, with the minimum-cohort rule."""

    def __init__(self, cohort_nodes: set[int], proximal_mu: float, *, evaluate: bool = True) -> None:
        n = len(cohort_nodes)
        super().__init__(
            min_train_nodes=n,
            min_evaluate_nodes=n,
            min_available_nodes=n,
            proximal_mu=proximal_mu,
            fraction_evaluate=1.0 if evaluate else 0.0,
            train_metrics_aggr_fn=_aggregate_train_metrics,
        )
        self._init_cohort(cohort_nodes)


def roll_call_nodes(grid: Grid, n_members: int, config: dict[str, object], *, timeout: float = 600.0) -> dict[str, int]:
    """Ask every connected node who it is (a ``query`` message with ``config``); return member id -> node id.

    Waits until ``n_members`` nodes are connected (or ``timeout``); needs the minimum cohort to answer.
    """
    deadline = time.monotonic() + timeout
    while len(list(grid.get_node_ids())) < n_members and time.monotonic() < deadline:
        time.sleep(0.5)
    record = ConfigRecord(config)  # type: ignore[arg-type]
    messages = [
        Message(content=RecordDict({"config": record}), message_type="query", dst_node_id=node)
        for node in grid.get_node_ids()
    ]
    found: dict[str, int] = {}
    for reply in grid.send_and_receive(messages, timeout=timeout):
        if reply.has_error():
            _log.warning("roll call: node %s failed: %s", reply.metadata.src_node_id, reply.error)
            continue
        found[str(reply.content["member"]["member"])] = reply.metadata.src_node_id  # type: ignore[index]
    if len(found) < MIN_COHORT:
        raise QuorumError(f"only {len(found)} member(s) answered the roll call ({sorted(found)}); need {MIN_COHORT}.")
    return found


def roll_call(grid: Grid, plan: FederationPlan, *, timeout: float = 600.0) -> dict[str, int]:
    """Roll call for a stress plan (config of its first job)."""
    return roll_call_nodes(grid, len(plan.members), dict(job_config(plan, plan.jobs[0])), timeout=timeout)


def initial_weights(job: Job) -> list[np.ndarray]:
    """Seeded initial global model."""
    torch.manual_seed(job.settings.seed)
    model = STGraphNet(ModelConfig(n_features=len(FEATURES), window=job.settings.window, hidden=job.settings.hidden))
    return get_weights(model)


def _metric(record: MetricRecord | None, key: str) -> float | None:
    if record is None or key not in record:
        return None
    return float(record[key])  # type: ignore[arg-type]


def cohort_nodes(job_name: str, cohort: tuple[str, ...], nodes: dict[str, int]) -> set[int]:
    """Node ids of a job's cohort; refuses when fewer than the minimum cohort are connected."""
    missing = [m for m in cohort if m not in nodes]
    if len(cohort) - len(missing) < MIN_COHORT:
        raise QuorumError(f"job '{job_name}': members {missing} are not connected; fewer than {MIN_COHORT} remain.")
    return {nodes[m] for m in cohort if m in nodes}


def run_rounds(
    strategy: _CohortMixin, grid: Grid, init: list[np.ndarray], *, rounds: int, config: ConfigRecord
) -> tuple[list[RoundRecord], dict[int, list[np.ndarray]]]:
    """Run ``rounds`` rounds of a cohort strategy; return each round's record and its global model."""
    per_round: dict[int, list[np.ndarray]] = {0: init}
    stamps: dict[int, float] = {0: time.perf_counter()}

    def keep(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        per_round[server_round] = arrays.to_numpy_ndarrays()
        stamps[server_round] = time.perf_counter()
        return None

    result = strategy.start(  # type: ignore[attr-defined]
        grid=grid,
        initial_arrays=ArrayRecord(init),
        num_rounds=rounds,
        train_config=config,
        evaluate_config=config,
        evaluate_fn=keep,
    )
    history = []
    for rnd in range(1, rounds + 1):
        ev = result.evaluate_metrics_clientapp.get(rnd)
        tr = result.train_metrics_clientapp.get(rnd)
        failed = rnd in strategy.failed_rounds
        history.append(
            RoundRecord(
                round=rnd,
                status="failed" if failed else "committed",
                members=0 if failed else int(_metric(tr, "replies") or 0),
                val_loss=_metric(ev, "val-loss"),
                val_auprc=_metric(ev, "val-auprc"),
                train_loss=_metric(tr, "train-loss"),
                wall_s=stamps.get(rnd, float("nan")) - stamps.get(rnd - 1, float("nan")),
                local_compute_max_s=_metric(tr, "train-time-max-s"),
                local_compute_mean_s=_metric(tr, "train-time-mean-s"),
                claims={} if failed else strategy.claims.get(rnd, {}),
            )
        )
    return history, per_round


def run_job(
    grid: Grid, plan: FederationPlan, job: Job, nodes: dict[str, int], *, init: list[np.ndarray] | None = None
) -> JobOutcome:
    """Run one job on Flower's strategy loop and pick the best round by federated validation loss."""
    cohort = cohort_nodes(job.name, job.cohort, nodes)
    strategy: CohortFedAvg | CohortFedProx
    if job.aggregation == "he":  # encrypted updates (FedProx's mu travels in the job config either way)
        from fedrisk.federation.he_aggregation import he_strategy

        strategy = he_strategy(plan, cohort, evaluate=job.select_by_validation)
    elif job.strategy == "fedprox":
        strategy = CohortFedProx(cohort, job.settings.proximal_mu, evaluate=job.select_by_validation)
    else:
        strategy = CohortFedAvg(cohort, evaluate=job.select_by_validation)
    init = initial_weights(job) if init is None else init
    config = ConfigRecord(job_config(plan, job))  # type: ignore[arg-type]
    history, per_round = run_rounds(strategy, grid, init, rounds=job.settings.rounds, config=config)
    committed = [h for h in history if h.status == "committed"]
    if not committed:
        raise FederationError(f"job '{job.name}': no round committed; no model is published.")
    scored = [(h.val_loss, h.round) for h in committed if h.val_loss is not None]
    best = min(scored)[1] if job.select_by_validation and scored else committed[-1].round
    n_params = int(sum(w.size for w in init))
    return JobOutcome(job=job, best_round=best, weights=per_round[best], history=history, n_parameters=n_params)


def coordinate(grid: Grid, plan: FederationPlan, sink: Sink) -> None:
    """Run every job of the plan in order, handing each outcome to ``sink``."""
    nodes = roll_call(grid, plan)
    chosen: dict[str, list[np.ndarray]] = {}
    for job in plan.jobs:
        init = None if job.init_from is None else chosen[job.init_from]
        outcome = run_job(grid, plan, job, nodes, init=init)
        chosen[job.name] = outcome.weights
        sink(outcome)
