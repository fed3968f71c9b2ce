"""``fedrisk stress``: train the stress federation, score hourly data with a saved model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedrisk.cli._common import (
    DataDirOpt,
    KeysDirOpt,
    OutOpt,
    QuickOpt,
    SeedOpt,
    console,
    data_dir_option,
    print_json,
    run_job,
)

app = typer.Typer(help="Liquidity-stress federation: train and score.", no_args_is_help=True)


@app.command()
def train(
    data_dir: DataDirOpt = None,
    out: OutOpt = None,
    quick: QuickOpt = False,
    seed: SeedOpt = 7,
    keys_dir: KeysDirOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the stress section as JSON.")] = False,
) -> None:
    """Train the stress federation (and its references), save the federated model, write its audit trail."""
    results, run_dir = run_job(
        data_dir, out, quick=quick, seed=seed, keys_dir=keys_dir, show_progress=not json_out, sections=("stress",)
    )
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
