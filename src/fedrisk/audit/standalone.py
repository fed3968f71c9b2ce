#!/usr/bin/env python3
"""Independent verifier for a fedrisk audit log: needs only Python 3.9+, ``cryptography`` and ``rfc8785``.

    pip install cryptography rfc8785
    python verify_standalone.py audit.jsonl --keys keys

This file is a second, separate implementation of the checks in ``fedrisk.audit.verify`` (it shares no
code with fedrisk), written to be read: a regulator can audit these ~200 lines instead of trusting the
coordinator's software. It checks the hash chain, the canonical form, every Ed25519 signature, key
registrations, member countersignatures, RFC 6962 checkpoint roots, referenced artifact files and the
signed head; it exits 0 when everything holds and 1 naming the first bad record otherwise.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FIELDS = {"at", "by", "fmt", "kind", "payload", "prev", "seq", "sig"}


class BadRecordError(Exception):
    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"record {seq}: {reason}")
        self.seq, self.reason = seq, reason


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle Tree Hash over leaf hashes (recursive definition, split at largest power of 2 < n)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def signed_part(line: bytes) -> bytes:
    """A record (or head) line without its trailing ',"sig":"…"' member: the bytes that were signed."""
    cut = line.rfind(b',"sig":"')
    return line[:cut] + b"}"


def check_sig(pub: Ed25519PublicKey, sig_b64: str, message: bytes) -> bool:
    try:
        pub.verify(base64.b64decode(sig_b64, validate=True), message)
        return True
    except (InvalidSignature, ValueError):
        return False


class Keys:
    def __init__(self, keys_dir: str) -> None:
        self.dir = Path(keys_dir)
        self.registered: dict[str, tuple[str, str]] = {}
        self.retired: set[str] = set()
        self.cache: dict[str, Ed25519PublicKey] = {}

    def get(self, key_id: str, role: str, seq: int) -> Ed25519PublicKey:
        fp, reg_role = self.registered.get(key_id, (None, None))
        if reg_role != role:
            raise BadRecordError(seq, f"{key_id!r} is not a registered {role} key")
        if key_id not in self.cache:
            path = self.dir / f"{key_id}.pub"
            if not path.exists():
                raise BadRecordError(seq, f"missing public key file {path}")
            key = serialization.load_pem_public_key(path.read_bytes())
            if not isinstance(key, Ed25519PublicKey):
                raise BadRecordError(seq, f"{path} is not an Ed25519 public key")
            raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            if sha256(raw) != fp:
                raise BadRecordError(seq, f"{path} does not have the fingerprint registered in the log")
            self.cache[key_id] = key
        return self.cache[key_id]


def verify(
    log_file: str, keys_dir: str, check_files: bool = True, skip_missing: bool = False
) -> tuple[int, str, str, dict[str, str]]:
    """Check the log; return (records, last hash, Merkle root, key fingerprints) or raise BadRecordError."""
    log_path = Path(log_file)
    data = log_path.read_bytes()
    end = data.rfind(b"\n") + 1
    lines = data[:end].split(b"\n")[:-1]
    keys = Keys(keys_dir)
    hashes: list[str] = []
    leaves: list[bytes] = []
    rounds: dict[int, dict[str, Any]] = {}
    countersigned: dict[int, set[str]] = {}
    file_hashes: dict[Path, str] = {}
    for i, line in enumerate(lines):
        try:
            rec = json.loads(line)
        except ValueError:
            raise BadRecordError(i, "not valid JSON") from None
        if not isinstance(rec, dict) or set(rec) != FIELDS or rec["fmt"] != "fedrisk-audit/1":
            raise BadRecordError(i, "not a record of format fedrisk-audit/1")
        if rec["seq"] != i:
            raise BadRecordError(i, f"seq {rec['seq']} where {i} was expected (record deleted, inserted or moved)")
        if rec["prev"] != (hashes[-1] if hashes else "0" * 64):
            raise BadRecordError(i, "prev is not the hash of the record before (chain broken)")
        if rfc8785.dumps(rec) != line:
            raise BadRecordError(i, "not in RFC 8785 canonical form (edited after signing)")
        p, kind = rec["payload"], rec["kind"]
        if i == 0:
            if kind != "audit.opened":
                raise BadRecordError(i, "the first record is not audit.opened")
            keys.registered[p["coordinator"]["key_id"]] = (p["coordinator"]["fingerprint"], "coordinator")
        elif kind == "audit.opened":
            raise BadRecordError(i, "a second audit.opened record")
        if rec["by"] in keys.retired:
            raise BadRecordError(i, f"signed by retired key {rec['by']!r}")
        if not check_sig(keys.get(rec["by"], "coordinator", i), rec["sig"], signed_part(line)):
            raise BadRecordError(i, "signature does not verify (record altered or signature replaced)")
        if kind == "audit.key_registered":
            old = keys.registered.get(p["key_id"])
            if old is not None and old != (p["fingerprint"], p["role"]):
                raise BadRecordError(i, "key id registered twice with different keys")
            keys.registered[p["key_id"]] = (p["fingerprint"], p["role"])
        elif kind == "audit.key_retired":
            keys.retired.add(p["key_id"])
        elif kind == "audit.checkpoint":
            if p["tree_size"] != i or p["root"] != mth(leaves).hex():
                raise BadRecordError(i, "checkpoint root is not the Merkle root of the records before it")
        elif kind == "round.committed":
            rounds[i] = rec
            countersigned[i] = set()
        elif kind == "audit.countersigned":
            target = rounds.get(p["record_seq"])
            if target is None or p["record_hash"] != hashes[p["record_seq"]]:
                raise BadRecordError(i, "countersignature does not refer to an earlier round.committed record")
            if p["member"] in countersigned[p["record_seq"]] or p["round"] != target["payload"]["round"]:
                raise BadRecordError(i, "duplicate countersignature or wrong round")
            claim = [
                m for m in target["payload"].get("members", []) if isinstance(m, dict) and m.get("id") == p["member"]
            ]
            ob = p["outbound"]
            if (
                not claim
                or claim[0].get("sha256") != ob["sha256"]
                or claim[0].get("size") != ob["size"]
                or ("privacy" in claim[0] and rfc8785.dumps(claim[0]["privacy"]) != rfc8785.dumps(ob["privacy"]))
            ):
                raise BadRecordError(i, "countersigned update differs from what the round record states")
            statement = rfc8785.dumps(
                {
                    "fmt": "fedrisk-audit-countersign/1",
                    "member": p["member"],
                    "outbound": ob,
                    "record_hash": p["record_hash"],
                    "record_seq": p["record_seq"],
                    "round": p["round"],
                }
            )
            if not check_sig(keys.get(p["member"], "member", i), p["signature"], statement):
                raise BadRecordError(i, f"countersignature by {p['member']!r} does not verify")
            countersigned[p["record_seq"]].add(p["member"])
        if check_files:
            for art in p.get("artifacts", []) if isinstance(p.get("artifacts"), list) else []:
                f = log_path.parent / art["path"]
                if not f.is_file():
                    if skip_missing:
                        continue
                    raise BadRecordError(i, f"artifact {art['path']} is missing")
                if f not in file_hashes:
                    file_hashes[f] = sha256(f.read_bytes())
                if file_hashes[f] != art["sha256"]:
                    raise BadRecordError(i, f"artifact {art['path']} does not match its recorded sha256")
        hashes.append(sha256(line))
        leaves.append(hashlib.sha256(b"\x00" + line).digest())
    if not lines:
        raise BadRecordError(0, "empty log")
    if end < len(data):
        raise BadRecordError(len(lines), f"partial last line ({len(data) - end} bytes): crash mid-append or truncation")
    head = log_path.with_name(log_path.name + ".head")
    h: Any = None
    raw = b""
    if head.exists():
        raw = head.read_bytes().rstrip()
        try:
            h = json.loads(raw)
        except ValueError:
            h = None  # torn by a crash (it is overwritten in place): only the end-of-log check is lost
    if head.exists() and isinstance(h, dict):
        if not check_sig(keys.get(h["by"], "coordinator", len(lines)), h["sig"], signed_part(raw)):
            raise BadRecordError(len(lines), "head file signature does not verify")
        if h["seq"] >= len(lines):
            raise BadRecordError(len(lines), f"signed head names record {h['seq']}: records were deleted from the end")
        if hashes[h["seq"]] != h["hash"]:
            raise BadRecordError(h["seq"], "differs from the record named by the signed head")
    return len(lines), hashes[-1], mth(leaves).hex(), {k: v[0] for k, v in keys.registered.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--keys", default=None, help="directory of <key_id>.pub files (default: keys/ beside the log)")
    ap.add_argument("--no-artifacts", action="store_true", help="do not check referenced files")
    ap.add_argument("--skip-missing-artifacts", action="store_true", help="check only files that are present")
    args = ap.parse_args(argv)
    keys_dir = args.keys or str(Path(args.log).parent / "keys")
    try:
        n, last, root, fps = verify(
            args.log, keys_dir, check_files=not args.no_artifacts, skip_missing=args.skip_missing_artifacts
        )
    except BadRecordError as bad:
        print(f"FAILED at record {bad.seq}: {bad.reason}")
        return 1
    except (KeyError, TypeError) as err:
        print(f"FAILED: malformed record content ({err!r})")
        return 1
    print(f"OK: {n} records verify; last hash {last}; Merkle root {root}")
    for key_id, fp in sorted(fps.items()):
        print(f"  key {key_id}: fingerprint {fp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
