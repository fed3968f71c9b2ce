"""``fedrisk redteam``: run the privacy attacks against a run's stress model (and a synthetic federation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedrisk.cli._common import console, data_dir_option, print_json
from fedrisk.errors import DataNotFoundError


def redteam(
    run: Annotated[Path, typer.Option("--run", help="Run directory (fedrisk demo); redteam.json is written there.")],
    data_dir: Annotated[Path | None, typer.Option(help="Data dir (else FEDRISK_DATA_DIR, else the cache).")] = None,
    synthetic: Annotated[
        bool, typer.Option("--synthetic/--no-synthetic", help="Also run the synthetic 5-member suite (~2 min).")
    ] = True,
    full: Annotated[bool, typer.Option("--full", help="Larger settings (slower); default is quick.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the attacks (and of the synthetic federation).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the section as JSON.")] = False,
) -> None:
    """Red team: membership, gradient (label) inversion, property inference, isolation, poisoning, free-riding."""
    from fedrisk.privacy.attacks.result import AttackResult
    from fedrisk.privacy.attacks.suite import format_table, run_redteam

    try:
        directory: Path | None = data_dir_option(data_dir)
    except DataNotFoundError:
        directory = None
    section = run_redteam(run, quick=not full, seed=seed, data_dir=directory, synthetic=synthetic)
    if as_json:
        print_json({"redteam": section})
        return
    for name in ("stress_model", "synthetic"):
        part = section[name]
        if not isinstance(part, dict) or "rows" not in part:
            console.print(f"{name}: {part.get('reason', 'not run') if isinstance(part, dict) else 'not run'}")
            continue
        rows = [AttackResult(**{k: v for k, v in r.items() if k != "success"}) for r in part["rows"]]
        console.print(f"[bold]{name}[/bold]")
        print(format_table(rows))
    console.print(f"written: {run / 'redteam.json'} ({section['wall_time_s']} s)")
