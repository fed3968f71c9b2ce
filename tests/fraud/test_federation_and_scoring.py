"""One fraud federation on Flower (one Ray start for this module) on generated accounts, then the saved model
through ``fedrisk fraud score``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from fedrisk.cli.app import app
from fedrisk.errors import ModelError
from fedrisk.jobs.fraud import FraudConfig, run_fraud_section, score_accounts
from fedrisk.models.tabular import XgbSettings, sha256_file
from fraud.conftest import fraud_frame, write_fraud_dir

pytestmark = pytest.mark.federation
CONFIG = FraudConfig(
    members=4,
    alpha=1.0,
    rounds=3,
    xgb_rounds=4,
    local_steps=15,
    xgb=XgbSettings(eta=0.3, max_depth=3),
    xgb_max_rounds=40,
    n_boot=20,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    data = write_fraud_dir(tmp_path_factory.mktemp("data"), 1200, seed=21)
    out = tmp_path_factory.mktemp("run")
    return out, run_fraud_section(data, out, config=CONFIG)


def test_section_compares_local_federated_central_per_member(run: tuple[Path, dict[str, Any]]) -> None:
    _, section = run
    assert [m["member"] for m in section["members"]] == [f"exchange-{i}" for i in range(1, 5)]
    assert section["data"]["accounts"] == 1200 and section["data"]["forta_lists_used_as_features"] is False
    assert section["split"]["time_forward"] is False
    for row in section["members"]:
        for kind in ("mlp", "xgb"):
            for scope in ("local", "federated", "central"):
                assert 0.0 <= row[f"f1_{kind}_{scope}"] <= 1.0
                assert row[f"auprc_{kind}_{scope}"] > row["test_rate"]  # every model beats the base rate
                assert 0.0 <= row[f"threshold_{kind}_{scope}"] < 1.0
            assert row["fed_minus_local_auprc"][kind]["n_boot"] > 0
    for kind in ("mlp", "xgb"):
        pct = section["summary"]["by_model"][kind]["federated_pct_of_central"]
        assert 50.0 < pct["f1"] < 150.0 and 50.0 < pct["auprc"] < 150.0
    assert set(section["leak"]["modes"]) == {"impute", "indicator", "drop_erc20"}


def test_every_round_committed_with_every_exchange(run: tuple[Path, dict[str, Any]]) -> None:
    _, section = run
    jobs = section["federation"]["jobs"]
    assert jobs["mlp"]["strategy"] == "FedAvg" and jobs["xgb"]["strategy"] == "FedXgbCyclic"
    mlp, xgb = jobs["mlp"]["history"], jobs["xgb"]["history"]
    assert [h["status"] for h in mlp] == ["committed"] * 3 and [h["status"] for h in xgb] == ["committed"] * 4
    assert all(h["members"] == 4 and 0.0 < h["val_loss"] < 1.0 for h in mlp)
    assert all(h["members"] == 1 and 0.0 < h["val_loss"] < 1.0 for h in xgb)  # one exchange's turn per round
    assert jobs["mlp"]["best_round"] in (1, 2, 3)
    assert jobs["xgb"]["best_round"] == 4  # only a full cycle over the 4 exchanges may be published


def test_indicator_table_compares_every_scope_with_and_without_the_leak(run: tuple[Path, dict[str, Any]]) -> None:
    _, section = run
    table = section["leak"]["indicator_members"]
    assert [r["member"] for r in table["members"]] == [f"exchange-{i}" for i in range(1, 5)]
    for row in table["members"]:
        for kind in ("mlp", "xgb"):
            for scope in ("local", "federated", "central"):
                for side in ("with", "without"):
                    assert 0.0 <= row[f"auprc_{kind}_{scope}_{side}"] <= 1.0 + 1e-9
    first = section["members"][0]
    assert table["members"][0]["auprc_xgb_federated_without"] == first["auprc_xgb_federated"]
    assert set(table["summary_with_indicator"]["by_model"]) == {"mlp", "xgb"}
    assert section["privacy"] == {"mode": "plain", "epsilon_spent": None}
    assert section["config"]["privacy"]["mode"] == "plain" and section["config"]["indicator_table"] is True


def test_saved_model_records_its_hash_features_and_threshold(run: tuple[Path, dict[str, Any]]) -> None:
    out, section = run
    meta = json.loads((out / "fraud" / "metadata.json").read_text())
    assert meta["task"] == "fraud" and meta["leak"] == "impute" and len(meta["features"]) == 38
    assert meta["model_sha256"] == sha256_file(out / "fraud" / meta["model_file"]) == section["model"]["model_sha256"]
    assert 0.0 < meta["threshold"] < 1.0 and len(meta["normaliser"]["mean"]) == 38


def test_score_cli_writes_address_score_flagged(run: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out, _ = run
    accounts = tmp_path / "new.csv"
    fraud_frame(50, seed=99).drop(columns=["FLAG"]).to_csv(accounts, index=False)
    scores = tmp_path / "scores.csv"
    result = CliRunner().invoke(
        app, ["fraud", "score", "--model", str(out), "--input", str(accounts), "--out", str(scores), "--json"]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(scores)
    assert list(frame.columns) == ["Address", "score", "flagged"] and len(frame) == 50
    assert frame["score"].between(0, 1).all()
    assert json.loads(result.stdout)["flagged"] == int(frame["flagged"].sum())
    direct = score_accounts(out / "fraud", fraud_frame(50, seed=99))
    assert direct["score"].round(6).tolist() == frame["score"].round(6).tolist()


def test_score_cli_wrong_columns_is_a_clear_data_error(run: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out, _ = run
    bad = tmp_path / "bad.csv"
    fraud_frame(5, seed=1).drop(columns=["total ether balance"]).to_csv(bad, index=False)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fedrisk.cli.app",
            "fraud",
            "score",
            "--model",
            str(out),
            "--input",
            str(bad),
            "--out",
            str(tmp_path / "s.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3
    assert "required column(s) missing: ['total ether balance']" in proc.stderr


def test_a_modified_model_file_is_refused(run: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out, _ = run
    copy = tmp_path / "fraud"
    copy.mkdir()
    for f in (out / "fraud").iterdir():
        copy.joinpath(f.name).write_bytes(f.read_bytes())
    meta = json.loads((copy / "metadata.json").read_text())
    (copy / meta["model_file"]).write_bytes((copy / meta["model_file"]).read_bytes() + b" ")
    with pytest.raises(ModelError, match="SHA-256"):
        score_accounts(copy, fraud_frame(5, seed=2))
    with pytest.raises(ModelError, match="no fraud model"):
        score_accounts(tmp_path / "nothing", fraud_frame(5, seed=2))


def test_scoring_does_not_import_flower() -> None:
    code = "import sys, fedrisk.jobs.fraud as f; print(any(m.startswith('flwr') for m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr
