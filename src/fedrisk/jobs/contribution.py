"""The demo's ``contribution`` section: Shapley values, leave-one-out, rewards, ledger, counterfactual deltas.

Private utility mode only (every coalition of >= 3 members trains as its own federation in one simulation start;
see :mod:`fedrisk.contribution.coalitions`). Exact Shapley up to ``exact_max_members`` members; above, TMC
(antithetic permutations) under a coalition budget, with its standard error. The schema is in
``docs/contribution.md``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fedrisk.contribution import LedgerEntry, RewardRules, build_contribution_section, create_ledger
from fedrisk.contribution.coalitions import (
    COALITION_SETTINGS,
    WEIGHTING,
    CoalitionTable,
    all_coalitions,
    needed_coalitions,
    private_utilities,
)
from fedrisk.errors import MIN_COHORT, FedriskError
from fedrisk.jobs.stress_config import StressConfig

_log = logging.getLogger(__name__)
LEDGER = "contribution_ledger.sqlite"
PLOT = "contribution.png"


@dataclass(frozen=True, slots=True)
class ContributionConfig:
    """Settings of the contribution section (the reward rules are the configuration's reward table)."""

    rewards: RewardRules = field(
        default_factory=lambda: RewardRules(pool=1000.0, floor=0.05, cap=0.4, premium_top_k=2, premium_factor=1.5)
    )
    exact_max_members: int = 5
    """Exact Shapley up to this many members (4 members: 5 coalition federations; 7 would need 99)."""
    sampled_permutations: int = 4
    sampled_max_coalitions: int = 26
    """TMC budget in distinct coalitions (about 20 % of the 128 of 7 members)."""
    rounds: int = COALITION_SETTINGS.rounds
    local_steps: int = COALITION_SETTINGS.local_steps
    allow_individual_updates: bool = False
    """Fast (GTG) mode needs the coordinator to see individual updates; the demo never runs it."""


def _coalitions(players: tuple[str, ...], cc: ContributionConfig, seed: int) -> tuple[list[frozenset[str]], bool]:
    if len(players) <= cc.exact_max_members:
        return all_coalitions(players), True
    needed = needed_coalitions(
        players,
        permutations=cc.sampled_permutations,
        seed=seed,
        antithetic=True,
        max_evaluations=cc.sampled_max_coalitions,
    )
    loo = [frozenset(players) - {m} for m in players] if len(players) - 1 >= MIN_COHORT else []
    return list(dict.fromkeys([*needed, *loo])), False


def _ledger(out_dir: Path, section: dict[str, Any], round_: int) -> str:
    ledger = create_ledger(out_dir / LEDGER)
    ledger.append_round(
        round_,
        [
            LedgerEntry(
                round=round_,
                member=r["member"],
                value=r["shapley"],
                std_error=r["std_error"],
                method=section["method"],
                reward=r["reward"],
                reward_share=r["reward_share"],
                premium=r["premium"],
            )
            for r in section["members"]
        ],
    )
    return LEDGER


def _episode_deltas(out_dir: Path, data_dir: Path) -> dict[str, Any] | None:
    """Leave-one-member-out deltas of the stress index at the most stressed published hour of the test period.

    The episode is the hour with the highest published asset index in ``stress_index.csv`` (ties: the first).
    """
    import pandas as pd

    from fedrisk.jobs.counterfactuals import explain_at

    path = out_dir / "stress_index.csv"
    if not path.is_file():
        return None
    index = pd.read_csv(path).dropna(subset=["index"])
    index = index[index["asset"] != "MARKET"]
    if index.empty:
        return None
    i = int(np.argmax(index["index"].to_numpy()))
    asset, at = str(index["asset"].iloc[i]), str(index["ts_utc"].iloc[i])
    episode = {"asset": asset, "at_utc": at, "rule": "highest published index"}
    try:
        return {**episode, **explain_at(out_dir, data_dir, at=episode["at_utc"], asset=episode["asset"])}
    except FedriskError as err:
        return {**episode, "error": str(err)}


def assemble_section(
    players: tuple[str, ...],
    table: CoalitionTable,
    cc: ContributionConfig,
    out_dir: Path,
    *,
    seed: int,
    exact: bool,
    ledger_round: int,
) -> dict[str, Any]:
    """The section from trained coalition utilities: values, rewards, ledger round, bar chart (no training)."""
    from fedrisk.report.plots import plot_contribution

    section = build_contribution_section(
        players,
        table,
        cc.rewards,
        sampled_permutations=cc.sampled_permutations,
        rng=np.random.default_rng(seed),
        sampled_antithetic=True,
        sampled_max_evaluations=None if exact else cc.sampled_max_coalitions,
        exact_max_players=len(players) if exact else max(1, len(players) - 1),
        utility_metric="auprc",
        utility_mode="private",
    )
    section["utility"] = {
        "definition": "validation AUPRC of the model the coalition trains as its own federation",
        "weighting": WEIGHTING,
        "small_coalitions": f"coalitions of fewer than {MIN_COHORT} members cannot federate: their utility is the "
        "empty-coalition baseline (the seeded untrained model)",
        "coalitions_trained": len(table.values),
        "coalitions_possible": 2 ** len(players),
        "per_coalition": [
            {"members": sorted(c), "utility": table.values[c], "train_s": round(table.train_seconds[c], 2)}
            for c in table.values
        ],
        "simulation_s": round(table.seconds, 2),
    }
    section["fast_mode"] = {
        "allowed": cc.allow_individual_updates,
        "note": "not run in the demo: it needs the coordinator to see individual updates (bench_contribution "
        "measures fast vs private)",
    }
    section["ledger"] = _ledger(out_dir, section, ledger_round)
    section["plot"] = plot_contribution(section["members"], "AUPRC", out_dir / PLOT).name
    return section


def run_contribution_section(
    config: StressConfig,
    data_dir: Path,
    out_dir: Path,
    *,
    cc: ContributionConfig | None = None,
) -> dict[str, Any]:
    """Value every member of the stress federation (private mode) and write ledger and bar chart."""
    cc = cc or ContributionConfig()
    start = time.perf_counter()
    players = tuple(config.members)
    seed = config.seed
    coalitions, exact = _coalitions(players, cc, seed)
    fed = config.federated
    settings = COALITION_SETTINGS.__class__(
        rounds=cc.rounds,
        local_steps=cc.local_steps,
        batch_size=fed.batch_size,
        lr=fed.lr,
        weight_decay=fed.weight_decay,
        window=fed.window,
        hidden=fed.hidden,
        seed=fed.seed,
    )
    table = private_utilities(players, coalitions, data_dir=data_dir, split=config.split, settings=settings)
    section = assemble_section(players, table, cc, out_dir, seed=seed, exact=exact, ledger_round=fed.rounds)
    section["utility"]["coalition_training"] = {"rounds": settings.rounds, "local_steps": settings.local_steps}
    section["episode_loo"] = _episode_deltas(out_dir, data_dir)
    section["config"] = {**asdict(cc), "rewards": asdict(cc.rewards)}
    section["wall_s"] = round(time.perf_counter() - start, 1)
    return section
