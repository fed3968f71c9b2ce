"""The record format: one signed, hash-chained, canonical-JSON object per line.

A record line is the RFC 8785 canonical JSON of::

    {"at": "2026-11-28T14:19:54.123456Z",   # UTC time of the append
     "by": "coordinator",                   # id of the signing key (keys/<by>.pub)
     "fmt": "fedrisk-audit/1",              # format and version
     "kind": "round.committed",             # event kind
     "payload": {...},                      # the event
     "prev": "<sha256 hex of the previous line>",   # 64 zeros for seq 0
     "seq": 17,                             # 0, 1, 2, … with no gaps
     "sig": "<base64 Ed25519 signature>"}

The signature covers the canonical JSON of the same object *without* ``sig``. All other keys sort before
``sig``, so that message is the line with ``,"sig":"…"`` removed, and a verifier never has to
re-serialize to check a signature. A record's hash is the SHA-256 of its line's bytes (no newline); the
newline ends (commits) a record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fedrisk.audit._canon import canonical, is_hex64, sha256_hex
from fedrisk.audit.signing import b64decode, b64encode

FORMAT = "fedrisk-audit/1"
HEAD_FORMAT = "fedrisk-audit-head/1"
COUNTERSIGN_FORMAT = "fedrisk-audit-countersign/1"
GENESIS_PREV = "0" * 64
BODY_KEYS = ("at", "by", "fmt", "kind", "payload", "prev", "seq")
SIG_MARKER = b',"sig":"'
KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class Kind:
    """Event kinds. Callers may log other kinds (``area.event``); ``audit.*`` is written only by the log."""

    # Rounds
    ROUND_SCHEDULED = "round.scheduled"
    ROUND_STARTED = "round.started"
    ROUND_COMMITTED = "round.committed"
    ROUND_FAILED = "round.failed"
    # Membership
    MEMBER_JOINED = "member.joined"
    MEMBER_PROMOTED = "member.promoted"
    MEMBER_EXITED = "member.exited"
    # Governance
    CONSTITUTION_AMENDED = "constitution.amended"
    # Models, data, privacy, contributions
    MODEL_PUBLISHED = "model.published"
    DATASET_REGISTERED = "dataset.registered"
    PRIVACY_SPENT = "privacy.spent"
    CONTRIBUTION_RECORDED = "contribution.recorded"
    REWARD_RECORDED = "reward.recorded"
    # Written by the audit log itself
    OPENED = "audit.opened"
    RECOVERED = "audit.recovered"
    KEY_REGISTERED = "audit.key_registered"
    KEY_RETIRED = "audit.key_retired"
    COUNTERSIGNED = "audit.countersigned"
    CHECKPOINT = "audit.checkpoint"


RESERVED_PREFIX = "audit."
COMMIT_KINDS = frozenset({Kind.ROUND_COMMITTED, Kind.MODEL_PUBLISHED})
"""Kinds whose artifacts count as committed (see :func:`fedrisk.audit.is_committed_artifact`)."""


@dataclass(frozen=True)
class AuditRecord:
    """One record as written (or read back). ``hash`` is the SHA-256 hex of ``line``."""

    seq: int
    kind: str
    payload: dict[str, Any]
    at: str
    by: str
    prev: str
    sig: str
    hash: str
    line: bytes

    @property
    def id(self) -> int:
        """The record id used by ``fedrisk audit prove``: its seq."""
        return self.seq

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "at": self.at,
            "by": self.by,
            "prev": self.prev,
            "hash": self.hash,
            "sig": self.sig,
            "payload": self.payload,
        }

    @classmethod
    def from_line(cls, line: bytes) -> AuditRecord:
        """Parse a line (no newline) without checking signatures; ValueError when it is malformed."""
        obj = json.loads(line)
        return cls.from_obj(obj, line)

    @classmethod
    def from_obj(cls, obj: Any, line: bytes, *, checked: bool = False) -> AuditRecord:
        """Build from a parsed line; ``checked`` skips the shape check when the caller already ran it."""
        problem = None if checked else shape_problem(obj)
        if problem:
            raise ValueError(problem)
        return cls(
            seq=obj["seq"],
            kind=obj["kind"],
            payload=obj["payload"],
            at=obj["at"],
            by=obj["by"],
            prev=obj["prev"],
            sig=obj["sig"],
            hash=sha256_hex(line),
            line=line,
        )


def shape_problem(obj: Any) -> str | None:
    """Why a parsed line is not a well-formed record (None when it is)."""
    if not isinstance(obj, dict):
        return "the line is not a JSON object"
    keys = set(obj)
    expected = {*BODY_KEYS, "sig"}
    if keys != expected:
        missing = sorted(expected - keys)
        extra = sorted(keys - expected)
        return f"fields differ from the record format (missing {missing}, unexpected {extra})"
    if obj["fmt"] != FORMAT:
        return f"format {obj['fmt']!r} is not {FORMAT!r}"
    seq = obj["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return f"seq {seq!r} is not a non-negative integer"
    if not isinstance(obj["kind"], str) or not KIND_RE.match(obj["kind"]):
        return f"kind {obj['kind']!r} is not a dotted event name"
    if not isinstance(obj["payload"], dict):
        return "payload is not a JSON object"
    if not isinstance(obj["at"], str) or not isinstance(obj["by"], str) or not isinstance(obj["sig"], str):
        return "at, by and sig must be strings"
    if not is_hex64(obj["prev"]):
        return "prev is not a SHA-256 hex digest"
    return None


def make_line(body: dict[str, Any], sign: Any) -> tuple[bytes, str]:
    """Canonicalize ``body``, sign it with ``sign(bytes) -> bytes``; return (line, base64 signature)."""
    message = canonical(body)
    sig = b64encode(sign(message))
    return message[:-1] + SIG_MARKER + sig.encode("ascii") + b'"}', sig


def signed_message(line: bytes) -> bytes | None:
    """The bytes the signature of ``line`` covers: the line without ``,"sig":"…"`` (None if malformed)."""
    cut = line.rfind(SIG_MARKER)
    if cut < 0 or not line.endswith(b'"}'):
        return None
    return line[:cut] + b"}"


def decode_sig(sig: str) -> bytes | None:
    """Signature bytes from base64, or None when the text is not a 64-byte signature."""
    try:
        raw = b64decode(sig)
    except (ValueError, UnicodeEncodeError):
        return None
    return raw if len(raw) == 64 else None


def countersign_statement(
    *, member: str, record_seq: int, record_hash: str, round: int, outbound: dict[str, Any]
) -> bytes:
    """The exact bytes a member signs to countersign a round-commit record."""
    return canonical(
        {
            "fmt": COUNTERSIGN_FORMAT,
            "member": member,
            "outbound": outbound,
            "record_hash": record_hash,
            "record_seq": record_seq,
            "round": round,
        }
    )


def head_body(*, seq: int, record_hash: str, by: str) -> dict[str, Any]:
    """The signed part of the head file."""
    return {"by": by, "fmt": HEAD_FORMAT, "hash": record_hash, "seq": seq}
