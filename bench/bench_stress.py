"""Stress federation bench: data pipeline per 100k rows, per-round time split, peak memory.

Run: ``make bench`` (or ``.venv/bin/python -m bench.bench_stress``), with FEDRISK_DATA_DIR set.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

from fedrisk._env import quiet_and_offline
from fedrisk.data.hourly import load_hourly_dir
from fedrisk.features.pipeline import labelled_features
from fedrisk.federation.plan import FederationPlan, Job, TrainSettings
from fedrisk.federation.runner import run_plan
from fedrisk.jobs.stress_config import ALL_MEMBERS


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def main() -> dict[str, float]:
    """Measure and print; return the figures."""
    quiet_and_offline()
    data_dir = Path(os.environ.get("FEDRISK_DATA_DIR", "../shared/data"))
    t0 = time.perf_counter()
    tidy, _ = load_hourly_dir(data_dir)
    t1 = time.perf_counter()
    feats = labelled_features(tidy)
    t2 = time.perf_counter()
    rows = len(tidy)
    figures = {
        "rows": float(rows),
        "load_s": t1 - t0,
        "features_labels_s": t2 - t1,
        "pipeline_s_per_100k_rows": (t2 - t0) / rows * 100_000,
    }
    del feats
    # Three jobs on the same nodes split a round into training, members' validation and the engine's messaging.
    settings = TrainSettings(rounds=4, local_steps=30)
    jobs = (
        Job("train+validate", ALL_MEMBERS, settings=settings),
        Job("train", ALL_MEMBERS, settings=settings, select_by_validation=False),
        Job("messaging", ALL_MEMBERS, settings=TrainSettings(rounds=4, local_steps=1), select_by_validation=False),
    )
    plan = FederationPlan(members=ALL_MEMBERS, jobs=jobs, sim_data_dir=str(data_dir))
    t3 = time.perf_counter()
    outcomes = {o.job.name: o for o in run_plan(plan)}
    figures["federation_total_s"] = time.perf_counter() - t3

    def steady_wall(name: str) -> float:
        rounds = [h.wall_s for h in outcomes[name].history if h.round > 1]
        return sum(rounds) / len(rounds)

    full, train, messaging = steady_wall("train+validate"), steady_wall("train"), steady_wall("messaging")
    steady = [h for h in outcomes["train"].history if h.round > 1]
    figures.update(
        {
            "round_wall_s": full,
            "round_messaging_s": messaging,
            "round_training_s": train - messaging,
            "round_validation_s": full - train,
            "round_local_compute_max_s": sum(h.local_compute_max_s or 0.0 for h in steady) / len(steady),
            "peak_rss_mb": _peak_rss_mb(),
        }
    )
    outcome = outcomes["train+validate"]
    print(
        f"stress bench ({len(ALL_MEMBERS)} members, {settings.local_steps} local steps, {outcome.n_parameters} params)"
    )
    for key, value in figures.items():
        print(f"  {key:32s} {value:10.3f}")
    return figures


if __name__ == "__main__":
    main()
