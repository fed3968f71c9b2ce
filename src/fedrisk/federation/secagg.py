"""The stress federation under Flower SecAgg+ (and member-level DP), on Flower's legacy NumPyClient path.

Why the legacy path: in flwr 1.42 secure aggregation exists only as ``secaggplus_mod`` (a client mod that wraps
a *legacy* ``NumPyClient`` fit) and ``SecAggPlusWorkflow`` (a fit workflow of the legacy ``DefaultWorkflow``,
driving a legacy ``Strategy``); the Message-API strategies have no SecAgg+. So this module wraps the *same*
member code as :mod:`fedrisk.federation.member_node` (``parse_job``, ``load_member``, ``build_model``,
``local_train``, ``validate``) in a ``NumPyClient`` — there is no second copy of the model or training code.

What travels
------------
* Members send their *update* (new weights − global weights), weighted by their number of training hours
  (plain) or equally (member-level DP, where each member clips the update and adds its share of the noise first,
  see :mod:`fedrisk.federation.dp`). Under SecAgg+ the coordinator only receives the masked vectors and unmasks
  their weighted mean; the strategy adds it to the global model.
* ``task = "index"``: members send their hourly scores of the published model on a public grid; the secure mean
  gives the stress index (:mod:`fedrisk.privacy.secagg.index`).

Each round: a budget gate (DP), a preflight (:func:`fedrisk.privacy.secagg.preflight`), the SecAgg+ protocol (or
plain legacy FedAvg, for the side-by-side timing), then either a committed aggregate or a failed round that
publishes nothing (the previous global model stays and the next round runs).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch
from flwr.app import ConfigRecord, Context, Message
from flwr.client import Client, NumPyClient
from flwr.clientapp import ClientApp
from flwr.common import (
    EvaluateIns,
    EvaluateRes,
    FitIns,
    FitRes,
    GetPropertiesIns,
    Parameters,
    Scalar,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.common.constant import MessageTypeLegacy
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.compat.common import recorddict_compat as compat
from flwr.server import ServerConfig
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import FedAvg as LegacyFedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.server.workflow.default_workflows import default_fit_workflow
from flwr.serverapp import Grid, ServerApp

from fedrisk._env import quiet_and_offline
from fedrisk.errors import MIN_COHORT, FederationError, PrivacyBudgetExhausted, QuorumError, RoundFailedError
from fedrisk.features.pipeline import member_panel
from fedrisk.federation.dp import MemberDP, dp_clipping_range, noise_source, private_update
from fedrisk.federation.member_node import MemberJob, build_model, load_member, local_train, parse_job, validate
from fedrisk.federation.record_dp import outbound_privacy
from fedrisk.federation.runner import simulate
from fedrisk.models.stgraph import STGraphNet, TorchMember, get_weights, predict
from fedrisk.privacy.ledger import PrivacyLedger
from fedrisk.privacy.secagg.index import IndexGrid, encode_scores
from fedrisk.privacy.secagg.preflight import SecAggParams, SecAggPlan, preflight

_log = logging.getLogger(__name__)

Task = Literal["train", "index"]
ConfigValue = str | int | float | bool | list[str] | list[float] | list[int]


_LISTS_KEY = "fedrisk-lists-json"


def to_legacy_config(config: dict[str, ConfigValue]) -> dict[str, Scalar]:
    """Legacy ``FitIns``/``EvaluateIns`` configs hold scalars only: list values travel as one JSON string."""
    lists = {k: v for k, v in config.items() if isinstance(v, list)}
    out: dict[str, Scalar] = {k: v for k, v in config.items() if not isinstance(v, list)}
    out[_LISTS_KEY] = json.dumps(lists)
    return out


def from_legacy_config(config: dict[str, Scalar]) -> ConfigRecord:
    """Inverse of :func:`to_legacy_config`, as the ``ConfigRecord`` that ``member_node.parse_job`` reads."""
    plain = {k: v for k, v in config.items() if k != _LISTS_KEY}
    lists = json.loads(str(config.get(_LISTS_KEY, "{}")))
    return ConfigRecord({**plain, **lists})


# ----------------------------------------------------------------------------------------------------- member side
def member_scores(job: MemberJob, data: TorchMember, model: STGraphNet) -> pd.DataFrame:
    """The member's hourly scores ``ts_utc, asset, score`` of ``model`` on its own test period (held assets)."""
    panel = member_panel(job.data_dir, job.member, horizon=job.split.horizon)
    probs = predict(model, data, data.test_idx)
    frames = []
    for a, asset in enumerate(panel.assets):
        if asset not in panel.held_assets:
            continue
        obs = panel.observed[data.test_idx, a]
        ts = panel.ts[data.test_idx][obs]
        frames.append(pd.DataFrame({"ts_utc": ts, "asset": asset, "score": probs[obs, a].astype(np.float64)}))
    return pd.concat(frames, ignore_index=True)


def index_grid(config: ConfigRecord) -> IndexGrid:
    """The public grid of an index task, from its config."""
    return IndexGrid(
        start=pd.Timestamp(str(config["index-start"])),
        end=pd.Timestamp(str(config["index-end"])),
        assets=tuple(str(a) for a in config["index-assets"]),  # type: ignore[union-attr]
    )


def _drops(job: MemberJob, config: ConfigRecord, server_round: int) -> bool:
    members = [str(m) for m in config.get("secagg-drill-drop", [])]  # type: ignore[union-attr]
    rounds = [int(r) for r in config.get("secagg-drill-rounds", [])]  # type: ignore[union-attr]
    return job.member in members and server_round in rounds


class MemberClient(NumPyClient):
    """A member node on the legacy path; every computation is a ``member_node`` function."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def _job(self, config: dict[str, Scalar]) -> tuple[MemberJob, ConfigRecord]:
        record = from_legacy_config(config)
        return parse_job(self.context, record), record

    def get_properties(self, config: dict[str, Scalar]) -> dict[str, Scalar]:
        """Roll call: the member id and its number of training hours."""
        job, _ = self._job(config)
        data = load_member(job.member, str(job.data_dir), job.split, job.window, job.months)
        return {"member": job.member, "n-train": data.n_train}

    def fit(
        self, parameters: list[np.ndarray], config: dict[str, Scalar]
    ) -> tuple[list[np.ndarray], int, dict[str, Scalar]]:
        """Train locally and return the (clipped, noised) update; or, for ``task=index``, the score vectors."""
        torch.set_num_threads(1)
        job, record = self._job(config)
        server_round = int(record["server-round"])  # type: ignore[arg-type]
        if _drops(job, record, server_round):  # fault drill: leave after the share exchange, before masking
            raise RoundFailedError(f"fault drill: member {job.member} drops out of round {server_round}")
        data = load_member(job.member, str(job.data_dir), job.split, job.window, job.months)
        model = build_model(job, parameters)
        if str(record.get("task", "train")) == "index":
            total, count = encode_scores(member_scores(job, data, model), index_grid(record))
            return [total, count], 1, {}
        loss, elapsed = local_train(job, data, model, server_round)
        update = [new - old for new, old in zip(get_weights(model), parameters, strict=True)]
        metrics: dict[str, Scalar] = {"train-loss": loss, "train-time-s": elapsed}
        if job.record_dp is not None:  # public parameters of the DP-SGD round just run (z, q, ε so far)
            applied = outbound_privacy(record, job.member, server_round)
            metrics.update({f"record-dp-{k}": v for k, v in applied.items() if k != "mode"})
        share_std = float(record.get("dp-share-std", 0.0))  # type: ignore[arg-type]
        if share_std <= 0:
            return update, data.n_train, metrics
        source = noise_source(
            secure_mode=bool(record["dp-secure-mode"]), seed=job.seed, member=job.member, server_round=server_round
        )
        clip = float(record["dp-clip-norm"])  # type: ignore[arg-type]
        noised, norm = private_update(update, clip_norm=clip, share_std=share_std, source=source)
        metrics["update-norm"] = norm  # the coordinator sees it only without SecAgg (metrics are not masked)
        return noised, 1, metrics

    def evaluate(self, parameters: list[np.ndarray], config: dict[str, Scalar]) -> tuple[float, int, dict[str, Scalar]]:
        """Validation loss and AUPRC on the member's own validation period."""
        torch.set_num_threads(1)
        job, _ = self._job(config)
        data = load_member(job.member, str(job.data_dir), job.split, job.window, job.months)
        loss, n, ap = validate(build_model(job, parameters), data)
        return (loss if n else 0.0), n, {"val-auprc": ap if ap is not None else 0.0}


def _client_fn(context: Context) -> Client:
    return MemberClient(context).to_client()


def optional_secaggplus_mod(
    msg: Message, context: Context, call_next: Callable[[Message, Context], Message]
) -> Message:
    """Run Flower's ``secaggplus_mod`` on SecAgg+ train messages; pass plain legacy messages through.

    One ClientApp then serves plain and SecAgg+ jobs in the same run (the side-by-side timing needs both).
    """
    from flwr.client.mod import secaggplus_mod

    if msg.metadata.message_type == "train" and RECORD_KEY_CONFIGS in msg.content.config_records:
        return secaggplus_mod(msg, context, call_next)
    return call_next(msg, context)


quiet_and_offline()
client_app = ClientApp(client_fn=_client_fn, mods=[optional_secaggplus_mod])


# ------------------------------------------------------------------------------------------------ coordinator side
@dataclass(frozen=True, slots=True)
class SecureJob:
    """One job of a secure run.

    Parameters
    ----------
    name
        Unique name.
    config
        The member config (:func:`fedrisk.federation.plan.job_config`, plus ``index-*`` keys for an index task).
    init
        Global weights the job starts from (the model to score, for an index task).
    rounds
        Training rounds (an index task has one).
    task
        ``"train"`` or ``"index"``.
    secagg
        SecAgg+ settings; ``None`` runs plain legacy FedAvg over the same members (the timing reference).
    dp
        Member-level DP settings, or ``None``.
    drill
        ``(round, members)`` pairs: those members leave that round after the share exchange (fault drill).
    evaluate
        Ask members for their validation loss after each committed round.
    """

    name: str
    config: dict[str, ConfigValue]
    init: list[np.ndarray]
    rounds: int = 1
    task: Task = "train"
    secagg: SecAggParams | None = field(default_factory=SecAggParams)
    dp: MemberDP | None = None
    drill: tuple[tuple[int, tuple[str, ...]], ...] = ()
    evaluate: bool = False

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise FederationError(f"job '{self.name}': rounds must be >= 1, got {self.rounds}")
        if self.task == "index" and (self.dp is not None or self.rounds != 1):
            raise FederationError(f"job '{self.name}': an index task is one round without DP")


@dataclass(slots=True)
class SecureRound:
    """What the coordinator knows about one round (never an individual update)."""

    round: int
    status: str
    members: int
    refused: dict[str, str]
    plan: dict[str, int] | None
    fit_s: float
    train_loss: float | None = None
    val_loss: float | None = None
    val_auprc: float | None = None
    reason: str = ""


@dataclass(slots=True)
class SecureOutcome:
    """A finished secure job: the published model (or index vectors), the rounds and what was released."""

    job: SecureJob
    weights: list[np.ndarray]
    history: list[SecureRound]
    released: dict[int, list[np.ndarray]]
    """Per committed round, the aggregate that was unmasked (mean update, or mean score/count vectors)."""
    contributors: dict[int, list[str]]
    members: dict[int, str]

    @property
    def committed(self) -> list[int]:
        """Rounds whose aggregate was released."""
        return [h.round for h in self.history if h.status == "committed"]


class _SecureFedAvg(LegacyFedAvg):  # type: ignore[misc]
    """Legacy FedAvg over *updates*, with the DP budget gate, the SecAgg+ preflight and round bookkeeping."""

    def __init__(self, job: SecureJob, members: dict[int, str], ledger: PrivacyLedger | None) -> None:
        n = len(members)
        super().__init__(
            fraction_fit=1.0,
            fraction_evaluate=1.0 if job.evaluate else 0.0,
            min_fit_clients=n,
            min_evaluate_clients=n if job.evaluate else 0,
            min_available_clients=n,
            initial_parameters=ndarrays_to_parameters(job.init),
            accept_failures=True,
        )
        self.job, self.members, self.ledger = job, members, ledger
        self.global_weights = [np.asarray(w) for w in job.init]
        self.history: dict[int, SecureRound] = {}
        self.released: dict[int, list[np.ndarray]] = {}
        self.contributors: dict[int, list[str]] = {}
        self._selected: list[ClientProxy] = []
        self._plan: SecAggPlan | None = None

    # --- before the round
    def prepare_round(self, server_round: int, client_manager: ClientManager) -> SecAggPlan | None:
        """Budget gate and preflight; returns the SecAgg+ plan (``None`` when the round cannot run)."""
        proxies = sorted(client_manager.all().values(), key=lambda p: p.node_id)
        record = SecureRound(server_round, "failed", 0, {}, None, 0.0)
        self.history[server_round] = record
        selected = []
        for proxy in proxies:
            member = self.members.get(proxy.node_id)
            if member is None:
                continue
            if self.job.dp is not None and self.ledger is not None:
                try:
                    self.ledger.check(
                        member,
                        level="member",
                        noise_multiplier=self.job.dp.noise_multiplier,
                        sample_rate=1.0,
                        period=self.job.dp.period,
                    )
                except PrivacyBudgetExhausted as err:
                    _log.warning("round %s: %s", server_round, err)
                    record.refused[member] = str(err)
                    continue
            selected.append(proxy)
        self._selected, self._plan = selected, None
        try:
            if self.job.secagg is not None:
                self._plan = preflight(self.job.secagg, len(selected))
                record.plan = self._plan.as_dict()
            else:
                if len(selected) < MIN_COHORT:
                    raise QuorumError(f"only {len(selected)} members may take part; need {MIN_COHORT}")
        except (QuorumError, FederationError, ValueError) as err:
            record.status, record.reason = "refused", str(err)
            _log.warning("round %s refused by preflight: %s", server_round, err)
            self._selected = []
            return None
        return self._plan

    def min_contributors(self) -> int:
        """Fewest members any released aggregate of this round can sum."""
        return self._plan.threshold if self._plan is not None else MIN_COHORT

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        config: dict[str, ConfigValue] = {**self.job.config, "server-round": server_round, "task": self.job.task}
        drops = [list(m) for r, m in self.job.drill if r == server_round]
        if drops:
            config["secagg-drill-drop"] = drops[0]
            config["secagg-drill-rounds"] = [server_round]
        if self.job.dp is not None:
            config["dp-share-std"] = self.job.dp.share_std(self.min_contributors())
            config["dp-clip-norm"] = self.job.dp.clip_norm
            config["dp-secure-mode"] = self.job.dp.secure_mode
        fit_ins = FitIns(parameters, to_legacy_config(config))
        return [(proxy, fit_ins) for proxy in self._selected]

    # --- after the round
    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        record = self.history[server_round]
        if len(results) < MIN_COHORT:  # defence in depth: SecAgg+ with threshold >= 3 never gets here
            record.reason = f"{len(results)} results < {MIN_COHORT}; nothing published"
            return None, {}
        params, _ = super().aggregate_fit(server_round, results, failures)
        if params is None:
            record.reason = "aggregation returned nothing"
            return None, {}
        mean = [np.asarray(a, dtype=np.float64) for a in parameters_to_ndarrays(params)]
        contributors = sorted(self.members[p.node_id] for p, _ in results)
        if self.job.dp is not None and self.ledger is not None:
            for member in contributors:  # the aggregate is released: charge every contributor once
                self.ledger.commit(
                    member,
                    round=server_round,
                    level="member",
                    noise_multiplier=self.job.dp.noise_multiplier,
                    sample_rate=1.0,
                    period=self.job.dp.period,
                )
        self.released[server_round] = mean
        self.contributors[server_round] = contributors
        record.status, record.members = "committed", len(results)
        losses = [float(r.metrics["train-loss"]) for _, r in results if "train-loss" in r.metrics]
        record.train_loss = float(np.mean(losses)) if losses else None
        if self.job.task == "index":
            return params, {}
        self.global_weights = [
            (g + m).astype(g.dtype, copy=False) for g, m in zip(self.global_weights, mean, strict=True)
        ]
        return ndarrays_to_parameters(self.global_weights), {}

    def configure_evaluate(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, EvaluateIns]]:
        record = self.history.get(server_round)
        if not self.job.evaluate or record is None or record.status != "committed":
            return []
        ins = EvaluateIns(ndarrays_to_parameters(self.global_weights), to_legacy_config(self.job.config))
        return [(proxy, ins) for proxy in self._selected]

    def aggregate_evaluate(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, EvaluateRes]],
        failures: list[tuple[ClientProxy, EvaluateRes] | BaseException],
    ) -> tuple[float | None, dict[str, Scalar]]:
        record = self.history[server_round]
        ok = [(r.loss, r.num_examples, float(r.metrics.get("val-auprc", 0.0))) for _, r in results if r.num_examples]
        if len(ok) >= MIN_COHORT:
            w = np.array([n for _, n, _ in ok], dtype=float)
            record.val_loss = float(np.average([loss for loss, _, _ in ok], weights=w))
            record.val_auprc = float(np.average([ap for _, _, ap in ok], weights=w))
        return record.val_loss, {}

    def evaluate(self, server_round: int, parameters: Parameters) -> None:
        return None


class _RoundGuard:
    """The fit workflow of one round: gate + preflight, then SecAgg+ (or plain legacy FedAvg), then bookkeeping."""

    def __init__(self, strategy: _SecureFedAvg) -> None:
        self.strategy = strategy

    def __call__(self, grid: Grid, context: Context) -> None:
        assert isinstance(context, LegacyContext)
        server_round = int(context.state.config_records[MAIN_CONFIGS_RECORD][WorkflowKey.CURRENT_ROUND])  # type: ignore[arg-type]
        start = time.perf_counter()
        plan = self.strategy.prepare_round(server_round, context.client_manager)
        record = self.strategy.history[server_round]
        job = self.strategy.job
        if record.status != "refused":
            if job.secagg is None:
                default_fit_workflow(grid, context)
            elif plan is not None:
                workflow = SecAggPlusWorkflow(
                    num_shares=plan.num_shares_arg,
                    reconstruction_threshold=plan.threshold_arg,
                    max_weight=self._max_weight(),
                    clipping_range=self._clipping_range(),
                    quantization_range=job.secagg.quantization_range,
                    modulus_range=job.secagg.modulus_range,
                    timeout=job.secagg.timeout_s,
                )
                workflow(grid, context)
            if record.status != "committed" and not record.reason:
                record.reason = "secure aggregation halted: too many members dropped out (fewer than the threshold)"
        record.fit_s = time.perf_counter() - start
        _log.info(
            "job %s round %s: %s (%s members, %.2fs)",
            job.name,
            server_round,
            record.status,
            record.members,
            record.fit_s,
        )

    def _max_weight(self) -> float:
        job = self.strategy.job
        if job.dp is not None or job.task == "index":
            return 1.0
        assert job.secagg is not None
        return job.secagg.max_weight

    def _clipping_range(self) -> float:
        job = self.strategy.job
        assert job.secagg is not None
        if job.dp is None:
            return job.secagg.clipping_range
        std = job.dp.share_std(self.strategy.min_contributors())
        return max(job.secagg.clipping_range, dp_clipping_range(job.dp.clip_norm, std))


def secure_roll_call(
    grid: Grid, config: dict[str, ConfigValue], *, timeout: float = 600.0
) -> dict[int, tuple[str, int]]:
    """Ask every connected node (legacy ``get_properties``) who it is: node id → (member, training hours)."""
    deadline = time.monotonic() + timeout
    while not list(grid.get_node_ids()) and time.monotonic() < deadline:
        time.sleep(0.2)
    content = compat.getpropertiesins_to_recorddict(GetPropertiesIns(to_legacy_config(config)))
    messages = [
        Message(content=content, dst_node_id=node, message_type=MessageTypeLegacy.GET_PROPERTIES, group_id="0")
        for node in grid.get_node_ids()
    ]
    found: dict[int, tuple[str, int]] = {}
    for reply in grid.send_and_receive(messages, timeout=timeout):
        if reply.has_error():
            _log.warning("roll call: node %s failed: %s", reply.metadata.src_node_id, reply.error)
            continue
        props = compat.recorddict_to_getpropertiesres(reply.content).properties
        found[reply.metadata.src_node_id] = (str(props["member"]), int(props["n-train"]))  # type: ignore[arg-type]
    if len(found) < MIN_COHORT:
        raise QuorumError(f"only {len(found)} member(s) answered the roll call; need {MIN_COHORT}.")
    return found


def run_secure_job(
    grid: Grid, context: Context, job: SecureJob, members: dict[int, str], ledger: PrivacyLedger | None
) -> SecureOutcome:
    """Run one job with Flower's ``DefaultWorkflow`` whose fit workflow is the guarded SecAgg+ workflow."""
    if job.dp is not None and ledger is None:
        raise FederationError(f"job '{job.name}' uses DP but no privacy ledger was given")
    strategy = _SecureFedAvg(job, members, ledger)
    legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=job.rounds), strategy=strategy)
    DefaultWorkflow(fit_workflow=_RoundGuard(strategy))(grid, legacy)
    history = [strategy.history[r] for r in sorted(strategy.history)]
    return SecureOutcome(
        job=job,
        weights=strategy.global_weights,
        history=history,
        released=strategy.released,
        contributors=strategy.contributors,
        members=dict(members),
    )


def make_secure_server_app(
    jobs: Sequence[SecureJob],
    sink: Callable[[SecureOutcome], None],
    *,
    ledger: PrivacyLedger | None = None,
    chain: Callable[[SecureOutcome, SecureJob], SecureJob] | None = None,
) -> ServerApp:
    """A ServerApp whose main runs ``jobs`` in order over the same nodes.

    ``chain(previous_outcome, next_job)`` may rewrite a job from the previous outcome (e.g. score the model the
    previous job published); ``max_weight`` of plain SecAgg+ jobs is raised to the largest roll-call weight.
    """
    server = ServerApp()
    errors: list[BaseException] = []

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            found = secure_roll_call(grid, jobs[0].config)
            members = {node: member for node, (member, _) in found.items()}
            heaviest = float(max(n for _, n in found.values()))
            previous: SecureOutcome | None = None
            for job in jobs:
                if chain is not None and previous is not None:
                    job = chain(previous, job)
                if job.secagg is not None and job.dp is None and job.secagg.max_weight < heaviest:
                    from dataclasses import replace

                    job = replace(job, secagg=replace(job.secagg, max_weight=heaviest))
                previous = run_secure_job(grid, context, job, members, ledger)
                sink(previous)
        except BaseException as err:  # re-raised in the caller's thread by run_secure
            errors.append(err)
            raise

    server.fedrisk_errors = errors  # type: ignore[attr-defined]
    return server


def run_secure(
    jobs: Sequence[SecureJob],
    *,
    num_members: int,
    ledger: PrivacyLedger | None = None,
    chain: Callable[[SecureOutcome, SecureJob], SecureJob] | None = None,
    num_cpus: int | None = None,
    verbose: bool = False,
    client: ClientApp | None = None,
) -> list[SecureOutcome]:
    """Run secure jobs on the simulation engine (one Ray start) and return their outcomes in order.

    ``client`` replaces the stress member ClientApp (benchmarks with synthetic members).
    """
    outcomes: list[SecureOutcome] = []
    server = make_secure_server_app(jobs, outcomes.append, ledger=ledger, chain=chain)
    simulate(server, client_app if client is None else client, num_members, num_cpus=num_cpus, verbose=verbose)
    if len(outcomes) != len(jobs):
        raise FederationError(f"the simulation finished {len(outcomes)} of {len(jobs)} secure jobs; see the log.")
    return outcomes
