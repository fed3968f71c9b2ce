"""The member node: a Flower ClientApp that trains and evaluates on the member's own data only.

The same ``app`` runs on Flower's simulation engine (the demo, tests) and on a deployed SuperNode. A deployed
node names itself and its data with node config ``member=<id> data-dir=<path>``; in simulation the node's
``partition-id`` indexes the plan's member list and the data dir comes from the job config.

What leaves the node: model parameters after local training, the number of training examples, the training
loss and timing, and validation loss/AUPRC on its own validation period. Never rows, labels or scores.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedrisk._env import quiet_and_offline
from fedrisk.audit import OutboundLog
from fedrisk.errors import ConfigError, RoundFailedError
from fedrisk.evaluation.metrics import auprc
from fedrisk.features.panel import Split
from fedrisk.features.pipeline import member_panel
from fedrisk.features.stress import FEATURES
from fedrisk.federation import drills
from fedrisk.federation.he_aggregation import DECRYPT_ACTION, he_decrypt, he_train_reply, wants_he
from fedrisk.federation.record_dp import RecordDP, outbound_privacy, record_dp_local_train
from fedrisk.models.stgraph import (
    ModelConfig,
    STGraphNet,
    TorchMember,
    get_weights,
    masked_log_loss,
    predict,
    prepare_member,
    set_weights,
    train_steps,
)

quiet_and_offline()  # a deployed node imports this module directly: keep it offline from the first line
app = ClientApp()
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True, slots=True)
class MemberJob:
    """The parts of a job config a member needs, parsed and checked."""

    member: str
    data_dir: Path
    split: Split
    window: int
    hidden: int
    months: float | None
    local_steps: int
    batch_size: int
    lr: float
    weight_decay: float
    proximal_mu: float
    seed: int
    record_dp: RecordDP | None = None
    """Record-level DP-SGD (``dp-level = "record"``, :mod:`fedrisk.federation.record_dp`); else plain training."""


def _identify(context: Context, config: ConfigRecord) -> tuple[str, Path]:
    node = context.node_config
    if "member" in node:
        member = str(node["member"])
        data_dir = Path(str(node.get("data-dir", config.get("sim-data-dir", ""))))
    else:
        members = [str(m) for m in config["members"]]  # type: ignore[union-attr]
        pid = int(node["partition-id"])  # type: ignore[arg-type]
        if pid >= len(members):
            raise ConfigError(f"partition-id {pid} has no member (plan lists {len(members)}).")
        member, data_dir = members[pid], Path(str(config["sim-data-dir"]))
    return member, data_dir


def parse_job(context: Context, config: ConfigRecord) -> MemberJob:
    """Read the job config of a message for this node."""
    member, data_dir = _identify(context, config)
    limited = [str(m) for m in config.get("limited-members", [])]  # type: ignore[union-attr]
    months_list = [float(k) for k in config.get("limited-months", [])]  # type: ignore[union-attr]
    months = dict(zip(limited, months_list, strict=True)).get(member)
    split = Split(
        train_start=pd.Timestamp(str(config["train-start"])),
        val_start=pd.Timestamp(str(config["val-start"])),
        test_start=pd.Timestamp(str(config["test-start"])),
        test_end=pd.Timestamp(str(config["test-end"])),
        horizon=int(config["horizon"]),  # type: ignore[arg-type]
    )
    return MemberJob(
        member=member,
        data_dir=data_dir,
        split=split,
        window=int(config["window"]),  # type: ignore[arg-type]
        hidden=int(config["hidden"]),  # type: ignore[arg-type]
        months=months,
        local_steps=int(config["local-steps"]),  # type: ignore[arg-type]
        batch_size=int(config["batch-size"]),  # type: ignore[arg-type]
        lr=float(config["lr"]),  # type: ignore[arg-type]
        weight_decay=float(config["weight-decay"]),  # type: ignore[arg-type]
        proximal_mu=float(config.get("proximal-mu", 0.0)),  # type: ignore[arg-type]
        seed=int(config["seed"]),  # type: ignore[arg-type]
        record_dp=RecordDP.from_config(config),
    )


@lru_cache(maxsize=32)
def load_member(member: str, data_dir: str, split: Split, window: int, months: float | None) -> TorchMember:
    """The member's prepared data for a job, normalised on its own (possibly limited) training rows."""
    panel = member_panel(Path(data_dir), member, horizon=split.horizon)
    train_idx = panel.train_index(split, window=window, months=months)
    norm = panel.fit_stats(train_idx).normaliser()
    return prepare_member(
        panel,
        norm,
        train_idx=train_idx,
        val_idx=panel.val_index(split, window=window),
        test_idx=panel.test_index(split, window=window),
        window=window,
    )


def _drilled_data(config: ConfigRecord, job: MemberJob) -> TorchMember:
    """The member's data, as the contribution drills (:mod:`fedrisk.federation.drills`) plant it; else its own."""
    source = drills.data_source(config, job.member)
    data = load_member(source, str(job.data_dir), job.split, job.window, job.months)
    return drills.planted(config, job.member, data, job.seed)


def member_rng(seed: int, member: str, server_round: int) -> np.random.Generator:
    """A per-member, per-round generator (research seeding; not privacy noise)."""
    return np.random.default_rng([seed, zlib.crc32(member.encode()), server_round])


def build_model(job: MemberJob, weights: list[np.ndarray]) -> STGraphNet:
    """The job's model with the given (global) weights; shared by the Message-API and legacy (SecAgg+) nodes."""
    torch.manual_seed(job.seed)
    model = STGraphNet(ModelConfig(n_features=len(FEATURES), window=job.window, hidden=job.hidden))
    set_weights(model, weights)
    return model


def _model(job: MemberJob, arrays: ArrayRecord) -> STGraphNet:
    return build_model(job, arrays.to_numpy_ndarrays())


def local_train(job: MemberJob, data: TorchMember, model: STGraphNet, server_round: int) -> tuple[float, float]:
    """The member's local training of one round (in place); returns the mean loss and the seconds it took."""
    if job.record_dp is not None:  # record-level DP-SGD: budget gate, DP-SGD, ledger (the loss stays local)
        return record_dp_local_train(job, data, model, server_round)
    start = time.perf_counter()
    loss = train_steps(
        model,
        [data],
        steps=job.local_steps,
        batch_size=job.batch_size,
        lr=job.lr,
        weight_decay=job.weight_decay,
        proximal_mu=job.proximal_mu,
        rng=member_rng(job.seed, job.member, server_round),
    )
    return loss, time.perf_counter() - start


def validate(model: STGraphNet, data: TorchMember) -> tuple[float, int, float | None]:
    """Validation log loss, number of labelled cells and AUPRC on the member's own validation period."""
    loss, n = masked_log_loss(model, data, data.val_idx)
    probs = predict(model, data, data.val_idx)
    t = torch.from_numpy(data.val_idx)
    mask = data.label_mask[t].numpy()
    ap = auprc(data.y[t].numpy()[mask], probs[mask]) if n else None
    return loss, n, ap


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Local training from the received global model; replies with new weights and metrics."""
    torch.set_num_threads(1)
    config = msg.content["config"]
    job = parse_job(context, config)  # type: ignore[arg-type]
    server_round = int(config["server-round"])  # type: ignore[arg-type]
    if job.member in [str(m) for m in config.get("drill-drop", [])] and server_round >= int(  # type: ignore[union-attr]
        config.get("drill-from-round", 1)  # type: ignore[arg-type]
    ):
        raise RoundFailedError(f"fault drill: member {job.member} drops out of round {server_round}")
    data = _drilled_data(config, job)  # type: ignore[arg-type]
    model = _model(job, msg.content["arrays"])  # type: ignore[arg-type]
    if drills.free_rides(config, job.member):  # type: ignore[arg-type]  # contribution drill: a zero update
        loss, elapsed = 0.0, 0.0
    else:
        loss, elapsed = local_train(job, data, model, server_round)
    weights = get_weights(model)
    metrics = MetricRecord({"num-examples": data.n_train, "train-loss": loss, "train-time-s": elapsed})
    if wants_he(config):  # type: ignore[arg-type]  # aggregation "he": the update leaves the node encrypted
        return he_train_reply(msg, config, job.member, data.n_train, weights, metrics)  # type: ignore[arg-type]
    claim = record_outbound(config, job.member, server_round, weights, node_config=context.node_config)  # type: ignore[arg-type]
    content = RecordDict({"arrays": ArrayRecord(weights), "metrics": metrics, "claim": ConfigRecord(claim)})  # type: ignore[arg-type]
    return Message(content=content, reply_to=msg)


def update_payload(weights: list[np.ndarray]) -> bytes:
    """The canonical bytes of an update (what the member's outbound log hashes)."""
    return b"".join(np.ascontiguousarray(w).tobytes() for w in weights)


def record_outbound(
    config: ConfigRecord,
    member: str,
    server_round: int,
    weights: list[np.ndarray],
    *,
    node_config: Mapping[str, object] | None = None,
) -> dict[str, str | int]:
    """Log what this member sends (round, size, SHA-256, privacy parameters) and return the claim it states.

    The log lives with the member, one file per job and member: a deployed node (node config ``member=``) uses
    its own node config's ``outbound-dir`` and never a path sent by the coordinator; a simulated member uses the
    job config's ``outbound-dir``. The member later countersigns the coordinator's round record only if the
    record's claim matches this log.
    """
    payload = update_payload(weights)
    privacy = outbound_privacy(config, member, server_round)  # record-level DP: mode, z, clip, q, steps, ε so far
    deployed = node_config is not None and "member" in node_config
    outbound_dir = str((node_config or {}).get("outbound-dir", "")) if deployed else str(config.get("outbound-dir", ""))
    if deployed and outbound_dir and not _SAFE_NAME.fullmatch(str(config["job"])):
        raise ConfigError(f"job name {str(config['job'])!r} is not a safe file name; refusing to log under it")
    if outbound_dir:
        path = Path(outbound_dir) / str(config["job"]) / f"{member}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = OutboundLog(path).record_sent(server_round, payload, privacy=privacy)
        sha, size = entry.sha256, entry.size
    else:
        sha, size = hashlib.sha256(payload).hexdigest(), len(payload)
    claim: dict[str, str | int] = {"member": member, "sha256": sha, "size": size, "privacy-mode": str(privacy["mode"])}
    if set(privacy) != {"mode"}:  # the full parameters, for the audit record the member countersigns
        claim["privacy-json"] = json.dumps(privacy, sort_keys=True)
    return claim


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Validation loss and AUPRC of the received model on the member's own validation period."""
    torch.set_num_threads(1)
    config = msg.content["config"]
    job = parse_job(context, config)  # type: ignore[arg-type]
    data = _drilled_data(config, job)  # type: ignore[arg-type]
    model = _model(job, msg.content["arrays"])  # type: ignore[arg-type]
    loss, n, ap = validate(model, data)
    metrics = MetricRecord(
        {
            "num-examples": n,
            "val-loss": loss if n else 0.0,
            "val-auprc": ap if ap is not None else 0.0,
            "val-auprc-defined": int(ap is not None),
        }
    )
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)


@app.query()
def query(msg: Message, context: Context) -> Message:
    """Roll call: the member id and how many training examples it would bring to the job."""
    config = msg.content["config"]
    job = parse_job(context, config)  # type: ignore[arg-type]
    data = _drilled_data(config, job)  # type: ignore[arg-type]
    reply = ConfigRecord({"member": job.member, "n-train": data.n_train})
    return Message(content=RecordDict({"member": reply}), reply_to=msg)


app.query(DECRYPT_ACTION)(he_decrypt)  # aggregation "he": one member decrypts the round's encrypted sum
