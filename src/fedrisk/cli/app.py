"""The ``fedrisk`` command tree. Only wiring lives here; each command group has its own module."""

from __future__ import annotations

import sys

import typer

from fedrisk._env import quiet_and_offline

quiet_and_offline()

from fedrisk.cli import audit as audit_cli  # noqa: E402
from fedrisk.cli import constitution as constitution_cli  # noqa: E402
from fedrisk.cli import contracts as contracts_cli  # noqa: E402
from fedrisk.cli import contribution as contribution_cli  # noqa: E402
from fedrisk.cli import coordinator as coordinator_cli  # noqa: E402
from fedrisk.cli import credit as credit_cli  # noqa: E402
from fedrisk.cli import data as data_cli  # noqa: E402
from fedrisk.cli import demo as demo_cli  # noqa: E402
from fedrisk.cli import deploy as deploy_cli  # noqa: E402
from fedrisk.cli import explain as explain_cli  # noqa: E402
from fedrisk.cli import fraud as fraud_cli  # noqa: E402
from fedrisk.cli import he as he_cli  # noqa: E402
from fedrisk.cli import member as member_cli  # noqa: E402
from fedrisk.cli import node as node_cli  # noqa: E402
from fedrisk.cli import pki as pki_cli  # noqa: E402
from fedrisk.cli import privacy as privacy_cli  # noqa: E402
from fedrisk.cli import redteam as redteam_cli  # noqa: E402
from fedrisk.cli import report as report_cli  # noqa: E402
from fedrisk.cli import round as round_cli  # noqa: E402
from fedrisk.cli import serve as serve_cli  # noqa: E402
from fedrisk.cli import status as status_cli  # noqa: E402
from fedrisk.cli import stream as stream_cli  # noqa: E402
from fedrisk.cli import stress as stress_cli  # noqa: E402
from fedrisk.errors import FedriskError  # noqa: E402

app = typer.Typer(
    name="fedrisk",
    help="Federated risk models for rival financial institutions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command(name="demo")(demo_cli.demo)
app.add_typer(stress_cli.app, name="stress")
app.add_typer(fraud_cli.app, name="fraud")
app.add_typer(credit_cli.app, name="credit")
app.add_typer(data_cli.app, name="data")
app.add_typer(privacy_cli.app, name="privacy")
app.add_typer(he_cli.app, name="he")
app.command(name="redteam")(redteam_cli.redteam)
app.add_typer(audit_cli.app, name="audit")
app.add_typer(contribution_cli.app, name="contribution")
app.add_typer(explain_cli.app, name="explain")
app.add_typer(constitution_cli.app, name="constitution")
app.add_typer(contracts_cli.app, name="contracts")
app.add_typer(coordinator_cli.app, name="coordinator")
coordinator_cli.app.command(name="serve")(deploy_cli.serve)  # deployment engine (issue 11)
app.add_typer(pki_cli.app, name="pki")
app.add_typer(node_cli.app, name="node")
app.add_typer(member_cli.app, name="member")
app.add_typer(round_cli.app, name="round")
app.command(name="status")(status_cli.status)
app.command(name="serve")(serve_cli.serve)
app.add_typer(stream_cli.app, name="stream")
app.command(name="report")(report_cli.report)


def main() -> None:
    """Console entry point: fedrisk errors become a one-line message and a stable exit code."""
    try:
        rc = app(standalone_mode=False)  # returns the code of a `typer.Exit(n)` instead of exiting
        if isinstance(rc, int) and rc != 0:
            sys.exit(rc)
    except FedriskError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(err.exit_code)
    except typer.Exit as ex:
        sys.exit(ex.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as err:  # click usage errors
        import click

        if isinstance(err, click.ClickException):
            err.show()
            sys.exit(err.exit_code)
        raise


if __name__ == "__main__":
    main()
