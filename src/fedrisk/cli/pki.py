"""`fedrisk pki`: the federation's transport PKI (CA, coordinator TLS certificate, members' node keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fedrisk.cli._common import print_json
from fedrisk.errors import ConfigError

app = typer.Typer(help="Transport PKI: CA, coordinator TLS certificate, node keys.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.command()
def init(
    directory: Annotated[Path, typer.Option("--dir", help="Directory of the PKI (created).")],
    members: Annotated[str | None, typer.Option("--members", help="Comma-separated member ids.")] = None,
    constitution: Annotated[
        Path | None, typer.Option("--constitution", help="Take the member ids from this constitution.")
    ] = None,
    host: Annotated[
        list[str] | None, typer.Option("--host", help="Coordinator host name or IP (repeatable; 127.0.0.1 always).")
    ] = None,
    days: Annotated[int, typer.Option(help="Validity of the certificates in days.")] = 365,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing CA.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a CA, the coordinator's TLS certificate and every member's node-authentication key pair."""
    from fedrisk.federation.pki import certificate_hosts, init_pki, member_ids_from_constitution, read_registry

    if (members is None) == (constitution is None):
        raise ConfigError("give exactly one of --members a,b,c or --constitution FILE")
    ids = member_ids_from_constitution(constitution) if constitution else [m.strip() for m in str(members).split(",")]
    paths = init_pki(directory, ids, hosts=tuple(host or ()), days=days, force=force)
    keys = read_registry(paths)
    doc: dict[str, Any] = {
        "dir": str(paths.root),
        "ca": str(paths.ca_cert),
        "coordinator_cert": str(paths.server_cert),
        "coordinator_hosts": certificate_hosts(paths.server_cert),
        "members": {m: {"keys_dir": str(paths.member_dir(m)), "sha256": k.fingerprint} for m, k in keys.items()},
    }
    if as_json:
        print_json(doc)
        return
    typer.echo(f"CA {paths.ca_cert}; coordinator certificate for {', '.join(doc['coordinator_hosts'])}")
    for member, info in doc["members"].items():
        typer.echo(f"  {member}: keys in {info['keys_dir']} (node key sha256 {info['sha256'][:16]}…)")
    typer.echo(f"Keep {paths.ca_key} offline; give each member only its own keys dir.")


@app.command("node-key")
def node_key(
    member: Annotated[str, typer.Option("--member", help="This member's id.")],
    keys_dir: Annotated[Path, typer.Option("--keys-dir", help="Where to write auth.key / auth.pub.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key.")] = False,
) -> None:
    """A member creates its own node key pair; it sends only auth.pub to the coordinator."""
    from fedrisk.federation.pki import write_node_key

    if (keys_dir / "auth.key").exists() and not force:
        raise ConfigError(f"{keys_dir / 'auth.key'} exists (use --force to replace it)")
    key = write_node_key(keys_dir, member)
    typer.echo(f"{keys_dir / 'auth.pub'}: send it to the coordinator; fingerprint sha256 {key.fingerprint}")


@app.command("add-node")
def add_node(
    directory: Annotated[Path, typer.Option("--dir", help="The coordinator's PKI directory.")],
    member: Annotated[str, typer.Option("--member", help="The member's id.")],
    public_key: Annotated[Path, typer.Option("--public-key", help="The member's auth.pub.")],
) -> None:
    """The coordinator adds (or replaces) a member's public node key in nodes.json."""
    from fedrisk.federation.pki import PkiPaths, read_node_key, read_registry, write_registry

    paths = PkiPaths(directory)
    keys = read_registry(paths) if paths.registry.exists() else {}
    keys[member] = read_node_key(public_key, member)
    write_registry(paths, list(keys.values()))
    typer.echo(f"{member}: node key sha256 {keys[member].fingerprint} (compare it with the member out of band)")
