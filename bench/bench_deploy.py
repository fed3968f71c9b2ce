"""Deployed round time (SuperLink + member SuperNodes as processes, TLS, node auth) vs the simulation engine.

Run: ``.venv/bin/python -m bench.bench_deploy`` (about 2-3 minutes on 2 cores; ``BENCH_DEPLOY_FLOWER_DEFAULT=1``
adds a run with Flower's default node settings, a few minutes more).

Three members with synthetic hourly data (``tests/synthetic.py``), the stress model at the demo's settings
(window 24, hidden 32: 11,585 parameters, 40 local steps of 256), 4 rounds with members' validation every round.
The same plan runs on the deployment engine (``fedrisk.federation.deploy.run_loopback``: ``fedrisk coordinator
serve`` and three ``fedrisk node start`` processes on loopback) and on the simulation engine (``run_plan``), in
the same bench run. The figure is the median wall time of rounds 2-4 (round 1 includes the first training
step's warm-up); start-up is the coordinator's time to healthy SuperLink, and from the coordinator's start until
every node is online (the nodes start at the same time as the coordinator).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fedrisk._env import quiet_and_offline
from fedrisk.features.panel import Split
from fedrisk.federation.deploy import run_loopback
from fedrisk.federation.deploy_app import plan_to_json
from fedrisk.federation.pki import init_pki
from fedrisk.federation.plan import FederationPlan, Job, TrainSettings

MEMBERS = {"alpha": ("BTC", "ETH"), "beta": ("BTC",), "gamma": ("BTC", "ETH")}
SPLIT = Split(
    train_start=pd.Timestamp("2018-01-01", tz="UTC"),
    val_start=pd.Timestamp("2018-04-20", tz="UTC"),
    test_start=pd.Timestamp("2018-05-20", tz="UTC"),
    test_end=pd.Timestamp("2018-06-10", tz="UTC"),
)
SETTINGS = TrainSettings(rounds=4)


def _median_round(history: list[Any]) -> float:
    walls = [float(h["wall_s"] if isinstance(h, dict) else h.wall_s) for h in history[1:]]
    return statistics.median(walls)


def _deployed(root: Path, plan: FederationPlan, *, flower_default: bool) -> dict[str, Any]:
    from synthetic import write_data_dir  # type: ignore[import-not-found]

    pki = init_pki(root / "pki", list(MEMBERS))
    data = {m: write_data_dir(root / f"data-{m}", {m: a}, n_hours=3800) for m, a in MEMBERS.items()}
    report = run_loopback(
        plan_to_json(plan), pki, data, root, flower_default=flower_default, round_timeout_s=300, timeout_s=900
    )
    if report.get("status") != "finished:completed":
        raise RuntimeError(f"deployed run failed: {report}; logs in {root}")
    return report


def _simulated(root: Path, plan: FederationPlan) -> list[Any]:
    from fedrisk.federation.runner import run_plan

    merged = root / "data-merged"
    for member in MEMBERS:
        shutil.copytree(root / f"data-{member}", merged, dirs_exist_ok=True)
    sim = FederationPlan(members=plan.members, jobs=plan.jobs, split=plan.split, sim_data_dir=str(merged))
    return list(run_plan(sim)[0].history)


def main() -> dict[str, float]:
    """Measure and print deployed vs simulated round time and the deployment's start-up times."""
    quiet_and_offline()
    plan = FederationPlan(members=tuple(MEMBERS), split=SPLIT, jobs=(Job("bench", tuple(MEMBERS), settings=SETTINGS),))
    root = Path(tempfile.mkdtemp(prefix="bench_deploy_"))
    try:
        report = _deployed(root / "fast", plan, flower_default=False)
        history = report["outcome"]["jobs"][0]["history"]
        sim_history = _simulated(root / "fast", plan)
        out = {
            "deployed_round_s": _median_round(history),
            "simulated_round_s": _median_round(sim_history),
            "superlink_healthy_s": float(report["healthy_s"]),
            "start_to_nodes_online_s": float(report["online_since_start_s"]),
            "deployed_run_s": float(report["run_s"]),
            "deployed_val_loss_last": float(history[-1]["val_loss"]),
            "simulated_val_loss_last": float(sim_history[-1].val_loss),
        }
        out["deployed_vs_simulated"] = out["deployed_round_s"] / out["simulated_round_s"]
        if os.environ.get("BENCH_DEPLOY_FLOWER_DEFAULT") == "1":
            slow = _deployed(root / "default", plan, flower_default=True)
            out["flower_default_round_s"] = _median_round(slow["outcome"]["jobs"][0]["history"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{'measure':<28}{'value':>10}")
    for key, value in out.items():
        print(f"{key:<28}{value:>10.3f}")
    return out


if __name__ == "__main__":
    main()
