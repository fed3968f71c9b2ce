"""The service's inference paths give the model's own numbers (fedrisk.models.stgraph.predict)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fedrisk.models.saved import load_model
from fedrisk.models.stgraph import TorchMember, predict
from fedrisk.serving.inference import StressScorer

from .conftest import write_model


@pytest.fixture
def scorer(tmp_path: Path) -> StressScorer:
    write_model(tmp_path / "m", seed=5)
    return StressScorer(load_model(tmp_path / "m"))


@pytest.mark.parametrize("hours", [24, 25, 31, 200])
@pytest.mark.parametrize("venue", ["kraken", "not-a-member"])
def test_paths_match_predict(scorer: StressScorer, hours: int, venue: str) -> None:
    rng = np.random.default_rng(hours)
    x = (rng.normal(0, 2, (hours, 4, scorer.n_features))).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[:, 3] = np.nan  # an asset the venue does not hold
    saved = scorer.saved
    member = saved.member(venue)
    idx = np.arange(saved.config.window - 1, hours)
    tm = TorchMember(
        venue,
        torch.from_numpy(member.normaliser.apply(x)),
        torch.zeros(hours, 4),
        torch.zeros(hours, 4, dtype=torch.bool),
        torch.from_numpy(member.graph.astype(np.float32)),
        idx,
        idx,
        idx,
        saved.config.window,
    )
    ref = predict(saved.model, tm, idx)
    assert ref.std() > 1e-3  # the test model's scores vary with the input
    for path in ("numpy", "sliding", "torch", "auto"):
        got = scorer.probabilities(scorer.venue(venue), x, path=path)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=2e-6, err_msg=path)


def test_short_panel_scores_nothing(scorer: StressScorer) -> None:
    x = np.zeros((10, 4, scorer.n_features), dtype=np.float32)
    assert scorer.probabilities(scorer.venue("kraken"), x).shape == (0, 4)
