"""`fedrisk round now`: run one manual round immediately."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer

from fedrisk.cli.coordinator import (
    DEFAULT_STATE_DIR,
    ConstitutionOpt,
    DataDirOpt,
    DbUrlOpt,
    DelayOpt,
    FlRoundsOpt,
    JsonOpt,
    LocalStepsOpt,
    RoundFnOpt,
    RunnerChoice,
    RunnerOpt,
    StateDirOpt,
    build_coordinator,
    make_runner,
    open_store,
)
from fedrisk.errors import RoundFailedError
from fedrisk.governance.constitution_loader import load_constitution
from fedrisk.governance.membership import seed_members

app = typer.Typer(help="Manual rounds.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Manual rounds."""


@app.command()
def now(
    constitution: ConstitutionOpt,
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    db_url: DbUrlOpt = None,
    runner: RunnerOpt = "stress",
    data_dir: DataDirOpt = None,
    fl_rounds: FlRoundsOpt = 1,
    local_steps: LocalStepsOpt = 30,
    round_fn: RoundFnOpt = None,
    runner_delay: DelayOpt = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Run one round now, outside the schedule; exit non-zero when it fails.

    Safe next to a running coordinator: it does not touch rounds in progress.
    """
    rules = load_constitution(constitution)
    store = open_store(state_dir, db_url)
    try:
        seed_members(store, rules)
        choice = RunnerChoice(runner, round_fn, runner_delay, data_dir, fl_rounds, local_steps)
        record = build_coordinator(rules, store, make_runner(choice, rules, store, state_dir), to_stderr=True).run_now()
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(asdict(record), default=str, indent=2))
    if record.state != "committed":
        raise RoundFailedError(f"round {record.round_id} failed: {record.error}")
