"""Saving and loading the federated stress model with everything needed to score new data.

Layout of ``RUN_DIR/model/``::

    weights.npz      parameters (numpy, no pickle)
    metadata.json    model shape, feature list, per-member normalisation and graph, the pooled
                     normalisation for venues that were not members, alarm thresholds, split, label,
                     and the SHA-256 of weights.npz
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedrisk.errors import ModelError
from fedrisk.features.panel import Normaliser
from fedrisk.models.stgraph import ModelConfig, STGraphNet, set_weights

WEIGHTS = "weights.npz"
METADATA = "metadata.json"


@dataclass(frozen=True, slots=True)
class SavedMember:
    """Per-member scoring inputs: normalisation, cross-asset graph and alarm threshold."""

    normaliser: Normaliser
    graph: np.ndarray
    alarm_threshold: float | None


@dataclass(frozen=True, slots=True)
class SavedModel:
    """A loaded model and its metadata."""

    model: STGraphNet
    config: ModelConfig
    features: tuple[str, ...]
    members: dict[str, SavedMember]
    pooled_normaliser: Normaliser
    pooled_graph: np.ndarray
    alarm_threshold: float
    index_alarm_threshold: float | None
    weights_sha256: str
    metadata: dict[str, Any]

    def member(self, venue: str) -> SavedMember:
        """Scoring inputs for a venue: its own if it was a member, else the pooled ones."""
        if venue in self.members:
            return self.members[venue]
        return SavedMember(self.pooled_normaliser, self.pooled_graph, self.alarm_threshold)


def save_model(
    directory: Path,
    weights: list[np.ndarray],
    *,
    config: ModelConfig,
    features: tuple[str, ...],
    members: dict[str, SavedMember],
    pooled_normaliser: Normaliser,
    alarm_threshold: float,
    index_alarm_threshold: float | None,
    extra: dict[str, Any],
) -> str:
    """Write weights and metadata; return the SHA-256 of the weights file."""
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / WEIGHTS, *[np.asarray(w) for w in weights])
    digest = hashlib.sha256((directory / WEIGHTS).read_bytes()).hexdigest()
    graphs = [m.graph for m in members.values()]
    pooled_graph = np.mean(graphs, axis=0) if graphs else np.zeros((0, 0))
    meta = {
        "format": "fedrisk.stress-model/1",
        "model": config.to_dict(),
        "features": list(features),
        "members": {
            name: {
                "normaliser": m.normaliser.to_dict(),
                "graph": m.graph.tolist(),
                "alarm_threshold": m.alarm_threshold,
            }
            for name, m in members.items()
        },
        "pooled": {"normaliser": pooled_normaliser.to_dict(), "graph": pooled_graph.tolist()},
        "alarm_threshold": alarm_threshold,
        "index_alarm_threshold": index_alarm_threshold,
        "weights_sha256": digest,
        **extra,
    }
    (directory / METADATA).write_text(json.dumps(meta, indent=1))
    return digest


def _model_dir(path: Path) -> Path:
    for candidate in (path / "model", path):
        if (candidate / METADATA).is_file():
            return candidate
    raise ModelError(
        f"no saved stress model under {path} (looked for model/{METADATA} and {METADATA}). Fix: pass a run "
        "directory written by `fedrisk demo` or `fedrisk stress train`."
    )


def load_model(path: Path) -> SavedModel:
    """Load a model from a run directory (or its ``model/`` folder), checking the weights hash."""
    directory = _model_dir(path)
    try:
        meta = json.loads((directory / METADATA).read_text())
        config = ModelConfig(**meta["model"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ModelError(f"{directory / METADATA} is corrupt or from another version: {err}") from err
    raw = (directory / WEIGHTS).read_bytes() if (directory / WEIGHTS).is_file() else b""
    digest = hashlib.sha256(raw).hexdigest()
    if digest != meta.get("weights_sha256"):
        raise ModelError(
            f"{directory / WEIGHTS} does not match the hash in its metadata (expected {meta.get('weights_sha256')}, "
            f"got {digest}): the file was changed or truncated. Refusing to load it."
        )
    with np.load(directory / WEIGHTS) as npz:
        weights = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    model = STGraphNet(config)
    set_weights(model, weights)
    model.eval()
    members = {
        name: SavedMember(
            Normaliser.from_dict(m["normaliser"]), np.asarray(m["graph"], dtype=np.float32), m["alarm_threshold"]
        )
        for name, m in meta["members"].items()
    }
    return SavedModel(
        model=model,
        config=config,
        features=tuple(meta["features"]),
        members=members,
        pooled_normaliser=Normaliser.from_dict(meta["pooled"]["normaliser"]),
        pooled_graph=np.asarray(meta["pooled"]["graph"], dtype=np.float32),
        alarm_threshold=float(meta["alarm_threshold"]),
        index_alarm_threshold=meta.get("index_alarm_threshold"),
        weights_sha256=digest,
        metadata=meta,
    )
