"""``fedrisk redteam``: run every attack against every protection mode, write ``RUN_DIR/redteam.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedrisk.cli._common import console, print_json


def redteam(
    run: Annotated[Path, typer.Option("--run", help="Run directory; redteam.json is written there.")],
    full: Annotated[bool, typer.Option("--full", help="Larger settings (slower); default is quick.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic federation and attacks.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the section as JSON.")] = False,
) -> None:
    """Red-team suite: membership, gradient inversion, property inference, isolation, poisoning, free-riding."""
    from fedrisk.privacy.attacks.result import AttackResult
    from fedrisk.privacy.attacks.suite import format_table, run_redteam

    section = run_redteam(run, quick=not full, seed=seed)
    if as_json:
        print_json({"redteam": section})
        return
    rows = [
        AttackResult(**{k: v for k, v in r.items() if k != "success"})  # type: ignore[arg-type]
        for r in section["rows"]  # type: ignore[attr-defined]
    ]
    print(format_table(rows))
    console.print(f"written: {run / 'redteam.json'} ({section['wall_time_s']} s)")
