"""A generic tabular federation on Flower: one ClientApp and one coordinator for any task whose members hold a
table of normalised features and a binary label (fraud, credit).

The stress ``member_node``/``coordinator`` build the stress network; here the model comes from the job config
(``model = "mlp"`` with its shape, or ``model = "xgb"`` with its tree settings), so one ClientApp serves every
tabular task. Aggregation reuses the project's coordinator pieces: :class:`~fedrisk.federation.coordinator.CohortFedAvg`
for the MLP, and Flower's ``FedXgbBagging`` restricted to the cohort with the same minimum-cohort rule
(:class:`CohortFedXgbBagging`) for gradient-boosted trees. Each round members evaluate the global model on their own
validation rows; the coordinator keeps the round with the lowest federated validation loss.

Member data: a member node reads its own prepared file ``<data-root>/<member>.npz`` (arrays ``x_train, y_train,
x_val, y_val``, inputs already normalised with the federation's pooled statistics). In simulation the node's
``partition-id`` indexes the job's member list; a deployed node names itself with node config
``member=<id> data-file=<path>``.

What leaves a member: MLP parameters or the new trees after local training, row counts, the training loss and
time, and validation loss/AUPRC. Never rows, labels or scores.
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg, FedXgbBagging, FedXgbCyclic

from fedrisk._env import quiet_and_offline
from fedrisk.errors import MIN_COHORT, ConfigError, DataNotFoundError, FederationError
from fedrisk.evaluation.metrics import auprc
from fedrisk.federation.coordinator import (
    CohortFedAvg,
    RoundRecord,
    _aggregate_train_metrics,
    _CohortMixin,
    cohort_nodes,
    roll_call_nodes,
    run_rounds,
)
from fedrisk.federation.runner import server_app_running, simulate
from fedrisk.models.tabular import (
    MLPConfig,
    MLPTrain,
    ModelKind,
    XgbSettings,
    boost,
    booster_bytes,
    booster_from_bytes,
    build_mlp,
    get_weights,
    last_trees,
    log_loss,
    predict_booster,
    predict_mlp,
    set_weights,
    train_mlp,
)

quiet_and_offline()
_log = logging.getLogger(__name__)
app = ClientApp()

ConfigValue = str | int | float | bool | list[str] | list[int] | list[float]
XGB_STRATEGIES = ("bagging", "cyclic")


# --------------------------------------------------------------------------------------------- plan
@dataclass(frozen=True, slots=True)
class TabularJob:
    """One federated training over a cohort: the model factory and its settings travel in the job config."""

    name: str
    cohort: tuple[str, ...]
    model: ModelKind
    n_features: int
    rounds: int = 20
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    train: MLPTrain = field(default_factory=MLPTrain)
    xgb: XgbSettings = field(default_factory=XgbSettings)
    trees_per_round: int = 1
    xgb_strategy: str = "bagging"
    """``bagging`` (Flower FedXgbBagging: every member adds trees each round) or ``cyclic`` (Flower FedXgbCyclic:
    one member per round boosts the global model on its rows, in turn; only models completing a full cycle of the
    cohort are eligible for publication)."""
    seed: int = 7
    data_subdir: str = ""
    """Members read ``<data-root>/<data_subdir>/<member>.npz``: jobs of one plan may train on different feature
    sets (the fraud section's missingness-indicator variant) in the same simulation start."""

    def __post_init__(self) -> None:
        if len(set(self.cohort)) < MIN_COHORT:
            raise ConfigError(
                f"job '{self.name}' has {len(set(self.cohort))} members; a federation needs at least {MIN_COHORT}."
            )
        if self.model not in ("mlp", "xgb"):
            raise ConfigError(f"job '{self.name}': unknown model {self.model!r} (mlp | xgb)")
        if self.rounds <= 0 or self.trees_per_round <= 0:
            raise ConfigError(f"job '{self.name}': rounds and trees_per_round must be > 0")
        if self.xgb_strategy not in XGB_STRATEGIES:
            raise ConfigError(f"job '{self.name}': unknown xgb_strategy {self.xgb_strategy!r} (bagging | cyclic)")
        if self.model == "xgb" and self.xgb_strategy == "cyclic" and self.rounds < len(set(self.cohort)):
            raise ConfigError(
                f"job '{self.name}': a cyclic job needs at least one full cycle ({len(self.cohort)} rounds)"
            )

    def mlp_config(self) -> MLPConfig:
        """The MLP shape of this job."""
        return MLPConfig(self.n_features, self.hidden, self.dropout)


@dataclass(frozen=True, slots=True)
class TabularPlan:
    """Members (simulation partition order), the folder of their prepared files, the jobs run in order."""

    members: tuple[str, ...]
    jobs: tuple[TabularJob, ...]
    data_root: str

    def __post_init__(self) -> None:
        unknown = {m for job in self.jobs for m in job.cohort} - set(self.members)
        if unknown:
            raise ConfigError(f"jobs name members not in the federation: {sorted(unknown)}")
        names = [j.name for j in self.jobs]
        if len(names) != len(set(names)) or not names:
            raise ConfigError(f"job names must be unique and at least one, got {names}")


def job_config(plan: TabularPlan, job: TabularJob) -> dict[str, ConfigValue]:
    """The flat ConfigRecord a member receives: everything it needs to rebuild the model and train."""
    return {
        "job": job.name,
        "members": list(plan.members),
        "data-root": os.path.join(plan.data_root, job.data_subdir) if job.data_subdir else plan.data_root,
        "model": job.model,
        "n-features": job.n_features,
        "hidden": list(job.hidden),
        "dropout": job.dropout,
        "local-steps": job.train.steps,
        "batch-size": job.train.batch_size,
        "lr": job.train.lr,
        "weight-decay": job.train.weight_decay,
        "eta": job.xgb.eta,
        "max-depth": job.xgb.max_depth,
        "subsample": job.xgb.subsample,
        "colsample-bytree": job.xgb.colsample_bytree,
        "min-child-weight": job.xgb.min_child_weight,
        "reg-lambda": job.xgb.reg_lambda,
        "trees-per-round": job.trees_per_round,
        "xgb-strategy": job.xgb_strategy,
        "seed": job.seed,
    }


# --------------------------------------------------------------------------------------------- member side
@dataclass(frozen=True, slots=True)
class MemberTable:
    """A member's prepared rows."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def write_member_table(path: Path, table: MemberTable) -> None:
    """Write a member's prepared file (numpy ``.npz``, no pickle)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=table.x_train, y_train=table.y_train, x_val=table.x_val, y_val=table.y_val)


@lru_cache(maxsize=16)
def read_member_table(path: str) -> MemberTable:
    """Read a member's prepared file (cached per node process)."""
    if not Path(path).is_file():
        raise DataNotFoundError(f"member data file {path} not found. Fix: set the node config data-file.")
    with np.load(path) as npz:
        return MemberTable(npz["x_train"], npz["y_train"], npz["x_val"], npz["y_val"])


def _identify(context: Context, config: ConfigRecord) -> tuple[str, str]:
    node = context.node_config
    if "member" in node:
        member = str(node["member"])
        default = os.path.join(str(config.get("data-root", "")), f"{member}.npz")
        return member, str(node.get("data-file", default))
    members = [str(m) for m in config["members"]]  # type: ignore[union-attr]
    pid = int(node["partition-id"])  # type: ignore[arg-type]
    if pid >= len(members):
        raise ConfigError(f"partition-id {pid} has no member (the job lists {len(members)}).")
    return members[pid], os.path.join(str(config["data-root"]), f"{members[pid]}.npz")


def _mlp_from(config: ConfigRecord, arrays: ArrayRecord) -> torch.nn.Module:
    hidden = tuple(int(h) for h in config["hidden"])  # type: ignore[union-attr]
    mlp = build_mlp(
        MLPConfig(int(config["n-features"]), hidden, float(config["dropout"])),  # type: ignore[arg-type]
        seed=int(config["seed"]),  # type: ignore[arg-type]
    )
    set_weights(mlp, arrays.to_numpy_ndarrays())
    return mlp


def _xgb_settings(config: ConfigRecord) -> XgbSettings:
    return XgbSettings(
        eta=float(config["eta"]),  # type: ignore[arg-type]
        max_depth=int(config["max-depth"]),  # type: ignore[arg-type]
        subsample=float(config["subsample"]),  # type: ignore[arg-type]
        colsample_bytree=float(config["colsample-bytree"]),  # type: ignore[arg-type]
        min_child_weight=float(config["min-child-weight"]),  # type: ignore[arg-type]
        reg_lambda=float(config["reg-lambda"]),  # type: ignore[arg-type]
    )


def _booster_bytes(arrays: ArrayRecord) -> bytes:
    return bytes(arrays["0"].numpy().tobytes())  # type: ignore[union-attr]


def member_rng(seed: int, member: str, server_round: int) -> np.random.Generator:
    """A per-member, per-round generator (research seeding)."""
    return np.random.default_rng([seed, zlib.crc32(member.encode()), server_round])


def _predict(config: ConfigRecord, arrays: ArrayRecord, x: np.ndarray) -> np.ndarray:
    if str(config["model"]) == "mlp":
        return predict_mlp(_mlp_from(config, arrays), x)  # type: ignore[arg-type]
    return predict_booster(booster_from_bytes(_booster_bytes(arrays)), x)


def mlp_train_settings(config: ConfigRecord) -> MLPTrain:
    """The local optimisation settings of a job config."""
    return MLPTrain(
        steps=int(config["local-steps"]),  # type: ignore[arg-type]
        batch_size=int(config["batch-size"]),  # type: ignore[arg-type]
        lr=float(config["lr"]),  # type: ignore[arg-type]
        weight_decay=float(config["weight-decay"]),  # type: ignore[arg-type]
    )


def local_fit(
    config: ConfigRecord, member: str, data: MemberTable, arrays: ArrayRecord
) -> tuple[list[np.ndarray], float]:
    """One round of local training from the global model: the new MLP weights (or the new trees as one uint8
    array) and the mean training loss. Shared by the plain ClientApp and the SecAgg+ client
    (:mod:`fedrisk.federation.tabular_secure`)."""
    seed, server_round = int(config["seed"]), int(config["server-round"])  # type: ignore[arg-type]
    if str(config["model"]) == "mlp":
        mlp = _mlp_from(config, arrays)
        rng = member_rng(seed, member, server_round)
        loss = train_mlp(mlp, data.x_train, data.y_train, mlp_train_settings(config), rng=rng)  # type: ignore[arg-type]
        return get_weights(mlp), loss
    k = int(config["trees-per-round"])  # type: ignore[arg-type]
    booster = boost(
        data.x_train,
        data.y_train,
        _xgb_settings(config),
        rounds=k,
        seed=seed + server_round,
        init=_booster_bytes(arrays) or None,
    )
    loss = log_loss(data.y_train, predict_booster(booster, data.x_train))
    if str(config.get("xgb-strategy", "bagging")) == "cyclic":  # the whole boosted model goes on to the next member
        return [np.frombuffer(booster_bytes(booster), dtype=np.uint8)], loss
    return [np.frombuffer(last_trees(booster, k), dtype=np.uint8)], loss


def validation_metrics(config: ConfigRecord, data: MemberTable, arrays: ArrayRecord) -> tuple[float, float]:
    """Validation log loss and AUPRC (0 when undefined) of a global model on a member's validation rows."""
    probs = _predict(config, arrays, data.x_val)
    ap = auprc(data.y_val, probs)
    return log_loss(data.y_val, probs), (ap if ap is not None else 0.0)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Local training from the received global model; replies with the new weights (or new trees) and metrics."""
    torch.set_num_threads(1)
    config: ConfigRecord = msg.content["config"]  # type: ignore[assignment]
    arrays: ArrayRecord = msg.content["arrays"]  # type: ignore[assignment]
    member, path = _identify(context, config)
    data = read_member_table(path)
    start = time.perf_counter()
    weights, loss = local_fit(config, member, data, arrays)
    metrics = MetricRecord(
        {"num-examples": len(data.y_train), "train-loss": loss, "train-time-s": time.perf_counter() - start}
    )
    return Message(content=RecordDict({"arrays": ArrayRecord(weights), "metrics": metrics}), reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Validation loss and AUPRC of the received global model on the member's own validation rows."""
    torch.set_num_threads(1)
    config: ConfigRecord = msg.content["config"]  # type: ignore[assignment]
    _, path = _identify(context, config)
    data = read_member_table(path)
    val_loss, val_ap = validation_metrics(config, data, msg.content["arrays"])  # type: ignore[arg-type]
    metrics = MetricRecord({"num-examples": len(data.y_val), "val-loss": val_loss, "val-auprc": val_ap})
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)


@app.query()
def query(msg: Message, context: Context) -> Message:
    """Roll call: the member id and its number of training rows."""
    config: ConfigRecord = msg.content["config"]  # type: ignore[assignment]
    member, path = _identify(context, config)
    reply = ConfigRecord({"member": member, "n-train": len(read_member_table(path).y_train)})
    return Message(content=RecordDict({"member": reply}), reply_to=msg)


# --------------------------------------------------------------------------------------------- coordinator side
class CohortFedXgbBagging(_CohortMixin, FedXgbBagging):
    """Flower's FedXgbBagging (members add trees to the global ensemble) restricted to a cohort, with the
    minimum-cohort rule: a round with fewer than 3 valid replies adds no tree."""

    def __init__(self, cohort_nodes: set[int]) -> None:
        n = len(cohort_nodes)
        super().__init__(
            min_train_nodes=n,
            min_evaluate_nodes=n,
            min_available_nodes=n,
            train_metrics_aggr_fn=_aggregate_train_metrics,
        )
        self._init_cohort(cohort_nodes)


class CohortFedXgbCyclic(_CohortMixin, FedXgbCyclic):
    """Flower's FedXgbCyclic restricted to a cohort: round ``r`` sends the global booster to the cohort's
    ``(r - 1) mod K``-th member (in the job's cohort order, by member id: node ids are random per start, and
    an order that followed them made runs irreproducible), which boosts it on its own rows and returns it; every
    cohort member evaluates every round. There is no sum: one member's reply *is* the next global model, so the
    minimum-cohort rule moves to publication: only a model that completed a full cycle (every round ``r`` with
    ``r mod K = 0``, ``K >= 3``) may be chosen (:func:`run_tabular_job`)."""

    def __init__(self, order: list[int]) -> None:
        n = len(order)
        super().__init__(min_available_nodes=n, train_metrics_aggr_fn=_aggregate_train_metrics)
        self.min_evaluate_nodes = n
        self._init_cohort(set(order))
        self.order = list(order)

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """One training message, to this round's member of the cycle."""
        config["server-round"] = server_round
        record = RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: config})
        node = self.order[(server_round - 1) % len(self.order)]
        return self._construct_messages(record, [node], MessageType.TRAIN)

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Every cohort member evaluates the new global booster."""
        return self._only_cohort(FedAvg.configure_evaluate(self, server_round, arrays, config, grid))

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """The single reply becomes the global model; an error keeps the previous one (failed round)."""
        ok = [r for r in replies if not r.has_error()]
        if len(ok) != 1:
            _log.warning("round %s: cyclic member did not reply; global model kept", server_round)
            self.failed_rounds.append(server_round)
            return None, None
        result: tuple[ArrayRecord | None, MetricRecord | None] = FedXgbCyclic.aggregate_train(self, server_round, ok)
        return result


@dataclass(slots=True)
class TabularOutcome:
    """A finished job: the chosen global model (MLP weights, or one uint8 array holding the booster JSON)."""

    job: TabularJob
    best_round: int
    arrays: list[np.ndarray]
    history: list[RoundRecord]
    val_auprc: float | None

    @property
    def booster(self) -> bytes:
        """The booster JSON of an ``xgb`` job."""
        return bytes(self.arrays[0].tobytes())


def initial_arrays(job: TabularJob) -> list[np.ndarray]:
    """The seeded initial MLP, or an empty ensemble for trees."""
    if job.model == "mlp":
        return get_weights(build_mlp(job.mlp_config(), seed=job.seed))
    return [np.frombuffer(b"", dtype=np.uint8)]


def roll_call(grid: Grid, plan: TabularPlan, *, timeout: float = 600.0) -> dict[str, int]:
    """Ask every connected node who it is (the stress coordinator's roll call); member id → node id."""
    return roll_call_nodes(grid, len(plan.members), dict(job_config(plan, plan.jobs[0])), timeout=timeout)


def run_tabular_job(grid: Grid, plan: TabularPlan, job: TabularJob, nodes: dict[str, int]) -> TabularOutcome:
    """Run one job on Flower's strategy loop; keep the round with the lowest federated validation loss."""
    cohort = cohort_nodes(job.name, job.cohort, nodes)
    strategy: CohortFedAvg | CohortFedXgbBagging | CohortFedXgbCyclic
    cyclic = job.model == "xgb" and job.xgb_strategy == "cyclic"
    if job.model == "mlp":
        strategy = CohortFedAvg(cohort)
    else:
        order = [nodes[m] for m in job.cohort if m in nodes]  # cohort order: reproducible across starts
        strategy = CohortFedXgbCyclic(order) if cyclic else CohortFedXgbBagging(cohort)
    config = ConfigRecord(job_config(plan, job))  # type: ignore[arg-type]
    history, per_round = run_rounds(strategy, grid, initial_arrays(job), rounds=job.rounds, config=config)
    if cyclic:  # publishable: full cycles only, and only if no round of that cycle failed
        for h in history:
            h.members = 1 if h.status == "committed" else 0
        failed = {h.round for h in history if h.status != "committed"}
        k = len(cohort)
        eligible = {r for r in range(k, job.rounds + 1, k) if not failed & set(range(r - k + 1, r + 1))}
    else:
        eligible = {h.round for h in history}
    scored = [
        (h.val_loss, h.round, h.val_auprc)
        for h in history
        if h.status == "committed" and h.val_loss is not None and h.round in eligible
    ]
    if not scored:
        raise FederationError(f"job '{job.name}': no round committed; no model is published.")
    _, best, ap = min(scored)
    return TabularOutcome(job=job, best_round=best, arrays=per_round[best], history=history, val_auprc=ap)


def coordinate_tabular(grid: Grid, plan: TabularPlan, sink: Callable[[TabularOutcome], None]) -> None:
    """Run every job of the plan in order over the same nodes, handing each outcome to ``sink``."""
    nodes = roll_call(grid, plan)
    for job in plan.jobs:
        sink(run_tabular_job(grid, plan, job, nodes))


def make_server_app(plan: TabularPlan, sink: Callable[[TabularOutcome], None]) -> ServerApp:
    """A ServerApp whose main runs ``plan``; errors are re-raised by :func:`run_tabular_plan`."""
    return server_app_running(lambda grid: coordinate_tabular(grid, plan, sink))


def run_tabular_plan(plan: TabularPlan, *, num_cpus: int | None = None, verbose: bool = False) -> list[TabularOutcome]:
    """Run every job of the plan in ONE start of Flower's simulation engine; outcomes in job order."""
    outcomes: list[TabularOutcome] = []
    simulate(make_server_app(plan, outcomes.append), app, len(plan.members), num_cpus=num_cpus, verbose=verbose)
    if len(outcomes) != len(plan.jobs):
        raise FederationError(f"the simulation finished {len(outcomes)} of {len(plan.jobs)} jobs; see the log.")
    return outcomes
