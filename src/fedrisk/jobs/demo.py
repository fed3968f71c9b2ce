"""``fedrisk demo``: the main job. One run directory, one ``results.json`` with a section per capability.

``results.json`` schema (top level; each section is documented in the README):

* ``schema``: ``"fedrisk.results/1"``; ``run_id``; ``created_utc``; ``fedrisk_version``;
* ``config``: the settings of every section;
* ``environment``: Python, torch and flwr versions, CPU count;
* ``data``: the data directory and the SHA-256 of every input file (provenance);
* ``stress``: the liquidity-stress federation (see :mod:`fedrisk.jobs.stress`);
* ``artifacts``: relative paths of plots, model, index CSV and log.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fedrisk
from fedrisk.errors import ConfigError
from fedrisk.jobs.contribution import run_contribution_section
from fedrisk.jobs.credit import run_credit_section
from fedrisk.jobs.fraud import run_fraud_section
from fedrisk.jobs.governance import DemoConstitution, load_demo_constitution, run_governance_section
from fedrisk.jobs.privacy import run_privacy_section
from fedrisk.jobs.stress import StressRun, consensus_stress, data_provenance, run_stress
from fedrisk.jobs.stress_config import StressConfig
from fedrisk.jobs.trail import RunTrail
from fedrisk.privacy.attacks.suite import run_redteam_section
from fedrisk.report import build_report
from fedrisk.report.plots import plot_index, plot_member_quality, plot_onboarding, plot_rounds

RESULTS = "results.json"


def new_run_id() -> str:
    """A sortable run id (UTC time)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _environment() -> dict[str, Any]:
    import flwr
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "flwr": flwr.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def attach_log(out_dir: Path) -> logging.Handler:
    """Write the run's log to ``out_dir/run.log``."""
    handler = logging.FileHandler(out_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def write_results(out_dir: Path, results: dict[str, Any]) -> Path:
    """Write results.json atomically (a crash never leaves half a file)."""
    path = out_dir / RESULTS
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, default=str))
    tmp.replace(path)
    return path


def make_plots(out_dir: Path, stress: dict[str, Any], run: StressRun) -> dict[str, str]:
    """Draw the stress plots; return their relative paths."""
    import pandas as pd

    index = pd.read_csv(out_dir / "stress_index.csv", parse_dates=["ts_utc"])
    plots = {
        "index": plot_index(index, stress, out_dir / "stress_index.png", consensus_stress(run)),
        "members": plot_member_quality(stress, out_dir / "member_quality.png"),
        "rounds": plot_rounds(stress, out_dir / "federated_rounds.png"),
    }
    if stress.get("onboarding"):
        plots["onboarding"] = plot_onboarding(stress, out_dir / "onboarding.png")
    return {k: v.name for k, v in plots.items()}


def run_extra_sections(
    config: StressConfig,
    data_dir: Path,
    out_dir: Path,
    step: Callable[[str], None],
    trail: RunTrail,
    sections: tuple[str, ...],
) -> dict[str, Any]:
    """The sections after the stress federation: privacy, fraud, credit (each recorded in the trail)."""
    extra: dict[str, Any] = {}
    if "privacy" in sections:
        step("privacy: DP-FedAvg with SecAgg+, privacy/utility curve, secure index")
        extra["privacy"] = run_privacy_section(data_dir, out_dir, quick=config.quick, seed=config.seed)
        trail.log.append(
            "privacy.spent",
            {
                "ledger": extra["privacy"].get("ledger"),
                "curve": extra["privacy"].get("curve"),
                "record_level": extra["privacy"].get("record_level"),  # members' own record-level ledgers
            },
        )
    if "fraud" in sections:
        step("fraud federation: exchanges pooling fraud knowledge")
        extra["fraud"] = run_fraud_section(data_dir, out_dir, quick=config.quick, seed=config.seed)
        trail.files_published("fraud", out_dir / "fraud")
    if "credit" in sections:
        step("credit federation: lenders of very different sizes")
        extra["credit"] = run_credit_section(data_dir, out_dir, quick=config.quick, seed=config.seed)
    if "contribution" in sections:
        step("contribution: Shapley values (a federation per coalition), rewards, leave-one-out deltas")
        extra["contribution"] = run_contribution_section(config, data_dir, out_dir)
        trail.log.append("contribution.valued", {k: extra["contribution"][k] for k in ("method", "members", "ledger")})
    if "redteam" in sections:  # attack sizes always quick (4 members at most): docs/he-and-attacks.md
        step("red team: privacy attacks on the stress model under each protection layer")
        extra["redteam"] = run_redteam_section(config.to_dict(), data_dir, out_dir, quick=True, seed=config.seed)
    return extra


_SECTION_PLOTS = {"privacy_utility": "privacy_utility.png", "contribution": "contribution.png"}
_SECTION_ARTIFACTS = {
    "counterfactuals": "counterfactuals/",
    "fraud": "fraud/",
    "privacy_ledger": "privacy_ledger.sqlite",
    "record_ledgers": "record_ledgers/",
    "contribution_ledger": "contribution_ledger.sqlite",
    "governance_store": "governance/coordinator.db",
}


def _section_plots(out_dir: Path) -> dict[str, str]:
    """The plots the extra sections wrote (only those that exist)."""
    return {k: v for k, v in _SECTION_PLOTS.items() if (out_dir / v).exists()}


def _section_artifacts(out_dir: Path) -> dict[str, str]:
    """Ledgers, stores and model folders the sections wrote (only those that exist)."""
    return {k: v for k, v in _SECTION_ARTIFACTS.items() if (out_dir / v.rstrip("/")).exists()}


SECTIONS: tuple[str, ...] = ("stress", "privacy", "fraud", "credit", "contribution", "governance", "redteam")
"""Sections of the demo, in order (the stress federation always runs)."""


def run_demo(
    config: StressConfig,
    data_dir: Path,
    out_dir: Path,
    step: Callable[[str], None],
    *,
    keys_dir: Path,
    sections: tuple[str, ...] = SECTIONS,
    constitution: DemoConstitution | None = None,
) -> dict[str, Any]:
    """Run the demo's sections into ``out_dir`` and return the results.

    ``keys_dir`` holds the coordinator's (and the simulated members') private signing keys, outside the run.
    """
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = attach_log(out_dir)
    started = time.perf_counter()
    trail = RunTrail.open(out_dir, keys_dir)
    try:
        files = data_provenance(data_dir, config.members)
        settings = {"stress": config.to_dict(), "sections": list(sections)}
        trail.run_started(settings, files, "crypto-hourly-multivenue")
        stress, run = run_stress(config, data_dir, out_dir, step, trail=trail)
        extra = run_extra_sections(config, data_dir, out_dir, step, trail, sections)
        if "governance" in sections:  # the federation's rounds, tiers, budgets and rewards, from its store
            step("governance: the main job's rounds recorded under the constitution")
            rules = constitution or load_demo_constitution(None)
            extra["governance"] = run_governance_section(
                rules, stress, out_dir, privacy=extra.get("privacy"), audit_rounds=trail.rounds
            )
        step("plots")
        plots = make_plots(out_dir, stress, run)
        plots.update(_section_plots(out_dir))
        results: dict[str, Any] = {
            "schema": "fedrisk.results/1",
            "run_id": out_dir.name,
            "created_utc": datetime.now(UTC).isoformat(),
            "fedrisk_version": fedrisk.__version__,
            "config": settings,
            "environment": _environment(),
            "data": {"data_dir": str(data_dir), "files": files},
            "stress": stress,
            **extra,
            "artifacts": {
                "plots": plots,
                "model": "model/",
                "stress_index": "stress_index.csv",
                "log": "run.log",
                "audit": "audit.jsonl",
                "outbound_logs": "outbound/",
                **_section_artifacts(out_dir),
            },
            "wall_time_s": round(time.perf_counter() - started, 1),
        }
        step("verifying the audit trail offline")
        results["audit"] = trail.close_and_verify()
        write_results(out_dir, results)
        step("HTML report")
        results["artifacts"]["report"] = build_report(out_dir).name
        write_results(out_dir, results)
        return results
    finally:
        trail.log.close()
        logging.getLogger().removeHandler(handler)
        handler.close()
