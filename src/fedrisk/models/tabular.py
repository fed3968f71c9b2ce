"""Tabular risk models shared by the fraud and credit federations: an MLP (PyTorch) and gradient-boosted trees
(XGBoost), the input normalisation, threshold choice and the saved-model format. No Flower here.

Inputs go through ``signed_log1p`` (counts and amounts span ten orders of magnitude) and a standardisation whose
mean and standard deviation come from per-member moment sums ``(n, Σz, Σz²)``: a federation adds them up (a sum,
so secure aggregation can compute it) and no member's rows leave it.

Saved model layout (``DIR/``)::

    model.npz | model.json   MLP weights (numpy, no pickle) or the XGBoost booster (JSON)
    metadata.json            kind, feature list, normalisation, threshold, model shape, SHA-256 of the model file
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import xgboost as xgb
from torch import nn

from fedrisk.errors import ConfigError, ModelError, require_cohort

ModelKind = Literal["mlp", "xgb"]
METADATA = "metadata.json"
MODEL_FILES: dict[str, str] = {"mlp": "model.npz", "xgb": "model.json"}


# --------------------------------------------------------------------------------------------- normalisation
def signed_log1p(x: np.ndarray) -> np.ndarray:
    """``sign(x) · log(1 + |x|)``: monotone, defined for negative balances, compresses heavy tails."""
    return np.asarray(np.sign(x) * np.log1p(np.abs(x)))


@dataclass(frozen=True, slots=True)
class MomentSums:
    """What a member contributes to the shared normalisation: row count and sums of z and z² per column."""

    n: int
    s1: np.ndarray
    s2: np.ndarray

    @staticmethod
    def of(x_raw: np.ndarray) -> MomentSums:
        """Moment sums of the transformed inputs of one member's training rows."""
        z = signed_log1p(np.asarray(x_raw, dtype=np.float64))
        return MomentSums(len(z), z.sum(axis=0), (z * z).sum(axis=0))


@dataclass(frozen=True, slots=True)
class Normaliser:
    """``(signed_log1p(x) - mean) / std`` with a floor on ``std`` (constant columns map to 0)."""

    mean: np.ndarray
    std: np.ndarray

    def apply(self, x_raw: np.ndarray) -> np.ndarray:
        """Normalised ``float32`` inputs."""
        x_raw = np.asarray(x_raw, dtype=np.float64)
        if x_raw.ndim != 2 or x_raw.shape[1] != len(self.mean):
            raise ModelError(f"inputs have shape {x_raw.shape}; the model expects (n, {len(self.mean)}).")
        return np.asarray((signed_log1p(x_raw) - self.mean) / self.std, dtype=np.float32)

    @staticmethod
    def from_sums(parts: Sequence[MomentSums], *, min_members: int = 3) -> Normaliser:
        """Pool members' moment sums (refused below the minimum cohort unless ``min_members`` says otherwise)."""
        if min_members > 1:
            require_cohort(len(parts), what="a pooled normalisation")
        n = sum(p.n for p in parts)
        if n == 0:
            raise ConfigError("cannot normalise over zero rows")
        mean = sum(p.s1 for p in parts) / n
        var = np.maximum(sum(p.s2 for p in parts) / n - mean * mean, 0.0)
        return Normaliser(np.asarray(mean), np.asarray(np.maximum(np.sqrt(var), 1e-6)))

    @staticmethod
    def fit(x_raw: np.ndarray) -> Normaliser:
        """A normaliser from one party's rows (local-only and centralised references)."""
        return Normaliser.from_sums([MomentSums.of(x_raw)], min_members=1)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON form."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @staticmethod
    def from_dict(d: dict[str, list[float]]) -> Normaliser:
        """Inverse of :meth:`to_dict`."""
        return Normaliser(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["std"], dtype=np.float64))


# --------------------------------------------------------------------------------------------- metrics helpers
def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities (clipped)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def f1_at(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    """F1 of ``p >= threshold`` (0 when nothing is flagged and there are positives)."""
    flagged = p >= threshold
    tp = float((flagged & (y == 1)).sum())
    denom = float(flagged.sum() + (y == 1).sum())
    return 2 * tp / denom if denom else 0.0


def score_histograms(y: np.ndarray, p: np.ndarray, bins: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Counts of positives and negatives per score bin on [0, 1]: what a member shares to set a joint threshold."""
    idx = np.clip((np.asarray(p) * bins).astype(int), 0, bins - 1)
    pos = np.bincount(idx[y == 1], minlength=bins)
    neg = np.bincount(idx[y == 0], minlength=bins)
    return pos, neg


def threshold_from_histograms(pos: np.ndarray, neg: np.ndarray) -> float:
    """The bin edge maximising F1 of ``score >= edge`` given summed histograms (ties: the highest edge)."""
    bins = len(pos)
    tp = np.cumsum(pos[::-1])[::-1]  # flagged positives when the threshold is bin i's lower edge
    fp = np.cumsum(neg[::-1])[::-1]
    total_pos = pos.sum()
    denom = tp + fp + total_pos
    f1 = np.divide(2.0 * tp, denom, out=np.zeros(bins), where=denom > 0)
    best = int(bins - 1 - np.argmax(f1[::-1]))
    return best / bins


def best_threshold(y: np.ndarray, p: np.ndarray, bins: int = 1000) -> float:
    """F1-maximising threshold on one validation set (same grid as the federated histograms)."""
    return threshold_from_histograms(*score_histograms(y, p, bins))


# --------------------------------------------------------------------------------------------- MLP
@dataclass(frozen=True, slots=True)
class MLPConfig:
    """Shape of the MLP."""

    n_features: int
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.n_features <= 0 or not self.hidden or min(self.hidden) <= 0:
            raise ConfigError(f"MLP needs n_features > 0 and positive hidden sizes, got {self}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


class TabularMLP(nn.Module):
    """Fully connected ReLU network with dropout; outputs one logit per row."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = config.n_features
        for h in config.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(config.dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.config = config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(n,)``."""
        return self.net(x).squeeze(-1)  # type: ignore[no-any-return]


def build_mlp(config: MLPConfig, *, seed: int) -> TabularMLP:
    """A seeded, freshly initialised MLP."""
    torch.manual_seed(seed)
    return TabularMLP(config)


def get_weights(model: nn.Module) -> list[np.ndarray]:
    """Parameters as numpy arrays in a fixed order."""
    return [t.detach().cpu().numpy().copy() for t in model.state_dict().values()]


def set_weights(model: nn.Module, weights: Sequence[np.ndarray]) -> None:
    """Load parameters produced by :func:`get_weights` (shapes checked)."""
    keys = list(model.state_dict().keys())
    if len(keys) != len(weights):
        raise ModelError(f"expected {len(keys)} weight arrays, got {len(weights)}")
    state = {k: torch.from_numpy(np.asarray(w)).clone() for k, w in zip(keys, weights, strict=True)}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ModelError(f"weights do not fit the model: {err}") from err


@dataclass(frozen=True, slots=True)
class MLPTrain:
    """Local optimisation settings."""

    steps: int = 30
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.batch_size <= 0 or self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"invalid MLP training settings {self}")


def train_mlp(
    model: TabularMLP, x: np.ndarray, y: np.ndarray, settings: MLPTrain, *, rng: np.random.Generator
) -> float:
    """``settings.steps`` Adam steps on mini-batches drawn with ``rng``; returns the mean training loss."""
    if len(x) == 0:
        raise ConfigError("cannot train on zero rows")
    xt, yt = torch.from_numpy(np.asarray(x, dtype=np.float32)), torch.from_numpy(np.asarray(y, dtype=np.float32))
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    total = 0.0
    for _ in range(settings.steps):
        idx = torch.from_numpy(rng.integers(0, len(x), size=min(settings.batch_size, len(x))))
        opt.zero_grad()
        loss = loss_fn(model(xt[idx]), yt[idx])
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        total += float(loss.item())
    return total / settings.steps


def predict_mlp(model: TabularMLP, x: np.ndarray) -> np.ndarray:
    """Probabilities (``float64``)."""
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(np.asarray(x, dtype=np.float32)))
    return np.asarray(torch.sigmoid(logits).numpy(), dtype=np.float64)


def fit_mlp(
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    config: MLPConfig,
    settings: MLPTrain,
    chunks: int,
    seed: int,
    rng: np.random.Generator,
) -> tuple[TabularMLP, int]:
    """Train ``chunks × settings.steps`` steps and keep the chunk with the lowest validation loss.

    Mirrors the federation (one chunk = one round's local steps, best round by validation loss) so local-only,
    federated and centralised models get the same budget and the same selection rule.
    """
    model = build_mlp(config, seed=seed)
    best = (log_loss(y_val, predict_mlp(model, x_val)), 0, get_weights(model))
    for chunk in range(1, chunks + 1):
        train_mlp(model, x, y, settings, rng=rng)
        loss = log_loss(y_val, predict_mlp(model, x_val))
        if loss < best[0]:
            best = (loss, chunk, get_weights(model))
    set_weights(model, best[2])
    return model, best[1]


# --------------------------------------------------------------------------------------------- XGBoost
@dataclass(frozen=True, slots=True)
class XgbSettings:
    """Tree settings (``base_score`` fixed at 0.5 so members and the federation share one intercept)."""

    eta: float = 0.1
    max_depth: int = 4
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0
    reg_lambda: float = 1.0

    def params(self, *, seed: int) -> dict[str, Any]:
        """XGBoost parameters (one thread: members share the CPUs in simulation)."""
        return {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "base_score": 0.5,
            "eta": self.eta,
            "max_depth": self.max_depth,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "lambda": self.reg_lambda,
            "nthread": 1,
            "seed": seed,
            "verbosity": 0,
        }


def booster_from_bytes(raw: bytes) -> xgb.Booster:
    """Load a booster from its JSON bytes."""
    try:
        booster = xgb.Booster(params={"nthread": 1})
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as err:
        raise ModelError(f"not a valid XGBoost model: {err}") from err
    return booster


def booster_bytes(booster: xgb.Booster) -> bytes:
    """JSON bytes of a booster."""
    return bytes(booster.save_raw("json"))


def boost(
    x: np.ndarray, y: np.ndarray, settings: XgbSettings, *, rounds: int, seed: int, init: bytes | None = None
) -> xgb.Booster:
    """Add ``rounds`` trees to ``init`` (or start from nothing) on these rows."""
    start = booster_from_bytes(init) if init else None
    return xgb.train(settings.params(seed=seed), xgb.DMatrix(x, label=y), num_boost_round=rounds, xgb_model=start)


def last_trees(booster: xgb.Booster, k: int) -> bytes:
    """The last ``k`` boosting rounds as a booster of their own (what a member sends in FedXgbBagging)."""
    n = booster.num_boosted_rounds()
    return booster_bytes(booster[n - k : n])


def predict_booster(booster: xgb.Booster, x: np.ndarray) -> np.ndarray:
    """Probabilities (``float64``)."""
    return np.asarray(booster.predict(xgb.DMatrix(x)), dtype=np.float64)


def fit_xgb(
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    settings: XgbSettings,
    max_rounds: int,
    seed: int,
    patience: int = 20,
) -> tuple[xgb.Booster, int]:
    """Boost up to ``max_rounds`` trees, keep the number with the lowest validation log loss."""
    booster = xgb.train(
        settings.params(seed=seed),
        xgb.DMatrix(x, label=y),
        num_boost_round=max_rounds,
        evals=[(xgb.DMatrix(x_val, label=y_val), "val")],
        early_stopping_rounds=patience,
        verbose_eval=False,
    )
    rounds = int(booster.best_iteration) + 1
    return booster[:rounds], rounds


# --------------------------------------------------------------------------------------------- saving
@dataclass(frozen=True, slots=True)
class SavedTabular:
    """A loaded tabular model: predicts probabilities from raw inputs."""

    kind: ModelKind
    features: tuple[str, ...]
    normaliser: Normaliser
    threshold: float
    metadata: dict[str, Any]
    mlp: TabularMLP | None = None
    booster: xgb.Booster | None = None

    def predict(self, x_raw: np.ndarray) -> np.ndarray:
        """Probabilities for raw input rows (columns in :attr:`features` order)."""
        x = self.normaliser.apply(x_raw)
        if self.mlp is not None:
            return predict_mlp(self.mlp, x)
        if self.booster is not None:
            return predict_booster(self.booster, x)
        raise ModelError("the saved model holds neither an MLP nor a booster")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_tabular(
    directory: Path,
    *,
    kind: ModelKind,
    features: Sequence[str],
    normaliser: Normaliser,
    threshold: float,
    mlp: TabularMLP | None = None,
    booster: bytes | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the model file and ``metadata.json``; returns the metadata."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MODEL_FILES[kind]
    meta: dict[str, Any] = {"kind": kind, "features": list(features), "normaliser": normaliser.to_dict()}
    if kind == "mlp":
        if mlp is None:
            raise ModelError("kind 'mlp' needs the MLP")
        np.savez(path, *get_weights(mlp))
        meta["mlp"] = {"hidden": list(mlp.config.hidden), "dropout": mlp.config.dropout}
    else:
        if booster is None:
            raise ModelError("kind 'xgb' needs the booster bytes")
        path.write_bytes(booster)
    meta |= {"threshold": float(threshold), "model_file": path.name, "model_sha256": sha256_file(path)}
    meta |= extra or {}
    (directory / METADATA).write_text(json.dumps(meta, indent=1))
    return meta


def load_tabular(directory: Path) -> SavedTabular:
    """Load a model saved by :func:`save_tabular`; refuses a model file whose SHA-256 does not match."""
    meta_path = directory / METADATA
    if not meta_path.is_file():
        raise ModelError(f"{meta_path} not found. Fix: pass the directory of a saved model (or its run directory).")
    try:
        meta = json.loads(meta_path.read_text())
        kind: ModelKind = meta["kind"]
        path = directory / str(meta["model_file"])
        features = tuple(str(f) for f in meta["features"])
        normaliser = Normaliser.from_dict(meta["normaliser"])
        threshold = float(meta["threshold"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelError(f"{meta_path} is not a valid model description ({err!r}).") from err
    if not path.is_file():
        raise ModelError(f"{path} not found next to {meta_path}.")
    if sha256_file(path) != meta.get("model_sha256"):
        raise ModelError(f"{path} does not match the SHA-256 recorded in {meta_path}: refusing a modified model.")
    if kind == "mlp":
        mlp = TabularMLP(MLPConfig(len(features), tuple(meta["mlp"]["hidden"]), float(meta["mlp"]["dropout"])))
        with np.load(path) as npz:
            set_weights(mlp, [npz[f"arr_{i}"] for i in range(len(npz.files))])
        return SavedTabular(kind, features, normaliser, threshold, meta, mlp=mlp)
    return SavedTabular(kind, features, normaliser, threshold, meta, booster=booster_from_bytes(path.read_bytes()))
