"""fedrisk.audit — a verifiable audit trail of the federation.

An append-only JSON Lines log of canonical-JSON (RFC 8785) records. Each record carries the SHA-256 of
the previous one and an Ed25519 signature of the coordinator; members countersign round-commit records
after checking them against their own outbound log; periodic RFC 6962 Merkle checkpoints let a single
record be proven to a regulator with an inclusion proof. Everything verifies offline with
:func:`verify_log` (or ``fedrisk audit verify``), which names the first bad record and why.

Typical use::

    signer = FileSigner.load_or_create(Path("keys/coordinator.key"))
    with AuditLog(run_dir / "audit.jsonl", signer) as log:
        rec = log.append("round.committed",
                         {"round": 3, "members": [...], "artifacts": [log.artifact(model)]})
        log.countersign(rec.seq, member_id="kraken", signer=kraken_signer, outbound=OutboundLog(path))
        log.checkpoint()
    report = verify_log(run_dir / "audit.jsonl")

This package imports nothing from fedrisk but :mod:`fedrisk.errors`.
"""

from __future__ import annotations

from fedrisk.audit._canon import canonical, sha256_file, sha256_hex
from fedrisk.audit.export import export_bundle
from fedrisk.audit.log import AuditLog, Countersignature, countersign_record, member_claim
from fedrisk.audit.merkle import leaf_hash, merkle_root, node_hash, verify_inclusion
from fedrisk.audit.outbound import OutboundEntry, OutboundLog, Receipt
from fedrisk.audit.proof import InclusionProof, prove, verify_proof
from fedrisk.audit.records import COMMIT_KINDS, AuditRecord, Kind
from fedrisk.audit.signing import FileSigner, Signer, fingerprint, load_public_key
from fedrisk.audit.verify import VerifyReport, is_committed_artifact, read_records, verify_log

__all__ = [
    "COMMIT_KINDS",
    "AuditLog",
    "AuditRecord",
    "Countersignature",
    "FileSigner",
    "InclusionProof",
    "Kind",
    "OutboundEntry",
    "OutboundLog",
    "Receipt",
    "Signer",
    "VerifyReport",
    "canonical",
    "countersign_record",
    "export_bundle",
    "fingerprint",
    "is_committed_artifact",
    "leaf_hash",
    "load_public_key",
    "member_claim",
    "merkle_root",
    "node_hash",
    "prove",
    "read_records",
    "sha256_file",
    "sha256_hex",
    "verify_inclusion",
    "verify_log",
    "verify_proof",
]
