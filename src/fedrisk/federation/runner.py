"""Run a :class:`FederationPlan` on Flower's simulation engine (one Ray start for every job of the plan).

The deployment engine runs the same ``member_node.app`` and the same :func:`coordinator.coordinate`; see
``fedrisk.federation.server_app`` for the ServerApp that ``flwr run`` loads.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fedrisk._env import quiet_and_offline
from fedrisk.errors import FederationError
from fedrisk.federation.coordinator import JobOutcome, coordinate
from fedrisk.federation.member_node import app as member_app
from fedrisk.federation.plan import FederationPlan

_log = logging.getLogger(__name__)


def make_server_app(plan: FederationPlan, sink: Callable[[JobOutcome], None]) -> ServerApp:
    """A ServerApp whose main runs ``plan`` and hands each job outcome to ``sink``."""
    server = ServerApp()
    errors: list[BaseException] = []

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            coordinate(grid, plan, sink)
        except BaseException as err:  # re-raised in the caller's thread by run_plan
            errors.append(err)
            raise

    server.fedrisk_errors = errors  # type: ignore[attr-defined]
    return server


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
    quiet_and_offline()
    from flwr.simulation import run_simulation

    outcomes: list[JobOutcome] = []

    def collect(outcome: JobOutcome) -> None:
        outcomes.append(outcome)
        if sink is not None:
            sink(outcome)

    server = make_server_app(plan, collect)
    cpus = num_cpus or max(1, min(os.cpu_count() or 1, len(plan.members)))
    if not verbose:
        for name in ("flwr", "ray"):
            logging.getLogger(name).setLevel(logging.WARNING)
    run_simulation(
        server_app=server,
        client_app=member_app,
        num_supernodes=len(plan.members),
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": cpus, "include_dashboard": False, "log_to_driver": verbose},
        },
        verbose_logging=verbose,
    )
    errors: list[BaseException] = server.fedrisk_errors  # type: ignore[attr-defined]
    if errors:
        raise errors[0]
    if len(outcomes) != len(plan.jobs):
        raise FederationError(
            f"the simulation finished {len(outcomes)} of {len(plan.jobs)} jobs; see the log above for the failure."
        )
    return outcomes
