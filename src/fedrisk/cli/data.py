"""``fedrisk data``: check a data directory, fetch a dataset from its public origin."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fedrisk.cli._common import console, data_dir_option, print_json

app = typer.Typer(help="Datasets: check a data directory, fetch from the public origin.", no_args_is_help=True)


@app.command()
def check(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory (else FEDRISK_DATA_DIR).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the quality report as JSON.")] = False,
) -> None:
    """Load and validate every hourly file; print gaps, stale hours, duplicates and rejected rows."""
    from fedrisk.data.hourly import load_hourly_dir

    _, quality = load_hourly_dir(data_dir_option(data_dir))
    if json_out:
        print_json([asdict(q) for q in quality])
        return
    table = Table(title="Hourly data quality")
    for col in ("venue", "asset", "rows", "first", "last", "missing h", "gaps", "stale h", "dups", "rejected"):
        table.add_column(col)
    for q in quality:
        table.add_row(
            q.venue,
            q.base,
            str(q.rows),
            q.first_hour[:13],
            q.last_hour[:13],
            str(q.missing_hours),
            str(q.gaps),
            str(q.stale_hours),
            str(q.exact_duplicates_dropped + q.conflicting_duplicates),
            str(len(q.rejected_rows)),
        )
    console.print(table)


@app.command()
def fetch(
    name: Annotated[str, typer.Argument(help="Dataset name, e.g. crypto-hourly-multivenue.")],
    allow_unpinned: Annotated[
        bool, typer.Option("--allow-unpinned", help="Also download files whose origin hash is not pinned.")
    ] = False,
) -> None:
    """Download a dataset into the user cache from its public origin, checking pinned SHA-256 hashes."""
    from fedrisk.data.datadir import user_cache_dir
    from fedrisk.data.registry import fetch_dataset

    root = fetch_dataset(name, user_cache_dir(), allow_unpinned=allow_unpinned)
    console.print(f"{name} is in {root}")
