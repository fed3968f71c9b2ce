"""HE aggregation bench: encrypt + aggregate + decrypt for 10 members, side by side with plain summation.

CKKS (TenSEAL, poly 8192, [60,40,60], scale 2^40) at 100k and 1M parameters; threshold Paillier (2048-bit,
dealer keygen, 6 of 10, 42 packed values per ciphertext) at 1k and 10k values, and 100k only as an
extrapolation from the measured per-ciphertext costs (measuring it would take ~10 minutes on this box).
Encryption is timed for all 10 members one after the other on one machine; in a federation each member
encrypts (and partially decrypts) on its own machine in parallel, so ``*_per_member_s`` is what a round waits.
Run: ``.venv/bin/python bench/bench_he.py``.
"""

from __future__ import annotations

import time

import numpy as np

from fedrisk.privacy.he import (
    CkksAggregator,
    CkksMember,
    PackingSpec,
    ThresholdAggregator,
    ThresholdMember,
    ckks_keygen,
    generate_threshold_keypair,
    threshold_decrypt,
)

MEMBERS = 10


def _ckks(n: int, rng: np.random.Generator) -> dict[str, float]:
    keys = ckks_keygen()
    member, coordinator = CkksMember(keys.secret), CkksAggregator(keys.public)
    vectors = [rng.uniform(-1, 1, n) for _ in range(MEMBERS)]
    t0 = time.perf_counter()
    enc = [member.encrypt_vector(v) for v in vectors]
    t1 = time.perf_counter()
    total = coordinator.aggregate(enc)
    t2 = time.perf_counter()
    out = member.decrypt(total)
    t3 = time.perf_counter()
    p0 = time.perf_counter()
    _ = np.sum(vectors, axis=0)
    plain = time.perf_counter() - p0
    return {
        f"ckks_{n}_encrypt_all_s": t1 - t0,
        f"ckks_{n}_encrypt_per_member_s": (t1 - t0) / MEMBERS,
        f"ckks_{n}_aggregate_s": t2 - t1,
        f"ckks_{n}_decrypt_s": t3 - t2,
        f"ckks_{n}_end_to_end_s": t3 - t0,
        f"ckks_{n}_expansion_vs_float64": enc[0].nbytes / (8 * n),
        f"ckks_{n}_max_abs_error": float(np.max(np.abs(out - np.sum(vectors, axis=0)))),
        f"plain_{n}_sum_s": plain,
    }


def _threshold(n: int, rng: np.random.Generator, keys: tuple[object, list[object]]) -> dict[str, float]:
    pk, shares = keys
    members = [ThresholdMember(pk, s) for s in shares]  # type: ignore[arg-type]
    vectors = [rng.uniform(-1, 1, n) for _ in range(MEMBERS)]
    t0 = time.perf_counter()
    enc = [m.encrypt(v) for m, v in zip(members, vectors, strict=True)]
    t1 = time.perf_counter()
    total = ThresholdAggregator(pk).aggregate(enc)  # type: ignore[arg-type]
    t2 = time.perf_counter()
    partials = [m.partial_decrypt(total) for m in members[: pk.threshold]]  # type: ignore[attr-defined]
    t3 = time.perf_counter()
    out = threshold_decrypt(pk, total, partials)  # type: ignore[arg-type]
    t4 = time.perf_counter()
    return {
        f"thr_{n}_ciphertexts_per_member": float(len(enc[0].ciphertexts)),
        f"thr_{n}_encrypt_all_s": t1 - t0,
        f"thr_{n}_encrypt_per_member_s": (t1 - t0) / MEMBERS,
        f"thr_{n}_aggregate_s": t2 - t1,
        f"thr_{n}_partial_decrypt_all_s": t3 - t2,
        f"thr_{n}_partial_decrypt_per_member_s": (t3 - t2) / pk.threshold,  # type: ignore[attr-defined]
        f"thr_{n}_combine_s": t4 - t3,
        f"thr_{n}_end_to_end_sequential_s": t4 - t0,
        f"thr_{n}_end_to_end_parallel_members_s": (t1 - t0) / MEMBERS
        + (t2 - t1)
        + (t3 - t2) / pk.threshold  # type: ignore[attr-defined]
        + (t4 - t3),
        f"thr_{n}_expansion_vs_float64": enc[0].nbytes(pk) / (8 * n),  # type: ignore[arg-type]
        f"thr_{n}_max_abs_error": float(np.max(np.abs(out - np.sum(vectors, axis=0)))),
    }


def main() -> dict[str, float]:
    """Run the bench and print a table."""
    rng = np.random.default_rng(0)
    res: dict[str, float] = {}
    for n in (100_000, 1_000_000):
        res |= _ckks(n, rng)
    t0 = time.perf_counter()
    keys = generate_threshold_keypair(2048, n_parties=MEMBERS, threshold=6)
    res["thr_keygen_2048_s"] = time.perf_counter() - t0
    for n in (1_000, 10_000):
        res |= _threshold(n, rng, keys)  # type: ignore[arg-type]
    scale = 100_000 / 10_000
    for part in ("encrypt_all_s", "partial_decrypt_all_s", "end_to_end_sequential_s", "end_to_end_parallel_members_s"):
        res[f"thr_100000_{part}_EXTRAPOLATED"] = res[f"thr_10000_{part}"] * scale
    res["slots_per_ciphertext_2048"] = float(PackingSpec().slots_per_plaintext(2048))
    width = max(len(k) for k in res)
    for k, v in res.items():
        print(f"{k:{width}}  {v:12.4g}")
    return res


if __name__ == "__main__":
    main()
