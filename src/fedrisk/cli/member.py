"""`fedrisk member join | promote | suspend | reinstate | exit`, under the constitution's rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from fedrisk.cli.coordinator import (
    DEFAULT_STATE_DIR,
    ConstitutionOpt,
    DbUrlOpt,
    JsonOpt,
    StateDirOpt,
    open_store,
)
from fedrisk.errors import ConfigError
from fedrisk.governance.constitution import Constitution
from fedrisk.governance.constitution_loader import load_constitution
from fedrisk.governance.membership import (
    exit_member,
    join_member,
    promote_member,
    reinstate_member,
    seed_members,
    suspend_member,
)
from fedrisk.governance.rights import rights
from fedrisk.governance.store import CoordinatorStore, MemberRecord

app = typer.Typer(help="Membership lifecycle.", no_args_is_help=True)
IdArg = Annotated[str, typer.Argument(help="Member id.")]

Operation = Callable[[CoordinatorStore, Constitution], MemberRecord]


def _apply(constitution: Path, state_dir: Path, db_url: str | None, op: Operation, as_json: bool) -> None:
    rules = load_constitution(constitution)
    store = open_store(state_dir, db_url)
    try:
        seed_members(store, rules)
        record = op(store, rules)
    finally:
        store.close()
    member_rights = asdict(rights(record, rules.tiers))
    if as_json:
        typer.echo(json.dumps({**asdict(record), "rights": member_rights}, default=str, indent=2))
        return
    granted = ", ".join(k for k, v in member_rights.items() if v) or "none"
    typer.echo(f"{record.id}: tier {record.tier}, status {record.status}; rights: {granted}")


@app.command()
def join(
    member_id: IdArg,
    constitution: ConstitutionOpt,
    display_name: Annotated[str, typer.Option("--display-name")],
    organisation: Annotated[str, typer.Option("--organisation")],
    public_key: Annotated[str, typer.Option("--public-key")],
    tier: Annotated[str | None, typer.Option("--tier", help="Default: the constitution's join tier.")] = None,
    joined: Annotated[str | None, typer.Option("--joined", help="ISO date; default today.")] = None,
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    db_url: DbUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Admit a new member (at the constitution's join tier unless --tier is given)."""
    try:
        joined_on = date.fromisoformat(joined) if joined else date.today()
    except ValueError as err:
        raise ConfigError(f"--joined {joined!r} is not an ISO date: write 2024-01-31") from err

    def op(store: CoordinatorStore, rules: Constitution) -> MemberRecord:
        return join_member(
            store,
            rules,
            member_id=member_id,
            display_name=display_name,
            organisation=organisation,
            public_key=public_key,
            joined=joined_on,
            tier=tier,
        )

    _apply(constitution, state_dir, db_url, op, as_json)


@app.command()
def promote(
    member_id: IdArg,
    constitution: ConstitutionOpt,
    override: Annotated[
        bool, typer.Option("--override", help="Skip the contribution test (after an amendment vote).")
    ] = False,
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    db_url: DbUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Promote a member under the promotion rule (contribution threshold over k rounds)."""
    _apply(
        constitution,
        state_dir,
        db_url,
        lambda s, r: promote_member(s, r, member_id, override=override),
        as_json,
    )


@app.command()
def suspend(
    member_id: IdArg,
    constitution: ConstitutionOpt,
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    db_url: DbUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Suspend a member: no rights and no participation until reinstated."""
    _apply(constitution, state_dir, db_url, lambda s, _r: suspend_member(s, member_id), as_json)


@app.command()
def reinstate(
    member_id: IdArg,
    constitution: ConstitutionOpt,
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    db_url: DbUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reinstate a suspended member."""
    _apply(constitution, state_dir, db_url, lambda s, _r: reinstate_member(s, member_id), as_json)


@app.command(name="exit")
def exit_(
    member_id: IdArg,
    constitution: ConstitutionOpt,
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    db_url: DbUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give notice: the member serves the exit notice (in rounds), then leaves."""
    _apply(constitution, state_dir, db_url, lambda s, r: exit_member(s, r, member_id), as_json)
