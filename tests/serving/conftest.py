"""Fixtures for the service tests: a tiny saved stress model (untrained, seeded weights) in a run directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient

from fedrisk.features.panel import ASSETS, Normaliser
from fedrisk.features.stress import FEATURES
from fedrisk.models.saved import SavedMember, save_model
from fedrisk.models.stgraph import ModelConfig, STGraphNet, get_weights

MEMBERS = ("kraken", "bitstamp", "coinbase")


def tiny_weights(seed: int = 0, std: float = 0.15) -> tuple[ModelConfig, list[np.ndarray]]:
    """Untrained weights, drawn so that scores vary with the input (an API test needs no trained model)."""
    torch.manual_seed(seed)
    config = ModelConfig(n_features=len(FEATURES))
    net = STGraphNet(config)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, std)
    return config, get_weights(net)


def write_model(directory: Path, seed: int = 0) -> str:
    """A saved stress model in ``directory``; returns the weights' SHA-256."""
    config, weights = tiny_weights(seed)
    rng = np.random.default_rng(seed)
    n_f = len(FEATURES)
    graph = np.full((len(ASSETS), len(ASSETS)), 1.0 / (len(ASSETS) - 1), dtype=np.float32)
    np.fill_diagonal(graph, 0.0)
    members = {
        m: SavedMember(Normaliser(rng.normal(0, 0.1, n_f), np.abs(rng.normal(1, 0.1, n_f)) + 0.5), graph, 0.5)
        for m in MEMBERS
    }
    return save_model(
        directory,
        weights,
        config=config,
        features=FEATURES,
        members=members,
        pooled_normaliser=Normaliser(np.zeros(n_f), np.ones(n_f)),
        alarm_threshold=0.5,
        index_alarm_threshold=50.0,
        extra={"note": "test model, untrained"},
    )


def write_index(path: Path) -> None:
    ts = pd.date_range("2019-07-01", periods=48, freq="h", tz="UTC")
    rows = []
    for asset in ("BTC", "ETH", "MARKET"):
        for i, t in enumerate(ts):
            value = np.nan if (asset == "ETH" and i == 47) else 10.0 + i
            rows.append({"ts_utc": t, "asset": asset, "index": value, "members": 3})
    pd.DataFrame(rows).to_csv(path, index=False)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory with a tiny untrained model and a small index (no shared data needed)."""
    run = tmp_path / "run"
    write_model(run / "model")
    write_index(run / "stress_index.csv")
    return run


@pytest.fixture
def client(run_dir: Path) -> Iterator[TestClient]:
    from fedrisk.serving import create_app

    with TestClient(create_app(run_dir), raise_server_exceptions=False) as c:
        yield c


def feature_rows(
    hours: int = 24,
    assets: tuple[str, ...] = ("BTC", "ETH"),
    *,
    seed: int = 0,
    as_list: bool = False,
    start: str = "2019-07-01",
) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    rows = []
    for t in ts:
        for a in assets:
            vals = rng.normal(0, 1, len(FEATURES)).round(6).tolist()
            feats: object = vals if as_list else dict(zip(FEATURES, vals, strict=True))
            rows.append({"ts_utc": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "asset": a, "features": feats})
    return rows
