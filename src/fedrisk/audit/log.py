"""The append-only audit log writer.

One :class:`AuditLog` per log file and process: it takes an exclusive ``flock`` on the file, so a
second writer (which would fork the hash chain) fails at once instead of corrupting the trail. Within
the process, appends from any number of threads are serialized by a lock; each append is written with
one ``write`` on an ``O_APPEND`` descriptor and ``fsync``-ed before :meth:`AuditLog.append` returns.

A crash mid-append leaves at most one partial last line. Readers ignore it (the verifier reports it and
says the log is valid up to the last whole record); the next writer that opens the log moves the partial
bytes to ``<log>.torn-<offset>``, truncates the file to its last whole record and appends an
``audit.recovered`` record naming what it removed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedrisk.audit._canon import is_hex64, normalize, sha256_file, sha256_hex
from fedrisk.audit.merkle import CompactTree, leaf_hash
from fedrisk.audit.outbound import OutboundEntry, OutboundLog, claim_mismatch, utc_now
from fedrisk.audit.records import (
    FORMAT,
    GENESIS_PREV,
    KIND_RE,
    RESERVED_PREFIX,
    AuditRecord,
    Kind,
    countersign_statement,
    decode_sig,
    head_body,
    make_line,
    signed_message,
)
from fedrisk.audit.signing import (
    Signer,
    b64encode,
    check_key_id,
    fingerprint,
    load_public_key,
    verify_signature,
    write_public_key,
)
from fedrisk.errors import AuditIntegrityError, ConfigError

HEAD_SIZE = 512
"""The head file is one signed line padded to this many bytes, overwritten in place after each append."""


def _datasync(fd: int) -> None:
    """fdatasync where available (flushes the data and the size, skips timestamps), else fsync."""
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS
        os.fsync(fd)


def head_path(log_path: Path) -> Path:
    """Where the signed head (latest seq and hash) of ``log_path`` is kept."""
    return log_path.with_name(log_path.name + ".head")


def default_keys_dir(log_path: Path) -> Path:
    """Public keys are exported to ``keys/`` beside the log."""
    return log_path.parent / "keys"


def check_artifacts(payload: Mapping[str, Any]) -> None:
    """Validate ``payload["artifacts"]``: a list of ``{"path": relative, "sha256": hex}``."""
    arts = payload.get("artifacts")
    if arts is None:
        return
    if not isinstance(arts, list):
        raise ConfigError('payload "artifacts" must be a list of {"path": ..., "sha256": ...} objects.')
    for i, art in enumerate(arts):
        if not isinstance(art, dict) or not isinstance(art.get("path"), str) or not art["path"]:
            raise ConfigError(f'artifacts[{i}] needs a "path" string (relative to the log\'s directory).')
        if os.path.isabs(art["path"]) or art["path"].startswith(("/", "\\")):
            raise ConfigError(
                f"artifacts[{i}].path {art['path']!r} is absolute: give it relative to the log's directory "
                "(AuditLog.artifact(path) does that), so the trail still verifies once moved or exported."
            )
        if not is_hex64(art.get("sha256")):
            raise ConfigError(
                f"artifacts[{i}].sha256 must be the file's SHA-256 as 64 lower-case hex characters "
                "(fedrisk.audit.sha256_file computes it)."
            )


class Countersignature:
    """A member's signature over a round-commit record, made on the member's side."""

    __slots__ = ("member", "outbound", "record_hash", "record_seq", "round", "signature")

    def __init__(
        self,
        *,
        member: str,
        record_seq: int,
        record_hash: str,
        round: int,
        outbound: dict[str, Any],
        signature: bytes,
    ) -> None:
        self.member = member
        self.record_seq = record_seq
        self.record_hash = record_hash
        self.round = round
        self.outbound = outbound
        self.signature = signature

    def statement(self) -> bytes:
        return countersign_statement(
            member=self.member,
            record_seq=self.record_seq,
            record_hash=self.record_hash,
            round=self.round,
            outbound=self.outbound,
        )

    def to_payload(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "outbound": self.outbound,
            "record_hash": self.record_hash,
            "record_seq": self.record_seq,
            "round": self.round,
            "signature": b64encode(self.signature),
        }


def member_claim(record: AuditRecord, member_id: str) -> dict[str, Any] | None:
    """The entry for ``member_id`` in a round-commit record's ``members`` list (None when absent)."""
    for entry in record.payload.get("members") or []:
        if isinstance(entry, dict) and entry.get("id") == member_id:
            return entry
        if entry == member_id:
            return {"id": member_id}
    return None


def countersign_record(
    record: AuditRecord, *, member_id: str, signer: Signer, outbound: OutboundLog
) -> Countersignature:
    """Member side: check a round-commit record against the member's outbound log, then sign it.

    Raises :class:`AuditIntegrityError` (and signs nothing) when the record's claim about the member
    (update sha256, size, privacy) does not match what the member's outbound log says it sent. On
    success a receipt (seq, hash) is added to the outbound log.
    """
    if signer.key_id != member_id:
        raise ConfigError(
            f"member {member_id!r} must countersign with its own key, but the signer's key id is "
            f"{signer.key_id!r}. Load the member's key (keys/{member_id}.key)."
        )
    if record.kind != Kind.ROUND_COMMITTED:
        raise ConfigError(
            f"record {record.seq} is a {record.kind!r}; only {Kind.ROUND_COMMITTED!r} records are countersigned."
        )
    if sha256_hex(record.line) != record.hash:
        raise AuditIntegrityError(f"record {record.seq}: its hash does not match its bytes; refusing to sign.")
    rnd = record.payload.get("round")
    if not isinstance(rnd, int):
        raise AuditIntegrityError(
            f"record {record.seq} has no integer 'round'; cannot check it against the outbound log."
        )
    claim = member_claim(record, member_id)
    if claim is None:
        raise AuditIntegrityError(
            f"refusing to countersign record {record.seq}: member {member_id!r} is not listed in its members."
        )
    if "sha256" not in claim or "size" not in claim:
        raise AuditIntegrityError(
            f"refusing to countersign record {record.seq}: it lists member {member_id!r} without the update "
            "it sent (sha256, size), so there is nothing to check against the outbound log. Put "
            "OutboundEntry.claim(member_id) in the record's members."
        )
    entry: OutboundEntry = outbound.match(rnd, claim)
    cs = Countersignature(
        member=member_id,
        record_seq=record.seq,
        record_hash=record.hash,
        round=rnd,
        outbound=entry.as_statement(),
        signature=b"",
    )
    cs.signature = signer.sign(cs.statement())
    outbound.record_receipt(record.seq, record.hash, round=rnd)
    return cs


class AuditLog:
    """Append-only, hash-chained, signed log of federation events (see the package docs).

    ``AuditLog(path, signer)`` creates the log (writing an ``audit.opened`` record) or resumes an
    existing one; the signer's public key is exported to ``keys_dir`` (default ``keys/`` beside the log).
    Use as a context manager or call :meth:`close` to release the writer lock.
    """

    def __init__(
        self,
        path: Path | str,
        signer: Signer,
        *,
        keys_dir: Path | None = None,
        checkpoint_every: int | None = None,
        fsync: bool = True,
        write_head: bool = True,
    ) -> None:
        self.path = Path(path)
        self.keys_dir = Path(keys_dir) if keys_dir is not None else default_keys_dir(self.path)
        self.checkpoint_every = checkpoint_every
        self._signer = signer
        self._fsync = fsync
        self._write_head = write_head
        self._lock = threading.Lock()
        self._head_fd: int | None = None
        self._dirty = False
        self._closed = False
        self._broken: str | None = None
        # chain state
        self._n = 0
        self._last_hash = GENESIS_PREV
        self._size = 0
        self._offsets: list[int] = []
        self._tree = CompactTree()
        self._keys: dict[str, tuple[str, str]] = {}  # key_id -> (fingerprint, role)
        self._retired: set[str] = set()
        self._countersigned: dict[int, set[str]] = {}
        self._since_checkpoint = 0
        self.log_id = ""

        check_key_id(signer.key_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(self._fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise AuditIntegrityError(
                    f"{self.path} is already open for writing (by another AuditLog or process). Two writers "
                    "would fork the hash chain: close the other writer, or share one AuditLog object."
                ) from err
            raise
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # -- opening ---------------------------------------------------------------------------------
    def _open(self) -> None:
        with open(self.path, "rb") as fh:
            data = fh.read()
        torn: tuple[int, bytes] | None = None
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            torn = (cut, data[cut:])
            data = data[:cut]
        lines = data.split(b"\n")[:-1] if data else []
        offset = 0
        last: AuditRecord | None = None
        for i, line in enumerate(lines):
            try:
                rec = AuditRecord.from_line(line)
            except ValueError as err:
                raise AuditIntegrityError(
                    f"{self.path}: record at line {i + 1} is damaged ({err}); refusing to append to a log "
                    "that does not verify. Run `fedrisk audit verify` to see what is wrong."
                ) from err
            if rec.seq != i or rec.prev != self._last_hash:
                raise AuditIntegrityError(
                    f"{self.path}: the chain breaks at line {i + 1} (seq {rec.seq}); refusing to append. "
                    "Run `fedrisk audit verify` for details."
                )
            try:
                self._absorb(rec)
            except (KeyError, TypeError, ValueError) as err:
                raise AuditIntegrityError(
                    f"{self.path}: record {i} ({rec.kind}) has a malformed payload ({err}); refusing to "
                    "append. Run `fedrisk audit verify` for details."
                ) from err
            self._offsets.append(offset)
            offset += len(line) + 1
            last = rec
        self._size = offset
        if last is not None:
            self._check_tail(last)
        if self._n > 0:
            fp, role = self._keys.get(self._signer.key_id, ("", ""))
            mine = fingerprint(self._signer.public_key_bytes())
            if role != "coordinator" or self._signer.key_id in self._retired:
                raise ConfigError(
                    f"{self.path} is signed by coordinator key(s) {self._coordinator_ids()}; the "
                    f"signer's key {self._signer.key_id!r} is not an active coordinator key of this log. "
                    "Open it with the original key, or hand over with AuditLog.rotate_key(new_signer) "
                    "from the current one."
                )
            if fp != mine:
                raise AuditIntegrityError(
                    f"the signer's key {self._signer.key_id!r} (fingerprint {mine[:16]}…) is not the key "
                    f"registered in {self.path} under that id ({fp[:16]}…). Use the registered key."
                )
            write_public_key(self.keys_dir, self._signer.key_id, self._signer.public_key_bytes())
        if torn is not None:
            self._recover(*torn)
        if self._n == 0:
            self._genesis()
        if torn is not None:
            cut, tail = torn
            self._append_locked(
                Kind.RECOVERED,
                {
                    "reason": "partial last line (crash mid-append)",
                    "torn_offset": cut,
                    "torn_bytes": len(tail),
                    "torn_sha256": sha256_hex(tail),
                    "torn_file": self._torn_path(cut).name,
                },
            )

    def _coordinator_ids(self) -> list[str]:
        return sorted(k for k, (_, role) in self._keys.items() if role == "coordinator")

    def _torn_path(self, cut: int) -> Path:
        return self.path.with_name(f"{self.path.name}.torn-{cut}")

    def _recover(self, cut: int, tail: bytes) -> None:
        keep = self._torn_path(cut)
        keep.write_bytes(tail)
        os.ftruncate(self._fd, cut)
        os.fsync(self._fd)

    def _check_tail(self, rec: AuditRecord) -> None:
        """Cheap check on open: the last record is signed by a key the log registered."""
        fp, role = self._keys.get(rec.by, ("", ""))
        pub_path = self.keys_dir / f"{rec.by}.pub"
        message = signed_message(rec.line)
        sig = decode_sig(rec.sig)
        ok = False
        if role == "coordinator" and pub_path.exists() and message is not None and sig is not None:
            pub = load_public_key(pub_path)
            ok = fingerprint(pub) == fp and verify_signature(pub, sig, message)
        elif role == "coordinator" and rec.by == self._signer.key_id and message is not None and sig is not None:
            ok = verify_signature(self._signer.public_key_bytes(), sig, message)
        if not ok:
            raise AuditIntegrityError(
                f"{self.path}: the last record (seq {rec.seq}) does not carry a valid signature by a "
                "registered coordinator key; refusing to append. Run `fedrisk audit verify` for details."
            )

    def _absorb(self, rec: AuditRecord) -> None:
        """Update in-memory state with a record (read back or just written)."""
        p = rec.payload
        if rec.kind == Kind.OPENED:
            self.log_id = str(p.get("log_id", ""))
            c = p.get("coordinator") or {}
            self._keys[str(c.get("key_id"))] = (str(c.get("fingerprint")), "coordinator")
        elif rec.kind == Kind.KEY_REGISTERED:
            self._keys[str(p.get("key_id"))] = (str(p.get("fingerprint")), str(p.get("role")))
        elif rec.kind == Kind.KEY_RETIRED:
            self._retired.add(str(p.get("key_id")))
        elif rec.kind == Kind.COUNTERSIGNED:
            self._countersigned.setdefault(int(p["record_seq"]), set()).add(str(p["member"]))
        self._since_checkpoint = 0 if rec.kind == Kind.CHECKPOINT else self._since_checkpoint + 1
        self._n = rec.seq + 1
        self._last_hash = rec.hash
        self._tree.append_leaf_hash(leaf_hash(rec.line))

    def _genesis(self) -> None:
        pub = self._signer.public_key_bytes()
        write_public_key(self.keys_dir, self._signer.key_id, pub)
        self._append_locked(
            Kind.OPENED,
            {
                "log_id": uuid.uuid4().hex,
                "format": FORMAT,
                "coordinator": {"key_id": self._signer.key_id, "fingerprint": fingerprint(pub)},
            },
        )

    # -- appending -------------------------------------------------------------------------------
    def append(self, kind: str, payload: Mapping[str, Any] | None = None, *, sync: bool = True) -> AuditRecord:
        """Sign and append one event; returns the record once it is on disk (fsynced).

        ``kind`` is a dotted name (see :class:`Kind`); ``payload`` any JSON-able mapping. A payload may
        reference files as ``"artifacts": [{"path": <relative to the log's directory>, "sha256": …}]``
        (build entries with :meth:`artifact`); the verifier checks those files still match.

        ``sync=False`` skips the fsync for high-volume, low-stakes events: the record is written (a
        process crash cannot lose it) but a power loss may, until the next synced append,
        :meth:`flush`, :meth:`checkpoint` or :meth:`close` makes it durable. The chain stays valid
        either way: a lost tail only shortens the log.
        """
        if not isinstance(kind, str) or not KIND_RE.match(kind):
            raise ConfigError(f"event kind {kind!r} must be a dotted lower-case name such as 'round.committed'.")
        if kind.startswith(RESERVED_PREFIX):
            raise ConfigError(
                f"event kinds starting with {RESERVED_PREFIX!r} are written by the audit log itself; pick another kind."
            )
        body = normalize(dict(payload or {}))
        check_artifacts(body)
        with self._lock:
            return self._append_locked(kind, body, sync=sync)

    def _append_locked(self, kind: str, payload: dict[str, Any], *, sync: bool = True) -> AuditRecord:
        if self._closed:
            raise ConfigError(f"{self.path}: the audit log is closed; open a new AuditLog to append.")
        if self._broken:
            raise AuditIntegrityError(
                f"{self.path}: appends stopped after a failed write ({self._broken}). "
                "Reopen the log (it repairs a partial last line) once the cause is fixed."
            )
        seq, at, by, prev = self._n, utc_now(), self._signer.key_id, self._last_hash
        body = {"at": at, "by": by, "fmt": FORMAT, "kind": kind, "payload": payload, "prev": prev, "seq": seq}
        line, sig = make_line(body, self._signer.sign)
        self._write(line + b"\n", sync=sync)
        rec = AuditRecord(
            seq=seq,
            kind=kind,
            payload=payload,
            at=at,
            by=by,
            prev=prev,
            sig=sig,
            hash=sha256_hex(line),
            line=line,
        )
        self._offsets.append(self._size)
        self._size += len(line) + 1
        self._absorb(rec)
        if self._write_head:
            self._store_head(rec)
        if self.checkpoint_every and kind != Kind.CHECKPOINT and self._since_checkpoint >= self.checkpoint_every:
            self._checkpoint_locked()
        return rec

    def _sync(self) -> None:
        if self._fsync:
            _datasync(self._fd)
        self._dirty = False

    def _write(self, data: bytes, *, sync: bool) -> None:
        start = self._size
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            if sync:
                self._sync()
            else:
                self._dirty = True
        except BaseException as err:
            # Take back a partial line so the next append does not glue onto it.
            try:
                os.ftruncate(self._fd, start)
                os.fsync(self._fd)
            except OSError as err2:
                self._broken = f"{err}; truncating back to {start} bytes also failed: {err2}"
            raise

    def _store_head(self, rec: AuditRecord) -> None:
        """Overwrite the signed head in place (one small pwrite; a rename per append costs ~1 ms on ext4)."""
        body = head_body(seq=rec.seq, record_hash=rec.hash, by=self._signer.key_id)
        line, _ = make_line(body, self._signer.sign)
        block = line.ljust(HEAD_SIZE - 1) + b"\n"
        if self._head_fd is None:
            self._head_fd = os.open(head_path(self.path), os.O_RDWR | os.O_CREAT, 0o644)
            os.pwrite(self._head_fd, block, 0)
            os.ftruncate(self._head_fd, len(block))
        else:
            os.pwrite(self._head_fd, block, 0)

    # -- countersignatures, keys, checkpoints ----------------------------------------------------
    def register_key(self, key_id: str, public_key: bytes, *, role: str = "member") -> AuditRecord | None:
        """Register a member's (or a new coordinator's) public key; exported to ``keys_dir/<key_id>.pub``.

        Returns the ``audit.key_registered`` record, or None when the same key is already registered.
        """
        if role not in ("member", "coordinator"):
            raise ConfigError(f"key role {role!r} must be 'member' or 'coordinator'.")
        check_key_id(key_id)
        fp = fingerprint(public_key)
        with self._lock:
            known = self._keys.get(key_id)
            if known is not None:
                if known == (fp, role):
                    return None
                raise AuditIntegrityError(
                    f"key id {key_id!r} is already registered in {self.path} as a {known[1]} key with "
                    f"fingerprint {known[0][:16]}…; a key id is never re-bound. Use a new id."
                )
            write_public_key(self.keys_dir, key_id, public_key)
            return self._append_locked(Kind.KEY_REGISTERED, {"key_id": key_id, "role": role, "fingerprint": fp})

    def rotate_key(self, new_signer: Signer) -> AuditRecord:
        """Hand signing over to ``new_signer``: registered by the current key, which is then retired."""
        self.register_key(new_signer.key_id, new_signer.public_key_bytes(), role="coordinator")
        with self._lock:
            old = self._signer.key_id
            self._signer = new_signer
            return self._append_locked(Kind.KEY_RETIRED, {"key_id": old, "successor": new_signer.key_id})

    def record(self, seq: int) -> AuditRecord:
        """Read back record ``seq`` from disk."""
        with self._lock:
            if not 0 <= seq < self._n:
                raise ConfigError(f"{self.path} has records 0..{self._n - 1}; there is no record {seq}.")
            start = self._offsets[seq]
            end = self._offsets[seq + 1] if seq + 1 < self._n else self._size
            line = os.pread(self._fd, end - start - 1, start)
        return AuditRecord.from_line(line)

    def add_countersignature(self, cs: Countersignature) -> AuditRecord:
        """Coordinator side: check a member's countersignature and append it to the log."""
        target = self.record(cs.record_seq)
        where = f"countersignature by {cs.member!r} on record {cs.record_seq}"
        if target.kind != Kind.ROUND_COMMITTED:
            raise ConfigError(f"{where}: the record is a {target.kind!r}, not {Kind.ROUND_COMMITTED!r}.")
        if cs.record_hash != target.hash:
            raise AuditIntegrityError(
                f"{where}: it signs hash {cs.record_hash[:16]}… but the record's hash is "
                f"{target.hash[:16]}…; the member saw a different record."
            )
        claim = member_claim(target, cs.member)
        if claim is None:
            raise AuditIntegrityError(f"{where}: {cs.member!r} is not among the record's members.")
        entry = OutboundEntry(
            round=cs.round,
            size=cs.outbound.get("size", -1),
            sha256=cs.outbound.get("sha256", ""),
            privacy=cs.outbound.get("privacy"),
        )
        why = claim_mismatch(claim, entry) if cs.round == target.payload.get("round") else "a different round"
        if why:
            raise AuditIntegrityError(f"{where}: the record states {why}.")
        fp, role = self._keys.get(cs.member, ("", ""))
        if role != "member":
            raise ConfigError(
                f"{where}: {cs.member!r} has no registered member key; call "
                "log.register_key(member_id, public_key) first."
            )
        pub = load_public_key(self.keys_dir / f"{cs.member}.pub")
        if fingerprint(pub) != fp or not verify_signature(pub, cs.signature, cs.statement()):
            raise AuditIntegrityError(f"{where}: the signature does not verify with the member's registered key.")
        with self._lock:
            if cs.member in self._countersigned.get(cs.record_seq, set()):
                raise ConfigError(f"{where}: already countersigned.")
            return self._append_locked(Kind.COUNTERSIGNED, cs.to_payload())

    def countersign(self, seq: int, *, member_id: str, signer: Signer, outbound: OutboundLog) -> AuditRecord:
        """Have a member check record ``seq`` against its outbound log, countersign it, and log that.

        Convenience for simulations where member keys live in the same process; in a real deployment
        the member runs :func:`countersign_record` on its node and the coordinator calls
        :meth:`add_countersignature`. The member's key is registered on first use.
        """
        cs = countersign_record(self.record(seq), member_id=member_id, signer=signer, outbound=outbound)
        self.register_key(member_id, signer.public_key_bytes(), role="member")
        return self.add_countersignature(cs)

    def countersigners(self, seq: int) -> list[str]:
        """Members whose countersignatures record ``seq`` has so far."""
        with self._lock:
            return sorted(self._countersigned.get(seq, set()))

    def checkpoint(self) -> AuditRecord:
        """Append an ``audit.checkpoint`` record: the RFC 6962 Merkle root over all records before it."""
        with self._lock:
            return self._checkpoint_locked()

    def _checkpoint_locked(self) -> AuditRecord:
        return self._append_locked(Kind.CHECKPOINT, {"tree_size": self._tree.size, "root": self._tree.root().hex()})

    def artifact(self, path: Path | str, *, sha256: str | None = None, **extra: Any) -> dict[str, Any]:
        """An ``artifacts`` entry for a file: its path relative to the log's directory and its SHA-256."""
        p = Path(path)
        absolute = p if p.is_absolute() else Path.cwd() / p
        rel = os.path.relpath(absolute.resolve(), self.path.parent.resolve())
        digest = sha256 or sha256_file(absolute)
        return {**extra, "path": Path(rel).as_posix(), "sha256": digest}

    # -- state -----------------------------------------------------------------------------------
    @property
    def signer(self) -> Signer:
        return self._signer

    def __len__(self) -> int:
        return self._n

    @property
    def last_hash(self) -> str:
        return self._last_hash

    def root(self) -> str:
        """Current Merkle root over all records (hex)."""
        with self._lock:
            return self._tree.root().hex()

    def flush(self) -> None:
        """Make every record appended so far durable (after appends with ``sync=False``)."""
        with self._lock:
            if self._dirty and not self._closed:
                self._sync()

    def close(self) -> None:
        """Make pending records durable, release the writer lock and the file."""
        if self._closed:
            return
        if self._dirty:
            self._sync()
        self._closed = True
        if self._head_fd is not None:
            os.close(self._head_fd)
            self._head_fd = None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r}, records={self._n}, signer={self._signer.key_id!r})"


def parse_head(path: Path) -> dict[str, Any] | None:
    """The head file's object, or None when missing or unreadable."""
    try:
        obj = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


__all__ = [
    "AuditLog",
    "Countersignature",
    "countersign_record",
    "default_keys_dir",
    "head_path",
    "member_claim",
]
