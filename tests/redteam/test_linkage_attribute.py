"""Linkage across rounds and attribute inference: succeed unprotected, protections measured as designed."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from fedrisk.errors import ConfigError
from fedrisk.privacy.attacks import attribute_inference, linkage
from fedrisk.privacy.attacks._sim import Dataset, single_thread
from fedrisk.privacy.attacks.suite import ATTACKS


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with single_thread():
        yield


def test_link_recovers_a_shuffled_round() -> None:
    # Arrange: three distinctive directions, slightly perturbed, in a shuffled order
    rng = np.random.default_rng(0)
    before = [rng.normal(size=10) for _ in range(3)]
    after = [before[2] + 0.1 * rng.normal(size=10), 5.0 * before[0], before[1]]
    # Act / Assert: scale does not matter, each is linked to its own
    assert linkage.link(before, after) == [1, 2, 0]


def test_linkage_succeeds_unprotected_survives_clipping_and_is_chance_under_he() -> None:
    # Act
    plain = linkage.run("none", seed=0)
    dp = linkage.run("dp", seed=0)
    he = linkage.run("he", seed=0)
    # Assert
    assert plain[0].value == 1.0 and plain[0].success and plain[0].chance == pytest.approx(0.2)
    clipped = next(r for r in dp if r.defence.startswith("clipping"))
    noised = next(r for r in dp if r.defence.startswith("member-side noise"))
    assert clipped.value == 1.0  # the dp mode's coordinator sees clipped updates: cosine is scale-invariant
    assert noised.value == pytest.approx(0.36) and not noised.success  # member-side noise does lower it
    assert len(he) == 1 and he[0].value == pytest.approx(0.2) and not he[0].success
    assert "chance by construction" in he[0].note


def test_attribute_inference_succeeds_on_members_unprotected() -> None:
    # Act
    plain = {r.attack: r for r in attribute_inference.run("none", seed=0)}
    dp = {r.attack: r for r in attribute_inference.run("dp", seed=0)}
    # Assert: seed 0 of the suite; members 0.675 vs majority 0.595, non-members at baseline
    members, outsiders = plain["attribute_inference_members"], plain["attribute_inference_nonmembers"]
    assert members.success and members.value == pytest.approx(0.675) and members.chance == pytest.approx(0.595)
    assert "posterior AUC 0.768" in members.note
    assert not outsiders.success and outsiders.value == pytest.approx(0.63)
    assert not dp["attribute_inference_members"].success and dp["attribute_inference_members"].value < members.value
    assert (dp["attribute_inference_members"].utility or 1.0) < (members.utility or 0.0)  # DP costs utility


def test_attribute_inference_posterior_uses_the_score_and_prior() -> None:
    # Arrange: a "model" whose score is 0.9 when s = 1, 0.5 when s = 0
    class Fake:
        def __call__(self, x: object) -> object:
            import torch

            assert isinstance(x, torch.Tensor)
            p = 0.5 + 0.4 * x[:, :1]
            return torch.log(p / (1 - p))

    data = Dataset(X=np.zeros((2, 3)), y=np.array([1.0, 0.0]))
    # Act
    post = attribute_inference.infer(Fake(), data, prior=0.5)
    # Assert: y = 1 -> 0.9 / (0.9 + 0.5); y = 0 -> 0.1 / (0.1 + 0.5)
    np.testing.assert_allclose(post, [0.9 / 1.4, 0.1 / 0.6])


def test_both_attacks_are_registered() -> None:
    assert ATTACKS["linkage"] is linkage.run and ATTACKS["attribute_inference"] is attribute_inference.run


def test_bad_input_is_refused() -> None:
    with pytest.raises(ConfigError):
        linkage.link([np.ones(3)], [np.ones(3), np.zeros(3)])
    with pytest.raises(ConfigError):
        attribute_inference.infer(object(), Dataset(X=np.zeros((1, 2)), y=np.zeros(1)), prior=1.0)
