"""End to end: `fedrisk demo --quick` on the real shared data, then `fedrisk stress score` with its model.

The demo runs once per session, as a real subprocess of the CLI (``demo_quick_run`` in tests/conftest.py, shared
with the report's browser tests); every check reads its run directory. Skipped with a reason when the shared
data is not available.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fedrisk.errors import ModelError
from fedrisk.jobs.scoring import OUTPUT_COLUMNS, score_data_dir

pytestmark = [pytest.mark.data, pytest.mark.federation]


def _cli(*args: str, env_extra: dict[str, str] | None = None, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "fedrisk.cli.app", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.fixture(scope="module")
def quick_run(demo_quick_run: tuple[Path, dict[str, Any], str]) -> tuple[Path, dict[str, Any], str]:
    """The session's ``fedrisk demo --quick`` run (tests/conftest.py)."""
    return demo_quick_run


def test_results_json_has_the_documented_stress_sections(quick_run: tuple[Path, dict[str, Any], str]) -> None:
    _, results, _ = quick_run
    stress = results["stress"]
    assert results["schema"] == "fedrisk.results/1"
    keys = {
        "member",
        "auprc_local",
        "auprc_federated",
        "auprc_finetuned",
        "auprc_central",
        "auroc_local",
        "auroc_federated",
        "auroc_central",
    }
    assert len(stress["members"]) == 4
    for row in stress["members"]:
        assert keys <= set(row)
        for key in ("auprc_local", "auprc_federated", "auprc_central"):
            assert row[key] is None or 0.0 <= row[key] <= 1.0
    assert {"federated_pct_of_central", "members_gaining", "median_gain"} <= set(stress["summary"])
    months = [r["months"] for r in stress["onboarding"]]
    assert months == [0.0, 1.0, 3.0]
    for r in stress["onboarding"]:
        assert {"months", "auprc_local_median", "auprc_federated_median", "auprc_finetuned_median"} <= set(r)
    assert stress["onboarding"][0]["auprc_local_median"] is None  # no history, no local model
    assert len(results["data"]["files"]) >= 4 and all(len(f["sha256"]) == 64 for f in results["data"]["files"])
    assert stress["early_warning"]["false_alarm_rate"] == 0.05


def test_event_rates_are_rare_and_reported(quick_run: tuple[Path, dict[str, Any], str]) -> None:
    _, results, _ = quick_run
    rates = results["stress"]["data"]["event_rates"]
    assert all(r["train"] is not None and 0.0 < r["train"] <= 0.15 for r in rates.values())


def test_artifacts_are_written(quick_run: tuple[Path, dict[str, Any], str]) -> None:
    out, results, output = quick_run
    for name in results["artifacts"]["plots"].values():
        assert (out / name).stat().st_size > 10_000
    assert (out / "model" / "weights.npz").is_file() and (out / "model" / "metadata.json").is_file()
    assert (out / "run.log").is_file() and (out / "stress_index.csv").is_file()
    assert "AUPRC per member" in output and "Run directory" in output
    assert "Traceback" not in output


def test_index_is_never_published_over_fewer_than_three_members(quick_run: tuple[Path, dict[str, Any], str]) -> None:
    out, _, _ = quick_run
    index = pd.read_csv(out / "stress_index.csv")
    published = index.dropna(subset=["index"])
    assert (published.loc[published["asset"] != "MARKET", "members"] >= 3).all()
    assert index.loc[index["members"] < 3, "index"].isna().all()
    assert published["index"].between(0, 100).all()


def _small_data_dir(shared: Path, root: Path, venues: tuple[str, ...], keep_rows: int = 1200) -> Path:
    for venue in venues:
        for src in sorted((shared / "crypto-hourly-multivenue" / "raw" / venue).glob("*.csv")):
            lines = src.read_text().splitlines()
            head = 2 if lines[0].startswith(("Timestamps", "Created")) else 1
            dst = root / "crypto-hourly-multivenue" / "raw" / venue / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text("\n".join(lines[: head + keep_rows]) + "\n")
    return root


def test_stress_score_writes_rows_and_index(
    quick_run: tuple[Path, dict[str, Any], str], shared_data_dir: Path, tmp_path: Path
) -> None:
    run_dir, _, _ = quick_run
    data = _small_data_dir(shared_data_dir, tmp_path / "data", ("kraken", "bitstamp", "binance"))
    out = tmp_path / "scores.csv"
    proc = _cli("stress", "score", "--model", str(run_dir), "--data-dir", str(data), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    scores = pd.read_csv(out)
    assert tuple(scores.columns) == OUTPUT_COLUMNS
    assert set(scores["venue"]) == {"kraken", "bitstamp", "binance", "INDEX"}  # binance was not a member
    assert scores["score"].between(0, 1).all()
    assert set(scores["alarm"].unique()) <= {True, False}
    assert (scores["venue"] == "INDEX").sum() > 0


def test_a_tampered_model_is_refused(quick_run: tuple[Path, dict[str, Any], str], tmp_path: Path) -> None:
    run_dir, _, _ = quick_run
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir / "model", copy / "model")
    weights = copy / "model" / "weights.npz"
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    weights.write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="does not match the hash"):
        score_data_dir(copy, tmp_path, tmp_path / "x.csv")


def test_demo_with_a_missing_data_dir_says_how_to_fix(tmp_path: Path) -> None:
    proc = _cli("demo", "--quick", "--data-dir", str(tmp_path / "missing"), timeout=120)
    assert proc.returncode == 3
    assert "--data-dir" in proc.stderr and "FEDRISK_DATA_DIR" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_audit_trail_verifies_with_member_countersignatures(quick_run: tuple[Path, dict[str, Any], str]) -> None:
    out, results, output = quick_run
    audit = results["audit"]
    assert audit["ok"] is True, audit["reason"]
    rounds = results["config"]["stress"]["federated"]["rounds"]
    assert audit["countersignatures"] > 4 * rounds  # every contributor countersigned every round it was in
    assert audit["missing_countersignatures"] == {}
    assert audit["artifacts_checked"] >= 2
    assert "verified offline: OK" in output
    proc = _cli("audit", "verify", str(out / "audit.jsonl"))
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_tampered_trail_fails_verification_and_blocks_scoring(
    quick_run: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    import shutil

    run_dir, _, _ = quick_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    lines = (copy / "audit.jsonl").read_text().splitlines(keepends=True)
    idx = next(i for i, line in enumerate(lines) if '"round.committed"' in line)
    lines[idx] = re.sub(r'"round":(\d+)', lambda m: f'"round":{int(m.group(1)) + 100}', lines[idx], count=1)
    assert lines[idx] != (run_dir / "audit.jsonl").read_text().splitlines(keepends=True)[idx]
    (copy / "audit.jsonl").write_text("".join(lines))
    proc = _cli("audit", "verify", str(copy / "audit.jsonl"))
    assert proc.returncode == 7
    with pytest.raises(ModelError, match="not in a committed record"):
        score_data_dir(copy, tmp_path, tmp_path / "x.csv")


def test_privacy_section_reports_the_curve_and_secagg_ratio(quick_run: tuple[Path, dict[str, Any], str]) -> None:
    out, results, _ = quick_run
    privacy = results["privacy"]
    assert (out / privacy["ledger"]).is_file() and (out / privacy["plot"]).is_file()
    assert privacy["secagg_timing"]["ratio"] is not None and privacy["secagg_timing"]["ratio"] > 0
    assert privacy["index"]["same_cells_withheld"] is True
    assert privacy["index"]["max_abs_diff_vs_plain"] < 0.05
    assert len(privacy["curve"]) == 4
