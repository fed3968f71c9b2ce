"""The real federated round of a governed federation: the liquidity-stress task on Flower.

:class:`StressRoundRunner` is a :data:`~fedrisk.governance.coordinator.RoundRunner`. For one scheduled round it
starts Flower's simulation engine over the round's participants (one node each) and:

1. **trains**: the participants whose tier contributes updates (``full``) run ``fl_rounds`` rounds of FedAvg
   (:func:`fedrisk.federation.coordinator.run_job`, the same cohort strategy and minimum-cohort rule as the demo),
   starting from the model of the last committed round (or the seeded initial model before the first);
2. **publishes the model** to members whose tier receives it (``receives_model``): they score their own
   validation hours with it;
3. **publishes the stress index** built from those scores (cells with fewer than 3 members withheld) to members
   whose tier receives it (``receives_index``): those that contribute evaluations evaluate it against their own
   stress events. Lite members are sent the index and never the model (:func:`deliveries` refuses otherwise, and
   each node keeps a receipt of what it got).

The new model is written to ``STATE_DIR/models/round-<id>.npz`` and its SHA-256 is the round's result digest,
so the next round continues from it only once the store has committed the round; a round that fails publishes
nothing and the previous model stays. Contribution scores are each participant's share of the examples the round
used: training hours for update contributors, labelled validation cells evaluated for evaluators.

Modes (``[aggregation]`` / ``[privacy]``): ``plain``/``none`` trains on the Message-API path above;
``secagg+``/``none`` and ``secagg+``/``central-dp`` train the full members in a separate SecAgg+ simulation
(:func:`fedrisk.federation.secagg.run_secure`, the demo privacy section's path): the coordinator only sees the sum
of the updates, and under ``central-dp`` each member clips its update and adds its share of Gaussian noise
calibrated (PLD, every member every Flower round) so that one scheduled round spends at most
``epsilon_per_round``; the privacy ledger (``STATE_DIR/privacy_ledger.sqlite``) refuses a member whose budget would
be exceeded and records what each spent, and the coordinator's store charges ``epsilon_per_round`` (an upper bound)
with its own budget gate before the round. HE and local DP are refused when the runner is built.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from flwr.app import ConfigRecord, Message
from flwr.serverapp import Grid

from fedrisk.errors import MIN_COHORT, ConfigError, FederationError, GovernanceError, QuorumError
from fedrisk.evaluation.early_warning import stress_index
from fedrisk.features.panel import Split
from fedrisk.federation.coordinator import JobOutcome, initial_weights, roll_call, run_job
from fedrisk.federation.plan import FederationPlan, Job, TrainSettings, job_config
from fedrisk.federation.round_node import app as round_app
from fedrisk.federation.round_node import index_message, model_message
from fedrisk.federation.runner import server_app_running, simulate
from fedrisk.governance.constitution import Constitution, TaskSpec
from fedrisk.governance.coordinator import Participant, RoundContext, RoundOutcome
from fedrisk.governance.model_store import latest_committed_model, save_round_model
from fedrisk.governance.schedule import budget_period
from fedrisk.governance.store import CoordinatorStore

_log = logging.getLogger(__name__)
TASK = "liquidity-stress"
MODELS = ("stgraph",)
REPLY_TIMEOUT_S = 600.0
LEDGER_FILE = "privacy_ledger.sqlite"
MODES: tuple[tuple[str, str], ...] = (("plain", "none"), ("secagg+", "none"), ("secagg+", "central-dp"))
"""(aggregation, privacy) pairs the runner honours."""


@dataclass(frozen=True, slots=True)
class StressRunnerSettings:
    """Where the members' data and the coordinator's state live, and how much training one round does.

    ``lr`` and ``batch_size`` come from the constitution's ``liquidity-stress`` task; ``local_steps`` replaces its
    ``local_epochs`` (the stress model trains for a fixed number of minibatch steps per round).
    """

    data_dir: Path
    state_dir: Path
    split: Split = field(default_factory=Split)
    fl_rounds: int = 1
    local_steps: int = 30
    window: int = 24
    hidden: int = 32
    seed: int = 7
    num_cpus: int | None = None
    clip_norm: float = 0.5
    """Member update clip norm C under DP (fixed a priori, as in the demo's privacy section)."""

    def __post_init__(self) -> None:
        for name in ("fl_rounds", "local_steps", "window", "hidden"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"stress runner: {name} must be > 0, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class Deliveries:
    """Who is sent what in a round, by member id."""

    trainers: tuple[str, ...]
    model: tuple[str, ...]
    index: tuple[str, ...]
    evaluators: tuple[str, ...]


def deliveries(participants: tuple[Participant, ...]) -> Deliveries:
    """Apply tier rights: trainers and model receivers need ``receives_model``; index receivers ``receives_index``.

    Raises :class:`GovernanceError` for a tier that contributes updates without receiving the model (it could not
    train on a model it is not given): fix the constitution's ``[tiers]``.
    """
    for p in participants:
        if p.rights.contributes_updates and not p.rights.receives_model:
            raise GovernanceError(
                f"member '{p.member_id}' (tier {p.tier}) contributes updates but may not receive the model: "
                "give the tier receives_model = true or contributes_updates = false"
            )
    return Deliveries(
        trainers=tuple(p.member_id for p in participants if p.rights.contributes_updates),
        model=tuple(p.member_id for p in participants if p.rights.receives_model),
        index=tuple(p.member_id for p in participants if p.rights.receives_index),
        evaluators=tuple(
            p.member_id for p in participants if p.rights.contributes_evaluations and p.rights.receives_index
        ),
    )


def stress_task(constitution: Constitution) -> TaskSpec:
    """The constitution's liquidity-stress task, checked for what this runner can honour."""
    issues = []
    task = next((t for t in constitution.tasks if t.name == TASK), None)
    if task is None:
        issues.append(f'no [[tasks]] entry named "{TASK}": add one (model = "stgraph")')
    elif task.model not in MODELS:
        issues.append(f'tasks "{TASK}" model is "{task.model}": the stress runner trains "stgraph"')
    pair = (constitution.aggregation_mode, constitution.privacy.mode)
    if pair not in MODES:
        issues.append(
            f'[aggregation] mode "{pair[0]}" with [privacy] mode "{pair[1]}": the stress runner runs plain/none, '
            "secagg+/none or secagg+/central-dp (member-level DP-FedAvg under SecAgg+); HE and local DP are not "
            "wired, and central DP needs SecAgg+ (use --runner synthetic to exercise the rules alone)"
        )
    if issues or task is None:
        raise ConfigError("the constitution cannot run real stress rounds: " + "; ".join(issues))
    return task


@dataclass(slots=True)
class _RoundWork:
    """What the server side of one round collected (filled in the ServerApp's thread)."""

    weights: list[np.ndarray] | None = None
    aggregated: list[str] = field(default_factory=list)
    """Members whose updates the last committed training round aggregated."""
    train_loss: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    privacy: dict[str, Any] = field(default_factory=dict)
    n_train: dict[str, int] = field(default_factory=dict)
    scorers: list[str] = field(default_factory=list)
    index: pd.DataFrame | None = None
    evaluations: dict[str, dict[str, float]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _take_plain(work: _RoundWork, outcome: JobOutcome) -> None:
    last = outcome.history[-1]
    work.weights = outcome.weights
    work.aggregated = sorted(last.claims) if last.status == "committed" else []
    work.train_loss = last.train_loss
    work.history = [
        {"round": h.round, "status": h.status, "members": h.members, "train_loss": h.train_loss}
        for h in outcome.history
    ]


def _replies(grid: Grid, messages: list[Message], what: str) -> list[Message]:
    ok = []
    for reply in grid.send_and_receive(messages, timeout=REPLY_TIMEOUT_S):
        if reply.has_error():
            _log.warning("%s: node %s failed: %s", what, reply.metadata.src_node_id, reply.error)
        else:
            ok.append(reply)
    return ok


def _scores_frame(replies: list[Message], n_train: dict[str, int]) -> tuple[pd.DataFrame, list[str]]:
    frames, members = [], []
    for reply in replies:
        rec = reply.content["scores"]
        member = str(rec["member"])
        members.append(member)
        n_train[member] = int(rec["n-train"])  # type: ignore[arg-type]
        frames.append(
            pd.DataFrame(
                {
                    "ts_utc": pd.to_datetime(np.asarray(rec["ts"], dtype=np.int64), unit="s", utc=True),
                    "member": member,
                    "asset": [str(a) for a in rec["asset"]],  # type: ignore[union-attr]
                    "score": np.asarray(rec["score"], dtype=np.float64),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["ts_utc", "member", "asset", "score"]), members
    return pd.concat(frames, ignore_index=True), sorted(members)


def index_record(index: pd.DataFrame) -> ConfigRecord:
    """The published cells of an index (asset rows, not the market row) as a ConfigRecord."""
    published = index[(index["asset"] != "MARKET") & index["index"].notna()]
    ts = [int(t.timestamp()) for t in published["ts_utc"]]
    return ConfigRecord(
        {"ts": ts, "asset": published["asset"].astype(str).tolist(), "index": published["index"].astype(float).tolist()}
    )


class StressRoundRunner:
    """A :data:`RoundRunner` running real federated stress rounds (see the module docstring)."""

    def __init__(
        self,
        constitution: Constitution,
        store: CoordinatorStore,
        settings: StressRunnerSettings,
        *,
        log: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.task = stress_task(constitution)
        self.constitution = constitution
        self.store = store
        self.settings = settings
        self.log = log

    def _plan(self, ctx: RoundContext, d: Deliveries) -> FederationPlan:
        s = self.settings
        train = TrainSettings(
            rounds=s.fl_rounds,
            local_steps=s.local_steps,
            batch_size=self.task.batch_size,
            lr=self.task.learning_rate,
            window=s.window,
            hidden=s.hidden,
            seed=s.seed + ctx.round_id,
        )
        job = Job(f"round-{ctx.round_id}", d.trainers, settings=train, select_by_validation=False)
        members = tuple(p.member_id for p in ctx.participants)
        outbound = s.state_dir / "rounds" / f"{ctx.round_id:06d}"
        return FederationPlan(
            members=members, jobs=(job,), split=s.split, sim_data_dir=str(s.data_dir), outbound_dir=str(outbound)
        )

    def _initial(self, job: Job) -> tuple[list[np.ndarray], int | None]:
        previous = latest_committed_model(self.store, self.settings.state_dir)
        if previous is None:
            return initial_weights(job.with_settings(seed=self.settings.seed)), None
        return previous.weights, previous.round_id

    def _serve(self, grid: Grid, plan: FederationPlan, d: Deliveries, init: list[np.ndarray], work: _RoundWork) -> None:
        job = plan.jobs[0]
        config = ConfigRecord(job_config(plan, job))  # type: ignore[arg-type]
        start = time.perf_counter()
        nodes = roll_call(grid, plan, timeout=REPLY_TIMEOUT_S)
        if work.weights is None:  # plain mode: train here; secure mode trained in its own simulation
            _take_plain(work, run_job(grid, plan, job, nodes, init=init))
            work.timings["train_s"] = time.perf_counter() - start
        start = time.perf_counter()
        assert work.weights is not None
        to_model = [model_message(work.weights, config, nodes[m]) for m in d.model if m in nodes]
        scores, work.scorers = _scores_frame(_replies(grid, to_model, "score"), work.n_train)
        work.index = stress_index(scores, min_members=MIN_COHORT)
        published = index_record(work.index)
        to_index = [index_message(published, config, nodes[m]) for m in d.evaluators if m in nodes]
        for reply in _replies(grid, to_index, "index evaluation"):
            member = next(m for m, n in nodes.items() if n == reply.metadata.src_node_id)
            metrics = reply.content["metrics"]
            work.evaluations[member] = {k: float(v) for k, v in metrics.items()}  # type: ignore[arg-type]
        work.timings["index_s"] = time.perf_counter() - start

    def __call__(self, ctx: RoundContext) -> RoundOutcome:
        """Run one governed round; raise to fail it (nothing is published then)."""
        d = deliveries(ctx.participants)
        if len(d.trainers) < MIN_COHORT:
            raise QuorumError(f"{len(d.trainers)} members contribute updates; the minimum cohort is {MIN_COHORT}")
        plan = self._plan(ctx, d)
        init, started_from = self._initial(plan.jobs[0])
        work = _RoundWork()
        self.log(
            f"round {ctx.round_id}: training {len(d.trainers)} members from "
            f"{'round ' + str(started_from) if started_from else 'the initial model'}; "
            f"model to {len(d.model)}, index to {len(d.index)}"
        )
        if self.constitution.aggregation_mode == "secagg+":
            self._train_secure(ctx, d, plan, init, work)
        server = server_app_running(lambda grid: self._serve(grid, plan, d, init, work))
        simulate(server, round_app, len(plan.members), num_cpus=self.settings.num_cpus)
        ctx.mark_aggregating()
        return self._publish(ctx, d, work, started_from)

    def _train_secure(
        self, ctx: RoundContext, d: Deliveries, plan: FederationPlan, init: list[np.ndarray], work: _RoundWork
    ) -> None:
        """SecAgg+ training (member-level DP-FedAvg under ``central-dp``) over the trainers' nodes only.

        The noise is calibrated (PLD, every trainer every Flower round) so that the round's Flower rounds spend at
        most ``epsilon_per_round``; the privacy ledger (``STATE_DIR/privacy_ledger.sqlite``) refuses a member whose
        budget for the period would be exceeded and records what each contributor spent.
        """
        from fedrisk.federation.dp import MemberDP
        from fedrisk.federation.secagg import SecureJob, run_secure
        from fedrisk.privacy.accounting import calibrate_noise
        from fedrisk.privacy.ledger import BudgetPolicy, open_ledger
        from fedrisk.privacy.secagg import SecAggParams

        s, p = self.settings, self.constitution.privacy
        job = plan.jobs[0]
        train_plan = FederationPlan(
            members=d.trainers, jobs=plan.jobs, split=plan.split, sim_data_dir=plan.sim_data_dir
        )
        period = budget_period(
            ctx.scheduled_for, p.budget_period, self.constitution.schedule.timezone, round_id=ctx.round_id
        )
        dp = None
        if p.mode == "central-dp":
            z = calibrate_noise(target_epsilon=p.epsilon_per_round, sample_rate=1.0, rounds=s.fl_rounds, delta=p.delta)
            dp = MemberDP(z, s.clip_norm, period=f"governance-{period}", delta=p.delta)
        ledger = (
            open_ledger(
                s.state_dir / LEDGER_FILE,
                BudgetPolicy.from_config({"epsilon_max": p.epsilon_budget, "delta": p.delta}),
            )
            if dp is not None
            else None
        )
        start = time.perf_counter()
        try:
            secure = SecureJob(
                job.name, dict(job_config(train_plan, job)), init, rounds=s.fl_rounds, secagg=SecAggParams(), dp=dp
            )
            (outcome,) = run_secure([secure], num_members=len(d.trainers), ledger=ledger, num_cpus=s.num_cpus)
            if not outcome.committed:
                raise FederationError(f"round {ctx.round_id}: no SecAgg+ round committed; nothing is published")
            last = outcome.committed[-1]
            work.weights = outcome.weights
            work.aggregated = sorted(outcome.contributors[last])
            work.train_loss = next(h.train_loss for h in outcome.history if h.round == last)
            work.history = [
                {"round": h.round, "status": h.status, "members": h.members, "train_loss": h.train_loss}
                for h in outcome.history
            ]
            if dp is not None and ledger is not None:
                work.privacy = {
                    "mode": p.mode,
                    "noise_multiplier": dp.noise_multiplier,
                    "clip_norm": dp.clip_norm,
                    "ledger_period": dp.period,
                    "epsilon_spent_in_period": {
                        m: ledger.spent(m, level="member", period=dp.period) for m in d.trainers
                    },
                }
        finally:
            close = getattr(ledger, "close", None)  # the SQL ledger holds a connection
            if close is not None:
                close()
        work.timings["train_s"] = time.perf_counter() - start

    def _contributions(self, d: Deliveries, work: _RoundWork) -> dict[str, float]:
        hours = {m: float(work.n_train.get(m, 0)) for m in work.aggregated}
        cells = {m: float(e.get("n-cells", 0.0)) for m, e in work.evaluations.items() if m not in d.trainers}
        total = sum(hours.values()) + sum(cells.values())
        return {m: v / total for m, v in {**cells, **hours}.items()} if total else {}

    def _publish(self, ctx: RoundContext, d: Deliveries, work: _RoundWork, started_from: int | None) -> RoundOutcome:
        if work.weights is None or work.index is None:
            raise GovernanceError(f"round {ctx.round_id}: the federation finished without a model")
        replied = set(work.aggregated) | set(work.evaluations)
        if len(replied) < self.constitution.quorum.min_members:
            raise QuorumError(
                f"round {ctx.round_id}: {len(replied)} members took part ({sorted(replied)}), "
                f"quorum is {self.constitution.quorum.min_members}; nothing is published"
            )
        index_auprc = [e["index-auprc"] for e in work.evaluations.values() if e.get("index-auprc", -1.0) >= 0]
        asset_rows = work.index[work.index["asset"] != "MARKET"]
        metrics: dict[str, float] = {
            "train_loss": float(work.train_loss if work.train_loss is not None else float("nan")),
            "index_cells_published": float(asset_rows["index"].notna().sum()),
            "index_cells_withheld": float(asset_rows["index"].isna().sum()),
            "index_auprc_median": float(np.median(index_auprc)) if index_auprc else float("nan"),
            **{k: round(v, 3) for k, v in work.timings.items()},
        }
        release: dict[str, Any] = {
            "started_from_round": started_from,
            "aggregation": self.constitution.aggregation_mode,
            "trainers": work.aggregated,
            "model_sent_to": sorted(set(d.model) & (set(work.scorers) | set(work.aggregated))),
            "index_sent_to": sorted(work.evaluations),
            "evaluations": work.evaluations,
            "history": work.history,
            "privacy": work.privacy,
            "metrics": metrics,
        }
        sha = save_round_model(self.settings.state_dir, ctx.round_id, work.weights, release)
        return RoundOutcome(sha, self._contributions(d, work), metrics)


__all__ = [
    "MODELS",
    "TASK",
    "Deliveries",
    "StressRoundRunner",
    "StressRunnerSettings",
    "deliveries",
    "index_record",
    "stress_task",
]
