"""Writing the log: format, resume, threads, crashes, keys, countersignatures, the Signer protocol."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from audit_fixtures import Member, Trail, write_trail

import fedrisk.audit.log as audit_log_module
from fedrisk.audit import (
    AuditLog,
    FileSigner,
    Kind,
    OutboundLog,
    Signer,
    countersign_record,
    is_committed_artifact,
    read_records,
    sha256_file,
    verify_log,
)
from fedrisk.audit._canon import canonical
from fedrisk.audit.signing import fingerprint
from fedrisk.errors import AuditIntegrityError, ConfigError


def test_record_format_is_canonical_chained_and_signed(tmp_path: Path, coordinator: FileSigner) -> None:
    with AuditLog(tmp_path / "audit.jsonl", coordinator) as log:
        rec = log.append("round.scheduled", {"round": 1, "note": "zürich ✓", "eps": 0.25, "ids": (1, 2)})
    lines = (tmp_path / "audit.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3
    first, second = (json.loads(x) for x in lines[:2])
    assert first["kind"] == "audit.opened" and first["prev"] == "0" * 64 and first["seq"] == 0
    assert first["payload"]["coordinator"] == {
        "key_id": "coordinator",
        "fingerprint": coordinator.fingerprint,
    }
    assert second["seq"] == 1 and second["prev"] == read_records(tmp_path / "audit.jsonl")[0].hash
    assert canonical(second) == lines[1]  # the whole line is RFC 8785 canonical JSON
    assert list(second) == sorted(second) and list(second)[-1] == "sig"
    assert rec.payload["ids"] == [1, 2] and rec.line == lines[1]
    assert (tmp_path / "keys" / "coordinator.pub").exists()
    assert verify_log(tmp_path / "audit.jsonl").ok


def test_key_files(tmp_path: Path) -> None:
    s = FileSigner.load_or_create(tmp_path / "k" / "coordinator.key")
    key = tmp_path / "k" / "coordinator.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "k" / "coordinator.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    again = FileSigner.load_or_create(key)
    assert again.public_key_bytes() == s.public_key_bytes() and again.key_id == "coordinator"
    with pytest.raises(ConfigError):
        FileSigner.load(tmp_path / "nope.key")
    with pytest.raises(ConfigError):
        FileSigner.generate("bad id/with slash")
    # concurrent creation: every thread ends up with the same key
    got: list[bytes] = []
    target = tmp_path / "race" / "m.key"
    threads = [
        threading.Thread(target=lambda: got.append(FileSigner.load_or_create(target).public_key_bytes()))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len(set(got)) == 1


def test_resume_continues_the_chain(tmp_path: Path, coordinator: FileSigner) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, coordinator) as log:
        log.append("member.joined", {"member": "a"})
        root_before = log.root()
    with AuditLog(path, coordinator) as log:
        assert len(log) == 2 and log.root() == root_before
        rec = log.append("member.joined", {"member": "b"})
        assert rec.seq == 2
    assert verify_log(path).ok
    other = FileSigner.generate("coordinator")
    with pytest.raises(AuditIntegrityError, match="not the key registered"):
        AuditLog(path, other)
    with pytest.raises(ConfigError, match="not an active coordinator key"):
        AuditLog(path, FileSigner.generate("someone"))


def test_second_writer_is_refused(tmp_path: Path, coordinator: FileSigner) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, coordinator), pytest.raises(AuditIntegrityError, match="already open for writing"):
        AuditLog(path, coordinator)
    with AuditLog(path, coordinator) as log:
        assert len(log) == 1


def test_reserved_and_bad_kinds(tmp_path: Path, coordinator: FileSigner) -> None:
    with AuditLog(tmp_path / "audit.jsonl", coordinator) as log:
        for kind in ("audit.checkpoint", "Round", "round", "round..x"):
            with pytest.raises(ConfigError):
                log.append(kind, {})
        with pytest.raises(ConfigError, match="NaN"):
            log.append("privacy.spent", {"epsilon": float("nan")})
        with pytest.raises(ConfigError, match="absolute"):
            log.append("model.published", {"artifacts": [{"path": "/etc/passwd", "sha256": "0" * 64}]})
        with pytest.raises(ConfigError, match="sha256"):
            log.append("model.published", {"artifacts": [{"path": "m.bin", "sha256": "xyz"}]})
        with pytest.raises(ConfigError, match="integer"):
            log.append("x.y", {"big": 2**60})
        assert len(log) == 1


def test_many_threads_append_consistently(tmp_path: Path, coordinator: FileSigner) -> None:
    path = tmp_path / "audit.jsonl"
    n_threads, per_thread = 8, 60
    errors: list[BaseException] = []
    with AuditLog(path, coordinator) as log:
        barrier = threading.Barrier(n_threads)

        def work(t: int) -> None:
            try:
                barrier.wait()
                for i in range(per_thread):
                    log.append("contribution.recorded", {"thread": t, "i": i})
                    if i % 20 == 0:
                        log.checkpoint()
            except BaseException as err:  # pragma: no cover - reported below
                errors.append(err)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    rep = verify_log(path)
    assert rep.ok, rep.summary()
    records = read_records(path)
    assert [r.seq for r in records] == list(range(len(records)))
    seen = {(r.payload["thread"], r.payload["i"]) for r in records if r.kind == "contribution.recorded"}
    assert seen == {(t, i) for t in range(n_threads) for i in range(per_thread)}
    assert rep.checkpoints == n_threads * 3


def test_crash_mid_append_torn_last_line(trail: Trail) -> None:
    """A partial last line: valid up to the last whole record; the next writer repairs and notes it."""
    path = trail.path
    n = len(trail.lines())
    model_hash = sha256_file(trail.models[3])
    # what a crash after writing part of the next record leaves behind
    partial = trail.lines()[5][:97]
    with open(path, "ab") as fh:
        fh.write(partial)
    rep = verify_log(path)
    assert not rep.ok and rep.valid_but_torn and rep.truncated_tail
    assert rep.n_valid == rep.n_records == n and rep.first_bad_seq == n
    assert "partial record" in rep.reason and "97 bytes" in rep.reason
    assert is_committed_artifact(path, model_hash)  # whole records are still proven
    with AuditLog(path, trail.coordinator) as log:
        assert len(log) == n + 1  # the recovery record
        rec = log.record(n)
        assert rec.kind == Kind.RECOVERED and rec.payload["torn_bytes"] == 97
        log.append("round.scheduled", {"round": 4})
    assert path.with_name(f"audit.jsonl.torn-{sum(len(x) + 1 for x in trail.lines()[:n])}").read_bytes() == partial
    rep = verify_log(path)
    assert rep.ok and any("recovered" in w for w in rep.warnings)


def test_failed_write_is_taken_back(tmp_path: Path, coordinator: FileSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "audit.jsonl"
    real_write = os.write
    with AuditLog(path, coordinator) as log:
        log.append("member.joined", {"member": "a"})

        def half_then_fail(fd: int, data: bytes) -> int:
            real_write(fd, bytes(data)[: len(data) // 2])
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(audit_log_module.os, "write", half_then_fail)
        with pytest.raises(OSError):
            log.append("member.joined", {"member": "b"})
        monkeypatch.setattr(audit_log_module.os, "write", real_write)
        log.append("member.joined", {"member": "c"})
    rep = verify_log(path)
    assert rep.ok and rep.n_records == 3


_CHILD = """
import sys
from pathlib import Path
from fedrisk.audit import AuditLog, FileSigner
signer = FileSigner.load_or_create(Path(sys.argv[2]))
log = AuditLog(Path(sys.argv[1]), signer)
print("ready", flush=True)
i = 0
while True:
    log.append("contribution.recorded", {"i": i, "pad": "x" * (i % 5000)})
    i += 1
"""


def test_killed_writer_leaves_a_verifiable_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    key = tmp_path / "coordinator.key"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), str(key)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    time.sleep(0.4)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rep = verify_log(path)
    assert rep.ok or rep.valid_but_torn, rep.summary()
    assert rep.n_valid > 10
    with AuditLog(path, FileSigner.load(key)) as log:
        log.append("round.failed", {"round": 1, "reason": "coordinator restarted"})
    assert verify_log(path).ok


class MemorySigner:
    """Stands in for an HSM signer: implements the Signer protocol and nothing else."""

    def __init__(self, key_id: str) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        self._k = Ed25519PrivateKey.generate()
        self._id = key_id
        self._pub = self._k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.calls = 0

    @property
    def key_id(self) -> str:
        return self._id

    def public_key_bytes(self) -> bytes:
        return self._pub

    def sign(self, message: bytes) -> bytes:
        self.calls += 1
        return self._k.sign(message)


def test_custom_signer_via_protocol(tmp_path: Path) -> None:
    hsm = MemorySigner("hsm-coordinator")
    assert isinstance(hsm, Signer)
    with AuditLog(tmp_path / "audit.jsonl", hsm) as log:
        log.append("member.joined", {"member": "a"})
    assert hsm.calls >= 2
    rep = verify_log(tmp_path / "audit.jsonl")
    assert rep.ok and rep.keys["hsm-coordinator"]["fingerprint"] == fingerprint(hsm.public_key_bytes())


def test_key_rotation(tmp_path: Path, coordinator: FileSigner) -> None:
    path = tmp_path / "audit.jsonl"
    new = FileSigner.generate("coordinator-2026")
    with AuditLog(path, coordinator) as log:
        log.append("member.joined", {"member": "a"})
        log.rotate_key(new)
        rec = log.append("member.joined", {"member": "b"})
        assert rec.by == "coordinator-2026"
    assert verify_log(path).ok
    with pytest.raises(ConfigError, match="not an active coordinator key"):
        AuditLog(path, coordinator)
    with AuditLog(path, new) as log:
        log.append("member.exited", {"member": "a"})
    assert verify_log(path).ok


def test_countersign_refuses_claims_that_do_not_match_what_was_sent(
    tmp_path: Path, coordinator: FileSigner, members: dict[str, Member]
) -> None:
    kraken = members["kraken"]
    entry = kraken.outbound.record_sent(1, b"what kraken really sent", privacy={"epsilon": 1.0})
    with AuditLog(tmp_path / "audit.jsonl", coordinator) as log:
        lie_hash = dict(entry.claim("kraken"), sha256="f" * 64)
        lie_eps = dict(entry.claim("kraken"), privacy={"epsilon": 0.1})
        for i, claim in enumerate((lie_hash, lie_eps)):
            rec = log.append("round.committed", {"round": 1, "members": [claim]})
            with pytest.raises(AuditIntegrityError, match="refusing to countersign"):
                log.countersign(rec.seq, member_id="kraken", signer=kraken.signer, outbound=kraken.outbound)
            assert log.countersigners(rec.seq) == [], i
        rec = log.append("round.committed", {"round": 2, "members": [entry.claim("kraken")]})
        with pytest.raises(AuditIntegrityError, match="nothing sent in that round"):
            log.countersign(rec.seq, member_id="kraken", signer=kraken.signer, outbound=kraken.outbound)
        good = log.append("round.committed", {"round": 1, "members": [entry.claim("kraken")]})
        log.countersign(good.seq, member_id="kraken", signer=kraken.signer, outbound=kraken.outbound)
        assert log.countersigners(good.seq) == ["kraken"]
        with pytest.raises(ConfigError, match="already countersigned"):
            log.countersign(good.seq, member_id="kraken", signer=kraken.signer, outbound=kraken.outbound)
        with pytest.raises(ConfigError, match="own key"):
            log.countersign(good.seq, member_id="lynx", signer=kraken.signer, outbound=kraken.outbound)
    rep = verify_log(tmp_path / "audit.jsonl")
    assert rep.ok
    assert rep.countersignatures[good.seq] == ["kraken"]
    assert set(rep.missing_countersignatures) == {1, 2, 3}
    rep = verify_log(tmp_path / "audit.jsonl", require_countersignatures=True)
    assert not rep.ok and rep.first_bad_seq == 1
    # the members' outbound logs expose the coordinator's false claims even without countersignatures
    rep = verify_log(tmp_path / "audit.jsonl", outbound={"kraken": kraken.outbound.path})
    assert not rep.ok and rep.first_bad_seq == 1 and "does not back" in rep.reason


def test_member_side_and_coordinator_side_split(
    tmp_path: Path, coordinator: FileSigner, members: dict[str, Member]
) -> None:
    """The deployment flow: the member signs on its node, the coordinator only appends."""
    orca = members["orca"]
    entry = orca.outbound.record_sent(7, b"u" * 100)
    with AuditLog(tmp_path / "audit.jsonl", coordinator) as log:
        rec = log.append("round.committed", {"round": 7, "members": [entry.claim("orca")]})
        cs = countersign_record(rec, member_id="orca", signer=orca.signer, outbound=orca.outbound)  # on orca's node
        with pytest.raises(ConfigError, match="no registered member key"):
            log.add_countersignature(cs)
        log.register_key("orca", orca.signer.public_key_bytes())
        cs.signature = bytes(64)
        with pytest.raises(AuditIntegrityError, match="does not verify"):
            log.add_countersignature(cs)
        cs = countersign_record(rec, member_id="orca", signer=orca.signer, outbound=orca.outbound)
        log.add_countersignature(cs)
    assert [r.seq for r in orca.outbound.receipts()] == [rec.seq, rec.seq]
    assert verify_log(tmp_path / "audit.jsonl", outbound={"orca": orca.outbound.path}).ok


def test_outbound_log_torn_line_is_ignored_and_not_glued(tmp_path: Path) -> None:
    ob = OutboundLog(tmp_path / "outbound.jsonl")
    ob.record_sent(1, b"a")
    with open(ob.path, "ab") as fh:
        fh.write(b'{"round":2,"si')
    ob.record_sent(3, b"c")
    assert [e.round for e in ob.entries()] == [1, 3]


def test_unsynced_appends_then_flush(tmp_path: Path, coordinator: FileSigner) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, coordinator) as log:
        for i in range(50):
            log.append("contribution.recorded", {"i": i}, sync=False)
        assert verify_log(path).ok  # written at once, only durability waits
        log.flush()
        log.append("round.committed", {"round": 1, "members": []})
    assert verify_log(path).n_records == 52


def test_auto_checkpoints(tmp_path: Path, coordinator: FileSigner) -> None:
    with AuditLog(tmp_path / "audit.jsonl", coordinator, checkpoint_every=10) as log:
        for i in range(35):
            log.append("contribution.recorded", {"i": i})
    rep = verify_log(tmp_path / "audit.jsonl")
    assert rep.ok and rep.checkpoints == 3


def test_write_trail_helper_is_a_realistic_run(
    tmp_path: Path, coordinator: FileSigner, members: dict[str, Member]
) -> None:
    trail = write_trail(tmp_path / "r", coordinator, members, rounds=2, countersign=False)
    rep = verify_log(trail.path, outbound={m.id: m.outbound.path for m in members.values()})
    assert rep.ok
    assert set(rep.missing_countersignatures) == set(trail.round_seqs.values())
    assert is_committed_artifact(trail.path, sha256_file(trail.models[2]))
    assert is_committed_artifact(trail.path, sha256_file(trail.models[1]))
    assert not is_committed_artifact(trail.path, sha256_file(tmp_path / "r" / "data" / "schema.json"))
    assert not is_committed_artifact(trail.path, "not a hash")
    assert not is_committed_artifact(tmp_path / "missing.jsonl", "0" * 64)
