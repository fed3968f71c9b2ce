"""Contribution valuation on the real stress task: planted members, fast vs private, sampled vs exact.

One simulation start (7 member nodes) trains every coalition of three games as its own federation:

* **Q**, the quick members (bitfinex, bitstamp, coinbase, kraken): exact private values; the federation of all
  four also records individual updates for the fast (GTG) estimate, compared side by side.
* **T**, identical data: bitstamp, coinbase, kraken and ``twin`` (a node holding exactly kraken's data).
* **P**, planted: bitstamp, coinbase, kraken, ``shuffled`` (bitfinex's features, training labels shuffled) and
  ``freerider`` (bitfinex's data; sends back the model it received, unchanged).

Then the sampled estimator (TMC, antithetic) is compared with exact on P's cached utilities over many seeds.
Run: ``FEDRISK_DATA_DIR=/work/shared/data .venv/bin/python -m bench.bench_contribution`` (writes the trained
tables to ``$BENCH_CONTRIBUTION_DUMP``; ``--from-dump FILE`` redoes the analysis without training).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fedrisk.contribution import exact_shapley, monte_carlo_shapley
from fedrisk.contribution.analysis import CachedUtility, gtg_shapley
from fedrisk.contribution.coalitions import (
    CoalitionTable,
    all_coalitions,
    coalition_plan,
    job_name,
    member_evaluator,
    table_from_run,
)
from fedrisk.errors import MIN_COHORT
from fedrisk.features.panel import Split
from fedrisk.federation.valuation import Drills, run_valuation
from fedrisk.jobs.stress_config import quick_config

QUICK = ("bitfinex", "bitstamp", "coinbase", "kraken")
TWIN = ("bitstamp", "coinbase", "kraken", "twin")
PLANTED = ("bitstamp", "coinbase", "kraken", "shuffled", "freerider")
NODES = (*QUICK, "twin", "shuffled", "freerider")
DRILLS = Drills(
    shuffle_labels=("shuffled",),
    free_ride=("freerider",),
    alias=(("twin", "kraken"), ("shuffled", "bitfinex"), ("freerider", "bitfinex")),
)


def _row(name: str, values: dict[str, float], se: dict[str, float] | None = None) -> str:
    cells = "  ".join(f"{m}={v:+.4f}" + (f"±{se[m]:.4f}" if se else "") for m, v in values.items())
    return f"{name:<22}{cells}"


def _sampled_vs_exact(
    players: tuple[str, ...], utility: Callable[[frozenset[str]], float], exact: dict[str, float]
) -> dict[str, float]:
    """TMC (antithetic) against exact over 200 seeds; cost counted in coalitions that must be trained (>= 3)."""
    total = utility(frozenset(players)) - utility(frozenset())
    n_trainable = sum(1 for k in range(MIN_COHORT, len(players) + 1) for _ in itertools.combinations(players, k))
    out: dict[str, float] = {}
    for perms in (4, 6, 8):
        errs, costs = [], []
        for seed in range(200):
            cache = CachedUtility(utility)
            res = monte_carlo_shapley(
                players, cache, permutations=perms, rng=np.random.default_rng(seed), antithetic=True
            )
            errs.append(max(abs(res.values[m] - exact[m]) for m in players) / abs(total) * 100)
            costs.append(sum(1 for c in cache.values if len(c) >= MIN_COHORT) / n_trainable)
        print(
            f"TMC antithetic, {perms} orders: {np.mean(costs) * 100:.0f} % of the {n_trainable} coalition "
            f"federations, max error {np.mean(errs):.1f} % of total value (mean over 200 seeds; within 5 %: "
            f"{np.mean(np.array(errs) <= 5) * 100:.0f} % of runs)"
        )
        out[f"tmc_{perms}_orders_error_pct"] = float(np.mean(errs))
        out[f"tmc_{perms}_orders_fraction"] = float(np.mean(costs))
    return out


def analyse_dump(path: Path) -> dict[str, float]:
    """Rerun the sampled-vs-exact analysis from a saved table dump (no training)."""
    dump = json.loads(path.read_text())
    out: dict[str, float] = {}
    for g, players in (("P", PLANTED), ("Q", QUICK), ("T", TWIN)):
        t = CoalitionTable(players, dump[g]["baseline"], {frozenset(c): v for c, v in dump[g]["values"]})
        exact = exact_shapley(players, t).values
        print(_row(f"exact (private) {g}", exact))
        if g == "P":
            out.update(_sampled_vs_exact(players, t, exact))
    return out


def main() -> dict[str, float]:
    """Run the three games in one simulation and print the checks."""
    data_dir = Path(os.environ.get("FEDRISK_DATA_DIR", "../shared/data"))
    split: Split = quick_config().split
    games = {"Q": QUICK, "T": TWIN, "P": PLANTED}
    coalitions = list(dict.fromkeys(c for g in games.values() for c in all_coalitions(g)))
    plan = coalition_plan(NODES, coalitions, data_dir=data_dir, split=split)
    start = time.perf_counter()
    run = run_valuation(plan, drills=DRILLS, record_updates=(job_name(QUICK),))
    private_s = time.perf_counter() - start
    print(f"{len(coalitions)} coalition federations in one simulation start: {private_s:.0f} s")
    tables = {g: table_from_run(p, [c for c in coalitions if c <= set(p)], run) for g, p in games.items()}
    dump = {
        g: {"baseline": t.baseline, "values": [[sorted(c), v] for c, v in t.values.items()]} for g, t in tables.items()
    }
    Path(os.environ.get("BENCH_CONTRIBUTION_DUMP", "bench_contribution_tables.json")).write_text(json.dumps(dump))
    exact = {g: exact_shapley(games[g], tables[g]).values for g in games}
    for g in games:
        t = tables[g]
        print(f"game {g}: baseline {t.baseline:.4f}, all members {t(frozenset(games[g])):.4f}")
        print(_row(f"  exact (private) {g}", exact[g]))
    jv = run.jobs[job_name(QUICK)]
    evaluate = member_evaluator(QUICK, data_dir=data_dir, split=split, drills=DRILLS)
    t0 = time.perf_counter()
    fast = gtg_shapley(
        QUICK,
        jv.round_updates,
        jv.global_before,
        {m: jv.n_train[m] for m in QUICK},
        evaluate,
        permutations=8,
        rng=np.random.default_rng(7),
    )
    fast_s = time.perf_counter() - t0
    print(_row("  fast (GTG) Q", fast.values, fast.std_errors))
    gap = max(abs(fast.values[m] - exact["Q"][m]) for m in QUICK)
    total_q = tables["Q"](frozenset(QUICK)) - tables["Q"].baseline
    print(
        f"fast vs private on Q: max |difference| {gap:.4f} AUPRC ({100 * gap / abs(total_q):.0f} % of the private "
        f"total {total_q:+.4f}); GTG took {fast_s:.1f} s for {fast.n_evaluations} model evaluations"
    )
    p = exact["P"]
    print(
        f"planted: shuffled lowest: {min(p, key=p.__getitem__) == 'shuffled'}; freerider {p['freerider']:+.4f} "
        f"(total {sum(p.values()):+.4f}); twin vs kraken in T: {exact['T']['twin']:+.4f} vs {exact['T']['kraken']:+.4f}"
    )
    out = {
        "private_s": private_s,
        "coalitions": float(len(coalitions)),
        "fast_gtg_s": fast_s,
        "fast_vs_private_max_gap": gap,
        "fast_vs_private_gap_pct_of_total": 100 * gap / abs(total_q) if total_q else math.nan,
        "planted_shuffled": p["shuffled"],
        "planted_freerider": p["freerider"],
        "twin_minus_kraken": exact["T"]["twin"] - exact["T"]["kraken"],
    }
    out.update(_sampled_vs_exact(PLANTED, tables["P"], exact["P"]))
    return out


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--from-dump":
        analyse_dump(Path(sys.argv[2]))
    else:
        main()
