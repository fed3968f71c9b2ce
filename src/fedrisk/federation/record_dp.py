"""Record-level DP-SGD inside a member node of the stress federation (``dp_level = "record"``).

What is protected: one *training example* of the member, i.e. one training hour (its 24-hour feature window
and its labels over all the member's assets). Each local step Poisson-samples the member's training hours with
rate ``q = batch_size / n_train``, computes one gradient per sampled hour, clips each to L2 norm ``C``, sums them,
adds Gaussian noise of std ``z C`` and divides by the expected batch size ``q n_train`` (Abadi et al. 2016, as
Opacus does). The step's update is then applied by the same Adam optimiser as plain training (post-processing).
Everything the member sends (the update) is a function of these noisy gradients, so each local step is one
subsampled Gaussian mechanism: a round of ``s`` local steps is charged to the member's privacy ledger as
``GaussianStep(z, q, s)`` at ``level = "record"``.

Why per-sample gradients with ``torch.func`` and not Opacus' ``GradSampleModule``: the graph model folds assets
into the batch dimension (``x[B, A, W, F]`` becomes ``[B*A, F, W]`` for the convolutions) while its graph and head
layers see ``[B, A, H]``. Opacus' hooks (and its per-layer "functorch" mode) compute per-sample gradients layer by
layer from each layer's own first dimension, so they would treat ``(hour, asset)`` pairs as samples in the
convolutions and hours in the head, and refuse (or mis-clip). ``torch.func.vmap(grad(...))`` over the *whole
model* with one hour per sample is exact and leaves the model's maths untouched.

Who keeps the ledger: the member itself (its ε is about its own records), one SQLite file per member in
``record-dp-ledger-dir`` (a deployed node points it at its own disk). Before training, :meth:`PrivacyLedger.check`
refuses a round that would push the member past its ``ε_max``
(:class:`~fedrisk.errors.PrivacyBudgetExhausted`, naming the member, the spent and the requested ε): the member
then sends nothing. After training the round is committed (every DP-SGD run that produced an update is charged,
even if the coordinator later fails the round: the update may have left the node).

Randomness: the Poisson sampling and the noise come from a :class:`~fedrisk.privacy.dp.NoiseSource`: the OS
CSPRNG in secure mode (the default), a generator seeded by (seed, member, round) otherwise, which warns loudly.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from fedrisk.errors import ConfigError
from fedrisk.models.stgraph import STGraphNet, TorchMember
from fedrisk.privacy.accounting import calibrate_noise, epsilon_for_history
from fedrisk.privacy.dp import NoiseSource
from fedrisk.privacy.ledger import BudgetPolicy, LedgerEntry, PrivacyLedger, open_ledger

__all__ = [
    "RECORD_MODE",
    "RecordDP",
    "RecordDPReport",
    "member_ledger",
    "member_noise_multiplier",
    "outbound_privacy",
    "per_example_grads",
    "private_train_steps",
    "record_dp_local_train",
    "record_noise_source",
    "sample_rate",
    "train_record_dp",
]

_log = logging.getLogger(__name__)
RECORD_MODE: Final[str] = "record-dp"
"""``privacy-mode`` of a record-level DP job (what the member's outbound log and claim state)."""
LEVEL: Final[str] = "record"
_EPS: Final[float] = 1e-6  # avoids 0/0 when a per-example gradient is exactly zero


@dataclass(frozen=True, slots=True)
class RecordDP:
    """Record-level DP-SGD settings of a federation job.

    Parameters
    ----------
    epsilon_max
        Each member's record-level budget for ``period`` (the ledger refuses a round past it).
    clip_norm
        ``C``: per-example gradient L2 clip. Chosen a priori (Opacus' usual 1.0), not from members' data.
    noise_multiplier
        ``z``; ``None`` to let each member calibrate its own ``z`` (PLD) so that ``planned_rounds`` rounds of
        ``local_steps`` steps at its own ``q`` spend at most ``target_epsilon``.
    target_epsilon
        Used when ``noise_multiplier`` is ``None``.
    planned_rounds
        Rounds the calibration plans for.
    delta
        δ of the budget and of the reported ε.
    secure_mode
        Sampling and noise from the OS CSPRNG (default); ``False`` only for reproducible research runs (warns).
    period
        Ledger period the rounds are charged to.
    ledger_dir
        Directory of the members' ledgers (``<member>.sqlite``); a deployed node uses its own path.

    Raises
    ------
    ConfigError
        On an out-of-range value, or when neither / both of ``noise_multiplier`` and ``target_epsilon`` are set.
    """

    epsilon_max: float
    clip_norm: float = 1.0
    noise_multiplier: float | None = None
    target_epsilon: float | None = None
    planned_rounds: int = 1
    delta: float = 1e-5
    secure_mode: bool = True
    period: str = "all"
    ledger_dir: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.epsilon_max) and self.epsilon_max > 0):
            raise ConfigError(f"record DP epsilon_max must be a finite number > 0, got {self.epsilon_max!r}")
        if not (math.isfinite(self.clip_norm) and self.clip_norm > 0):
            raise ConfigError(f"record DP clip_norm must be a finite number > 0, got {self.clip_norm!r}")
        if (self.noise_multiplier is None) == (self.target_epsilon is None):
            raise ConfigError("record DP needs exactly one of noise_multiplier or target_epsilon")
        if self.noise_multiplier is not None and not (
            math.isfinite(self.noise_multiplier) and self.noise_multiplier > 0
        ):
            raise ConfigError(
                f"record DP noise_multiplier must be > 0 (z = 0 has ε = ∞), got {self.noise_multiplier!r}"
            )
        if self.target_epsilon is not None and not (
            math.isfinite(self.target_epsilon) and 0 < self.target_epsilon <= self.epsilon_max
        ):
            raise ConfigError(
                f"record DP target_epsilon must be in (0, epsilon_max={self.epsilon_max:g}], "
                f"got {self.target_epsilon!r}"
            )
        if self.planned_rounds < 1:
            raise ConfigError(f"record DP planned_rounds must be >= 1, got {self.planned_rounds}")
        if not (0 < self.delta < 1):
            raise ConfigError(f"record DP delta must be in (0, 1), got {self.delta!r}")
        if not self.period.strip():
            raise ConfigError("record DP period must be a non-empty label")

    def to_config(self) -> dict[str, str | int | float | bool]:
        """The job-config keys a member reads (see :meth:`from_config`)."""
        return {
            "dp-level": LEVEL,
            "privacy-mode": RECORD_MODE,
            "record-dp-epsilon-max": self.epsilon_max,
            "record-dp-clip-norm": self.clip_norm,
            "record-dp-noise-multiplier": 0.0 if self.noise_multiplier is None else self.noise_multiplier,
            "record-dp-target-epsilon": 0.0 if self.target_epsilon is None else self.target_epsilon,
            "record-dp-planned-rounds": self.planned_rounds,
            "record-dp-delta": self.delta,
            "record-dp-secure-mode": self.secure_mode,
            "record-dp-period": self.period,
            "record-dp-ledger-dir": self.ledger_dir,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RecordDP | None:
        """Settings from a job config; ``None`` when the job does not use record-level DP."""
        if str(config.get("dp-level", "none")) != LEVEL:
            return None
        z = float(config["record-dp-noise-multiplier"])
        target = float(config["record-dp-target-epsilon"])
        return cls(
            epsilon_max=float(config["record-dp-epsilon-max"]),
            clip_norm=float(config["record-dp-clip-norm"]),
            noise_multiplier=z if z > 0 else None,
            target_epsilon=target if target > 0 else None,
            planned_rounds=int(config["record-dp-planned-rounds"]),
            delta=float(config["record-dp-delta"]),
            secure_mode=bool(config["record-dp-secure-mode"]),
            period=str(config["record-dp-period"]),
            ledger_dir=str(config.get("record-dp-ledger-dir", "")),
        )


@dataclass(frozen=True, slots=True)
class RecordDPReport:
    """The privacy parameters a member applied in one round, and its ε so far (from its ledger)."""

    noise_multiplier: float
    clip_norm: float
    sample_rate: float
    steps: int
    epsilon: float
    """ε spent so far at the record level in this period (PLD, the reported figure)."""
    epsilon_rdp: float
    """The same history under RDP (cross-check; PLD is tighter)."""
    delta: float
    secure_mode: bool
    period: str

    def privacy(self) -> dict[str, str | int | float | bool]:
        """What the member's outbound log records for the update it sends."""
        return {
            "mode": RECORD_MODE,
            "z": round(self.noise_multiplier, 6),
            "clip": round(self.clip_norm, 6),
            "q": round(self.sample_rate, 8),
            "steps": self.steps,
            "epsilon": round(self.epsilon, 6),
            "delta": self.delta,
            "secure_mode": self.secure_mode,
        }


def sample_rate(batch_size: int, n_train: int) -> float:
    """Poisson sampling rate ``q = batch_size / n_train`` (capped at 1)."""
    if n_train <= 0:
        raise ConfigError("record DP needs at least one training example")
    if batch_size <= 0:
        raise ConfigError(f"batch_size must be > 0, got {batch_size}")
    return min(1.0, batch_size / n_train)


@lru_cache(maxsize=64)
def member_noise_multiplier(settings: RecordDP, q: float, steps_per_round: int) -> float:
    """The member's ``z``: the configured one, or calibrated (PLD) for ``target_epsilon`` over the planned steps."""
    if settings.noise_multiplier is not None:
        return settings.noise_multiplier
    assert settings.target_epsilon is not None
    return calibrate_noise(
        target_epsilon=settings.target_epsilon,
        sample_rate=q,
        rounds=settings.planned_rounds * steps_per_round,
        delta=settings.delta,
        rel_tolerance=1e-3,
    )


def member_ledger(settings: RecordDP, member: str) -> PrivacyLedger:
    """The member's own record-level ledger (``<ledger_dir>/<member>.sqlite``)."""
    if not settings.ledger_dir:
        raise ConfigError(
            "record-level DP needs a privacy ledger: set record-dp-ledger-dir (RecordDP.ledger_dir) to a directory "
            "the member node can write"
        )
    path = Path(settings.ledger_dir)
    path.mkdir(parents=True, exist_ok=True)
    policy = BudgetPolicy.from_config({"epsilon_max": settings.epsilon_max, "delta": settings.delta})
    return open_ledger(path / f"{member}.sqlite", policy)


def record_noise_source(*, secure_mode: bool, seed: int, member: str, server_round: int) -> NoiseSource:
    """CSPRNG in secure mode; else seeded by (seed, member, round) (a different stream from batch seeding)."""
    if secure_mode:
        return NoiseSource(secure_mode=True)
    _log.warning("record-level DP of member %s round %s runs with INSECURE seeded noise", member, server_round)
    rng = np.random.default_rng([seed, zlib.crc32(member.encode()), server_round, 0x5EC])
    return NoiseSource(secure_mode=False, rng=rng)


def per_example_grads(model: STGraphNet, data: TorchMember, idx: np.ndarray) -> tuple[dict[str, torch.Tensor], float]:
    """One gradient per training hour in ``idx`` (``{name: [len(idx), *shape]}``) and the mean loss."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    adj = data.adj

    def loss_one(p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, p, (x.unsqueeze(0), adj))[0]
        cell = nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        return (cell * m).sum() / m.sum().clamp(min=1.0)

    t = torch.from_numpy(idx)
    x, y, m = data.windows(idx), data.y[t], data.label_mask[t].to(torch.float32)
    grads: dict[str, torch.Tensor]
    grads, losses = vmap(grad_and_value(loss_one), in_dims=(None, 0, 0, 0))(params, x, y, m)
    return grads, float(losses.detach().mean())


def _clipped_sum(grads: dict[str, torch.Tensor], clip_norm: float) -> dict[str, torch.Tensor]:
    flat = [g.reshape(g.shape[0], -1) for g in grads.values()]
    norms = torch.sqrt(sum((f**2).sum(dim=1) for f in flat))  # type: ignore[arg-type]
    factor = (clip_norm / (norms + _EPS)).clamp(max=1.0)
    return {k: torch.einsum("b,b...->...", factor, g) for k, g in grads.items()}


def private_train_steps(
    model: STGraphNet,
    data: TorchMember,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    clip_norm: float,
    noise_multiplier: float,
    source: NoiseSource,
    proximal_mu: float = 0.0,
) -> float:
    """``steps`` DP-SGD steps (Poisson sampling, per-example clipping, Gaussian noise) with Adam; mean loss.

    The loss is returned for the member's own log only: it is not differentially private.
    """
    q = sample_rate(batch_size, data.n_train)
    expected = q * data.n_train
    std = noise_multiplier * clip_norm
    params = dict(model.named_parameters())
    anchor = {k: p.detach().clone() for k, p in params.items()} if proximal_mu > 0 else {}
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    losses: list[float] = []
    for _ in range(steps):
        idx = data.train_idx[source.uniform(data.n_train) <= q]
        if len(idx):
            grads, loss = per_example_grads(model, data, idx)
            summed = _clipped_sum(grads, clip_norm)
            losses.append(loss)
        else:  # an empty Poisson batch is still a step of the mechanism: noise only
            summed = {k: torch.zeros_like(p) for k, p in params.items()}
        opt.zero_grad()
        for k, p in params.items():
            noise = torch.from_numpy(source.normal(tuple(p.shape), std=std, dtype=np.float32))
            g = (summed[k] + noise) / expected
            if proximal_mu > 0:  # data-independent term: post-processing
                g = g + proximal_mu * (p.detach() - anchor[k])
            p.grad = g.to(p.dtype)
        opt.step()
    return float(np.mean(losses)) if losses else float("nan")


def _report(settings: RecordDP, entries: list[LedgerEntry], z: float, q: float, steps: int) -> RecordDPReport:
    history = [e.step for e in entries]
    return RecordDPReport(
        noise_multiplier=z,
        clip_norm=settings.clip_norm,
        sample_rate=q,
        steps=steps,
        epsilon=entries[-1].epsilon_after,
        epsilon_rdp=epsilon_for_history(history, delta=settings.delta, accountant="rdp"),
        delta=settings.delta,
        secure_mode=settings.secure_mode,
        period=settings.period,
    )


def train_record_dp(
    model: STGraphNet,
    data: TorchMember,
    *,
    settings: RecordDP,
    member: str,
    server_round: int,
    seed: int,
    steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    proximal_mu: float = 0.0,
) -> tuple[float, RecordDPReport]:
    """One round of record-level DP local training: budget gate, DP-SGD, ledger commit.

    Raises
    ------
    PrivacyBudgetExhausted
        Before any training, when the round would push ``member`` past its ``epsilon_max`` (nothing is charged).
    """
    q = sample_rate(batch_size, data.n_train)
    z = member_noise_multiplier(settings, q, steps)
    ledger = member_ledger(settings, member)
    try:
        ledger.check(member, level=LEVEL, noise_multiplier=z, sample_rate=q, steps=steps, period=settings.period)
        source = record_noise_source(
            secure_mode=settings.secure_mode, seed=seed, member=member, server_round=server_round
        )
        loss = private_train_steps(
            model,
            data,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            clip_norm=settings.clip_norm,
            noise_multiplier=z,
            source=source,
            proximal_mu=proximal_mu,
        )
        charge = len(ledger.entries(member=member, level=LEVEL, period=settings.period)) + 1
        ledger.commit(
            member,
            round=charge,
            level=LEVEL,
            noise_multiplier=z,
            sample_rate=q,
            steps=steps,
            period=settings.period,
        )
        report = _report(settings, ledger.entries(member=member, level=LEVEL, period=settings.period), z, q, steps)
    finally:
        close = getattr(ledger, "close", None)
        if callable(close):
            close()
    _log.info(
        "member %s round %s: record-level DP-SGD z=%.4g C=%g q=%.4g steps=%d, ε=%.4g (PLD) / %.4g (RDP) at δ=%g",
        member,
        server_round,
        z,
        settings.clip_norm,
        q,
        steps,
        report.epsilon,
        report.epsilon_rdp,
        settings.delta,
    )
    return loss, report


class _Job(Protocol):
    """The parts of :class:`fedrisk.federation.member_node.MemberJob` a record-DP round needs."""

    @property
    def member(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def local_steps(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def proximal_mu(self) -> float: ...
    @property
    def record_dp(self) -> RecordDP | None: ...


_APPLIED: dict[tuple[str, int], RecordDPReport] = {}
"""Per node process: the parameters of the member's latest record-DP round, until its outbound log takes them."""


def record_dp_local_train(job: _Job, data: TorchMember, model: STGraphNet, server_round: int) -> tuple[float, float]:
    """The member node's hook: one record-DP round; returns ``(0.0, seconds)`` like ``local_train``.

    The training loss is not differentially private, so it stays with the member (its log); the reply states 0.0.
    The applied parameters are kept for :func:`outbound_privacy`.
    """
    assert job.record_dp is not None
    start = time.perf_counter()
    loss, report = train_record_dp(
        model,
        data,
        settings=job.record_dp,
        member=job.member,
        server_round=server_round,
        seed=job.seed,
        steps=job.local_steps,
        batch_size=job.batch_size,
        lr=job.lr,
        weight_decay=job.weight_decay,
        proximal_mu=job.proximal_mu,
    )
    _log.info("member %s round %s: local DP-SGD loss %.4f (kept local)", job.member, server_round, loss)
    _APPLIED[(job.member, server_round)] = report
    return 0.0, time.perf_counter() - start


def outbound_privacy(config: Mapping[str, Any], member: str, server_round: int) -> dict[str, str | int | float | bool]:
    """The privacy parameters the member's outbound log records for its update of ``server_round``.

    Record-level DP: mode, z, clip, q, steps, ε so far (PLD), δ, secure mode — from the round just trained;
    otherwise the job's ``privacy-mode``.
    """
    report = _APPLIED.pop((member, server_round), None)
    if report is not None and RecordDP.from_config(config) is not None:
        return report.privacy()
    return {"mode": str(config.get("privacy-mode", "plain"))}
