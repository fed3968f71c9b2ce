"""`fedrisk constitution` commands: check and show a constitution file."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from fedrisk.errors import ConfigError
from fedrisk.governance.constitution import ConstitutionIssue
from fedrisk.governance.constitution_loader import check_constitution, load_constitution

app = typer.Typer(help="Check and show the federation's constitution.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="Constitution TOML file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _print_issues(path: Path, issues: list[ConstitutionIssue], as_json: bool) -> None:
    if as_json:
        payload = {"file": str(path), "valid": not issues, "issues": [asdict(i) for i in issues]}
        typer.echo(json.dumps(payload, indent=2))
        return
    if not issues:
        typer.echo(f"{path}: valid")
        return
    typer.echo(f"{path}: {len(issues)} issue(s)")
    for issue in issues:
        typer.echo(f"  {issue.key}: {issue.message}\n      fix: {issue.fix}")


@app.command()
def check(path: FileArg, as_json: JsonOpt = False) -> None:
    """Report every issue in a constitution at once; exit non-zero when there is any."""
    issues = check_constitution(path)
    _print_issues(path, issues, as_json)
    if issues:
        raise typer.Exit(code=ConfigError.exit_code)


@app.command()
def show(path: FileArg, as_json: JsonOpt = False) -> None:
    """Print a validated constitution (raises with every issue when invalid)."""
    constitution = load_constitution(path)
    data = asdict(constitution)
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    sched = constitution.schedule
    typer.echo(f"{constitution.name} (version {constitution.version})")
    typer.echo(f"  schedule: '{sched.cron}' in {sched.timezone}, missed rounds: {sched.missed_round_policy}")
    p = constitution.privacy
    typer.echo(
        f"  privacy: {p.mode}, ε {p.epsilon_per_round}/round, budget {p.epsilon_budget}/{p.budget_period}, δ {p.delta}"
    )
    typer.echo(f"  aggregation: {constitution.aggregation_mode}")
    typer.echo(f"  quorum: {constitution.quorum.min_members} members (cohort ≥ {constitution.quorum.min_cohort})")
    r = constitution.rewards
    typer.echo(f"  rewards: {r.pool_per_round} {r.currency}/round, {r.split_rule}, floor {r.floor}, cap {r.cap}")
    typer.echo(f"  members ({len(constitution.members)}):")
    for m in constitution.members:
        typer.echo(f"    {m.id:<10} {m.tier:<5} {m.organisation} (joined {m.joined})")
