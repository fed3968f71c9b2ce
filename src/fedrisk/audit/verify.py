"""Offline verification of an audit log: chain, signatures, countersignatures, checkpoints, artifacts.

:func:`verify_log` reads the file once and names the *first* bad record and why. What it checks, in
order, for record ``i`` (line ``i + 1``):

1. the line is JSON, has exactly the record fields, and is in RFC 8785 canonical form;
2. ``seq == i`` (a gap means records were deleted, a repeat or step back that one was inserted or moved);
3. ``prev`` is the SHA-256 of line ``i - 1`` (64 zeros for the first record);
4. ``by`` names an active coordinator key registered earlier in the log, whose public key in the keys
   directory has the registered fingerprint, and ``sig`` is a valid Ed25519 signature by it;
5. by kind: an ``audit.countersigned`` record's member signature is valid, for the right record hash and
   what the round record says the member sent; an ``audit.checkpoint`` root equals the RFC 6962 root of
   all records before it; ``artifacts`` files exist and have the recorded SHA-256.

Then, over the records that passed: a partial last line (crash mid-append or truncation), the signed
head file (records deleted from the end), anchors the caller holds, members' outbound logs (receipts
still present, claims backed by what was sent).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fedrisk.audit._canon import is_hex64, loads_checked, sha256_file
from fedrisk.audit.log import default_keys_dir, head_path, parse_head
from fedrisk.audit.merkle import CompactTree, leaf_hash
from fedrisk.audit.outbound import OutboundEntry, OutboundLog, claim_mismatch
from fedrisk.audit.records import (
    COMMIT_KINDS,
    GENESIS_PREV,
    HEAD_FORMAT,
    AuditRecord,
    Kind,
    countersign_statement,
    decode_sig,
    shape_problem,
    signed_message,
)
from fedrisk.audit.signing import KEY_ID_RE, fingerprint, load_public_key, verify_signature
from fedrisk.errors import AuditIntegrityError, ConfigError

# Check stages, in the order they run on one record: the earliest failing stage is the one reported.
_PARSE, _SHAPE, _SEQ, _PREV, _CANON, _KEY, _SIG, _CONTENT, _AFTER = range(9)
_CHUNK = 256


@dataclass
class VerifyReport:
    """What :func:`verify_log` found. ``ok`` only when every check passed."""

    path: str
    ok: bool = False
    n_records: int = 0
    """Whole records in the file (lines ending in a newline)."""
    n_valid: int = 0
    """Leading records that verify: records ``0 .. n_valid - 1`` can be relied on."""
    first_bad_seq: int | None = None
    first_bad_line: int | None = None
    reason: str | None = None
    truncated_tail: bool = False
    """The file ends with a partial record (crash mid-append, or cut short)."""
    truncated_bytes: int = 0
    log_id: str = ""
    last_hash: str = ""
    """Hash of record ``n_valid - 1``."""
    root: str = ""
    """RFC 6962 Merkle root over the valid records."""
    head_seq: int | None = None
    checkpoints: int = 0
    signatures: int = 0
    countersignatures: dict[int, list[str]] = field(default_factory=dict)
    """Round-commit seq -> members whose valid countersignatures it has."""
    missing_countersignatures: dict[int, list[str]] = field(default_factory=dict)
    """Round-commit seq -> listed members that have not countersigned (yet)."""
    artifacts_checked: int = 0
    keys: dict[str, dict[str, str]] = field(default_factory=dict)
    """Key id -> fingerprint, role and the file it was read from: compare fingerprints out of band."""
    committed: dict[str, int] = field(default_factory=dict)
    """Artifact sha256 -> seq of the first valid committed record (round.committed / model.published)."""
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def valid_but_torn(self) -> bool:
        """All whole records verify; the only problem is a partial last line."""
        return not self.ok and self.truncated_tail and self.first_bad_seq == self.n_records

    def summary(self) -> str:
        if self.ok:
            return (
                f"OK: {self.n_records} records verify (chain, {self.signatures} signatures, "
                f"{sum(len(v) for v in self.countersignatures.values())} countersignatures, "
                f"{self.checkpoints} checkpoints, {self.artifacts_checked} artifact files); "
                f"last hash {self.last_hash}"
            )
        return (
            f"FAILED at record {self.first_bad_seq} (line {self.first_bad_line}): {self.reason} "
            f"[records 0..{self.n_valid - 1} verify]"
            if self.n_valid
            else f"FAILED at record {self.first_bad_seq} (line {self.first_bad_line}): {self.reason}"
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["countersignatures"] = {str(k): v for k, v in self.countersignatures.items()}
        out["missing_countersignatures"] = {str(k): v for k, v in self.missing_countersignatures.items()}
        out["valid_but_torn"] = self.valid_but_torn
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def raise_for_error(self) -> None:
        """Raise :class:`AuditIntegrityError` naming the first bad record when not ok."""
        if not self.ok:
            raise AuditIntegrityError(f"audit log {self.path} does not verify: {self.summary()}")


class _FailureError(Exception):
    def __init__(self, seq: int, stage: int, reason: str) -> None:
        super().__init__(reason)
        self.seq, self.stage, self.reason = seq, stage, reason


class _Keys:
    """Public keys by id, loaded once from the keys directory and checked against registrations."""

    def __init__(self, keys_dir: Path) -> None:
        self.dir = keys_dir
        self.registered: dict[str, tuple[str, str]] = {}  # id -> (fingerprint, role)
        self.retired: set[str] = set()
        self._loaded: dict[str, Ed25519PublicKey] = {}

    def get(self, key_id: str, seq: int, *, role: str) -> Ed25519PublicKey:
        if key_id in self._loaded:
            return self._loaded[key_id]
        fp, reg_role = self.registered.get(key_id, ("", ""))
        if reg_role != role:
            raise _FailureError(seq, _KEY, f"signed by {key_id!r}, which is not a registered {role} key of this log")
        if not KEY_ID_RE.match(key_id):
            raise _FailureError(seq, _KEY, f"key id {key_id!r} is not a valid key file name")
        path = self.dir / f"{key_id}.pub"
        if not path.exists():
            raise _FailureError(seq, _KEY, f"no public key for {key_id!r}: {path} is missing (pass --keys DIR)")
        try:
            raw = load_public_key(path)
        except AuditIntegrityError as err:
            raise _FailureError(seq, _KEY, str(err)) from err
        if fingerprint(raw) != fp:
            raise _FailureError(
                seq,
                _KEY,
                f"{path} has fingerprint {fingerprint(raw)[:16]}… but the log registered "
                f"{fp[:16]}… for {key_id!r}: the key file was replaced, or the log was "
                "re-signed with another key",
            )
        key = Ed25519PublicKey.from_public_bytes(raw)
        self._loaded[key_id] = key
        return key


_SigItem = tuple[int, Ed25519PublicKey, bytes, bytes]


def _first_bad(chunk: list[_SigItem]) -> int | None:
    for seq, key, sig, msg in chunk:
        if not verify_signature(key, sig, msg):
            return seq
    return None


class _SigChecker:
    """Checks Ed25519 signatures while the main thread goes on parsing.

    The ``cryptography`` verify call releases the GIL, so worker threads overlap it with the
    (GIL-bound) parsing and with each other. With ``workers <= 1`` everything runs inline at the end.
    """

    def __init__(self, workers: int) -> None:
        self.pending: list[_SigItem] = []
        self.pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
        self.futures: list[Future[int | None]] = []

    def add(self, item: _SigItem) -> None:
        self.pending.append(item)
        if self.pool is not None and len(self.pending) >= _CHUNK:
            self.futures.append(self.pool.submit(_first_bad, self.pending))
            self.pending = []

    def first_bad(self) -> int | None:
        """Seq of the first record whose signature fails (None: all good). Shuts the pool down."""
        bad = [_first_bad(self.pending)] if self.pending else []
        if self.pool is not None:
            bad += [f.result() for f in self.futures]
            self.pool.shutdown()
        found = [b for b in bad if b is not None]
        return min(found) if found else None


class _Verifier:
    def __init__(
        self,
        path: Path,
        keys_dir: Path,
        artifacts_root: Path,
        check_artifacts: bool,
        allow_missing_artifacts: bool,
        workers: int,
    ) -> None:
        self.path = path
        self.keys = _Keys(keys_dir)
        self.artifacts_root = artifacts_root
        self.check_artifacts = check_artifacts
        self.allow_missing = allow_missing_artifacts
        self.report = VerifyReport(path=str(path))
        self.hashes: list[str] = []
        self.records: dict[int, AuditRecord] = {}  # round-commit records, by seq
        self.tree = CompactTree()
        self.sigs = _SigChecker(workers)
        self.sig_seqs: list[int] = []
        self.file_hashes: dict[Path, str | None] = {}
        self.last_at = ""

    # one record ---------------------------------------------------------------------------------
    def record(self, i: int, line: bytes) -> None:
        try:
            obj, is_canonical = loads_checked(line)
        except (ValueError, UnicodeDecodeError) as err:
            raise _FailureError(
                i,
                _PARSE,
                f"not valid JSON ({err.__class__.__name__}: {err}); bytes were changed or two records were merged",
            ) from err
        problem = shape_problem(obj)
        if problem:
            raise _FailureError(i, _SHAPE, f"not a well-formed record: {problem}")
        seq = obj["seq"]
        if seq != i:
            if seq > i:
                raise _FailureError(
                    i,
                    _SEQ,
                    f"seq is {seq} where {i} was expected: {seq - i} record(s) missing "
                    "here (deleted, or moved further down)",
                )
            raise _FailureError(
                i,
                _SEQ,
                f"seq is {seq} where {i} was expected: a record was inserted, duplicated or moved here",
            )
        prev = self.hashes[-1] if self.hashes else GENESIS_PREV
        if obj["prev"] != prev:
            raise _FailureError(
                i,
                _PREV,
                "prev does not match the hash of the record before it: a record was "
                "inserted, deleted or reordered here, or the previous line was altered",
            )
        if not is_canonical:
            raise _FailureError(i, _CANON, "the line is not in canonical JSON form: it was edited after signing")
        rec = AuditRecord.from_obj(obj, line, checked=True)
        if i == 0:
            if rec.kind != Kind.OPENED:
                raise _FailureError(
                    i,
                    _CONTENT,
                    f"the first record must be {Kind.OPENED!r}, not {rec.kind!r}: the log's start is missing",
                )
            c = rec.payload.get("coordinator")
            if not isinstance(c, dict) or not isinstance(c.get("key_id"), str) or not is_hex64(c.get("fingerprint")):
                raise _FailureError(i, _CONTENT, "the opening record does not name the coordinator key")
            self.keys.registered[c["key_id"]] = (c["fingerprint"], "coordinator")
            self.report.log_id = str(rec.payload.get("log_id", ""))
        if rec.by in self.keys.retired:
            raise _FailureError(i, _KEY, f"signed by {rec.by!r}, a coordinator key retired earlier in the log")
        key = self.keys.get(rec.by, i, role="coordinator")
        msg = signed_message(line)
        sig = decode_sig(rec.sig)
        if msg is None or sig is None:
            raise _FailureError(i, _SIG, "the signature field is not a base64 Ed25519 signature")
        self.sigs.add((i, key, sig, msg))
        self.sig_seqs.append(i)
        self.content(rec)
        if rec.at < self.last_at and len(self.report.warnings) < 20:
            self.report.warnings.append(f"record {i}: time {rec.at} is earlier than the record before it")
        self.last_at = rec.at
        self.hashes.append(rec.hash)
        self.tree.append_leaf_hash(leaf_hash(line))

    def content(self, rec: AuditRecord) -> None:
        i, p, k = rec.seq, rec.payload, rec.kind
        if k == Kind.OPENED and i != 0:
            raise _FailureError(i, _CONTENT, f"a second {Kind.OPENED!r} record: another log was spliced in here")
        elif k == Kind.KEY_REGISTERED:
            kid, role, fp = p.get("key_id"), p.get("role"), p.get("fingerprint")
            if not isinstance(kid, str) or role not in ("member", "coordinator") or not is_hex64(fp):
                raise _FailureError(i, _CONTENT, "malformed key registration")
            if kid in self.keys.registered and self.keys.registered[kid] != (fp, role):
                raise _FailureError(i, _CONTENT, f"key id {kid!r} is registered a second time with another key")
            self.keys.registered[kid] = (str(fp), str(role))
        elif k == Kind.KEY_RETIRED:
            kid = p.get("key_id")
            if self.keys.registered.get(str(kid), ("", ""))[1] != "coordinator":
                raise _FailureError(i, _CONTENT, f"retires {kid!r}, which is not a registered coordinator key")
            self.keys.retired.add(str(kid))
        elif k == Kind.COUNTERSIGNED:
            self.countersignature(rec)
        elif k == Kind.CHECKPOINT:
            size, root = p.get("tree_size"), p.get("root")
            if size != i or not is_hex64(root):
                raise _FailureError(
                    i,
                    _CONTENT,
                    f"checkpoint covers tree_size {size!r}; it must cover all {i} records before it",
                )
            actual = self.tree.root().hex()
            if root != actual:
                raise _FailureError(
                    i,
                    _CONTENT,
                    f"checkpoint root {str(root)[:16]}… differs from the Merkle root "
                    f"{actual[:16]}… of records 0..{i - 1}",
                )
            self.report.checkpoints += 1
        elif k == Kind.RECOVERED:
            self.report.warnings.append(
                f"record {i}: the writer recovered from a crash mid-append, removing a partial line of "
                f"{p.get('torn_bytes')} bytes at offset {p.get('torn_offset')} (kept in {p.get('torn_file')})"
            )
        if k == Kind.ROUND_COMMITTED:
            self.records[i] = rec
            self.report.countersignatures.setdefault(i, [])
        if "artifacts" in p:
            self.artifacts(rec)

    def countersignature(self, rec: AuditRecord) -> None:
        i, p = rec.seq, rec.payload
        try:
            member, tseq, thash, rnd = p["member"], p["record_seq"], p["record_hash"], p["round"]
            outbound, sig_text = p["outbound"], p["signature"]
        except KeyError as err:
            raise _FailureError(i, _CONTENT, f"countersignature lacks {err}") from err
        target = self.records.get(tseq) if isinstance(tseq, int) else None
        if target is None:
            raise _FailureError(
                i, _CONTENT, f"countersigns record {tseq!r}, which is not an earlier round-commit record"
            )
        if thash != target.hash:
            raise _FailureError(
                i,
                _CONTENT,
                f"countersignature by {member!r} is for a different version of record "
                f"{tseq} (hash {str(thash)[:16]}…, record has {target.hash[:16]}…)",
            )
        if member in self.report.countersignatures.get(tseq, []):
            raise _FailureError(i, _CONTENT, f"a second countersignature by {member!r} on record {tseq}")
        claim = next(
            (m for m in target.payload.get("members") or [] if isinstance(m, dict) and m.get("id") == member),
            None,
        )
        if claim is None:
            raise _FailureError(i, _CONTENT, f"{member!r} countersigned record {tseq} but is not among its members")
        if not isinstance(outbound, dict) or rnd != target.payload.get("round"):
            raise _FailureError(i, _CONTENT, f"countersignature by {member!r} is for another round")
        entry = OutboundEntry(
            round=rnd,
            size=outbound.get("size", -1),
            sha256=str(outbound.get("sha256")),
            privacy=outbound.get("privacy"),
        )
        why = claim_mismatch(claim, entry)
        if why:
            raise _FailureError(i, _CONTENT, f"record {tseq} states {why} (member {member!r})")
        key = self.keys.get(str(member), i, role="member")
        sig = decode_sig(sig_text) if isinstance(sig_text, str) else None
        statement = countersign_statement(
            member=member, record_seq=tseq, record_hash=thash, round=rnd, outbound=outbound
        )
        if sig is None or not verify_signature(key, sig, statement):
            raise _FailureError(
                i,
                _CONTENT,
                f"countersignature by {member!r} on record {tseq} does not verify with the member's key",
            )
        self.report.countersignatures[tseq].append(member)

    def artifacts(self, rec: AuditRecord) -> None:
        i = rec.seq
        arts = rec.payload["artifacts"]
        if not isinstance(arts, list):
            raise _FailureError(i, _CONTENT, "artifacts is not a list")
        for art in arts:
            if not isinstance(art, dict) or not isinstance(art.get("path"), str) or not is_hex64(art.get("sha256")):
                raise _FailureError(i, _CONTENT, f"malformed artifact reference {art!r}")
            if rec.kind in COMMIT_KINDS:
                self.report.committed.setdefault(art["sha256"], i)
            if not self.check_artifacts:
                continue
            file = self.artifacts_root / art["path"]
            if file not in self.file_hashes:
                try:
                    self.file_hashes[file] = sha256_file(file)
                except FileNotFoundError:
                    self.file_hashes[file] = None
                except IsADirectoryError:
                    self.file_hashes[file] = "(a directory)"
            actual = self.file_hashes[file]
            if actual is None:
                if self.allow_missing:
                    self.report.warnings.append(f"record {i}: artifact {art['path']} is missing (not checked)")
                    continue
                raise _FailureError(i, _CONTENT, f"artifact {art['path']} is missing ({file})")
            if actual != art["sha256"]:
                raise _FailureError(
                    i,
                    _CONTENT,
                    f"artifact {art['path']} has sha256 {actual[:16]}… but the record says "
                    f"{art['sha256'][:16]}…: the file was replaced or modified",
                )
            self.report.artifacts_checked += 1

    # after the pass --------------------------------------------------------------------------------
    def head(self, n: int) -> list[_FailureError]:
        hp = head_path(self.path)
        if not hp.exists():
            self.report.warnings.append(
                f"no head file ({hp.name}): records deleted from the end could only "
                "be detected against an anchor or a member's receipts"
            )
            return []
        obj = parse_head(hp)
        if (
            obj is None
            or set(obj) != {"by", "fmt", "hash", "seq", "sig"}
            or obj.get("fmt") != HEAD_FORMAT
            or not isinstance(obj.get("seq"), int)
            or not isinstance(obj.get("sig"), str)
        ):
            # A crash can tear the head (it is overwritten in place); deleting it is no harder than
            # damaging it, so both only cost the end-of-log check. A *signed* head that lies is an error.
            self.report.warnings.append(
                f"the head file {hp.name} is unreadable (torn by a crash, or damaged): "
                "records deleted from the end could only be detected with anchors"
            )
            return []
        raw = hp.read_bytes().rstrip()
        msg, sig = signed_message(raw), decode_sig(obj["sig"])
        try:
            key = self.keys.get(str(obj["by"]), n, role="coordinator")
        except _FailureError as f:
            return [_FailureError(n, _AFTER, f"head file: {f.reason}")]
        if msg is None or sig is None or not verify_signature(key, sig, msg):
            return [_FailureError(n, _AFTER, f"the head file {hp.name} has an invalid signature: it was altered")]
        seq, h = obj["seq"], obj["hash"]
        self.report.head_seq = seq
        if seq >= n:
            return [
                _FailureError(
                    n,
                    _AFTER,
                    f"the signed head names record {seq} (hash {str(h)[:16]}…) but the log "
                    f"ends at record {n - 1}: records {n}..{seq} were deleted from the end",
                )
            ]
        if self.hashes[seq] != h:
            return [
                _FailureError(
                    seq,
                    _AFTER,
                    f"differs from the record {seq} named by the signed head (hash {str(h)[:16]}…): it was replaced",
                )
            ]
        if seq < n - 1:
            self.report.warnings.append(
                f"the head names record {seq}, {n - 1 - seq} behind the last record "
                "(a crash between append and head update, or a stale head)"
            )
        return []

    def anchors(self, anchors: Iterable[tuple[int, str]], n: int) -> list[_FailureError]:
        out = []
        for seq, h in anchors:
            if seq >= n:
                out.append(
                    _FailureError(
                        min(seq, n),
                        _AFTER,
                        f"anchor record {seq} (hash {h[:16]}…) is not in the "
                        f"log, which ends at {n - 1}: records were deleted",
                    )
                )
            elif self.hashes[seq] != h:
                out.append(
                    _FailureError(
                        seq,
                        _AFTER,
                        f"differs from the anchor held for record {seq} (hash {h[:16]}…): the record was rewritten",
                    )
                )
        return out

    def outbound(self, logs: Mapping[str, Path], n: int) -> list[_FailureError]:
        out = []
        for member, opath in logs.items():
            if not Path(opath).is_file():
                raise ConfigError(
                    f"outbound log {opath} of member {member!r} does not exist; give the file the member's "
                    "node writes (OutboundLog)."
                )
            ob = OutboundLog(Path(opath))
            for r in ob.receipts():
                if r.seq >= n or self.hashes[r.seq] != r.hash:
                    out.append(
                        _FailureError(
                            min(r.seq, n),
                            _AFTER,
                            f"member {member!r} holds a receipt for record "
                            f"{r.seq} (hash {r.hash[:16]}…) that the log no "
                            "longer has: it was rewritten or deleted",
                        )
                    )
            sent = ob.entries()
            for seq, rec in self.records.items():
                if seq >= n:
                    continue
                claim = next(
                    (m for m in rec.payload.get("members") or [] if isinstance(m, dict) and m.get("id") == member),
                    None,
                )
                if claim is None or "sha256" not in claim:
                    continue
                rnd = rec.payload.get("round")
                if not any(e.round == rnd and claim_mismatch(claim, e) is None for e in sent):
                    out.append(
                        _FailureError(
                            seq,
                            _AFTER,
                            f"states that {member!r} sent update "
                            f"{str(claim.get('sha256'))[:16]}… in round {rnd}, which "
                            f"{member!r}'s outbound log does not back",
                        )
                    )
        return out


def verify_log(
    path: Path | str,
    keys_dir: Path | str | None = None,
    *,
    check_artifacts: bool = True,
    artifacts_root: Path | str | None = None,
    allow_missing_artifacts: bool = False,
    anchors: Iterable[tuple[int, str]] = (),
    outbound: Mapping[str, Path | str] | None = None,
    require_countersignatures: bool = False,
    workers: int | None = None,
) -> VerifyReport:
    """Verify the audit log at ``path`` offline; never raises for a bad log (see ``report.ok``).

    ``keys_dir``: where ``<key_id>.pub`` files are read (default ``keys/`` beside the log). Point it at
    keys obtained independently to pin them. ``anchors``: ``(seq, hash)`` pairs held elsewhere (a
    published checkpoint, a regulator's copy). ``outbound``: member id -> that member's outbound log.
    ``require_countersignatures``: fail when a round-commit record lacks a listed member's countersignature.
    """
    t0 = time.perf_counter()
    path = Path(path)
    kd = Path(keys_dir) if keys_dir is not None else default_keys_dir(path)
    root = Path(artifacts_root) if artifacts_root is not None else path.parent
    nw = workers if workers is not None else min(2, os.cpu_count() or 1)
    try:
        data = path.read_bytes()
    except OSError as err:
        rep = VerifyReport(path=str(path))
        rep.reason = f"cannot read the log: {err}"
        rep.first_bad_seq, rep.first_bad_line = 0, 1
        rep.elapsed_s = time.perf_counter() - t0
        return rep
    cut = data.rfind(b"\n") + 1
    lines = data[:cut].split(b"\n")[:-1]
    n = len(lines)

    v = _Verifier(path, kd, root, check_artifacts, allow_missing_artifacts, nw if n >= 2 * _CHUNK else 1)
    rep = v.report
    rep.truncated_tail, rep.truncated_bytes = cut < len(data), len(data) - cut
    rep.n_records = n

    failures: list[_FailureError] = []
    try:
        for i, line in enumerate(lines):
            try:
                v.record(i, line)
            except _FailureError as f:
                failures.append(f)
                break
    finally:
        bad_sig = v.sigs.first_bad()
    rep.signatures = sum(1 for s in v.sig_seqs if bad_sig is None or s < bad_sig)
    if bad_sig is not None:
        failures.append(
            _FailureError(
                bad_sig,
                _SIG,
                "the signature does not verify with the signer's public key: "
                "the record was altered or its signature replaced",
            )
        )
    upto = min(f.seq for f in failures) if failures else n
    if n == 0:
        failures.append(
            _FailureError(
                0,
                _PARSE,
                "the log has no whole record, not even its opening one"
                + (
                    f" (the file holds only a partial record of {rep.truncated_bytes} bytes)"
                    if rep.truncated_tail
                    else " (the file is empty)"
                ),
            )
        )
    else:
        if rep.truncated_tail:
            failures.append(
                _FailureError(
                    n,
                    _AFTER,
                    f"the file ends with a partial record ({rep.truncated_bytes} "
                    "bytes after the last newline): a crash mid-append or a "
                    "truncated file",
                )
            )
        if upto == n:
            failures += v.head(n)
        failures += v.anchors(anchors, upto)
        if outbound:
            failures += v.outbound({k: Path(p) for k, p in outbound.items()}, upto)
    for seq, members in rep.countersignatures.items():
        if upto < n:
            break  # countersignatures after a bad record were never read: "missing" would mislead
        rec = v.records[seq]
        listed = [m.get("id") if isinstance(m, dict) else m for m in rec.payload.get("members") or []]
        missing = sorted(str(m) for m in listed if m not in members)
        if missing:
            rep.missing_countersignatures[seq] = missing
            if require_countersignatures:
                failures.append(
                    _FailureError(seq, _AFTER, f"round-commit record lacks countersignatures from {missing}")
                )
    rep.countersignatures = {k: sorted(vv) for k, vv in rep.countersignatures.items() if k < upto}
    if failures:
        first = min(failures, key=lambda f: (f.seq, f.stage))
        rep.ok = False
        rep.first_bad_seq, rep.first_bad_line, rep.reason = first.seq, first.seq + 1, first.reason
        rep.n_valid = min(first.seq, n)
    else:
        rep.ok = True
        rep.n_valid = n
    rep.committed = {h: s for h, s in rep.committed.items() if s < rep.n_valid}
    if rep.n_valid:
        rep.last_hash = v.hashes[rep.n_valid - 1]
        rep.root = _prefix_root(lines, rep.n_valid, v)
    for kid, (fp, role) in v.keys.registered.items():
        rep.keys[kid] = {"fingerprint": fp, "role": role, "file": str(v.keys.dir / f"{kid}.pub")}
    rep.elapsed_s = time.perf_counter() - t0
    return rep


def _prefix_root(lines: list[bytes], n_valid: int, v: _Verifier) -> str:
    if v.tree.size == n_valid:
        return v.tree.root().hex()
    t = CompactTree()
    for line in lines[:n_valid]:
        t.append(line)
    return t.root().hex()


def is_committed_artifact(log_path: Path | str, sha256: str, *, keys_dir: Path | str | None = None) -> bool:
    """True when ``sha256`` is an artifact of a verified ``round.committed`` or ``model.published`` record.

    The whole log must verify (a partial last line from a crash is tolerated: the whole records before
    it are still proven). Artifact files are not re-hashed here: hash the file you are about to load
    with :func:`sha256_file` and pass that.
    """
    if not is_hex64(sha256):
        return False
    rep = verify_log(log_path, keys_dir, check_artifacts=False)
    if not (rep.ok or rep.valid_but_torn):
        return False
    return sha256 in rep.committed


def read_records(path: Path | str) -> list[AuditRecord]:
    """All whole, parseable records of a log, without verifying anything (for display)."""
    out = []
    data = Path(path).read_bytes()
    for line in data[: data.rfind(b"\n") + 1].split(b"\n")[:-1]:
        try:
            out.append(AuditRecord.from_line(line))
        except ValueError:
            break
    return out
