"""One credit federation on Flower (one Ray start for this module) on generated clients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from credit.conftest import write_credit_dir
from fedrisk.jobs.credit import CreditConfig, run_credit_section
from fedrisk.models.tabular import XgbSettings

pytestmark = pytest.mark.federation


@pytest.fixture(scope="module")
def section(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = write_credit_dir(tmp_path_factory.mktemp("data"), 4000, seed=5)
    config = CreditConfig(
        members=4,
        ratio=0.5,
        rounds=3,
        xgb_rounds=4,
        local_steps=15,
        xgb=XgbSettings(eta=0.3),
        xgb_max_rounds=40,
        n_boot=20,
    )
    return run_credit_section(data, tmp_path_factory.mktemp("run"), config=config)


def test_lenders_have_skewed_sizes_and_all_scopes_are_measured(section: dict[str, Any]) -> None:
    sizes = [m["clients"] for m in section["split"]["members"]]
    assert sizes == [2133, 1067, 533, 267]
    for row in section["members"]:
        for kind in ("mlp", "xgb"):
            for scope in ("local", "federated", "central"):
                assert row[f"auroc_{kind}_{scope}"] > 0.55  # the generated default depends on the inputs
    jobs = section["federation"]["jobs"]
    assert all(h["members"] == 4 for h in jobs["mlp"]["history"])
    assert all(h["members"] == 1 for h in jobs["xgb"]["history"]) and jobs["xgb"]["best_round"] == 4  # cyclic


def test_headline_is_about_the_smallest_lenders_and_fairness_is_consistent(section: dict[str, Any]) -> None:
    for kind in ("mlp", "xgb"):
        head = section["headline"][kind]
        assert head["lenders"] == ["lender-3", "lender-4"]
        rows = {r["member"]: r for r in section["members"]}
        expected = rows["lender-4"][f"auprc_{kind}_federated"] - rows["lender-4"][f"auprc_{kind}_local"]
        assert head["auprc_gain"][-1] == pytest.approx(expected)
        fair = section["fairness"][kind]
        assert len(fair["gains_auprc"]) == 4
        assert fair["min_gain"] == pytest.approx(min(fair["gains_auprc"]))
        assert fair["members_gaining"] == int(np.sum(np.array(fair["gains_auprc"]) > 0))
        assert -1.0 <= fair["spearman_size_vs_gain"] <= 1.0
