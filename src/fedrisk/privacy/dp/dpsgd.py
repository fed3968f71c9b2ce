"""Record-level DP-SGD for a torch model: a thin wrapper over Opacus' ``PrivacyEngine``.

What Opacus does: per-sample gradients, per-sample clipping to ``max_grad_norm``, Gaussian noise
of std ``noise_multiplier * max_grad_norm`` on the summed gradient (Abadi et al. 2016).
What this wrapper changes: **all randomness that the guarantee rests on comes from a
:class:`~fedrisk.privacy.dp.noise.NoiseSource`**, i.e. the Poisson batch sampling (privacy
amplification assumes the adversary cannot predict which records were sampled) and the
gradient noise. Opacus' own ``secure_mode=True`` needs ``torchcsprng``, which does not build for
torch 2.13, so with ``secure_mode=True`` we keep Opacus in its non-secure mode and replace both
random sources with the OS-CSPRNG source (see :mod:`fedrisk.privacy.dp.noise` for why).

Accounting is not done here: the returned :class:`PrivateTraining` says which ``sample_rate``
and how many steps to record in the privacy ledger (ε is computed by
:mod:`fedrisk.privacy.accounting`, PLD).
"""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from opacus import PrivacyEngine
from opacus.data_loader import dtype_safe, shape_safe, wrap_collate_with_empty
from opacus.optimizers import optimizer as opacus_optimizer
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate

from fedrisk.errors import ConfigError
from fedrisk.privacy.accounting.analysis import GaussianStep
from fedrisk.privacy.dp.noise import NoiseSource

__all__ = ["PrivateTraining", "make_private"]


class _PoissonSampler(UniformWithReplacementSampler):  # type: ignore[misc]
    """Opacus' Poisson batch sampler, drawing its coin flips from a :class:`NoiseSource`."""

    def __init__(self, *, num_samples: int, sample_rate: float, source: NoiseSource) -> None:
        super().__init__(num_samples=num_samples, sample_rate=sample_rate)
        self._source = source

    def __iter__(self) -> Iterator[list[int]]:
        for _ in range(self.steps):
            mask = self._source.uniform(self.num_samples) <= self.sample_rate
            yield np.flatnonzero(mask).tolist()


def _poisson_loader(data_loader: DataLoader[Any], sample_rate: float, source: NoiseSource) -> DataLoader[Any]:
    dataset: Dataset[Any] = data_loader.dataset
    first = dataset[0]
    collate = wrap_collate_with_empty(
        collate_fn=data_loader.collate_fn or default_collate,
        sample_empty_shapes=[(0, *shape_safe(x)) for x in first],
        dtypes=[dtype_safe(x) for x in first],
    )
    sampler = _PoissonSampler(num_samples=len(dataset), sample_rate=sample_rate, source=source)  # type: ignore[arg-type]
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=data_loader.num_workers)


def _source_add_noise(source: NoiseSource) -> Any:
    """An ``add_noise`` method for a ``DPOptimizer`` that draws from ``source`` (mirrors Opacus 1.6)."""

    def add_noise(self: Any) -> None:
        std = float(self.noise_multiplier * self.max_grad_norm)
        params = list(self.params)
        for p in params:
            opacus_optimizer._check_processed_flag(p.summed_grad)
        # One draw for all parameters per step (fewer os.urandom calls), then split.
        draws = source.normal((sum(p.summed_grad.numel() for p in params),), std=std)
        offset = 0
        for p in params:
            n = p.summed_grad.numel()
            chunk = torch.from_numpy(draws[offset : offset + n]).view(p.summed_grad.shape)
            offset += n
            noise = chunk.to(dtype=p.summed_grad.dtype, device=p.summed_grad.device)
            p.grad = (p.summed_grad + noise).view_as(p)
            opacus_optimizer._mark_as_processed(p.summed_grad)

    return add_noise


@dataclass(frozen=True)
class PrivateTraining:
    """What a DP-SGD training loop needs, plus the figures for the privacy ledger.

    Attributes
    ----------
    model, optimizer, data_loader
        Use these in the loop instead of the originals (``optimizer.step()`` clips and noises).
    engine
        The Opacus engine (its accountant counts the steps actually taken).
    noise_multiplier, max_grad_norm
        DP-SGD parameters.
    sample_rate
        Poisson record sampling rate ``q = 1 / len(original loader)`` (expected batch / records).
    steps_per_epoch
        Batches per pass, ``len(data_loader)``.
    secure_mode
        Whether sampling and noise come from the OS CSPRNG.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    data_loader: DataLoader[Any]
    engine: PrivacyEngine
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps_per_epoch: int
    secure_mode: bool

    def steps_taken(self) -> int:
        """Optimizer steps taken so far (counted by Opacus' accountant hook)."""
        return sum(int(steps) for _, _, steps in self.engine.accountant.history)

    def accounting_step(self, steps: int | None = None) -> GaussianStep:
        """The :class:`GaussianStep` to record: ``steps`` (default: :meth:`steps_taken`) DP-SGD steps."""
        n = self.steps_taken() if steps is None else steps
        return GaussianStep(self.noise_multiplier, self.sample_rate, n)


def make_private(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data_loader: DataLoader[Any],
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    secure_mode: bool = True,
    rng: np.random.Generator | int | None = None,
) -> PrivateTraining:
    """Make ``model``/``optimizer``/``data_loader`` record-level differentially private (DP-SGD).

    Parameters
    ----------
    model, optimizer, data_loader
        Plain torch objects; ``data_loader.batch_size`` sets the expected batch size.
    noise_multiplier
        ``z >= 0`` (noise std = ``z * max_grad_norm``).
    max_grad_norm
        Per-sample gradient L2 clip ``> 0``.
    secure_mode
        ``True``: OS-CSPRNG sampling and noise. ``False``: reproducible from ``rng``, warns loudly.
    rng
        Seed or generator, only with ``secure_mode=False``.

    Raises
    ------
    ConfigError
        On an out-of-range parameter, an empty dataset, or ``rng`` with ``secure_mode=True``.
    """
    if not math.isfinite(noise_multiplier) or noise_multiplier < 0:
        raise ConfigError(f"noise_multiplier must be a finite number >= 0, got {noise_multiplier!r}")
    if not math.isfinite(max_grad_norm) or max_grad_norm <= 0:
        raise ConfigError(f"max_grad_norm must be a finite number > 0, got {max_grad_norm!r}")
    if len(data_loader) == 0:
        raise ConfigError("data_loader is empty: DP-SGD needs at least one batch of records")
    source = NoiseSource(secure_mode=secure_mode, rng=rng)
    sample_rate = 1.0 / len(data_loader)
    loader = _poisson_loader(data_loader, sample_rate, source)
    with warnings.catch_warnings():
        # Opacus' "Secure RNG turned off": our NoiseSource supplies (and warns about) the randomness.
        warnings.filterwarnings("ignore", message=r".*Secure RNG turned off.*")
        engine = PrivacyEngine(accountant="rdp", secure_mode=False)
        dp_model, dp_optimizer, dp_loader = engine.make_private(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            noise_multiplier=float(noise_multiplier),
            max_grad_norm=float(max_grad_norm),
            poisson_sampling=False,  # the loader above already samples (Poisson, from `source`)
        )
    dp_optimizer.add_noise = types.MethodType(_source_add_noise(source), dp_optimizer)
    return PrivateTraining(
        model=dp_model,
        optimizer=dp_optimizer,
        data_loader=dp_loader,
        engine=engine,
        noise_multiplier=float(noise_multiplier),
        max_grad_norm=float(max_grad_norm),
        sample_rate=sample_rate,
        steps_per_epoch=len(dp_loader),
        secure_mode=source.secure_mode,
    )
