"""Run federations on Flower's simulation engine (one Ray start for every job of a plan).

:func:`simulate` is the one place that starts the engine; the stress, SecAgg+ and tabular runners all go through
it. Flower's deployment engine would run the same ``member_node.app`` and :func:`coordinator.coordinate` (not tried
yet: see the README).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from flwr.app import Context
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from fedrisk._env import quiet_and_offline
from fedrisk.errors import FederationError
from fedrisk.federation.coordinator import JobOutcome, coordinate
from fedrisk.federation.member_node import app as member_app
from fedrisk.federation.plan import FederationPlan

_log = logging.getLogger(__name__)


def server_app_running(body: Callable[[Grid], None]) -> ServerApp:
    """A ServerApp whose main runs ``body(grid)``; an exception is kept for :func:`simulate` to re-raise."""
    server = ServerApp()
    errors: list[BaseException] = []

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            body(grid)
        except BaseException as err:  # re-raised in the caller's thread by simulate()
            errors.append(err)
            raise

    server.fedrisk_errors = errors  # type: ignore[attr-defined]
    return server


def simulate(
    server: ServerApp, client_app: ClientApp, num_members: int, *, num_cpus: int | None = None, verbose: bool = False
) -> None:
    """Run ``server`` against ``num_members`` simulated nodes of ``client_app``; re-raise the server's error."""
    quiet_and_offline()
    from flwr.simulation import run_simulation

    cpus = num_cpus or max(1, min(os.cpu_count() or 1, num_members))
    if not verbose:
        for name in ("flwr", "ray"):
            logging.getLogger(name).setLevel(logging.WARNING)
    run_simulation(
        server_app=server,
        client_app=client_app,
        num_supernodes=num_members,
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": cpus, "include_dashboard": False, "log_to_driver": verbose},
        },
        verbose_logging=verbose,
    )
    errors: list[BaseException] = getattr(server, "fedrisk_errors", [])
    if errors:
        raise errors[0]


def make_server_app(plan: FederationPlan, sink: Callable[[JobOutcome], None]) -> ServerApp:
    """A ServerApp whose main runs ``plan`` and hands each job outcome to ``sink``."""
    return server_app_running(lambda grid: coordinate(grid, plan, sink))


def run_plan(
    plan: FederationPlan,
    *,
    num_cpus: int | None = None,
    verbose: bool = False,
    sink: Callable[[JobOutcome], None] | None = None,
) -> list[JobOutcome]:
    """Run every job of the plan on the simulation engine and return their outcomes in order.

    ``sink`` also receives each outcome as soon as its job ends (jobs finished before a failure are kept).
    """
    outcomes: list[JobOutcome] = []

    def collect(outcome: JobOutcome) -> None:
        outcomes.append(outcome)
        if sink is not None:
            sink(outcome)

    simulate(make_server_app(plan, collect), member_app, len(plan.members), num_cpus=num_cpus, verbose=verbose)
    if len(outcomes) != len(plan.jobs):
        raise FederationError(
            f"the simulation finished {len(outcomes)} of {len(plan.jobs)} jobs; see the log above for the failure."
        )
    return outcomes
