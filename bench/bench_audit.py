"""Audit trail benchmark: append latency and verification speed.

    python -m bench.bench_audit [--records 10000] [--out FILE.json]

Targets (issue 6): append ≤ 1 ms per record (signed, fsynced); verify 10,000 records ≤ 2 s on 2 cores.
The log mimics a real run: every 20 records a round commit with 5 members (hashes, sizes, privacy
parameters) and a model artifact, member countersignatures on some rounds, privacy-spend and
contribution records in between, and a checkpoint every 100 records.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fedrisk.audit import AuditLog, FileSigner, OutboundLog, prove, verify_log, verify_proof

TARGET_APPEND_MS = 1.0
TARGET_VERIFY_10K_S = 2.0
MEMBERS = ("kraken", "lynx", "orca", "puffin", "wren")


def _payload(i: int, model_ref: dict[str, Any], claims: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    if i % 20 == 0:
        return "round.committed", {
            "round": i // 20,
            "members": claims,
            "artifacts": [model_ref],
            "metrics": {"auc": 0.81 + (i % 7) / 1000, "loss": 0.4132},
        }
    if i % 5 == 0:
        return "privacy.spent", {
            "round": i // 20,
            "member": MEMBERS[i % 5],
            "epsilon": 0.25,
            "delta": 1e-5,
            "noise_multiplier": 1.1,
            "clip": 1.0,
        }
    return "contribution.recorded", {
        "round": i // 20,
        "member": MEMBERS[i % 5],
        "shapley": i % 97,
        "rows": 10_000 + i,
    }


def run(n_records: int = 10_000, workdir: Path | None = None) -> dict[str, Any]:
    """Write ``n_records`` records, verify them, prove one; return the figures."""
    tmp = tempfile.TemporaryDirectory() if workdir is None else None
    root = Path(tmp.name) if tmp is not None else Path(workdir)  # type: ignore[arg-type]
    try:
        signer = FileSigner.load_or_create(root / "secrets" / "coordinator.key")
        members = {m: FileSigner.load_or_create(root / "secrets" / f"{m}.key") for m in MEMBERS}
        outbound = {m: OutboundLog(root / "members" / f"{m}.jsonl") for m in MEMBERS}
        run_dir = root / "run"
        (run_dir / "models").mkdir(parents=True)
        model = run_dir / "models" / "model.bin"
        model.write_bytes(os.urandom(256 * 1024))
        log_path = run_dir / "audit.jsonl"
        append_s: list[float] = []
        # The disk's floor, sampled between appends so both see the same disk: a plain ~400-byte
        # append to another file followed by fdatasync, after every 5th record.
        floor: list[float] = []
        floor_fd = os.open(root / "floor.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        block = b"x" * 400 + b"\n"
        with AuditLog(log_path, signer) as log:
            model_ref = log.artifact(model, kind="model")
            i = 0
            while len(log) < n_records:
                kind, payload = _payload(i, model_ref, [])
                if kind == "round.committed":
                    rnd = payload["round"]
                    payload["members"] = [
                        outbound[m]
                        .record_sent(rnd, f"{m}{rnd}".encode() * 50, privacy={"epsilon": 0.25, "delta": 1e-5})
                        .claim(m)
                        for m in MEMBERS
                    ]
                t0 = time.perf_counter()
                rec = log.append(kind, payload)
                append_s.append(time.perf_counter() - t0)
                if kind == "round.committed" and rnd % 10 == 0:
                    for m in MEMBERS[:3]:
                        log.countersign(rec.seq, member_id=m, signer=members[m], outbound=outbound[m])
                if len(log) % 100 == 99:
                    log.checkpoint()
                if i % 5 == 0:
                    t0 = time.perf_counter()
                    os.write(floor_fd, block)
                    os.fdatasync(floor_fd)
                    floor.append(time.perf_counter() - t0)
                i += 1
            n = len(log)
        os.close(floor_fd)
        size = log_path.stat().st_size

        # Appends with sync=False: the CPU cost (canonical JSON, two Ed25519 signatures, write, head
        # update) without waiting for the disk; made durable by the next synced append or flush().
        nosync: list[float] = []
        with AuditLog(root / "nosync" / "audit.jsonl", signer) as log2:
            for j in range(min(2000, n_records)):
                kind, payload = _payload(j, model_ref, [])
                t0 = time.perf_counter()
                log2.append(kind, payload, sync=False)
                nosync.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            log2.flush()
            flush_ms = (time.perf_counter() - t0) * 1000

        verify_runs = []
        for _ in range(3):
            rep = verify_log(log_path)
            assert rep.ok, rep.summary()
            verify_runs.append(rep.elapsed_s)
        single = verify_log(log_path, workers=1)
        assert single.ok
        t0 = time.perf_counter()
        proof = prove(log_path, n // 2)
        prove_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        verify_proof(proof, run_dir / "keys")
        check_proof_s = time.perf_counter() - t0

        ms = sorted(x * 1000 for x in append_s)
        verify_s = min(verify_runs)
        per10k = verify_s * 10_000 / n
        return {
            "records": n,
            "log_bytes": size,
            "cpus": os.cpu_count(),
            "append_ms_mean": round(statistics.fmean(ms), 4),
            "append_ms_p50": round(ms[len(ms) // 2], 4),
            "append_ms_p95": round(ms[int(len(ms) * 0.95)], 4),
            "append_ms_p99": round(ms[int(len(ms) * 0.99)], 4),
            "append_ms_max": round(ms[-1], 4),
            "append_nosync_ms_mean": round(statistics.fmean(nosync) * 1000, 4),
            "append_nosync_ms_p99": round(sorted(nosync)[int(len(nosync) * 0.99)] * 1000, 4),
            "flush_ms": round(flush_ms, 3),
            "disk_write_fdatasync_ms_mean": round(statistics.fmean(floor) * 1000, 4),
            "disk_write_fdatasync_ms_p50": round(sorted(floor)[len(floor) // 2] * 1000, 4),
            "verify_s": round(verify_s, 4),
            "verify_s_single_thread": round(single.elapsed_s, 4),
            "verify_records_per_s": round(n / verify_s),
            "verify_s_per_10k": round(per10k, 4),
            "prove_s": round(prove_s, 4),
            "check_proof_ms": round(check_proof_s * 1000, 3),
            "target_append_ms": TARGET_APPEND_MS,
            "target_verify_10k_s": TARGET_VERIFY_10K_S,
            "append_target_met": statistics.fmean(ms) <= TARGET_APPEND_MS,
            "verify_target_met": per10k <= TARGET_VERIFY_10K_S,
        }
    finally:
        if tmp is not None:
            tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    ap.add_argument("--workdir", type=Path, default=None, help="where to write the log (default: a temp dir)")
    args = ap.parse_args([] if argv is None else argv)  # bench.run_all calls main() bare
    result = run(args.records, args.workdir)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
