"""The red-team suite: every attack against every protection mode, one table, one ``redteam`` section.

Section schema (``RUN_DIR/redteam.json`` and the demo's ``results.json``, key ``redteam``)::

    {"redteam": {
        "schema": 2, "seed": int, "quick": bool, "wall_time_s": float,
        "modes": {"none": str, "dp": str, "secagg": str, "he": str, "all": str},   # what each mode is
        "stress_model": {                       # the run's real stress model and members' data
            "status": "ok" | "not run", "reason": str (when not run), "members": [...], "rounds": int,
            "protection": {"clip_norm", "noise_multiplier"}, "clean_federated_val_auprc": float,
            "load_s": float, "wall_time_s": float,
            "rows": [{"attack", "mode", "metric", "value", "chance", "threshold", "higher_is_success",
                      "success", "defence", "utility", "note"}],
            "summary": {attack: {mode: success}}},
        "synthetic": null | {                   # the 5-member synthetic federation (no secagg mode)
            "protection": {...}, "rows": [...], "summary": {...}}
    }}
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from fedrisk.errors import ConfigError
from fedrisk.privacy.attacks import (
    attribute_inference,
    free_riding,
    gradient_inversion,
    isolation,
    linkage,
    membership,
    poisoning,
    property_inference,
)
from fedrisk.privacy.attacks._sim import MODES, Mode, Protection, single_thread
from fedrisk.privacy.attacks.result import AttackResult

__all__ = [
    "ATTACKS",
    "MODE_DESCRIPTIONS",
    "format_table",
    "run_redteam",
    "run_redteam_section",
    "run_suite",
    "stress_section",
    "summarise",
]

AttackFn = Callable[..., list[AttackResult]]
ATTACKS: dict[str, AttackFn] = {
    "membership": membership.run,
    "gradient_inversion": gradient_inversion.run,
    "property_inference": property_inference.run,
    "isolation": isolation.run,
    "poisoning": poisoning.run,
    "free_riding": free_riding.run,
    "linkage": linkage.run,
    "attribute_inference": attribute_inference.run,
}
MODE_DESCRIPTIONS = {
    "none": "plain FedAvg; coordinator sees each update",
    "secagg": "SecAgg+ view: the coordinator sees only the sum (stress model only; the Flower protocol is not re-run)",
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


def summarise(rows: list[dict[str, object]]) -> dict[str, dict[str, bool]]:
    """``{attack[defence]: {mode: success}}`` (a defence is named where several are compared in one mode)."""
    out: dict[str, dict[str, bool]] = {}
    for r in rows:
        key = str(r["attack"]) if not r["defence"] or r["mode"] != "none" else f"{r['attack']}[{r['defence']}]"
        out.setdefault(key, {})[str(r["mode"])] = out.get(key, {}).get(str(r["mode"]), False) or bool(r["success"])
    return out


def stress_section(
    run_dir: Path, data_dir: Path | None, *, quick: bool, seed: int, config: dict[str, object] | None = None
) -> dict[str, object]:
    """The attacks on the run's stress model, or ``status = "not run"`` with the reason."""
    from fedrisk.privacy.attacks.stress import run_stress_redteam

    if data_dir is None:
        return {"status": "not run", "reason": "no data dir (pass --data-dir or set FEDRISK_DATA_DIR)"}
    if config is None and not (Path(run_dir) / "results.json").is_file():
        return {"status": "not run", "reason": f"{run_dir} has no results.json (not a fedrisk demo run)"}
    out = run_stress_redteam(run_dir, data_dir, quick=quick, seed=seed, config=config)
    out["summary"] = summarise(out["rows"])  # type: ignore[arg-type]
    return out


def run_redteam(
    run_dir: Path, *, quick: bool = True, seed: int = 0, data_dir: Path | None = None, synthetic: bool = True
) -> dict[str, object]:
    """Run the suite (stress model when ``data_dir`` is given; synthetic when asked), write ``redteam.json``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run directory {run_dir} does not exist; pass the directory of a fedrisk run")
    start = time.perf_counter()
    stress = stress_section(run_dir, data_dir, quick=quick, seed=seed)
    synth: dict[str, object] | None = None
    if synthetic:
        rows = [r.to_dict() for r in run_suite(seed=seed, quick=quick)]
        protection = {"clip_norm": Protection().clip_norm, "noise_multiplier": Protection().noise_multiplier}
        synth = {"protection": protection, "rows": rows, "summary": summarise(rows)}
    section: dict[str, object] = {
        "schema": 2,
        "seed": seed,
        "quick": quick,
        "wall_time_s": round(time.perf_counter() - start, 2),
        "modes": MODE_DESCRIPTIONS,
        "stress_model": stress,
        "synthetic": synth,
    }
    (run_dir / "redteam.json").write_text(json.dumps({"redteam": section}, indent=1), encoding="utf-8")
    return section


def run_redteam_section(
    stress_config: dict[str, object], data_dir: Path, out_dir: Path, *, quick: bool, seed: int = 0
) -> dict[str, object]:
    """The demo's ``redteam`` section: the attacks on the stress model just trained in ``out_dir``."""
    start = time.perf_counter()
    stress = stress_section(out_dir, data_dir, quick=quick, seed=seed, config=stress_config)
    return {
        "schema": 2,
        "seed": seed,
        "quick": quick,
        "wall_time_s": round(time.perf_counter() - start, 2),
        "modes": MODE_DESCRIPTIONS,
        "stress_model": stress,
        "synthetic": None,
        "command": f"fedrisk redteam --run {out_dir} --data-dir {data_dir}" + ("" if quick else " --full"),
    }
