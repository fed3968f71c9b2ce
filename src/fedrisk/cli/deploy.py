"""`fedrisk coordinator serve`: the coordinator's SuperLink with TLS and node authentication, and one plan run.

Registered on the ``coordinator`` command group by ``cli/app.py`` (the group's own module belongs to governance).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedrisk.cli._common import print_json


def serve(
    pki: Annotated[Path, typer.Option("--pki", help="The federation's PKI directory (fedrisk pki init).")],
    state_dir: Annotated[Path, typer.Option("--state-dir", help="SuperLink database, logs, Flower CLI home.")],
    host: Annotated[str, typer.Option("--host", help="Address the SuperLink listens on (0.0.0.0: all).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="The SuperLink's port (Fleet, Control, Runtime APIs).")] = 9091,
    constitution: Annotated[
        Path | None, typer.Option("--constitution", help="Register only the node keys of this constitution's members.")
    ] = None,
    revoke: Annotated[str, typer.Option("--revoke", help="Comma-separated members whose nodes are refused.")] = "",
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Accept any node (TLS only). Not for production.")] = False,
    plan: Annotated[
        Path | None, typer.Option("--plan", help="Run this plan (JSON, fedrisk.federation.deploy_app.plan_to_json).")
    ] = None,
    members: Annotated[str, typer.Option("--members", help="Without --plan: one FedAvg job over these members.")] = "",
    rounds: Annotated[int, typer.Option("--rounds", help="Without --plan: rounds of the job.")] = 12,
    out: Annotated[Path | None, typer.Option("--out", help="Where the run's outcome is written.")] = None,
    round_timeout: Annotated[
        float, typer.Option("--round-timeout", help="Longest wait (s) for the replies of one phase of a round.")
    ] = 600.0,
    keep_serving: Annotated[bool, typer.Option("--keep-serving", help="Keep the SuperLink up after the run.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Start the SuperLink (TLS, node auth), register the members' node keys and run one plan.

    Without --plan and --members it only serves (until stopped); with one, it waits for the plan's member
    nodes, submits the fedrisk Flower app with `flwr run`, waits for the run and writes its outcome to --out.
    """
    from fedrisk.errors import ConfigError, FederationError
    from fedrisk.federation.deploy import CoordinatorConfig, read_outcome
    from fedrisk.federation.deploy import serve as serve_link
    from fedrisk.federation.deploy_app import plan_from_json, plan_to_json
    from fedrisk.federation.pki import PkiPaths, member_ids_from_constitution
    from fedrisk.federation.plan import FederationPlan, Job, TrainSettings

    allowed = tuple(member_ids_from_constitution(constitution)) if constitution else None
    cfg = CoordinatorConfig(
        pki=PkiPaths(pki),
        state_dir=state_dir,
        host=host,
        port=port,
        connect_host=host if host not in ("0.0.0.0", "::", "") else "127.0.0.1",
        auth=not no_auth,
        members=allowed,
        revoked=tuple(m for m in revoke.split(",") if m),
    )
    fed_plan: FederationPlan | None = None
    if plan is not None:
        fed_plan = plan_from_json(plan.read_text())
    elif members:
        ids = tuple(m.strip() for m in members.split(","))
        fed_plan = FederationPlan(members=ids, jobs=(Job("stress", ids, settings=TrainSettings(rounds=rounds)),))
    run_config: dict[str, str | int | float] | None = None
    out_dir = (out or state_dir / "outcome").resolve()
    if fed_plan is not None:
        if allowed is not None and set(fed_plan.members) - set(allowed):
            raise ConfigError(
                f"plan members {sorted(set(fed_plan.members) - set(allowed))} are not in the constitution"
            )
        run_config = {"plan": plan_to_json(fed_plan), "out-dir": str(out_dir), "round-timeout-s": round_timeout}

    def log(line: str) -> None:
        typer.echo(line, err=True)

    report = serve_link(
        cfg,
        run_config=run_config,
        expect_nodes=len(fed_plan.members) if fed_plan else 0,
        keep_serving=keep_serving or fed_plan is None,
        log=log,
    )
    if fed_plan is not None:
        report["outcome"] = read_outcome(out_dir)
        report["out_dir"] = str(out_dir)
        if report.get("status") != "finished:completed":
            raise FederationError(f"run {report.get('run_id')} ended {report.get('status')}; see {state_dir}")
    if as_json:
        print_json(report)
