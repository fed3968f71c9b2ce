"""`fedrisk node start`: a member's node (Flower SuperNode + the member ClientApp) on the deployment engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="A member's node on Flower's deployment engine.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """A member's node on Flower's deployment engine."""


@app.command()
def start(
    member: Annotated[str, typer.Option("--member", help="This member's id (as in the constitution).")],
    data_dir: Annotated[Path, typer.Option("--data-dir", help="This member's own data directory.")],
    keys_dir: Annotated[Path, typer.Option("--keys-dir", help="Holds ca.crt and this member's auth.key.")],
    superlink: Annotated[str, typer.Option("--superlink", help="The coordinator's SuperLink, HOST:PORT.")],
    runtime_port: Annotated[
        int, typer.Option("--runtime-port", help="Local port of the node's Runtime API (one per node on a host).")
    ] = 9094,
    outbound_dir: Annotated[
        Path | None,
        typer.Option("--outbound-dir", help="Where this node logs what it sends (default KEYS_DIR/../outbound/ID)."),
    ] = None,
    poll_s: Annotated[
        float, typer.Option("--poll-s", help="Idle poll of the SuperLink in seconds (Flower's default: 3).")
    ] = 0.1,
    flower_default: Annotated[
        bool,
        typer.Option(
            "--flower-default",
            help="Flower's own executor: a new ClientApp process per message, 3 s polls (slow; for comparison).",
        ),
    ] = False,
    retry_for: Annotated[
        float, typer.Option("--retry-for", help="Keep restarting a refused or disconnected node for this many s.")
    ] = 120.0,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Connect without a node key (refused by auth).")] = False,
) -> None:
    """Connect this member's node to the coordinator over TLS with its node key and serve training rounds."""
    from fedrisk.errors import ConfigError
    from fedrisk.federation.deploy import NodeConfig, node_argv
    from fedrisk.federation.node_runtime import supervise

    if not data_dir.is_dir():
        raise ConfigError(f"--data-dir {data_dir} is not a directory")
    if poll_s <= 0:
        raise ConfigError(f"--poll-s must be > 0, got {poll_s}")
    node = NodeConfig(
        member=member,
        data_dir=data_dir,
        keys_dir=keys_dir,
        superlink=superlink,
        runtime_port=runtime_port,
        outbound_dir=outbound_dir,
        auth=not no_auth,
    )
    argv = node_argv(node, warm=not flower_default)
    typer.echo(f"node {member}: connecting to {superlink} (TLS{'' if no_auth else ', node key'})", err=True)
    spec = {
        "argv": argv,
        "poll_cap_s": None if flower_default else poll_s,
        "warm": not flower_default,
        "runtime_port": runtime_port,
    }
    rc = supervise(spec, retry_for_s=retry_for, log=lambda line: typer.echo(f"node {member}: {line}", err=True))
    if rc != 0:
        raise typer.Exit(rc)
