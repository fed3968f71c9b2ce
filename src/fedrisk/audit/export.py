"""Export an audit log as a self-contained bundle for a regulator.

The bundle holds the log and its signed head, the public keys it needs, the artifact files it references
(those inside the log's directory), the verification report at export time, an independent verifier
script (``verify_standalone.py``, needs only ``cryptography`` and ``rfc8785``) and ``VERIFY.md``.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

from fedrisk.audit.log import default_keys_dir, head_path
from fedrisk.audit.verify import VerifyReport, read_records, verify_log
from fedrisk.errors import AuditIntegrityError, ConfigError

_STANDALONE = Path(__file__).with_name("standalone.py")


def _inside(rel: str) -> bool:
    p = PurePosixPath(rel)
    return not p.is_absolute() and ".." not in p.parts


def export_bundle(
    log_path: Path | str,
    out_dir: Path | str,
    *,
    keys_dir: Path | str | None = None,
    include_artifacts: bool = True,
    force: bool = False,
) -> VerifyReport:
    """Write the bundle to ``out_dir`` (which must not exist, or be empty); return its verification.

    A log that does not verify is refused unless ``force`` (the bundle then says what fails).
    """
    log_path = Path(log_path)
    out = Path(out_dir)
    kd = Path(keys_dir) if keys_dir is not None else default_keys_dir(log_path)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; export into a new directory.")
    source = verify_log(log_path, kd, allow_missing_artifacts=not include_artifacts)
    if not source.ok and not force:
        raise AuditIntegrityError(
            f"refusing to export a log that does not verify: {source.summary()} "
            "(use --force to export it anyway, with the failure stated in VERIFY.md)"
        )
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(log_path, out / log_path.name)
    if head_path(log_path).exists():
        shutil.copyfile(head_path(log_path), head_path(out / log_path.name))
    (out / "keys").mkdir()
    for kid in source.keys:
        src = kd / f"{kid}.pub"
        if src.exists():
            shutil.copyfile(src, out / "keys" / f"{kid}.pub")
    copied, left_out = [], []
    if include_artifacts:
        seen: set[str] = set()
        for rec in read_records(log_path)[: max(source.n_valid, 0)]:
            for art in rec.payload.get("artifacts") or []:
                rel = art["path"]
                if rel in seen:
                    continue
                seen.add(rel)
                src = log_path.parent / rel
                if _inside(rel) and src.is_file():
                    dst = out / rel
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dst)
                    copied.append(rel)
                else:
                    left_out.append(rel)
    shutil.copyfile(_STANDALONE, out / "verify_standalone.py")
    bundle_log = out / log_path.name
    report = verify_log(bundle_log, out / "keys", allow_missing_artifacts=bool(left_out) or not include_artifacts)
    (out / "report.json").write_text(report.to_json() + "\n")
    (out / "VERIFY.md").write_text(_verify_md(log_path.name, report, copied, left_out, include_artifacts))
    return report


def _verify_md(name: str, rep: VerifyReport, copied: list[str], left_out: list[str], with_files: bool) -> str:
    keys = "\n".join(f"| `{k}` | {v['role']} | `{v['fingerprint']}` |" for k, v in sorted(rep.keys.items()))
    cs = sum(len(v) for v in rep.countersignatures.values())
    files = (
        "Artifact files were not included (exported with --no-artifacts): verify with `--no-artifacts`, or "
        "place the files at their recorded paths beside the log."
        if not with_files
        else f"{len(copied)} referenced artifact file(s) are included at their recorded paths."
        + (
            f" Not included (outside the log's directory or missing): {', '.join(left_out)}; verify with "
            "`--skip-missing-artifacts`, or put them in place first."
            if left_out
            else ""
        )
    )
    status = "verifies" if rep.ok else f"DOES NOT VERIFY: {rep.summary()}"
    return f"""# Audit trail bundle — how to verify

This directory is an export of a fedrisk audit trail. At export time the log **{status}**
({rep.n_records} records, {rep.signatures} coordinator signatures, {cs} member countersignatures,
{rep.checkpoints} Merkle checkpoints). Do not take that on trust: check it yourself as below.

## Contents

| file | what |
| --- | --- |
| `{name}` | the log: one signed, hash-chained record per line (canonical JSON, RFC 8785) |
| `{name}.head` | the coordinator's signed statement of the last record (detects records cut from the end) |
| `keys/<id>.pub` | Ed25519 public keys (PEM) of the coordinator and of the members that countersigned |
| `report.json` | the verification report at export time |
| `verify_standalone.py` | an independent verifier (~200 lines, shares no code with fedrisk) |

{files}

## 1. Compare the key fingerprints

Get the fingerprints from the coordinator and each member **through another channel** (their
letterhead, your supervisory portal) and compare. A fingerprint is the SHA-256 of the 32-byte raw
Ed25519 public key: `openssl pkey -pubin -in keys/ID.pub -outform DER | tail -c 32 | sha256sum`.

| key id | role | fingerprint |
| --- | --- | --- |
{keys}

If they match, nobody (the coordinator included) can have rewritten the log without breaking a signature.

## 2. Verify

With the independent verifier (Python 3.9+):

    pip install cryptography rfc8785
    python verify_standalone.py {name} --keys keys

or with fedrisk installed:

    fedrisk audit verify {name} --keys keys

Both print `OK …` and exit 0, or name the first bad record and why and exit non-zero.

Expected values at export: last record hash `{rep.last_hash}`, Merkle root over all records `{rep.root}`.

## 3. Prove a single record

`fedrisk audit prove {name} SEQ --keys keys --out proof.json` writes an RFC 6962 inclusion proof of record
SEQ against the latest signed checkpoint; `fedrisk audit check-proof proof.json --keys keys` checks it
with only the public keys — the rest of the log is not needed.

## Format

Each line is the RFC 8785 canonical JSON of
`{{"at","by","fmt":"fedrisk-audit/1","kind","payload","prev","seq","sig"}}`. `prev` is the SHA-256 (hex)
of the previous line's bytes (64 zeros for record 0); `sig` is the base64 Ed25519 signature by key `by`
of the line with the `,"sig":"…"` member removed. Record 0 (`audit.opened`) names the coordinator key;
`audit.key_registered` records add member keys. An `audit.countersigned` record carries a member's
signature over the canonical JSON of
`{{"fmt":"fedrisk-audit-countersign/1","member","outbound","record_hash","record_seq","round"}}`, where
`outbound` is what the member's own outbound log says it sent. An `audit.checkpoint` record states the
RFC 6962 Merkle root (leaf = SHA-256(0x00‖line), node = SHA-256(0x01‖left‖right)) of all records before
it. `artifacts` entries give files by path relative to the log and their SHA-256.
"""
