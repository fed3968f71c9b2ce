"""Central DP-FedAvg aggregation step (server-side noise on the sum of clipped updates)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fedrisk.errors import ConfigError, PrivacyError, require_cohort
from fedrisk.privacy.dp.clipping import NDArray, gaussian_noise_like, global_l2_norm
from fedrisk.privacy.dp.noise import NoiseSource

__all__ = ["dp_fedavg_mean"]


def dp_fedavg_mean(
    clipped_updates: Sequence[Sequence[NDArray]],
    *,
    clip_norm: float,
    noise_multiplier: float,
    source: NoiseSource,
    expected_members: float | None = None,
) -> list[NDArray]:
    """Noised mean of member updates that were already clipped to ``clip_norm``.

    ``(sum_i u_i + N(0, (z C)^2 I)) / d`` with ``d = expected_members`` (use ``q * N`` under
    Poisson member sampling, McMahan et al. 2018) or the number of updates when ``None``. The
    sensitivity of the sum to one member is ``C``, so this is the Gaussian mechanism with
    multiplier ``z``; account for it with ``sample_rate = q`` and one step per round.

    Raises
    ------
    QuorumError
        Fewer than ``MIN_COHORT`` (3) updates: no aggregate is released.
    PrivacyError
        An update's norm exceeds ``clip_norm`` (it was not clipped: the guarantee would not hold).
    ConfigError
        Shapes differ between updates, or a parameter is out of range.
    """
    require_cohort(len(clipped_updates), what="a DP-FedAvg aggregate")
    if not math.isfinite(clip_norm) or clip_norm <= 0:
        raise ConfigError(f"clip_norm must be a finite number > 0, got {clip_norm!r}")
    if not math.isfinite(noise_multiplier) or noise_multiplier < 0:
        raise ConfigError(f"noise_multiplier must be a finite number >= 0, got {noise_multiplier!r}")
    denominator = float(len(clipped_updates) if expected_members is None else expected_members)
    if not math.isfinite(denominator) or denominator <= 0:
        raise ConfigError(f"expected_members must be > 0, got {expected_members!r}")
    shapes = [a.shape for a in clipped_updates[0]]
    total = [np.zeros(a.shape, dtype=np.float64) for a in clipped_updates[0]]
    for i, update in enumerate(clipped_updates):
        if [a.shape for a in update] != shapes:
            raise ConfigError(f"update {i} has layer shapes {[a.shape for a in update]}, expected {shapes}")
        norm = global_l2_norm(update)
        if norm > clip_norm * (1 + 1e-9):
            raise PrivacyError(
                f"update {i} has L2 norm {norm:.6g} > clip_norm {clip_norm:.6g}: clip it with "
                "clip_update() before aggregation, or the DP guarantee does not hold"
            )
        for acc, layer in zip(total, update, strict=True):
            acc += layer
    noise = gaussian_noise_like(total, noise_multiplier * clip_norm, source)
    return [
        ((acc + n) / denominator).astype(ref.dtype, copy=False)
        for acc, n, ref in zip(total, noise, clipped_updates[0], strict=True)
    ]
