"""A small synthetic federation the attacks run against, with the four protection modes.

Modes (what each party sees; ``docs/he-and-attacks.md`` has the table):

* ``none``: plain FedAvg; the coordinator sees every member's update in the clear.
* ``dp``: member-level DP-FedAvg with noise at the coordinator (``clip_update`` by members,
  ``dp_fedavg_mean`` by the coordinator): the coordinator still sees each *clipped* update in the clear;
  the released model is noised.
* ``he``: CKKS aggregation (:mod:`fedrisk.privacy.he`): the coordinator holds ciphertexts it cannot decrypt;
  the decrypted *sum* (hence the next global model) is exact and public to the federation.
* ``all``: clipping + distributed DP noise (each member adds ``z C / sqrt(n)`` before encrypting) + CKKS +
  the minimum cohort: nobody sees an individual update; the sum is noised.

The noise here is seeded (``NoiseSource(secure_mode=False)``) so red-team numbers are reproducible; its
distribution is the production one. This module is an evaluation harness, never a production path.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from fedrisk.errors import ConfigError, PrivacyError, require_cohort
from fedrisk.privacy.dp import NoiseSource, add_gaussian_noise, clip_update, distributed_noise_std, dp_fedavg_mean
from fedrisk.privacy.he import CkksAggregator, CkksKeys, CkksMember, ckks_keygen, flatten_update, unflatten_update

Mode = Literal["none", "dp", "he", "all"]
MODES: tuple[Mode, ...] = ("none", "dp", "he", "all")
Arrays = list[npt.NDArray[np.float64]]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Protection:
    """DP parameters shared by the ``dp`` and ``all`` modes."""

    clip_norm: float = 1.0
    noise_multiplier: float = 1.0


def seeded_noise(seed: int) -> NoiseSource:
    """Reproducible noise for the evaluation (its insecurity warning is expected here and silenced)."""
    noise_log = logging.getLogger("fedrisk.privacy.dp.noise")
    level = noise_log.level
    noise_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return NoiseSource(secure_mode=False, rng=seed)
    finally:
        noise_log.setLevel(level)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread: tiny models are 10x slower with thread contention on a shared 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True, slots=True)
class Dataset:
    """Features and 0/1 labels."""

    X: FloatArray
    y: FloatArray

    def __len__(self) -> int:
        """Rows."""
        return int(self.y.size)


def make_task(rng: np.random.Generator, d: int = 20) -> FloatArray:
    """The hidden rule's weights (shared by all members: the federation learns one task)."""
    return rng.normal(0.0, 1.0, d) / math.sqrt(d) * 3.0


def sample(
    rng: np.random.Generator, w: FloatArray, n: int, *, label_noise: float = 0.15, positive_rate: float | None = None
) -> Dataset:
    """``n`` rows of the task; ``positive_rate`` (if given) resamples rows to that label share (a property)."""
    d = w.size
    X = rng.normal(0.0, 1.0, (4 * n if positive_rate is not None else n, d))
    logits = X @ w + 0.5 * np.sin(2.0 * X[:, 0])
    y = (logits + rng.logistic(0.0, 0.3, len(X)) > 0).astype(np.float64)
    flip = rng.random(len(X)) < label_noise
    y = np.where(flip, 1.0 - y, y)
    if positive_rate is not None:
        pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        k = round(positive_rate * n)
        if len(pos) < k or len(neg) < n - k:
            raise ConfigError("cannot reach the requested positive rate with this sample")
        idx = np.concatenate([rng.choice(pos, k, replace=False), rng.choice(neg, n - k, replace=False)])
        rng.shuffle(idx)
        X, y = X[idx], y[idx]
    return Dataset(X=X.astype(np.float64), y=y)


def make_model(d: int, hidden: int, seed: int) -> nn.Sequential:
    """The small MLP every synthetic attack targets (tanh, one logit)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, 1)).double()


def get_arrays(model: nn.Module) -> Arrays:
    """Parameters as float64 numpy arrays."""
    return [p.detach().numpy().astype(np.float64).copy() for p in model.parameters()]


def set_arrays(model: nn.Module, arrays: Sequence[npt.NDArray[np.floating]]) -> None:
    """Load parameters."""
    with torch.no_grad():
        for p, a in zip(model.parameters(), arrays, strict=True):
            p.copy_(torch.from_numpy(np.asarray(a, dtype=np.float64)))


def losses(model: nn.Module, data: Dataset) -> FloatArray:
    """Per-row binary cross-entropy."""
    with torch.no_grad():
        logits = model(torch.from_numpy(data.X)).squeeze(-1)
        out = nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(data.y), reduction="none")
    return out.numpy().astype(np.float64)


def probabilities(model: nn.Module, X: FloatArray) -> FloatArray:
    """P(y = 1)."""
    with torch.no_grad():
        return torch.sigmoid(model(torch.from_numpy(X)).squeeze(-1)).numpy().astype(np.float64)


def accuracy(model: nn.Module, data: Dataset) -> float:
    """Share of rows classified right at 0.5."""
    return float(np.mean((probabilities(model, data.X) > 0.5) == (data.y == 1)))


def local_update(
    model: nn.Module, global_arrays: Arrays, data: Dataset, *, epochs: int, lr: float = 0.05, batch: int = 0
) -> Arrays:
    """Train from the global weights on ``data`` (Adam, full batch by default); return ``local - global``."""
    set_arrays(model, global_arrays)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    X, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    size = batch or len(data)
    for _ in range(epochs):
        for start in range(0, len(data), size):
            opt.zero_grad()
            logits = model(X[start : start + size]).squeeze(-1)
            loss = nn.functional.binary_cross_entropy_with_logits(logits, y[start : start + size])
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    return [a - g for a, g in zip(get_arrays(model), global_arrays, strict=True)]


def gradient(model: nn.Module, arrays: Arrays, data: Dataset) -> Arrays:
    """Gradient of the mean loss on ``data`` at ``arrays`` (a FedSGD update is ``-lr`` times this)."""
    set_arrays(model, arrays)
    model.zero_grad()
    logits = model(torch.from_numpy(data.X)).squeeze(-1)
    nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(data.y)).backward()  # type: ignore[no-untyped-call]
    return [p.grad.numpy().astype(np.float64).copy() for p in model.parameters() if p.grad is not None]


@dataclass(slots=True)
class RoundView:
    """One aggregation: the mean update applied, and what the coordinator saw of each member."""

    mean: Arrays
    seen: list[Arrays | None]
    coordinator_could_decrypt: bool = False


@dataclass(slots=True)
class Aggregation:
    """Aggregates updates under a mode. Holds a CKKS key pair when the mode encrypts."""

    mode: Mode
    protection: Protection = field(default_factory=Protection)
    seed: int = 0
    _noise: NoiseSource | None = None
    _keys: CkksKeys | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; one of {MODES}")
        self._noise = seeded_noise(self.seed)
        if self.mode in ("he", "all"):
            self._keys = ckks_keygen()

    def __call__(self, updates: Sequence[Arrays], *, cheaters: Sequence[int] = ()) -> RoundView:
        """The mean update of ``updates`` under the mode (>= 3 updates, else ``QuorumError``).

        ``cheaters`` are malicious members that skip clipping and noise. That is only possible where nobody can
        check: under encryption (``he``, ``all``). In ``dp`` the coordinator sees the update and
        ``dp_fedavg_mean`` refuses an unclipped one, so a cheater must clip to take part.
        """
        require_cohort(len(updates), what="an aggregate")
        assert self._noise is not None
        p = self.protection
        if self.mode == "none":
            mean = [np.mean([u[k] for u in updates], axis=0) for k in range(len(updates[0]))]
            return RoundView(mean=mean, seen=[list(u) for u in updates])
        bypass = set(cheaters) if self.mode == "all" else set()
        clipped: list[Arrays] = [
            list(u) if i in bypass else [np.asarray(a, dtype=np.float64) for a in clip_update(list(u), p.clip_norm)[0]]
            for i, u in enumerate(updates)
        ]
        if self.mode == "dp":
            mean = dp_fedavg_mean(
                clipped, clip_norm=p.clip_norm, noise_multiplier=p.noise_multiplier, source=self._noise
            )
            seen: list[Arrays | None] = [[np.asarray(a, dtype=np.float64) for a in c] for c in clipped]
            return RoundView(mean=[np.asarray(a, dtype=np.float64) for a in mean], seen=seen)
        if self.mode == "he":
            return self._encrypted([list(u) for u in updates])
        std = distributed_noise_std(
            noise_multiplier=p.noise_multiplier, clip_norm=p.clip_norm, min_contributors=len(updates)
        )
        return self._encrypted(
            [
                c if i in bypass else [np.asarray(a, dtype=np.float64) for a in add_gaussian_noise(c, std, self._noise)]
                for i, c in enumerate(clipped)
            ]
        )

    def _encrypted(self, updates: list[Arrays]) -> RoundView:
        assert self._keys is not None
        member, coordinator = CkksMember(self._keys.secret), CkksAggregator(self._keys.public)
        scale = 1.0 / len(updates)
        encrypted = [member.encrypt_vector(flatten_update(u) * scale) for u in updates]
        total = coordinator.aggregate(encrypted)
        could = True
        try:
            coordinator.try_decrypt(total)
        except PrivacyError:
            could = False
        mean = unflatten_update(member.decrypt(total), updates[0])
        return RoundView(mean=mean, seen=[None] * len(updates), coordinator_could_decrypt=could)


def fedavg(
    members: Sequence[Dataset],
    *,
    mode: Mode,
    rounds: int,
    epochs: int,
    hidden: int,
    seed: int,
    protection: Protection | None = None,
    lr: float = 0.05,
    tamper: Callable[[Arrays, list[Arrays]], list[Arrays]] | None = None,
    cheaters: Sequence[int] = (),
) -> tuple[nn.Sequential, list[RoundView]]:
    """Train the MLP by FedAvg under ``mode``; return the final model and each round's view.

    ``tamper(global_weights, updates)`` lets a malicious member replace its update (poisoning, free-riding).
    """
    d = members[0].X.shape[1]
    model = make_model(d, hidden, seed)
    agg = Aggregation(mode=mode, protection=protection or Protection(), seed=seed)
    weights = get_arrays(model)
    views = []
    for _ in range(rounds):
        updates = [local_update(model, weights, m, epochs=epochs, lr=lr) for m in members]
        if tamper is not None:
            updates = tamper(weights, updates)
        view = agg(updates, cheaters=cheaters)
        weights = [w + u for w, u in zip(weights, view.mean, strict=True)]
        views.append(view)
    set_arrays(model, weights)
    return model, views
