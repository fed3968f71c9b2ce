"""``fedrisk stress``: train the stress federation, score hourly data with a saved model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedrisk.cli._common import console, data_dir_option, keys_dir_option, print_json, progress_steps

app = typer.Typer(help="Liquidity-stress federation: train and score.", no_args_is_help=True)


@app.command()
def train(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory (else FEDRISK_DATA_DIR).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run directory (default runs/<run-id>).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Fewer members, hours and rounds.")] = False,
    seed: Annotated[int, typer.Option(help="Seed.")] = 7,
    keys_dir: Annotated[
        Path | None, typer.Option("--keys-dir", help="Private signing keys (default $FEDRISK_HOME/keys).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the stress section as JSON.")] = False,
) -> None:
    """Train the stress federation (and its references) and save the federated model."""
    from fedrisk.jobs.demo import new_run_id, run_demo
    from fedrisk.jobs.stress_config import StressConfig, quick_config

    directory = data_dir_option(data_dir)
    run_dir = out if out is not None else Path("runs") / new_run_id()
    config = quick_config(seed) if quick else StressConfig(seed=seed)
    with progress_steps(not json_out) as step:
        results = run_demo(config, directory, run_dir, step, keys_dir=keys_dir_option(keys_dir))
    if json_out:
        print_json(results["stress"])
    else:
        console.print(f"model saved in {run_dir / 'model'}; results in {run_dir / 'results.json'}")


@app.command()
def score(
    model: Annotated[Path, typer.Option("--model", help="Run directory holding model/ (or the model folder).")],
    out: Annotated[Path, typer.Option("--out", help="CSV to write.")],
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory (else FEDRISK_DATA_DIR).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a summary as JSON.")] = False,
) -> None:
    """Score every venue-asset hour of a data directory; write ts_utc, venue, asset, score, alarm (+ INDEX rows)."""
    from fedrisk.jobs.scoring import score_data_dir

    summary = score_data_dir(model, data_dir_option(data_dir), out)
    if json_out:
        print_json(summary)
    else:
        console.print(
            f"wrote {summary['rows']} rows ({summary['index_rows']} index rows) to {out}; {summary['alarms']} alarms"
        )
