"""`fedrisk status`: members, tiers, rounds and budgets, read from the coordinator's store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fedrisk.cli.coordinator import DEFAULT_STATE_DIR, DbUrlOpt, JsonOpt, StateDirOpt, open_store
from fedrisk.governance.constitution_loader import load_constitution
from fedrisk.governance.coordinator import utc_now
from fedrisk.governance.status import federation_status

OptionalConstitution = Annotated[
    Path | None, typer.Option("--constitution", "-c", help="Constitution (for budgets and the next round).")
]


def _render(snapshot: dict[str, Any]) -> None:
    console = Console()
    console.print(f"[bold]{snapshot['federation'] or 'federation'}[/] at {snapshot['now']}")
    if "next_round_at" in snapshot:
        console.print(f"next round: {snapshot['next_round_at']}; budget period: {snapshot['budget_period']}")
    members = Table("member", "tier", "status", "model", "index", "ε spent", "rewards", title="Members")
    for m in snapshot["members"]:
        r = m["rights"] or {}
        budget = f"/{m['epsilon_budget']:g}" if m["epsilon_budget"] is not None else ""
        members.add_row(
            m["id"],
            m["tier"],
            m["status"],
            "yes" if r.get("receives_model") else "no",
            "yes" if r.get("receives_index") else "no",
            f"{m['epsilon_spent']:g}{budget}",
            f"{m['rewards_total']:.2f}",
        )
    console.print(members)
    rounds = Table("round", "trigger", "scheduled for", "state", "n", "error", title="Recent rounds")
    for r in snapshot["rounds"]:
        rounds.add_row(
            str(r["round_id"]),
            r["trigger"],
            r["scheduled_for"],
            r["state"],
            str(len(r["participants"])),
            (r["error"] or "")[:60],
        )
    console.print(rounds)
    console.print(f"round counts: {snapshot['round_counts']}")


def status(
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    db_url: DbUrlOpt = None,
    constitution: OptionalConstitution = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the federation's members, tiers, rounds and privacy budgets from its store."""
    rules = load_constitution(constitution) if constitution is not None else None
    store = open_store(state_dir, db_url)
    try:
        snapshot = federation_status(store, rules, now=utc_now())
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(snapshot, indent=2, default=str))
    else:
        _render(snapshot)
