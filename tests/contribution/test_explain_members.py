"""Counterfactual explanations: the shared member_deltas and `fedrisk explain members` on a copy of a quick run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from fedrisk.cli.app import app
from fedrisk.contribution.counterfactual import member_deltas
from fedrisk.errors import ConfigError, DataValidationError, ModelError
from fedrisk.models.saved import load_model, save_model
from fedrisk.models.stgraph import get_weights

AT = "2019-06-26 20:00"


def test_member_deltas_known_values() -> None:
    # Arrange
    ts = pd.Timestamp("2019-06-26 20:00", tz="UTC")
    base = pd.DataFrame({"ts_utc": [ts, ts], "asset": ["BTC", "ETH"], "score": [0.58, 0.2]})
    without = {"kraken": pd.DataFrame({"ts_utc": [ts], "asset": ["BTC"], "score": [0.31]})}
    # Act
    rows = member_deltas(base, without)
    # Assert: only hours/assets both models scored
    assert len(rows) == 1
    assert rows[0].delta == pytest.approx(0.27)
    assert rows[0].text == "without kraken the stress score of BTC at 2019-06-26 20:00 would be 0.31 instead of 0.58"


def test_member_deltas_refuses_frames_without_the_key_columns() -> None:
    base = pd.DataFrame({"hour": [1], "asset": ["BTC"], "score": [0.5]})
    with pytest.raises(DataValidationError, match="ts_utc"):
        member_deltas(base, {})


@pytest.fixture(scope="module")
def run_copy(demo_quick_run: tuple[Path, dict[str, Any], str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's quick run with leave-one-out stand-ins (scaled weights) under counterfactuals/."""
    quick = demo_quick_run[0]
    run = tmp_path_factory.mktemp("run")
    for name in ("model", "results.json", "audit.jsonl", "keys"):
        src = quick / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, run / name)
    saved = load_model(run)
    weights = get_weights(saved.model)
    for i, m in enumerate(sorted(saved.members)):
        save_model(
            run / "counterfactuals" / m,
            [w * (1 - 0.1 * (i + 1)) for w in weights],
            config=saved.config,
            features=saved.features,
            members=saved.members,
            pooled_normaliser=saved.pooled_normaliser,
            alarm_threshold=0.5,
            index_alarm_threshold=None,
            extra={"left_out": m},
        )
    return run


def test_explain_refuses_counterfactuals_the_audit_trail_does_not_commit(run_copy: Path, shared_data_dir: Path) -> None:
    # Arrange: the copied trail commits the federated model only, not the stand-ins
    args = [
        "explain",
        "members",
        "--run",
        str(run_copy),
        "--at",
        AT,
        "--asset",
        "BTC",
        "--data-dir",
        str(shared_data_dir),
    ]
    # Act
    result = CliRunner().invoke(app, args)
    # Assert: the federated model passes the gate, the first uncommitted counterfactual is refused
    cf_sha = load_model(run_copy / "counterfactuals" / "bitfinex").weights_sha256
    assert isinstance(result.exception, ModelError)
    assert "committed record" in str(result.exception) and cf_sha[:16] in str(result.exception)


def test_explain_members_prints_the_score_with_and_without_each_member(run_copy: Path, shared_data_dir: Path) -> None:
    # Arrange: a run without an audit trail is not gated
    (run_copy / "audit.jsonl").rename(run_copy / "audit.jsonl.off")
    args = [
        "explain",
        "members",
        "--run",
        str(run_copy),
        "--at",
        AT,
        "--asset",
        "btc",
        "--data-dir",
        str(shared_data_dir),
    ]
    try:
        # Act
        result = CliRunner().invoke(app, [*args, "--json"])
        unknown = CliRunner().invoke(app, [*args, "--member", "nobody"])
    finally:
        (run_copy / "audit.jsonl.off").rename(run_copy / "audit.jsonl")
    # Assert
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["asset"] == "BTC" and out["score"] == "index" and out["at"].startswith("2019-06-26T20:00")
    assert [r["member"] for r in out["members"]] == ["bitfinex", "bitstamp", "coinbase", "kraken"]
    for row in out["members"]:
        assert 0.0 < row["score_all"] < 1.0 and 0.0 < row["score_without"] < 1.0
        assert row["score_all"] == pytest.approx(out["score_all"])
        assert row["delta"] == pytest.approx(row["score_all"] - row["score_without"])
        assert row["text"].startswith(f"without {row['member']} the stress index score of BTC at 2019-06-26 20:00")
    assert len({round(r["score_without"], 6) for r in out["members"]}) == 4  # four different models
    assert isinstance(unknown.exception, ConfigError)  # exit code 2 through the entry point
    assert "no counterfactual without 'nobody'" in str(unknown.exception)


def test_explain_without_counterfactual_models_says_how_to_get_them(
    demo_quick_run: tuple[Path, dict[str, Any], str], tmp_path: Path, shared_data_dir: Path
) -> None:
    shutil.copytree(demo_quick_run[0] / "model", tmp_path / "model")
    args = [
        "explain",
        "members",
        "--run",
        str(tmp_path),
        "--at",
        AT,
        "--asset",
        "BTC",
        "--data-dir",
        str(shared_data_dir),
    ]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ModelError)  # exit code 4 through the entry point
    assert "no leave-one-member-out models" in str(result.exception)
