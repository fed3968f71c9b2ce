"""Shared CLI helpers: data-dir resolution, progress display, JSON output."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from fedrisk.data.datadir import ENV_VAR, resolve_data_dir

console = Console(stderr=True)

DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (else FEDRISK_DATA_DIR).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Run directory (default runs/<run-id>).")]
QuickOpt = Annotated[bool, typer.Option("--quick", help="Every section on fewer members, hours and rounds.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of every random choice (runs are reproducible).")]
ConstitutionFileOpt = Annotated[
    Path | None,
    typer.Option("--constitution", help="Constitution TOML (default: the bundled examples/demo-constitution.toml)."),
]
KeysDirOpt = Annotated[
    Path | None, typer.Option("--keys-dir", help="Private signing keys (default $FEDRISK_HOME/keys).")
]


def run_job(
    data_dir: Path | None,
    out: Path | None,
    *,
    quick: bool,
    seed: int,
    keys_dir: Path | None,
    show_progress: bool,
    sections: tuple[str, ...] | None = None,
    constitution: Path | None = None,
) -> tuple[dict[str, Any], Path]:
    """Resolve directories, pick the configuration and run the demo's sections; return results and run dir.

    The constitution (``constitution`` or the bundled demo one) is loaded and checked first; the stress job's
    members are its update-contributing members.
    """
    from dataclasses import replace

    from fedrisk.jobs.demo import SECTIONS, new_run_id, run_demo
    from fedrisk.jobs.governance import demo_members, load_demo_constitution
    from fedrisk.jobs.stress_config import StressConfig, quick_config

    rules = load_demo_constitution(constitution)
    directory = data_dir_option(data_dir)
    run_dir = out if out is not None else Path("runs") / new_run_id()
    config = quick_config(seed) if quick else StressConfig(seed=seed)
    config = replace(config, members=demo_members(rules.rules, quick=quick))
    chosen = SECTIONS if sections is None else sections
    with progress_steps(show_progress) as step:
        results = run_demo(
            config,
            directory,
            run_dir,
            step,
            keys_dir=keys_dir_option(keys_dir),
            sections=chosen,
            constitution=rules,
        )
    return results, run_dir


def data_dir_option(value: Path | None) -> Path:
    """Resolve ``--data-dir`` > ``FEDRISK_DATA_DIR`` > user cache (the entry point reads the environment)."""
    return resolve_data_dir(value, env_value=os.environ.get(ENV_VAR))


def keys_dir_option(value: Path | None) -> Path:
    """Private signing keys: ``--keys-dir`` > ``$FEDRISK_HOME/keys`` > ``~/.fedrisk/keys`` (never in a run dir)."""
    if value is not None:
        return value
    home = os.environ.get("FEDRISK_HOME")
    return (Path(home) if home else Path.home() / ".fedrisk") / "keys"


@contextmanager
def progress_steps(enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A rich progress display; yields ``step(description)`` which marks the previous step done."""
    if not enabled:
        yield lambda _desc: None
        return
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=False
    ) as progress:
        current: list[TaskID] = []

        def step(desc: str) -> None:
            if current:
                progress.update(current[-1], completed=1, total=1)
            current.append(progress.add_task(desc, total=None))

        yield step
        if current:
            progress.update(current[-1], completed=1, total=1)


def print_json(payload: Any) -> None:
    """Print JSON to stdout (machine-readable output)."""
    print(json.dumps(payload, indent=1, default=str))
