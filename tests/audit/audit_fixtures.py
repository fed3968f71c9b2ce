"""Helpers for the audit tests (a uniquely named module: `conftest` names clash across test folders)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fedrisk.audit import AuditLog, FileSigner, OutboundLog

MEMBERS = ("kraken", "lynx", "orca")


@dataclass
class Member:
    id: str
    signer: FileSigner
    outbound: OutboundLog


@dataclass
class Trail:
    """A written trail and what went into it."""

    path: Path
    coordinator: FileSigner
    members: dict[str, Member]
    round_seqs: dict[int, int]  # round -> seq of its round.committed record
    models: dict[int, Path]  # round -> model file

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    def lines(self) -> list[bytes]:
        return self.path.read_bytes().split(b"\n")[:-1]

    def write_lines(self, lines: list[bytes]) -> None:
        self.path.write_bytes(b"".join(line + b"\n" for line in lines))


def write_trail(
    run_dir: Path,
    coordinator: FileSigner,
    members: dict[str, Member],
    *,
    rounds: int = 3,
    countersign: bool = True,
) -> Trail:
    """A federation of three members over ``rounds`` rounds, the way a training run writes it."""
    path = run_dir / "audit.jsonl"
    (run_dir / "models").mkdir(parents=True, exist_ok=True)
    (run_dir / "data").mkdir(exist_ok=True)
    dataset = run_dir / "data" / "schema.json"
    dataset.write_text('{"columns": ["amount", "label"]}')
    round_seqs: dict[int, int] = {}
    models: dict[int, Path] = {}
    with AuditLog(path, coordinator) as log:
        for m in members:
            log.append("member.joined", {"member": m, "tier": "full"})
        log.append("dataset.registered", {"name": "schema", "artifacts": [log.artifact(dataset)]})
        for r in range(1, rounds + 1):
            log.append("round.scheduled", {"round": r, "task": "fraud", "cohort": sorted(members)})
            log.append("round.started", {"round": r})
            claims = []
            for m in members.values():
                update = f"update of {m.id} in round {r}".encode()
                entry = m.outbound.record_sent(r, update, privacy={"epsilon": 0.5, "delta": 1e-5, "clip": 1.0})
                claims.append(entry.claim(m.id))
            model = run_dir / "models" / f"round-{r}.bin"
            model.write_bytes(f"weights after round {r}".encode() * 10)
            models[r] = model
            rec = log.append(
                "round.committed",
                {"round": r, "members": claims, "artifacts": [log.artifact(model, kind="model")]},
            )
            round_seqs[r] = rec.seq
            if countersign:
                for m in members.values():
                    log.countersign(rec.seq, member_id=m.id, signer=m.signer, outbound=m.outbound)
            log.append("privacy.spent", {"round": r, "epsilon": 0.5 * r, "delta": 1e-5})
            log.checkpoint()
        log.append("model.published", {"round": rounds, "artifacts": [log.artifact(models[rounds], kind="model")]})
    return Trail(path, coordinator, members, round_seqs, models)
