"""Differential-privacy mechanisms: noise sources, DP-FedAvg pieces, record-level DP-SGD."""

from __future__ import annotations

from fedrisk.privacy.dp.clipping import add_gaussian_noise as add_gaussian_noise
from fedrisk.privacy.dp.clipping import clip_update as clip_update
from fedrisk.privacy.dp.clipping import distributed_noise_std as distributed_noise_std
from fedrisk.privacy.dp.clipping import gaussian_noise_like as gaussian_noise_like
from fedrisk.privacy.dp.clipping import global_l2_norm as global_l2_norm
from fedrisk.privacy.dp.dpsgd import PrivateTraining as PrivateTraining
from fedrisk.privacy.dp.dpsgd import make_private as make_private
from fedrisk.privacy.dp.fedavg import dp_fedavg_mean as dp_fedavg_mean
from fedrisk.privacy.dp.noise import INSECURE_WARNING as INSECURE_WARNING
from fedrisk.privacy.dp.noise import NoiseSource as NoiseSource

__all__ = [
    "INSECURE_WARNING",
    "NoiseSource",
    "PrivateTraining",
    "add_gaussian_noise",
    "clip_update",
    "distributed_noise_std",
    "dp_fedavg_mean",
    "gaussian_noise_like",
    "global_l2_norm",
    "make_private",
]
