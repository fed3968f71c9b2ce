"""Inclusion proofs: prove one record to a regulator without handing over the whole log.

A proof bundles the record's line, the line of a signed ``audit.checkpoint`` record whose Merkle root
covers it, and the RFC 6962 audit path between them. Checking it needs only the coordinator's public
key: both lines carry its signature, and the path recomputes the checkpoint's root from the record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fedrisk.audit.merkle import inclusion_path, leaf_hash, root_from_inclusion_path
from fedrisk.audit.records import AuditRecord, Kind, decode_sig, signed_message
from fedrisk.audit.signing import fingerprint, load_public_key, verify_signature
from fedrisk.audit.verify import verify_log
from fedrisk.errors import AuditIntegrityError, ConfigError

PROOF_FORMAT = "fedrisk-audit-proof/1"


@dataclass(frozen=True)
class InclusionProof:
    """Record ``seq`` is leaf ``seq`` of the tree of ``tree_size`` records whose root a checkpoint signed."""

    log_id: str
    seq: int
    record: str
    """The record's line, exactly as in the log."""
    tree_size: int
    path: list[str]
    """Sibling hashes (hex) from the leaf up, RFC 6962 PATH order."""
    root: str
    checkpoint_seq: int
    checkpoint: str
    """The checkpoint record's line, exactly as in the log."""
    keys: dict[str, str]
    """Signing key id -> fingerprint, for comparison with fingerprints published out of band."""
    fmt: str = PROOF_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> InclusionProof:
        try:
            obj: dict[str, Any] = json.loads(text)
            if obj.get("fmt") != PROOF_FORMAT:
                raise ValueError(f"format {obj.get('fmt')!r} is not {PROOF_FORMAT!r}")
            return cls(**obj)
        except (TypeError, ValueError) as err:
            raise AuditIntegrityError(f"not an audit inclusion proof: {err}") from err


def _resolve(records: list[AuditRecord], record_id: str | int) -> int:
    if isinstance(record_id, int) or str(record_id).isdigit():
        return int(record_id)
    prefix = str(record_id).lower()
    if len(prefix) < 8:
        raise ConfigError(f"record id {record_id!r}: give a seq number or at least 8 hex digits of its hash.")
    hits = [r.seq for r in records if r.hash.startswith(prefix)]
    if len(hits) != 1:
        raise ConfigError(f"record id {record_id!r} matches {len(hits)} records; give more hash digits or the seq.")
    return hits[0]


def prove(
    log_path: Path | str,
    record_id: int | str,
    *,
    keys_dir: Path | str | None = None,
    checkpoint_seq: int | None = None,
) -> InclusionProof:
    """Build the inclusion proof of a record (a seq, or a hash prefix of ≥ 8 hex digits).

    The log is verified first; the proof uses the latest valid checkpoint covering the record, or the
    checkpoint at ``checkpoint_seq``. No checkpoint after the record yet: :class:`ConfigError` (call
    ``AuditLog.checkpoint()``).
    """
    log_path = Path(log_path)
    report = verify_log(log_path, keys_dir, check_artifacts=False)
    if not (report.ok or report.valid_but_torn):
        raise AuditIntegrityError(f"cannot prove from a log that does not verify: {report.summary()}")
    data = log_path.read_bytes()
    lines = data[: data.rfind(b"\n") + 1].split(b"\n")[:-1][: report.n_valid]
    records = [AuditRecord.from_line(line) for line in lines]
    seq = _resolve(records, record_id)
    if not 0 <= seq < len(records):
        raise ConfigError(f"{log_path} has records 0..{len(records) - 1}; there is no record {seq}.")
    cps = [r for r in records if r.kind == Kind.CHECKPOINT and r.payload["tree_size"] > seq]
    if checkpoint_seq is not None:
        cps = [r for r in cps if r.seq == checkpoint_seq]
    if not cps:
        raise ConfigError(
            f"no checkpoint covers record {seq}"
            + (f" at seq {checkpoint_seq}" if checkpoint_seq is not None else "")
            + ": a proof needs a signed Merkle root taken after the record. Call AuditLog.checkpoint()."
        )
    cp = cps[-1]
    size = cp.payload["tree_size"]
    leaves = [leaf_hash(line) for line in lines[:size]]
    path = inclusion_path(leaves, seq, size)
    return InclusionProof(
        log_id=report.log_id,
        seq=seq,
        record=lines[seq].decode("utf-8"),
        tree_size=size,
        path=[p.hex() for p in path],
        root=cp.payload["root"],
        checkpoint_seq=cp.seq,
        checkpoint=lines[cp.seq].decode("utf-8"),
        keys={k: report.keys[k]["fingerprint"] for k in {records[seq].by, cp.by}},
    )


def verify_proof(proof: InclusionProof, keys_dir: Path | str) -> AuditRecord:
    """Check a proof with the public keys in ``keys_dir``; return the proven record.

    Raises :class:`AuditIntegrityError` saying what does not hold.
    """
    kd = Path(keys_dir)

    def check_signed(line: bytes, what: str) -> AuditRecord:
        try:
            rec = AuditRecord.from_line(line)
        except ValueError as err:
            raise AuditIntegrityError(f"proof: the {what} is not a well-formed record ({err})") from err
        pub_path = kd / f"{rec.by}.pub"
        if not pub_path.exists():
            raise AuditIntegrityError(f"proof: no public key {pub_path} for {rec.by!r}, who signed the {what}")
        pub = load_public_key(pub_path)
        if rec.by in proof.keys and proof.keys[rec.by] != fingerprint(pub):
            raise AuditIntegrityError(f"proof: {pub_path} is not the key the proof names for {rec.by!r}")
        msg, sig = signed_message(line), decode_sig(rec.sig)
        if msg is None or sig is None or not verify_signature(pub, sig, msg):
            raise AuditIntegrityError(f"proof: the {what}'s signature does not verify with {pub_path}")
        return rec

    record_line = proof.record.encode("utf-8")
    rec = check_signed(record_line, "record")
    cp = check_signed(proof.checkpoint.encode("utf-8"), "checkpoint")
    if rec.seq != proof.seq:
        raise AuditIntegrityError(f"proof: the record is seq {rec.seq}, the proof claims {proof.seq}")
    if cp.kind != Kind.CHECKPOINT or cp.seq != proof.checkpoint_seq:
        raise AuditIntegrityError("proof: the checkpoint line is not the named checkpoint record")
    if cp.payload.get("tree_size") != proof.tree_size or cp.payload.get("root") != proof.root:
        raise AuditIntegrityError("proof: tree size or root differ from what the signed checkpoint states")
    try:
        path = [bytes.fromhex(p) for p in proof.path]
    except ValueError as err:
        raise AuditIntegrityError(f"proof: audit path is not hex ({err})") from err
    computed = root_from_inclusion_path(leaf_hash(record_line), proof.seq, proof.tree_size, path)
    if computed is None or computed.hex() != proof.root:
        raise AuditIntegrityError(
            f"proof: the audit path does not lead from record {proof.seq} to the checkpoint root "
            f"{proof.root[:16]}…: the record or the path was altered"
        )
    return rec


__all__ = ["InclusionProof", "prove", "verify_proof"]
