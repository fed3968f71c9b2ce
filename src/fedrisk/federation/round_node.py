"""The member node of a governed round: :mod:`member_node`'s ClientApp plus scoring and index evaluation.

A scheduled round (``fedrisk coordinator run``) does three things over the same connected nodes:

1. members whose tier contributes updates train (the ``train`` / ``evaluate`` / roll-call handlers of
   :mod:`fedrisk.federation.member_node`, unchanged);
2. members whose tier receives the model score their own validation hours with the new global model
   (``query.score``: the message carries the model; the reply carries hourly scores, never rows or labels);
3. members whose tier receives the stress index get the published index and evaluate it against their own
   stress events (``query.index``: the message carries the index only, never model weights; the reply is an
   AUPRC and counts).

Every handler first writes a **receipt** of what the node received (message type, the records and whether model
arrays were among them, with their SHA-256) to ``<outbound-dir>/<job>/inbound/<member>.jsonl`` when the job config
names an ``outbound-dir``: the member's own evidence of what it was sent, used to show that tier rights hold.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedrisk._env import quiet_and_offline
from fedrisk.errors import ConfigError
from fedrisk.evaluation.metrics import auprc
from fedrisk.features.pipeline import member_panel
from fedrisk.federation import member_node
from fedrisk.federation.member_node import build_model, load_member, parse_job, update_payload
from fedrisk.models.stgraph import predict

quiet_and_offline()
app = ClientApp()

SCORE = "query.score"
INDEX = "query.index"
INBOUND = "inbound"


def receipt(msg: Message, context: Context) -> dict[str, object]:
    """What this node received in ``msg``; appended to its inbound log when the config names an outbound dir."""
    config = msg.content["config"]
    member = parse_job(context, config).member  # type: ignore[arg-type]
    arrays = msg.content.array_records
    entry: dict[str, object] = {
        "member": member,
        "message_type": msg.metadata.message_type,
        "records": sorted(msg.content.keys()),
        "model_arrays": bool(arrays),
        "model_sha256": [
            hashlib.sha256(update_payload(rec.to_numpy_ndarrays())).hexdigest() for rec in arrays.values()
        ],
    }
    outbound = str(config.get("outbound-dir", ""))  # type: ignore[union-attr]
    if outbound:
        path = Path(outbound) / str(config["job"]) / INBOUND / f"{member}.jsonl"  # type: ignore[index]
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
    return entry


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Local training (see :func:`fedrisk.federation.member_node.train`), with a receipt."""
    receipt(msg, context)
    return member_node.train(msg, context)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Validation of the global model (see :func:`fedrisk.federation.member_node.evaluate`), with a receipt."""
    receipt(msg, context)
    return member_node.evaluate(msg, context)


@app.query()
def roll_call(msg: Message, context: Context) -> Message:
    """Roll call (see :func:`fedrisk.federation.member_node.query`), with a receipt."""
    receipt(msg, context)
    return member_node.query(msg, context)


@app.query("score")
def score(msg: Message, context: Context) -> Message:
    """Score the member's own validation hours (held assets) with the received global model."""
    receipt(msg, context)
    torch.set_num_threads(1)
    config = msg.content["config"]
    job = parse_job(context, config)  # type: ignore[arg-type]
    if "arrays" not in msg.content:
        raise ConfigError("a score request must carry the global model under 'arrays'")
    data = load_member(job.member, str(job.data_dir), job.split, job.window, job.months)
    model = build_model(job, msg.content["arrays"].to_numpy_ndarrays())  # type: ignore[union-attr]
    panel = member_panel(job.data_dir, job.member, horizon=job.split.horizon)
    probs = predict(model, data, data.val_idx)
    ts: list[int] = []
    assets: list[str] = []
    scores: list[float] = []
    for a, asset in enumerate(panel.assets):
        if asset not in panel.held_assets:
            continue
        obs = panel.observed[data.val_idx, a]
        hours = panel.ts[data.val_idx][obs]
        ts.extend(int(t.value // 10**9) for t in hours)
        assets.extend([asset] * int(obs.sum()))
        scores.extend(float(p) for p in probs[obs, a])
    reply = ConfigRecord({"member": job.member, "n-train": data.n_train, "ts": ts, "asset": assets, "score": scores})
    return Message(content=RecordDict({"scores": reply}), reply_to=msg)


def index_frame(record: ConfigRecord) -> pd.DataFrame:
    """The published index of an index message: ``ts_utc, asset, index`` (published cells only)."""
    return pd.DataFrame(
        {
            "ts_utc": pd.to_datetime(np.asarray(record["ts"], dtype=np.int64), unit="s", utc=True),
            "asset": [str(a) for a in record["asset"]],  # type: ignore[union-attr]
            "index": [float(v) for v in record["index"]],  # type: ignore[union-attr]
        }
    )


@app.query("index")
def evaluate_index(msg: Message, context: Context) -> Message:
    """Evaluate the received stress index against the member's own stress events on its validation period."""
    receipt(msg, context)
    config = msg.content["config"]
    job = parse_job(context, config)  # type: ignore[arg-type]
    data = load_member(job.member, str(job.data_dir), job.split, job.window, job.months)
    panel = member_panel(job.data_dir, job.member, horizon=job.split.horizon)
    published = index_frame(msg.content["index"])  # type: ignore[arg-type]
    lookup = published.set_index(["ts_utc", "asset"])["index"]
    ys: list[np.ndarray] = []
    ps: list[np.ndarray] = []
    labelled = data.label_mask[torch.from_numpy(data.val_idx)].numpy()
    y_val = data.y[torch.from_numpy(data.val_idx)].numpy()
    for a, asset in enumerate(panel.assets):
        keys = pd.MultiIndex.from_arrays([panel.ts[data.val_idx][labelled[:, a]], [asset] * int(labelled[:, a].sum())])
        values = lookup.reindex(keys).to_numpy(dtype=np.float64)
        keep = np.isfinite(values)
        ys.append(y_val[labelled[:, a], a][keep])
        ps.append(values[keep] / 100.0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    p = np.concatenate(ps) if ps else np.zeros(0)
    ap = auprc(y, p) if len(y) else None
    metrics = MetricRecord({"n-cells": len(y), "n-events": int(y.sum()), "index-auprc": ap if ap is not None else -1.0})
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)


def model_message(weights: list[np.ndarray], config: ConfigRecord, node: int) -> Message:
    """A score request: carries the model (send only to members whose tier receives it)."""
    content = RecordDict({"arrays": ArrayRecord(weights), "config": config})
    return Message(content=content, message_type=SCORE, dst_node_id=node)


def index_message(index: ConfigRecord, config: ConfigRecord, node: int) -> Message:
    """An index evaluation request: carries the published index, never model weights."""
    return Message(content=RecordDict({"index": index, "config": config}), message_type=INDEX, dst_node_id=node)


__all__ = ["INBOUND", "INDEX", "SCORE", "app", "index_frame", "index_message", "model_message", "receipt"]
