"""Member-level DP-FedAvg pieces as pure functions: clip an update, draw matching noise.

DP-FedAvg (McMahan, Ramage, Talwar, Zhang 2018, "Learning differentially private recurrent
language models", ICLR): each member's update is clipped to L2 norm ``C`` over *all* its arrays;
the sum of clipped updates gets Gaussian noise of std ``z * C``; ε follows from ``z``, the
member sampling rate ``q`` and the number of rounds (see :mod:`fedrisk.privacy.accounting`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from fedrisk.errors import ConfigError, PrivacyError
from fedrisk.privacy.dp.noise import NoiseSource

__all__ = [
    "add_gaussian_noise",
    "clip_update",
    "distributed_noise_std",
    "gaussian_noise_like",
    "global_l2_norm",
]

NDArray = npt.NDArray[np.floating]


def _check_arrays(arrays: Sequence[npt.NDArray[np.generic]]) -> None:
    if isinstance(arrays, np.ndarray):
        raise ConfigError("pass a list of arrays (one per layer), not a single ndarray")
    for i, arr in enumerate(arrays):
        if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.floating):
            kind = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
            raise ConfigError(f"update[{i}] must be a floating numpy array, got {kind}")


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def global_l2_norm(arrays: Sequence[NDArray]) -> float:
    """L2 norm of all arrays taken together (computed in float64)."""
    _check_arrays(arrays)
    return math.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays))


def clip_update(update: Sequence[NDArray], clip_norm: float) -> tuple[list[NDArray], float]:
    """Scale ``update`` so its global L2 norm is at most ``clip_norm``.

    Returns new arrays (inputs are not modified) and the norm *before* clipping. Under the bound
    the arrays are returned unchanged (copies); over it they are scaled by a factor slightly
    below ``clip_norm / norm`` so that rounding can never push the result past the bound.

    Raises
    ------
    ConfigError
        If ``clip_norm`` is not a finite positive number or an array is not floating.
    PrivacyError
        If the update contains NaN or infinity: its sensitivity cannot be bounded.

    >>> clipped, norm = clip_update([np.array([3.0, 4.0])], clip_norm=1.0)
    >>> norm, bool(global_l2_norm(clipped) <= 1.0)
    (5.0, True)
    """
    clip_norm = _check_positive("clip_norm", clip_norm)
    norm = global_l2_norm(update)
    if not math.isfinite(norm):
        raise PrivacyError(
            "update contains NaN or infinite values (or overflows): its L2 norm cannot be bounded, "
            "so it must not be sent. Check the local training (learning rate, data) and retry"
        )
    if norm <= clip_norm:
        return [np.array(a, copy=True) for a in update], norm
    eps = max((float(np.finfo(a.dtype).eps) for a in update), default=float(np.finfo(np.float64).eps))
    factor = clip_norm / norm * (1.0 - 4.0 * eps)
    clipped = [(a * factor).astype(a.dtype, copy=False) for a in update]
    while global_l2_norm(clipped) > clip_norm:  # pragma: no cover - rounding safety net
        factor *= 1.0 - 4.0 * eps
        clipped = [(a * factor).astype(a.dtype, copy=False) for a in update]
    return clipped, norm


def gaussian_noise_like(arrays: Sequence[NDArray], std: float, source: NoiseSource) -> list[NDArray]:
    """Independent N(0, std²) noise with the shapes and dtypes of ``arrays``."""
    _check_arrays(arrays)
    if isinstance(std, bool) or not isinstance(std, int | float) or not math.isfinite(std) or std < 0:
        raise ConfigError(f"std must be a finite number >= 0, got {std!r}")
    return [source.normal(a.shape, std=float(std), dtype=a.dtype) for a in arrays]


def add_gaussian_noise(arrays: Sequence[NDArray], std: float, source: NoiseSource) -> list[NDArray]:
    """``arrays`` plus independent N(0, std²) noise (new arrays)."""
    noise = gaussian_noise_like(arrays, std, source)
    return [(a + n).astype(a.dtype, copy=False) for a, n in zip(arrays, noise, strict=True)]


def distributed_noise_std(*, noise_multiplier: float, clip_norm: float, min_contributors: int) -> float:
    """Per-member noise std so that any ``min_contributors`` members' noise sums to std ``z * C``.

    With secure aggregation, each member adds its own share of the noise before masking, so the
    coordinator only ever sees the noised sum. The variance of ``k`` shares is
    ``k * std**2``; choosing ``std = z * C / sqrt(min_contributors)`` gives at least the target
    ``z * C`` whenever at least ``min_contributors`` members survive. Members that collude (know
    their own share) reduce the effective noise: set ``min_contributors`` to the number of
    *honest* members you assume (see ``docs/privacy.md``).

    >>> distributed_noise_std(noise_multiplier=1.0, clip_norm=2.0, min_contributors=4)
    1.0
    """
    z = _check_positive("noise_multiplier", noise_multiplier)
    c = _check_positive("clip_norm", clip_norm)
    if isinstance(min_contributors, bool) or not isinstance(min_contributors, int) or min_contributors < 1:
        raise ConfigError(f"min_contributors must be an integer >= 1, got {min_contributors!r}")
    return z * c / math.sqrt(min_contributors)
