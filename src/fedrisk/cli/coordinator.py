"""`fedrisk coordinator run`: the long-running scheduled coordinator.

Shared option types and store/runner helpers used by `fedrisk round`, `member` and `status` live
here too.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from fedrisk.errors import ConfigError, FedriskError
from fedrisk.governance.constitution import Constitution
from fedrisk.governance.constitution_loader import load_constitution
from fedrisk.governance.coordinator import Coordinator, RoundRunner, make_builtin_runner
from fedrisk.governance.store import CoordinatorStore
from fedrisk.governance.store_factory import create_store

app = typer.Typer(
    help="Run the federation's coordinator on its schedule.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group() -> None:
    """Run the federation's coordinator on its schedule."""


ConstitutionOpt = Annotated[Path, typer.Option("--constitution", "-c", help="Constitution TOML file.")]
StateDirOpt = Annotated[
    Path, typer.Option("--state-dir", help="Directory of the coordinator's SQLite state (coordinator.db).")
]
DbUrlOpt = Annotated[
    str | None,
    typer.Option("--db-url", help="SQLAlchemy URL instead of --state-dir, e.g. postgresql+psycopg://..."),
]
RoundFnOpt = Annotated[
    str | None,
    typer.Option("--round-fn", help="Custom round runner as 'package.module:callable' (overrides --runner)."),
]
RunnerOpt = Annotated[
    str,
    typer.Option(
        "--runner",
        help="'stress': real federated stress rounds on Flower (needs --data-dir); "
        "'synthetic': a stand-in that trains nothing (tests and dry runs only).",
    ),
]
DelayOpt = Annotated[
    float,
    typer.Option("--runner-delay", help="Synthetic runner only: seconds to spend in 'running' (testing)."),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Stress runner: the members' data directory (else FEDRISK_DATA_DIR)."),
]
FlRoundsOpt = Annotated[
    int, typer.Option("--fl-rounds", help="Stress runner: Flower rounds of training per scheduled round.")
]
LocalStepsOpt = Annotated[
    int, typer.Option("--local-steps", help="Stress runner: local minibatch steps per member per Flower round.")
]
RUNNERS = ("stress", "synthetic")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

DEFAULT_STATE_DIR = Path("fedrisk-state")


def open_store(state_dir: Path, db_url: str | None) -> CoordinatorStore:
    """Open the store named by ``--db-url`` or, by default, the SQLite file in ``--state-dir``."""
    return create_store(db_url, state_dir=state_dir)


@dataclass(frozen=True, slots=True)
class RunnerChoice:
    """The runner options of ``coordinator run`` and ``round now``."""

    runner: str = "stress"
    round_fn: str | None = None
    delay_s: float = 0.0
    data_dir: Path | None = None
    fl_rounds: int = 1
    local_steps: int = 30


def make_runner(
    choice: RunnerChoice, constitution: Constitution, store: CoordinatorStore, state_dir: Path
) -> RoundRunner:
    """The round runner chosen on the command line: custom ``--round-fn``, ``stress`` (real) or ``synthetic``."""
    if choice.round_fn is not None:
        return load_runner(choice.round_fn)
    if choice.runner == "synthetic":
        return make_builtin_runner(delay_s=choice.delay_s)
    if choice.runner != "stress":
        raise ConfigError(f"--runner {choice.runner!r}: choose one of {', '.join(RUNNERS)}")
    from fedrisk.cli._common import data_dir_option
    from fedrisk.governance.stress_runner import StressRoundRunner, StressRunnerSettings

    settings = StressRunnerSettings(
        data_dir=data_dir_option(choice.data_dir),
        state_dir=state_dir,
        fl_rounds=choice.fl_rounds,
        local_steps=choice.local_steps,
    )
    return StressRoundRunner(constitution, store, settings, log=echo_err)


def load_runner(spec: str | None, *, delay_s: float = 0.0) -> RoundRunner:
    """Import ``module:callable`` as the round runner, or return the synthetic stand-in."""
    if spec is None:
        return make_builtin_runner(delay_s=delay_s)
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"--round-fn {spec!r} must look like 'package.module:callable'")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"cannot load round runner {spec!r}: {err}") from err
    if not callable(obj):
        raise ConfigError(f"round runner {spec!r} is not callable")
    runner: RoundRunner = obj
    return runner


def echo_line(line: str, *, err: bool = False) -> None:
    """Print one event line and flush (so a supervising process sees it at once)."""
    typer.echo(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}", err=err)
    (sys.stderr if err else sys.stdout).flush()


def echo_err(line: str) -> None:
    """Print one event line to stderr (keeps stdout clean for ``--json``)."""
    echo_line(line, err=True)


def build_coordinator(
    constitution: Constitution, store: CoordinatorStore, runner: RoundRunner, *, to_stderr: bool = False
) -> Coordinator:
    """Return a coordinator that logs its events to stdout (or stderr)."""
    return Coordinator(constitution, store, runner, log=echo_err if to_stderr else echo_line)


@app.command()
def run(
    constitution: ConstitutionOpt,
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    db_url: DbUrlOpt = None,
    once: Annotated[bool, typer.Option("--once", help="Exit after one round has run.")] = False,
    runner: RunnerOpt = "stress",
    data_dir: DataDirOpt = None,
    fl_rounds: FlRoundsOpt = 1,
    local_steps: LocalStepsOpt = 30,
    round_fn: RoundFnOpt = None,
    runner_delay: DelayOpt = 0.0,
) -> None:
    """Start rounds on the constitution's cron schedule until stopped (SIGTERM/Ctrl-C).

    On start, rounds left unfinished by a crash are marked failed (never resumed, never committed
    twice) before the schedule resumes. Rounds are real federated stress rounds (``--runner stress``,
    the default); ``--runner synthetic`` trains nothing and is for tests and dry runs.
    """
    started = time.perf_counter()
    rules = load_constitution(constitution)
    store = open_store(state_dir, db_url)
    choice = RunnerChoice(runner, round_fn, runner_delay, data_dir, fl_rounds, local_steps)
    coordinator = build_coordinator(rules, store, make_runner(choice, rules, store, state_dir))
    report = coordinator.recover()
    echo_line(f"ready in {time.perf_counter() - started:.3f} s (recovery {report.seconds * 1000:.1f} ms)")
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        echo_line(f"signal {signum}: stopping after the current round")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    try:
        echo_line(f"next round in {coordinator.seconds_until_next():.0f} s")
        rounds = coordinator.serve(once=once, stop=stop)
    except KeyboardInterrupt:
        rounds = -1
    finally:
        store.close()
    echo_line(f"stopped ({rounds} round(s) run)")


def main() -> None:
    """Run this command group alone (``python -m fedrisk.cli.coordinator``), mapping fedrisk errors."""
    try:
        app(standalone_mode=False)
    except FedriskError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
