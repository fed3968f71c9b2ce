"""The red-team suite: every attack against every protection mode, one table, one ``redteam`` section.

Section schema (``RUN_DIR/redteam.json``, key ``redteam``; the lead merges it into ``results.json``)::

    {"redteam": {
        "schema": 1, "seed": int, "quick": bool, "wall_time_s": float,
        "modes": {"none": str, "dp": str, "he": str, "all": str},      # what each mode is
        "protection": {"clip_norm": float, "noise_multiplier": float},
        "rows": [{"attack", "mode", "metric", "value", "chance", "threshold", "higher_is_success",
                  "success", "defence", "utility", "note"}],
        "summary": {attack: {mode: success}},
        "stress_model": {"status": "not run", "reason": str}
    }}
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from fedrisk.errors import ConfigError
from fedrisk.privacy.attacks import (
    free_riding,
    gradient_inversion,
    isolation,
    membership,
    poisoning,
    property_inference,
)
from fedrisk.privacy.attacks._sim import MODES, Mode, Protection, single_thread
from fedrisk.privacy.attacks.result import AttackResult

__all__ = ["ATTACKS", "MODE_DESCRIPTIONS", "format_table", "run_redteam", "run_suite"]

AttackFn = Callable[..., list[AttackResult]]
ATTACKS: dict[str, AttackFn] = {
    "membership": membership.run,
    "gradient_inversion": gradient_inversion.run,
    "property_inference": property_inference.run,
    "isolation": isolation.run,
    "poisoning": poisoning.run,
    "free_riding": free_riding.run,
}
MODE_DESCRIPTIONS = {
    "none": "plain FedAvg; coordinator sees each update",
    "dp": "member-level DP-FedAvg (clip by members, noise at the coordinator); coordinator sees clipped updates",
    "he": "CKKS aggregation; coordinator sees ciphertexts, the decrypted sum is exact",
    "all": "clip + distributed DP noise + CKKS + min cohort 3; nobody sees an individual update",
}


def run_suite(
    *, seed: int = 0, quick: bool = True, modes: tuple[Mode, ...] = MODES, attacks: tuple[str, ...] | None = None
) -> list[AttackResult]:
    """Every chosen attack under every chosen mode."""
    chosen = attacks or tuple(ATTACKS)
    unknown = set(chosen) - set(ATTACKS)
    if unknown:
        raise ConfigError(f"unknown attacks {sorted(unknown)}; known: {sorted(ATTACKS)}")
    rows: list[AttackResult] = []
    with single_thread():
        for name in chosen:
            for mode in modes:
                rows += ATTACKS[name](mode, seed=seed, quick=quick)
    return rows


def format_table(rows: list[AttackResult]) -> str:
    """A plain-text table."""
    head = (
        f"{'attack':36} {'mode':5} {'defence':28} {'metric':17} {'value':>7} {'chance':>7} {'success':>7} "
        f"{'utility':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        util = "" if r.utility is None else f"{r.utility:.3f}"
        lines.append(
            f"{r.attack:36} {r.mode:5} {r.defence[:28]:28} {r.metric:17} {r.value:7.3f} {r.chance:7.3f} "
            f"{'YES' if r.success else 'no':>7} {util:>7}"
        )
    return "\n".join(lines)


def run_redteam(run_dir: Path, *, quick: bool = True, seed: int = 0) -> dict[str, object]:
    """Run the suite, write ``run_dir/redteam.json`` (``{"redteam": section}``), return the section."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run directory {run_dir} does not exist; pass the directory of a fedrisk run")
    start = time.perf_counter()
    rows = run_suite(seed=seed, quick=quick)
    summary: dict[str, dict[str, bool]] = {}
    for r in rows:
        key = r.attack if not r.defence or r.mode != "none" else f"{r.attack}[{r.defence}]"
        summary.setdefault(key, {})[r.mode] = summary.get(key, {}).get(r.mode, False) or r.success
    section: dict[str, object] = {
        "schema": 1,
        "seed": seed,
        "quick": quick,
        "wall_time_s": round(time.perf_counter() - start, 2),
        "modes": MODE_DESCRIPTIONS,
        "protection": {"clip_norm": Protection().clip_norm, "noise_multiplier": Protection().noise_multiplier},
        "rows": [r.to_dict() for r in rows],
        "summary": summary,
        "stress_model": {
            "status": "not run",
            "reason": "attacks run on a synthetic federation; running them on the ST-graph model needs the members' "
            "data (FEDRISK_DATA_DIR) and was not built in this iteration",
        },
    }
    (run_dir / "redteam.json").write_text(json.dumps({"redteam": section}, indent=1), encoding="utf-8")
    return section
