"""Fixtures of the report tests: run directories (a copy of the session's quick demo run, synthetic ones) and
headless Chromium."""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

MEMBERS = ("alpha", "beta", "gamma", "delta")

FULL_EXTRA: dict[str, Any] = {
    "privacy": {
        "mode": "member-level DP",
        "policy": {"epsilon_max": 8.0, "delta": 1e-5},
        "ledger": [
            {"member": m, "round": r, "level": "member", "epsilon_after": round(1.1 * r + 0.2 * i, 3)}
            for i, m in enumerate(MEMBERS)
            for r in (1, 2, 3, 4, 5)
        ],
        "utility_curve": [
            {"epsilon_target": None, "epsilon_spent": None, "auprc": 0.12},
            {"epsilon_target": 8.0, "epsilon_spent": 7.9, "auprc": 0.10},
        ],
    },
    "contribution": {
        "schema_version": 1,
        "method": "exact",
        "utility_metric": "auprc",
        "utility_mode": "private",
        "grand_coalition_utility": 0.3,
        "empty_coalition_utility": 0.05,
        "total_value": 0.25,
        "members": [
            {
                "member": "alpha",
                "shapley": 0.12,
                "std_error": 0.0,
                "loo": 0.05,
                "reward": 450.0,
                "reward_share": 0.45,
                "premium": True,
            },
            {
                "member": "beta",
                "shapley": 0.08,
                "std_error": 0.0,
                "loo": 0.02,
                "reward": 300.0,
                "reward_share": 0.30,
                "premium": False,
            },
            {
                "member": "gamma",
                "shapley": 0.06,
                "std_error": 0.0,
                "loo": 0.01,
                "reward": 200.0,
                "reward_share": 0.20,
                "premium": False,
            },
            {
                "member": "delta",
                "shapley": -0.01,
                "std_error": 0.0,
                "loo": -0.02,
                "reward": 50.0,
                "reward_share": 0.05,
                "premium": False,
            },
        ],
        "loo_note": None,
        "rewards": {"pool": 1000.0, "split": "shapley", "floor": 0.05, "cap": 0.5},
        "exact_vs_sampled": None,
        "n_coalitions_evaluated": 16,
        "utility_seconds": 1.0,
    },
    "audit": {"ok": False, "n_records": 41, "summary": "FAILED at record 17 (line 18): signature does not verify"},
    "attacks": [
        {"attack": "membership inference", "protection": "none", "metric": "AUC", "value": 0.71, "chance": 0.5},
        {"attack": "membership inference", "protection": "DP + SecAgg", "metric": "AUC", "value": 0.52, "chance": 0.5},
    ],
}


def _member_row(name: str, local: float, fed: float) -> dict[str, Any]:
    row: dict[str, Any] = {"member": name, "assets": ["BTC"], "test_events": 40, "test_event_rate": 0.02}
    for key, value in (("local", local), ("federated", fed), ("finetuned", fed + 0.01), ("central", fed + 0.02)):
        row[f"auprc_{key}"] = value
    row["fed_minus_local_auprc"] = {
        "delta": fed - local,
        "low": fed - local - 0.01,
        "high": fed - local + 0.01,
        "n_boot": 50,
        "significant": True,
    }
    return row


def synthetic_results(*, full: bool) -> dict[str, Any]:
    """A small results.json: stress members where federation pays, and (``full``) every optional section."""
    results: dict[str, Any] = {
        "schema": "fedrisk.results/1",
        "run_id": "synthetic-full" if full else "synthetic-minimal",
        "stress": {
            "members": [_member_row(m, 0.05 + 0.01 * i, 0.08 + 0.01 * i) for i, m in enumerate(MEMBERS)],
            "summary": {
                "federated_pct_of_central": 90.0,
                "members_significantly_better": list(MEMBERS),
                "members_significantly_worse": [],
            },
        },
    }
    if full:
        results.update(copy.deepcopy(FULL_EXTRA))
    return results


def write_run(path: Path, results: dict[str, Any]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return path


@pytest.fixture
def minimal_run(tmp_path: Path) -> Path:
    """A run directory with only the stress members (no index, no optional section)."""
    return write_run(tmp_path / "minimal", synthetic_results(full=False))


@pytest.fixture
def full_run(tmp_path: Path) -> Path:
    """A run directory with every optional section filled with made-up numbers."""
    return write_run(tmp_path / "full", synthetic_results(full=True))


@pytest.fixture(scope="session")
def quick_run(demo_quick_run: tuple[Path, dict[str, Any], str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's ``fedrisk demo --quick`` run (tests/conftest.py; skips without the shared data)."""
    dst = tmp_path_factory.mktemp("runq") / "runq"
    shutil.copytree(demo_quick_run[0], dst, ignore=shutil.ignore_patterns("model", "counterfactuals"))
    return dst


@pytest.fixture(scope="session")
def browser_context() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright, with a new empty profile; skip when either is absent."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run scripts/install-browser (Debian chromium + chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="fedrisk-chromium-") as profile:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/`` at the repository root (git-ignored): the browser tests save screenshots there."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
