"""Every tampering named in the issue is detected, and the first bad record is named with the reason."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from audit_fixtures import Trail

from fedrisk.audit import FileSigner, is_committed_artifact, sha256_file, verify_log
from fedrisk.audit.records import make_line
from fedrisk.audit.signing import b64encode


def _record_of_offset(lines: list[bytes], offset: int) -> int:
    pos = 0
    for i, line in enumerate(lines):
        pos += len(line) + 1
        if offset < pos:
            return i
    raise AssertionError("offset past the end")


def test_untouched_trail_verifies(trail: Trail) -> None:
    rep = verify_log(trail.path)
    assert rep.ok, rep.summary()
    assert rep.n_valid == rep.n_records == len(trail.lines())
    assert rep.checkpoints == 3
    assert rep.artifacts_checked >= 5
    assert all(sorted(v) == ["kraken", "lynx", "orca"] for v in rep.countersignatures.values())
    assert rep.missing_countersignatures == {}
    assert rep.head_seq == rep.n_records - 1
    assert not rep.warnings


def test_flipped_byte_anywhere_is_named(trail: Trail) -> None:
    original = trail.path.read_bytes()
    lines = trail.lines()
    rng = random.Random(6)
    offsets = [*sorted(rng.sample(range(len(original)), 120)), len(original) - 1]
    for off in offsets:
        data = bytearray(original)
        data[off] ^= 0x01
        trail.path.write_bytes(bytes(data))
        rep = verify_log(trail.path)
        expected = _record_of_offset(lines, off)
        assert not rep.ok, f"flip at {off} went unnoticed"
        assert rep.first_bad_seq == expected, (off, rep.summary())
        assert rep.n_valid == expected
    trail.path.write_bytes(original)
    assert verify_log(trail.path).ok


@pytest.mark.parametrize("where", ["first", "middle", "round", "last"])
def test_deleted_record(trail: Trail, where: str) -> None:
    lines = trail.lines()
    k = {"first": 0, "middle": len(lines) // 2, "round": trail.round_seqs[2], "last": len(lines) - 1}[where]
    del lines[k]
    trail.write_lines(lines)
    rep = verify_log(trail.path)
    assert not rep.ok
    assert rep.first_bad_seq == k
    assert "deleted" in rep.reason or "missing" in rep.reason


def test_deleted_from_end_without_head_is_caught_by_member_receipts(trail: Trail) -> None:
    lines = trail.lines()
    cut = trail.round_seqs[3]  # drop round 3's commit and everything after it
    trail.write_lines(lines[:cut])
    trail.path.with_name("audit.jsonl.head").unlink()
    rep = verify_log(trail.path)
    assert rep.ok and any("no head file" in w for w in rep.warnings)  # undetectable from the log alone
    outbound = {m.id: m.outbound.path for m in trail.members.values()}
    rep = verify_log(trail.path, outbound=outbound)
    assert not rep.ok and rep.first_bad_seq == cut and "receipt" in rep.reason
    rep = verify_log(trail.path, anchors=[(cut, json.loads(lines[cut + 1])["prev"])])
    assert not rep.ok and rep.first_bad_seq == cut and "anchor" in rep.reason


@pytest.mark.parametrize("mode", ["duplicate", "forged-own-key", "forged-claiming-coordinator"])
def test_inserted_record(trail: Trail, mode: str, tmp_path: Path) -> None:
    lines = trail.lines()
    k = trail.round_seqs[2]
    if mode == "duplicate":
        lines.insert(k, lines[k - 3])
    else:
        # An insider forges a record at k with the right seq and prev, and re-chains everything after it.
        mallory = FileSigner.generate("mallory" if mode == "forged-own-key" else "coordinator")
        shutil.copy(trail.run_dir / "keys" / "coordinator.pub", tmp_path / "saved.pub")
        new: list[bytes] = lines[:k]
        forged = {
            "at": "2026-01-01T00:00:00.000000Z",
            "by": mallory.key_id,
            "fmt": "fedrisk-audit/1",
            "kind": "round.committed",
            "payload": {"round": 99, "members": []},
            "prev": json.loads(lines[k])["prev"],
            "seq": k,
        }
        from fedrisk.audit._canon import sha256_hex

        line, _ = make_line(forged, mallory.sign)
        new.append(line)
        for old in lines[k:]:
            obj = json.loads(old)
            obj.pop("sig")
            obj["seq"] += 1
            obj["prev"] = sha256_hex(new[-1])
            obj["by"] = mallory.key_id
            line, _ = make_line(obj, mallory.sign)
            new.append(line)
        lines = new
    trail.write_lines(lines)
    rep = verify_log(trail.path)
    assert not rep.ok
    assert rep.first_bad_seq == k, rep.summary()
    if mode == "duplicate":
        assert "inserted" in rep.reason
    elif mode == "forged-own-key":
        assert "not a registered coordinator key" in rep.reason
    else:
        assert "signature" in rep.reason


@pytest.mark.parametrize("pair", ["adjacent", "far"])
def test_reordered_records(trail: Trail, pair: str) -> None:
    lines = trail.lines()
    a = trail.round_seqs[1]
    b = a + 1 if pair == "adjacent" else trail.round_seqs[3]
    lines[a], lines[b] = lines[b], lines[a]
    trail.write_lines(lines)
    rep = verify_log(trail.path)
    assert not rep.ok and rep.first_bad_seq == a
    assert "seq is" in rep.reason


@pytest.mark.parametrize("how", ["other-key", "other-record", "garbage", "coordinator-resigned-other-body"])
def test_replaced_signature(trail: Trail, how: str) -> None:
    lines = trail.lines()
    k = trail.round_seqs[2]
    obj = json.loads(lines[k])
    from fedrisk.audit.records import signed_message

    msg = signed_message(lines[k])
    assert msg is not None
    if how == "other-key":
        sig = b64encode(FileSigner.generate("x").sign(msg))
    elif how == "other-record":
        sig = json.loads(lines[k - 1])["sig"]
    elif how == "garbage":
        sig = "AAAA"
    else:  # a valid coordinator signature, but over another record's body
        sig = json.loads(lines[k + 1])["sig"]
    lines[k] = lines[k].replace(obj["sig"].encode(), sig.encode())
    trail.write_lines(lines)
    rep = verify_log(trail.path)
    assert not rep.ok and rep.first_bad_seq == k
    assert "signature" in rep.reason


def test_truncated_file_at_every_kind_of_offset(trail: Trail) -> None:
    original = trail.path.read_bytes()
    lines = trail.lines()
    ends = [sum(len(x) + 1 for x in lines[: i + 1]) for i in range(len(lines))]
    for size in [5, ends[3] + 40, ends[10], ends[10] - 1, len(original) - 1, len(original) // 2]:
        trail.path.write_bytes(original[:size])
        rep = verify_log(trail.path)
        whole = sum(1 for e in ends if e <= size)
        assert not rep.ok, size
        assert rep.first_bad_seq == whole, (size, rep.summary())
        assert rep.n_valid == whole
        if size not in ends:
            assert rep.truncated_tail and "partial record" in rep.reason
        else:
            assert "deleted from the end" in rep.reason


def test_swapped_model_file(trail: Trail) -> None:
    real = sha256_file(trail.models[2])
    assert is_committed_artifact(trail.path, real)
    shutil.copy(trail.models[1], trail.models[2])  # another genuine model put in round 2's place
    rep = verify_log(trail.path)
    assert not rep.ok and rep.first_bad_seq == trail.round_seqs[2]
    assert "round-2.bin" in rep.reason and "replaced" in rep.reason
    trail.models[2].write_bytes(b"a backdoored model")
    rep = verify_log(trail.path)
    assert not rep.ok and rep.first_bad_seq == trail.round_seqs[2]
    assert not is_committed_artifact(trail.path, sha256_file(trail.models[2]))
    trail.models[2].unlink()
    rep = verify_log(trail.path)
    assert not rep.ok and "missing" in rep.reason
    rep = verify_log(trail.path, allow_missing_artifacts=True)
    assert rep.ok and any("missing" in w for w in rep.warnings)


def test_swapped_dataset_file(trail: Trail) -> None:
    (trail.run_dir / "data" / "schema.json").write_text('{"columns": ["amount"]}')
    rep = verify_log(trail.path)
    assert not rep.ok and "schema.json" in rep.reason
    assert verify_log(trail.path, check_artifacts=False).ok


def test_replaced_public_key_file(trail: Trail) -> None:
    pub = trail.run_dir / "keys" / "coordinator.pub"
    from fedrisk.audit.signing import public_key_pem

    pub.write_bytes(public_key_pem(FileSigner.generate("coordinator").public_key_bytes()))
    rep = verify_log(trail.path)
    assert not rep.ok and rep.first_bad_seq == 0 and "fingerprint" in rep.reason


def test_wholesale_resign_needs_pinned_keys(trail: Trail, tmp_path: Path) -> None:
    """An insider re-signs the whole log with a new key and swaps keys/: pinned keys catch it."""
    pinned = tmp_path / "regulator-keys"
    shutil.copytree(trail.run_dir / "keys", pinned)
    lines = trail.lines()
    mallory = FileSigner.generate("coordinator")
    from fedrisk.audit._canon import sha256_hex
    from fedrisk.audit.signing import fingerprint, public_key_pem

    new: list[bytes] = []
    for old in lines:
        obj = json.loads(old)
        obj.pop("sig")
        obj["prev"] = sha256_hex(new[-1]) if new else "0" * 64
        if obj["kind"] == "audit.opened":
            obj["payload"]["coordinator"]["fingerprint"] = fingerprint(mallory.public_key_bytes())
        if obj["kind"] == "audit.checkpoint":
            from fedrisk.audit.merkle import merkle_root

            obj["payload"]["root"] = merkle_root(new).hex()
        line, _ = make_line(obj, mallory.sign)
        new.append(line)
    trail.write_lines(new)
    trail.path.with_name("audit.jsonl.head").unlink()
    (trail.run_dir / "keys" / "coordinator.pub").write_bytes(public_key_pem(mallory.public_key_bytes()))
    rep = verify_log(trail.path, check_artifacts=False)
    # the member countersignatures still bind the old record hashes
    assert not rep.ok and "countersignature" in rep.reason
    rep = verify_log(trail.path, pinned, check_artifacts=False)
    assert not rep.ok and rep.first_bad_seq == 0 and "fingerprint" in rep.reason


def test_tampered_head_file(trail: Trail) -> None:
    head = trail.path.with_name("audit.jsonl.head")
    obj = json.loads(head.read_bytes())
    obj["seq"] += 5
    head.write_text(json.dumps(obj, separators=(",", ":"), sort_keys=True))
    rep = verify_log(trail.path)
    assert not rep.ok and "head" in rep.reason


def test_edited_but_reserialized_line_is_not_canonical(trail: Trail) -> None:
    lines = trail.lines()
    k = 3
    obj = json.loads(lines[k])
    lines[k] = json.dumps(obj).encode()  # same content, spaces added
    trail.write_lines(lines)
    rep = verify_log(trail.path)
    assert not rep.ok and rep.first_bad_seq == k and "canonical" in rep.reason


def test_countersignature_for_changed_claim(trail: Trail) -> None:
    """A countersignature moved onto another round's record does not verify."""
    lines = trail.lines()
    cs_seq = trail.round_seqs[1] + 2  # after audit.key_registered records... find the first countersignature
    for i, line in enumerate(lines):
        if b'"kind":"audit.countersigned"' in line:
            cs_seq = i
            break
    obj = json.loads(lines[cs_seq])
    obj["payload"]["record_seq"] = trail.round_seqs[2]
    assert obj["payload"]["record_seq"] > cs_seq  # a forward reference is invalid anyway
    rep_lines = list(lines)
    obj.pop("sig")
    line, _ = make_line(obj, trail.coordinator.sign)  # even re-signed by the coordinator
    rep_lines[cs_seq] = line
    trail.write_lines(rep_lines)
    rep = verify_log(trail.path)
    assert not rep.ok and rep.first_bad_seq == cs_seq
