"""Contribution drills: planted members for checking a valuation on real data (never used in production runs).

Like ``drill_drop``, these are job config keys that make a simulated member misbehave on purpose, so that a
contribution valuation can be checked against a known answer:

* ``drill-shuffle-labels``: these members train on their own features with their training labels shuffled
  (a member whose data carries no signal). Validation labels stay true: the member still judges models honestly.
* ``drill-free-ride``: these members send back the model they received, unchanged (a free-rider: a zero update),
  while claiming their usual number of training examples.
* ``drill-alias``: entries ``"alias=source"``: the node named ``alias`` holds exactly ``source``'s data (two
  members with identical data).

A deployed node never receives these keys from a real coordinator; they exist for the valuation bench and tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from fedrisk.models.stgraph import TorchMember

SHUFFLE_KEY = "drill-shuffle-labels"
FREE_RIDE_KEY = "drill-free-ride"
ALIAS_KEY = "drill-alias"


def _names(config: Mapping[str, Any], key: str) -> list[str]:
    return [str(x) for x in config.get(key, [])]


def data_source(config: Mapping[str, Any], member: str) -> str:
    """Whose data the node of ``member`` holds: its own, or its alias source's (``drill-alias``)."""
    for entry in _names(config, ALIAS_KEY):
        alias, _, source = entry.partition("=")
        if alias == member and source:
            return source
    return member


def free_rides(config: Mapping[str, Any], member: str) -> bool:
    """Whether ``member`` sends back the received model unchanged (``drill-free-ride``)."""
    return member in _names(config, FREE_RIDE_KEY)


def planted(config: Mapping[str, Any], member: str, data: TorchMember, seed: int) -> TorchMember:
    """The member's data as the drill wants it: training labels shuffled for ``drill-shuffle-labels`` members."""
    if member not in _names(config, SHUFFLE_KEY):
        return data
    return _shuffled(data, seed)


_SHUFFLED: dict[tuple[int, int], tuple[TorchMember, TorchMember]] = {}


def _shuffled(data: TorchMember, seed: int) -> TorchMember:
    """A copy whose labels at training hours are permuted over hours, validation untouched (cached per data)."""
    hit = _SHUFFLED.get((id(data), seed))
    if hit is not None and hit[0] is data:
        return hit[1]
    rng = np.random.default_rng([seed, 4242])
    y = data.y.clone()
    rows = torch.from_numpy(data.train_idx)
    perm = torch.from_numpy(rng.permutation(len(data.train_idx)))
    y[rows] = data.y[rows][perm]
    mask = data.label_mask.clone()
    mask[rows] = data.label_mask[rows][perm]
    out = replace(data, y=y, label_mask=mask)
    _SHUFFLED[(id(data), seed)] = (data, out)
    return out
