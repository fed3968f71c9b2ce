"""A member's own outbound log: what it actually sent, kept on the member's side.

Before countersigning a round-commit record, a member checks the record's claim about it (update hash,
size, privacy parameters) against this log. After countersigning it keeps a *receipt* (the record's seq
and hash); a verifier given the member's outbound log checks every receipt is still in the audit trail,
which catches a coordinator that later drops or rewrites a countersigned round.

Format: JSON Lines, one canonical-JSON object per line::

    {"at":"…","privacy":{"epsilon":0.5,…},"round":3,"sha256":"…","size":18432,"type":"sent"}
    {"at":"…","hash":"…","round":3,"seq":17,"type":"receipt"}
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fedrisk.audit._canon import canonical, is_hex64, normalize, sha256_hex
from fedrisk.errors import AuditIntegrityError, ConfigError


def utc_now() -> str:
    """RFC 3339 UTC timestamp with microseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class OutboundEntry:
    """One update a member sent to the coordinator."""

    round: int
    size: int
    sha256: str
    privacy: dict[str, Any] | None = None
    at: str = ""

    def claim(self, member_id: str) -> dict[str, Any]:
        """The member's entry for a round-commit record's ``members`` list."""
        out: dict[str, Any] = {"id": member_id, "sha256": self.sha256, "size": self.size}
        if self.privacy is not None:
            out["privacy"] = self.privacy
        return out

    def as_statement(self) -> dict[str, Any]:
        """What a countersignature binds: round, size, sha256 and privacy (no timestamp)."""
        return {"privacy": self.privacy, "round": self.round, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class Receipt:
    """A countersigned record the member saw: the trail must keep it at this seq with this hash."""

    seq: int
    hash: str
    round: int | None = None
    at: str = ""


def claim_mismatch(claim: Mapping[str, Any], entry: OutboundEntry) -> str | None:
    """Why a round record's claim about a member disagrees with what the member sent (None if it agrees).

    ``sha256`` and ``size`` must match; ``privacy``, when the record states it, must equal what the
    member sent exactly.
    """
    if claim.get("sha256") != entry.sha256:
        return f"update sha256 {str(claim.get('sha256'))[:16]}… but the member sent {entry.sha256[:16]}…"
    if claim.get("size") != entry.size:
        return f"update size {claim.get('size')} but the member sent {entry.size} bytes"
    if "privacy" in claim and canonical(normalize(claim["privacy"])) != canonical(normalize(entry.privacy)):
        return f"privacy {claim['privacy']} but the member sent with {entry.privacy}"
    return None


@dataclass
class OutboundLog:
    """Append-only JSONL of what this member sent, and receipts of what it countersigned.

    Thread-safe; every append is flushed and fsynced before returning.
    """

    path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    # -- writing --------------------------------------------------------------------------------
    def _append(self, obj: dict[str, Any]) -> None:
        line = canonical(normalize(obj, where="outbound entry")) + b"\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    # A crash left a partial last line: set it aside (never glue an entry onto it).
                    data = os.pread(fd, size, 0)
                    cut = data.rfind(b"\n") + 1
                    self.path.with_name(f"{self.path.name}.torn-{cut}").write_bytes(data[cut:])
                    os.ftruncate(fd, cut)
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def record_sent(
        self,
        round: int,
        payload: bytes | None = None,
        *,
        sha256: str | None = None,
        size: int | None = None,
        privacy: Mapping[str, Any] | None = None,
    ) -> OutboundEntry:
        """Log one update sent in ``round``: pass the serialized ``payload`` bytes, or its sha256 and size."""
        if payload is not None:
            sha256, size = sha256_hex(payload), len(payload)
        if not is_hex64(sha256) or not isinstance(size, int) or size < 0:
            raise ConfigError(
                "record_sent needs the payload bytes, or sha256= (64 lower-case hex) and size= (bytes ≥ 0)."
            )
        assert sha256 is not None and size is not None
        entry = OutboundEntry(
            round=int(round),
            size=size,
            sha256=sha256,
            privacy=None if privacy is None else normalize(dict(privacy), where="privacy"),
            at=utc_now(),
        )
        obj: dict[str, Any] = {
            "at": entry.at,
            "round": entry.round,
            "sha256": sha256,
            "size": size,
            "type": "sent",
        }
        if entry.privacy is not None:
            obj["privacy"] = entry.privacy
        self._append(obj)
        return entry

    def record_receipt(self, seq: int, record_hash: str, *, round: int | None = None) -> Receipt:
        """Keep the seq and hash of a record this member countersigned."""
        receipt = Receipt(seq=int(seq), hash=record_hash, round=round, at=utc_now())
        self._append({"at": receipt.at, "hash": record_hash, "round": round, "seq": receipt.seq, "type": "receipt"})
        return receipt

    # -- reading --------------------------------------------------------------------------------
    def _objects(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.endswith(b"\n"):
                    return  # torn last line (crash mid-write): not an entry
                try:
                    obj = json.loads(raw)
                except ValueError as err:
                    raise AuditIntegrityError(
                        f"outbound log {self.path} line {lineno} is not valid JSON ({err}); the member's "
                        "own record of what it sent is damaged: restore it from backup."
                    ) from err
                if isinstance(obj, dict):
                    yield obj

    def entries(self) -> list[OutboundEntry]:
        """Every update this member logged as sent, oldest first."""
        return [
            OutboundEntry(
                round=o["round"],
                size=o["size"],
                sha256=o["sha256"],
                privacy=o.get("privacy"),
                at=o.get("at", ""),
            )
            for o in self._objects()
            if o.get("type") == "sent"
        ]

    def entries_for(self, round: int) -> list[OutboundEntry]:
        """Updates sent in ``round`` (usually one; retries add more)."""
        return [e for e in self.entries() if e.round == round]

    def receipts(self) -> list[Receipt]:
        """Records this member countersigned."""
        return [
            Receipt(seq=o["seq"], hash=o["hash"], round=o.get("round"), at=o.get("at", ""))
            for o in self._objects()
            if o.get("type") == "receipt"
        ]

    def match(self, round: int, claim: Mapping[str, Any]) -> OutboundEntry:
        """The sent entry backing ``claim`` for ``round``; :class:`AuditIntegrityError` saying why not."""
        sent = self.entries_for(round)
        if not sent:
            raise AuditIntegrityError(
                f"refusing to countersign: the record says member {claim.get('id')!r} sent an update in "
                f"round {round}, but its outbound log {self.path} has nothing sent in that round."
            )
        reasons = []
        for entry in reversed(sent):
            why = claim_mismatch(claim, entry)
            if why is None:
                return entry
            reasons.append(why)
        raise AuditIntegrityError(
            f"refusing to countersign round {round} for member {claim.get('id')!r}: the record states "
            f"{reasons[0]} (outbound log {self.path}). The coordinator's record does not match what was sent."
        )
