"""Games shared by the contribution tests."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

Game = Callable[[frozenset[str]], float]


def table_game(names: Sequence[str], table: Sequence[float]) -> Game:
    """A game given by its value on every coalition, indexed by bit mask over ``names``."""
    index = {name: bit for bit, name in enumerate(names)}

    def v(s: frozenset[str]) -> float:
        return float(table[sum(1 << index[m] for m in s)])

    return v


def data_like_game(names: Sequence[str]) -> Game:
    """Seven members with diminishing returns, like the utility of pooled training data.

    ``m0`` and ``m1`` hold the same data (together they add no more than one of them); ``m6`` is noisy
    (it lowers the utility); ``m5`` adds nothing.
    """
    quality = {"m0": 0.8, "m1": 0.8, "m2": 0.5, "m3": 0.35, "m4": 0.2, "m5": 0.0, "m6": 0.0}

    def v(s: frozenset[str]) -> float:
        signal = max(quality[m] for m in s & {"m0", "m1"}) if s & {"m0", "m1"} else 0.0
        signal += sum(quality[m] for m in s - {"m0", "m1"})
        return 0.1 + 0.8 * (1 - math.exp(-signal)) - (0.05 if "m6" in s else 0.0)

    assert list(names) == [f"m{i}" for i in range(7)]
    return v
