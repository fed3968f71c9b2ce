"""The audit trail of a run: what the demo and every training run record, and how members countersign.

Records, in order: ``run.started`` (settings), ``dataset.registered`` (SHA-256 of every input file), one
``round.committed`` / ``round.failed`` per round of every federated job as each job ends (job, round, members
with the SHA-256 and size of the update each stated it sent, validation loss), the members' countersignatures of
every round they contributed to (each member checks the record against its own outbound log first), ``model.published``
(the model files as artifacts, so the verifier re-hashes them), then a Merkle checkpoint. The scoring paths load a
model only if its hash is in a committed record.

Keys: the coordinator's private key and the simulated members' keys live in ``keys_dir`` (outside the run
directory); public keys are exported next to the log (``keys/``) for offline verification.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedrisk.audit import AuditLog, FileSigner, Kind, OutboundLog, is_committed_artifact, verify_log
from fedrisk.errors import ModelError

if TYPE_CHECKING:  # scoring imports this module and must not pull in Flower
    from fedrisk.federation.coordinator import JobOutcome

LOG_NAME = "audit.jsonl"


def _claimed_privacy(claim: dict[str, Any]) -> dict[str, Any]:
    """The privacy parameters a member states for its update (record-level DP: z, clip, q, ε; else the mode)."""
    if "privacy-json" in claim:
        return dict(json.loads(str(claim["privacy-json"])))
    return {"mode": claim.get("privacy-mode", "plain")}


@dataclass(slots=True)
class RunTrail:
    """An open audit log for one run directory."""

    log: AuditLog
    out_dir: Path
    keys_dir: Path
    rounds: dict[tuple[str, int], int] = field(default_factory=dict)
    """(job, round) -> seq of its round record."""

    @classmethod
    def open(cls, out_dir: Path, keys_dir: Path) -> RunTrail:
        """Open (or resume) ``out_dir/audit.jsonl`` signed with the coordinator key in ``keys_dir``."""
        signer = FileSigner.load_or_create(keys_dir / "coordinator.key")
        return cls(AuditLog(out_dir / LOG_NAME, signer), out_dir, keys_dir)

    def run_started(self, config: dict[str, Any], files: list[dict[str, str]], dataset: str) -> None:
        """Record the run's settings and the provenance of its input data."""
        self.log.append("run.started", {"config": config})
        self.log.append(Kind.DATASET_REGISTERED, {"dataset": dataset, "files": files})

    def job_finished(self, outcome: JobOutcome) -> None:
        """Record every round of a finished federated job (a sink for :func:`fedrisk.federation.runner.run_plan`)."""
        job = outcome.job
        for rnd in outcome.history:
            members = [
                {"id": m, "sha256": c["sha256"], "size": c["size"], "privacy": _claimed_privacy(c)}
                for m, c in sorted(rnd.claims.items())
            ]
            payload = {
                "job": job.name,
                "strategy": job.strategy,
                "round": rnd.round,
                "members": members,
                "cohort": list(job.cohort),
                "val_loss": rnd.val_loss,
                "chosen": rnd.round == outcome.best_round,
            }
            kind = Kind.ROUND_COMMITTED if rnd.status == "committed" else Kind.ROUND_FAILED
            self.rounds[(job.name, rnd.round)] = self.log.append(kind, payload).seq

    def countersign(self, job: str, members: Iterable[str], outbound_dir: Path) -> int:
        """Each member checks the job's round records against its outbound log and countersigns; returns count."""
        done = 0
        for (name, _), seq in sorted(self.rounds.items()):
            if name != job:
                continue
            record = self.log.record(seq)
            listed = {m["id"] for m in record.payload.get("members", [])}
            for member in sorted(set(members) & listed):
                signer = FileSigner.load_or_create(self.keys_dir / "members" / f"{member}.key", key_id=member)
                outbound = OutboundLog(outbound_dir / job / f"{member}.jsonl")
                self.log.countersign(seq, member_id=member, signer=signer, outbound=outbound)
                done += 1
        return done

    def model_published(self, model_dir: Path, *, weights_sha256: str, job: str) -> None:
        """Record the published model; its files become artifacts the verifier re-hashes."""
        artifacts = [
            self.log.artifact(model_dir / "weights.npz", kind="model"),
            self.log.artifact(model_dir / "metadata.json", kind="model-metadata"),
        ]
        self.log.append(Kind.MODEL_PUBLISHED, {"job": job, "weights_sha256": weights_sha256, "artifacts": artifacts})

    def files_published(self, job: str, folder: Path) -> None:
        """Record every file of a saved model folder (e.g. ``fraud/``) as a published artifact."""
        files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        if files:
            artifacts = [self.log.artifact(p, kind=f"{job}-model") for p in files]
            self.log.append(Kind.MODEL_PUBLISHED, {"job": job, "artifacts": artifacts})

    def close_and_verify(self) -> dict[str, Any]:
        """Checkpoint, close, verify offline; return the ``audit`` section of results.json."""
        self.log.checkpoint()
        self.log.close()
        report = verify_log(self.out_dir / LOG_NAME)
        return {
            "log": LOG_NAME,
            "keys": "keys/",
            "ok": report.ok,
            "records": report.n_records,
            "reason": report.reason,
            "merkle_root": report.root,
            "countersignatures": sum(len(v) for v in report.countersignatures.values()),
            "missing_countersignatures": {str(k): v for k, v in report.missing_countersignatures.items()},
            "artifacts_checked": report.artifacts_checked,
            "verify_s": round(report.elapsed_s, 3),
            "verify_command": f"fedrisk audit verify {LOG_NAME}",
        }


def require_committed_model(run_dir: Path, weights_sha256: str) -> None:
    """Refuse a model whose hash is not in a committed record of the run's audit trail (when the run has one)."""
    log = run_dir / LOG_NAME
    if not log.is_file():
        return
    if not is_committed_artifact(log, weights_sha256):
        raise ModelError(
            f"the model {weights_sha256[:16]}... is not in a committed record of {log} (or the trail does not verify:"
            " run `fedrisk audit verify`). Refusing to load it."
        )


def report_dict(report: Any) -> dict[str, Any]:
    """A JSON-friendly copy of a verification report."""
    return {k: v for k, v in asdict(report).items() if not k.startswith("_")}
