"""The global model of each committed round, kept in the coordinator's state directory.

``STATE_DIR/models/round-<id>.npz`` holds the weights a round produced and ``round-<id>.json`` what the round
released to whom (model receivers, index receivers) and its metrics. A round's file counts only when the store
shows the round ``committed`` with a result digest equal to the file's SHA-256: a file written by a round that then
failed, or was killed before its commit, is ignored, so a failed round never changes the model the next round
starts from.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedrisk.errors import GovernanceError
from fedrisk.governance.store import CoordinatorStore

MODELS_DIR = "models"


def weights_sha256(weights: list[np.ndarray]) -> str:
    """SHA-256 of the canonical bytes of a list of arrays (the member node's update payload format)."""
    digest = hashlib.sha256()
    for w in weights:
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


def model_path(state_dir: Path, round_id: int) -> Path:
    """Where round ``round_id``'s weights live."""
    return state_dir / MODELS_DIR / f"round-{round_id:06d}.npz"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def save_round_model(state_dir: Path, round_id: int, weights: list[np.ndarray], release: dict[str, Any]) -> str:
    """Write a round's weights and release record atomically; return the weights' SHA-256."""
    sha = weights_sha256(weights)
    buf = io.BytesIO()
    np.savez(buf, *weights)
    _atomic_write(model_path(state_dir, round_id), buf.getvalue())
    record = {"round_id": round_id, "weights_sha256": sha, **release}
    _atomic_write(model_path(state_dir, round_id).with_suffix(".json"), json.dumps(record, indent=1).encode())
    return sha


def load_round_model(state_dir: Path, round_id: int, expected_sha256: str) -> list[np.ndarray]:
    """Load a round's weights; raise :class:`GovernanceError` when missing or not matching the committed digest."""
    path = model_path(state_dir, round_id)
    if not path.exists():
        raise GovernanceError(
            f"round {round_id} is committed but its model {path} is missing: restore the state directory from backup"
        )
    with np.load(path) as npz:
        weights = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    sha = weights_sha256(weights)
    if sha != expected_sha256:
        raise GovernanceError(
            f"model of round {round_id} ({path}) has SHA-256 {sha[:12]}…, the store committed {expected_sha256[:12]}…: "
            "the file was changed; restore it from backup"
        )
    return weights


@dataclass(frozen=True, slots=True)
class CommittedModel:
    """The global model of the latest committed round that produced one."""

    round_id: int
    sha256: str
    weights: list[np.ndarray]


def latest_committed_model(store: CoordinatorStore, state_dir: Path) -> CommittedModel | None:
    """The model of the most recent committed round that has a model file; ``None`` before the first."""
    for record in reversed(store.list_rounds()):
        if record.state != "committed" or record.result_digest is None:
            continue
        if not model_path(state_dir, record.round_id).exists():
            continue  # a round committed by another runner (e.g. synthetic) produced no model
        weights = load_round_model(state_dir, record.round_id, record.result_digest)
        return CommittedModel(record.round_id, record.result_digest, weights)
    return None


__all__ = [
    "MODELS_DIR",
    "CommittedModel",
    "latest_committed_model",
    "load_round_model",
    "model_path",
    "save_round_model",
    "weights_sha256",
]
