"""`fedrisk audit` commands: verify, show, prove, check-proof, export.

A log that does not verify raises :class:`~fedrisk.errors.AuditIntegrityError`, which the ``fedrisk``
entry point turns into a one-line message naming the first bad record and exit code 7.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fedrisk.audit import (
    InclusionProof,
    export_bundle,
    prove,
    read_records,
    verify_log,
    verify_proof,
)
from fedrisk.audit.records import Kind
from fedrisk.errors import AuditIntegrityError, ConfigError

app = typer.Typer(help="Verify, inspect, prove and export the audit trail.", no_args_is_help=True)

LogPath = Annotated[Path, typer.Argument(help="The audit log (audit.jsonl).", exists=False)]
KeysOpt = Annotated[
    Path | None,
    typer.Option(
        "--keys",
        help="Directory of <key_id>.pub files (default: keys/ beside the log). Point it at "
        "keys you obtained independently to pin them.",
    ),
]


def _anchor(text: str) -> tuple[int, str]:
    seq, _, h = text.partition(":")
    if not seq.isdigit() or len(h) != 64:
        raise ConfigError(f"--anchor {text!r}: expected SEQ:SHA256HEX (a record hash you hold).")
    return int(seq), h.lower()


def _member_path(text: str) -> tuple[str, Path]:
    member, _, p = text.partition("=")
    if not member or not p:
        raise ConfigError(f"--outbound {text!r}: expected MEMBER=PATH of that member's outbound log.")
    return member, Path(p)


@app.command()
def verify(
    path: LogPath,
    keys: KeysOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    anchor: Annotated[
        list[str] | None,
        typer.Option("--anchor", help="SEQ:HASH of a record you hold (e.g. a published checkpoint); repeatable."),
    ] = None,
    outbound: Annotated[
        list[str] | None,
        typer.Option(
            "--outbound",
            help="MEMBER=PATH of a member's outbound log, checked against the trail; repeatable.",
        ),
    ] = None,
    no_artifacts: Annotated[bool, typer.Option("--no-artifacts", help="Do not hash referenced files.")] = False,
    skip_missing: Annotated[
        bool,
        typer.Option("--skip-missing-artifacts", help="Warn (not fail) when a referenced file is absent."),
    ] = False,
    require_countersignatures: Annotated[
        bool,
        typer.Option(
            "--require-countersignatures",
            help="Fail when a round record lacks a listed member's countersignature.",
        ),
    ] = False,
) -> None:
    """Check chain, signatures, countersignatures, checkpoints and artifacts; name the first bad record."""
    report = verify_log(
        path,
        keys,
        check_artifacts=not no_artifacts,
        allow_missing_artifacts=skip_missing,
        anchors=[_anchor(a) for a in anchor or []],
        outbound=dict(_member_path(o) for o in outbound or []),
        require_countersignatures=require_countersignatures,
    )
    if as_json:
        typer.echo(report.to_json())
    else:
        typer.echo(report.summary())
        for kid, info in sorted(report.keys.items()):
            typer.echo(f"  key {kid} ({info['role']}): fingerprint {info['fingerprint']}")
        if report.missing_countersignatures:
            missing = ", ".join(f"record {s}: {', '.join(m)}" for s, m in report.missing_countersignatures.items())
            typer.echo(f"  not yet countersigned: {missing}")
        for w in report.warnings:
            typer.echo(f"  warning: {w}")
        typer.echo(f"  verified in {report.elapsed_s:.3f} s")
    if not report.ok:
        raise AuditIntegrityError(
            f"{path}: record {report.first_bad_seq} (line {report.first_bad_line}) is bad: {report.reason}"
        )


def _summary(payload: dict[str, object], kind: str) -> str:
    if kind == Kind.COUNTERSIGNED:
        return f"{payload.get('member')} countersigns record {payload.get('record_seq')}"
    if kind == Kind.CHECKPOINT:
        return f"root {str(payload.get('root'))[:16]}… over {payload.get('tree_size')} records"
    parts = []
    for key, value in payload.items():
        if key == "members" and isinstance(value, list):
            ids = [m.get("id") if isinstance(m, dict) else m for m in value]
            parts.append(f"members={','.join(str(i) for i in ids)}")
        elif key == "artifacts" and isinstance(value, list):
            parts.append(f"artifacts={len(value)}")
        elif isinstance(value, str | int | float | bool):
            parts.append(f"{key}={str(value)[:24]}")
    text = " ".join(parts)
    return text if len(text) <= 90 else text[:89] + "…"


@app.command()
def show(
    path: LogPath,
    kind: Annotated[str | None, typer.Option("--kind", help="Only records of this kind (prefix match).")] = None,
    last: Annotated[int | None, typer.Option("--last", help="Only the last N records.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per record.")] = False,
) -> None:
    """List the records (unverified; run `verify` to check them)."""
    if not path.exists():
        raise ConfigError(f"{path} does not exist; give the path of an audit log (audit.jsonl).")
    records = read_records(path)
    cs: dict[int, list[str]] = {}
    for r in records:
        if r.kind == Kind.COUNTERSIGNED:
            cs.setdefault(int(r.payload.get("record_seq", -1)), []).append(str(r.payload.get("member")))
    shown = [r for r in records if kind is None or r.kind.startswith(kind)]
    if last is not None:
        shown = shown[-last:]
    for r in shown:
        if as_json:
            typer.echo(json.dumps(r.to_dict(), sort_keys=True))
            continue
        extra = (
            f"  countersigned by: {', '.join(cs[r.seq]) or '-'}"
            if r.kind == Kind.ROUND_COMMITTED and r.seq in cs
            else ("  countersigned by: -" if r.kind == Kind.ROUND_COMMITTED else "")
        )
        typer.echo(
            f"{r.seq:>6}  {r.at[:19]}  {r.kind:<22} {r.by:<12} {r.hash[:12]}  {_summary(r.payload, r.kind)}{extra}"
        )
    if not as_json:
        typer.echo(f"{len(shown)} of {len(records)} records shown (not verified: run `fedrisk audit verify`).")


@app.command(name="prove")
def prove_cmd(
    path: LogPath,
    record_id: Annotated[str, typer.Argument(help="Record seq, or ≥ 8 hex digits of its hash.")],
    keys: KeysOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the proof JSON to this file.")] = None,
    checkpoint: Annotated[
        int | None,
        typer.Option("--checkpoint", help="Seq of the checkpoint to prove against (default: the latest)."),
    ] = None,
) -> None:
    """Print an RFC 6962 inclusion proof of one record against a signed checkpoint, and check it."""
    proof = prove(path, record_id, keys_dir=keys, checkpoint_seq=checkpoint)
    text = proof.to_json()
    typer.echo(text)
    if out is not None:
        out.write_text(text + "\n")
    verify_proof(proof, keys if keys is not None else path.parent / "keys")
    typer.echo(
        f"proof checks: record {proof.seq} is leaf {proof.seq} of the {proof.tree_size}-record tree whose "
        f"root {proof.root} checkpoint {proof.checkpoint_seq} signs",
        err=True,
    )


@app.command(name="check-proof")
def check_proof(
    proof_file: Annotated[Path, typer.Argument(help="A proof written by `fedrisk audit prove --out`.")],
    keys: Annotated[Path, typer.Option("--keys", help="Directory of <key_id>.pub files.")],
) -> None:
    """Check an inclusion proof with only the public keys (no log needed)."""
    proof = InclusionProof.from_json(proof_file.read_bytes())
    rec = verify_proof(proof, keys)
    typer.echo(
        f"OK: record {rec.seq} ({rec.kind}, hash {rec.hash}) is in the log under the root {proof.root} "
        f"signed by checkpoint {proof.checkpoint_seq}"
    )


@app.command()
def export(
    path: LogPath,
    out: Annotated[Path, typer.Argument(help="New directory for the bundle.")],
    keys: KeysOpt = None,
    no_artifacts: Annotated[bool, typer.Option("--no-artifacts", help="Leave referenced files out.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Export even if the log does not verify.")] = False,
) -> None:
    """Bundle records, public keys, referenced files, a standalone verifier and VERIFY.md for a regulator."""
    report = export_bundle(path, out, keys_dir=keys, include_artifacts=not no_artifacts, force=force)
    typer.echo(f"exported to {out}: {report.summary()}")
    typer.echo(
        f"next: read {out / 'VERIFY.md'}; check with `python {out / 'verify_standalone.py'} "
        f"{out / path.name} --keys {out / 'keys'}`"
    )
