"""The red team on the stress model (ST-graph, real member-node training code), on small synthetic data.

A fake "run": a briefly trained global model saved like the demo's, a results.json with config.stress, and a
synthetic data dir. Each attack must succeed on the unprotected system; the sum-only layers must stop the ones
that need an individual update.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fedrisk.features.panel import Split
from fedrisk.features.pipeline import member_panel
from fedrisk.features.stress import FEATURES
from fedrisk.models.saved import SavedMember, save_model
from fedrisk.models.stgraph import ModelConfig, STGraphNet, get_weights, prepare_member, train_steps
from fedrisk.privacy.attacks._sim import Protection, single_thread
from fedrisk.privacy.attacks.result import AttackResult
from fedrisk.privacy.attacks.stress import (
    StressSetting,
    federate,
    federated_auprc,
    free_riding_rows,
    isolation_rows,
    label_inversion_rows,
    load_setting,
    poisoning_rows,
    property_rows,
)
from synthetic import write_data_dir

VENUES = {"alpha": ("BTC", "ETH"), "beta": ("BTC",), "gamma": ("BTC", "ETH")}
SPLIT = {
    "train_start": "2018-01-01T00:00:00+00:00",
    "val_start": "2018-03-10T00:00:00+00:00",
    "test_start": "2018-04-01T00:00:00+00:00",
    "test_end": "2018-04-25T00:00:00+00:00",
    "horizon_hours": 12,
}
CONFIG = {
    "members": list(VENUES),
    "split": SPLIT,
    "federated": {"rounds": 2, "local_steps": 8, "batch_size": 64, "lr": 0.003, "window": 12, "hidden": 8},
    "seed": 7,
}
P = Protection(clip_norm=1.0, noise_multiplier=1.0)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data = write_data_dir(tmp_path_factory.mktemp("data"), VENUES, n_hours=2700)
    run_dir = tmp_path_factory.mktemp("run")
    split = Split(**{k: pd.Timestamp(v) for k, v in SPLIT.items() if k != "horizon_hours"})  # type: ignore[arg-type]
    torch.manual_seed(0)
    model = STGraphNet(ModelConfig(n_features=len(FEATURES), window=12, hidden=8))
    saved, prepared = {}, []
    for venue in VENUES:
        panel = member_panel(data, venue, horizon=12)
        train_idx = panel.train_index(split, window=12)
        norm = panel.fit_stats(train_idx).normaliser()
        m = prepare_member(
            panel,
            norm,
            train_idx=train_idx,
            val_idx=panel.val_index(split, window=12),
            test_idx=panel.test_index(split, window=12),
            window=12,
        )
        prepared.append(m)
        saved[venue] = SavedMember(norm, m.adj.numpy(), None)
    with single_thread():
        train_steps(model, prepared, steps=30, batch_size=64, lr=0.003, rng=np.random.default_rng(0))
    save_model(
        run_dir / "model",
        get_weights(model),
        config=model.config,
        features=tuple(FEATURES),
        members=saved,
        pooled_normaliser=saved["alpha"].normaliser,
        alarm_threshold=0.5,
        index_alarm_threshold=None,
        extra={},
    )
    (run_dir / "results.json").write_text(json.dumps({"config": {"stress": CONFIG}}))
    return run_dir, data


@pytest.fixture(scope="module")
def setting(run: tuple[Path, Path]) -> StressSetting:
    return load_setting(run[0], run[1])


def _by_mode(rows: list[AttackResult]) -> dict[str, AttackResult]:
    return {r.mode: r for r in rows}


def test_setting_is_the_saved_model_and_members(setting: StressSetting) -> None:
    assert sorted(setting.members) == sorted(VENUES)
    assert (setting.local_steps, setting.rounds, setting.batch_size) == (8, 2, 64)
    assert sum(w.size for w in setting.weights) == sum(p.numel() for p in setting.model.parameters())


def test_label_inversion_exact_on_individual_updates_not_on_sums(setting: StressSetting) -> None:
    with single_thread():
        rows = _by_mode(label_inversion_rows(setting, k=4, seed=0, protection=P))
    assert rows["none"].success and rows["none"].value == 1.0
    assert rows["dp"].success  # clipping is a rescaling: the sign survives
    assert not rows["he"].success and not rows["secagg"].success and not rows["all"].success


def test_property_inference_succeeds_on_an_individual_update(setting: StressSetting) -> None:
    with single_thread():
        rows = _by_mode(property_rows(setting, shadows=4, trials=2, seed=0, protection=P))
    assert rows["none"].success, rows["none"]
    assert set(rows) == {"none", "dp", "secagg", "he", "all"}


def test_isolation_is_refused_by_every_route() -> None:
    rows = isolation_rows()
    assert len(rows) == 5 and all(r.value == 0.0 and not r.success for r in rows)


def test_poisoning_and_free_riding(setting: StressSetting) -> None:
    with single_thread():
        clean = federated_auprc(setting, federate(setting, "none", rounds=1, seed=0, protection=P)[0])
        poison = poisoning_rows(setting, seed=0, protection=P, clean=clean)
        free = free_riding_rows(setting, rounds=2, seed=0, protection=P)
    mean = next(r for r in poison if r.mode == "none" and r.defence == "mean")
    assert mean.success, mean  # model replacement through plain FedAvg
    median = next(r for r in poison if r.defence == "median")
    assert not median.success and median.value < 0.1, median  # robust aggregation ignores the outlier
    dp = next(r for r in poison if r.mode == "dp")
    assert not dp.success, dp  # clipped to C: bounded influence
    he = next(r for r in poison if r.mode == "he")
    assert he.success and he.value == mean.value
    zero = {r.mode: r for r in free if r.attack == "free_riding_zero"}
    assert not zero["none"].success and zero["he"].success  # detected when visible, not under HE
