"""`fedrisk explain members`: how a run's stress score at one hour would differ without each member."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fedrisk.cli._common import DataDirOpt, data_dir_option

app = typer.Typer(help="Counterfactual explanations of a run's scores.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Counterfactual explanations of a run's scores."""


@app.command()
def members(
    run: Annotated[Path, typer.Option("--run", help="Run directory (model/ and counterfactuals/).")],
    at: Annotated[str, typer.Option("--at", help="Hour to explain, UTC (e.g. '2019-06-26 20:00').")],
    asset: Annotated[str, typer.Option("--asset", help="Asset (BTC, ETH, LTC, XRP).")],
    member: Annotated[str | None, typer.Option("--member", help="Only the counterfactual without this member.")] = None,
    venue: Annotated[
        str | None, typer.Option("--venue", help="Explain this venue's own score (default: the stress index).")
    ] = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the score with all members and without each one (leave-one-member-out models)."""
    from fedrisk.jobs.counterfactuals import explain_at

    out = explain_at(run, data_dir_option(data_dir), at=at, asset=asset, member=member, venue=venue)
    if as_json:
        typer.echo(json.dumps(out, indent=1))
        return
    what = f"{out['venue']} score" if out["venue"] else "stress index score"
    typer.echo(f"{out['asset']} at {out['at']}: {what} with all members {out['score_all']:.3f}")
    for row in out["members"]:
        typer.echo(f"  {row['text']} (delta {row['delta']:+.3f})")
