"""Fast (GTG) contribution mode end to end on a tiny synthetic federation (one simulation start for the module).

Fast mode is only allowed when the configuration accepts that the coordinator sees individual updates; here it
does, and the test checks what the mode promises: a value per member from ONE federation of everyone (not one per
coalition), reconstructed from the recorded round updates, that adds up to the grand coalition's gain.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fedrisk.contribution.analysis.shapley import ShapleyResult
from fedrisk.contribution.coalitions import fast_shapley, member_evaluator
from fedrisk.federation.plan import TrainSettings
from fedrisk.federation.valuation import Drills
from synthetic import SIM_SPLIT, SIM_VENUES, write_data_dir

pytestmark = pytest.mark.federation
PLAYERS = tuple(SIM_VENUES)
TINY = TrainSettings(rounds=2, local_steps=5, batch_size=64, window=12, hidden=8)


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> tuple[ShapleyResult, float, Path]:
    data = write_data_dir(tmp_path_factory.mktemp("data"), SIM_VENUES, n_hours=2700)
    evaluate = member_evaluator(PLAYERS, data_dir=data, split=SIM_SPLIT, settings=TINY)
    result, seconds = fast_shapley(
        PLAYERS,
        allow_individual_updates=True,
        data_dir=data,
        split=SIM_SPLIT,
        evaluate=evaluate,
        settings=TINY,
        permutations=4,
        rng=np.random.default_rng(0),
        drills=Drills(),
    )
    return result, seconds, data


def test_fast_mode_values_every_member_from_one_federation(fast: tuple[ShapleyResult, float, Path]) -> None:
    result, seconds, _ = fast
    assert result.method == "gtg"
    assert set(result.values) == set(PLAYERS)
    assert all(math.isfinite(v) for v in result.values.values())
    assert all(math.isfinite(s) and s >= 0 for s in result.std_errors.values())
    assert seconds > 0


def test_fast_mode_reconstructs_coalitions_instead_of_training_them(fast: tuple[ShapleyResult, float, Path]) -> None:
    # GTG evaluates reconstructed coalition models of each round (at most 2^4 per round, 2 rounds) and samples
    # 4 permutations in every round whose grand-coalition gain is not zero; nothing else is trained.
    result, _, _ = fast
    assert 0 < result.n_evaluations <= TINY.rounds * 2 ** len(PLAYERS)
    assert result.n_permutations in (0, 4, 8)
    assert math.isfinite(result.total)
