"""HE aggregation bench: encrypt + aggregate + decrypt for 10 members, beside plain sums and SecAgg+ masking.

Default (short, ``bench/run_all.py``): CKKS at 100k parameters, threshold Paillier at 1k values, plain and
SecAgg+-style masking at 100k. ``--full`` adds CKKS at 1M, threshold at 10k and 100k values, and the threshold
mode with a tighter packing for model updates (``UPDATE_SPEC``: |x| < 4, 2^-21 precision, up to 16 members)
with the members' work spread over 2 processes (what 2 cores can show of members working in parallel).

CKKS: TenSEAL, poly 8192, [60,40,60], scale 2^40. Threshold Paillier: 2048-bit, dealer keygen, 6 of 10.
SecAgg+ column: the masking arithmetic of Flower's SecAgg+ (``quantize`` + one self mask + 9 pairwise masks
from ``pseudo_rand_gen`` per member, the coordinator's modular sum and unmasking without dropouts); key
agreement and Shamir sharing (milliseconds) and messaging are not included (see ``bench_secagg.py`` for rounds).
Encryption is timed for all 10 members one after the other on one machine; in a federation each member
encrypts (and partially decrypts) on its own machine in parallel, so ``*_per_member_s`` is what a round waits.
Run: ``.venv/bin/python bench/bench_he.py [--full]``.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from flwr.common.secure_aggregation.quantization import dequantize, quantize
from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen

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
from fedrisk.privacy.he.threshold_paillier import KeyShare, ThresholdPublicKey

MEMBERS = 10
UPDATE_SPEC = PackingSpec(frac_bits=20, int_bits=2, headroom_bits=4)
"""Packing for clipped model updates: |x| < 4, precision 2^-21, sums of up to 16 members (vs 42 values/ct)."""
MOD = 2**32


def _secagg_masking(n: int, rng: np.random.Generator) -> dict[str, float]:
    """SecAgg+'s per-round arithmetic for 10 members (no dropouts): quantise, mask, sum, unmask."""
    vectors = [rng.uniform(-1, 1, n) for _ in range(MEMBERS)]
    seeds = [[bytes(rng.integers(0, 256, 32, dtype=np.uint8)) for _ in range(MEMBERS)] for _ in range(MEMBERS)]
    t0 = time.perf_counter()
    masked = []
    for i, v in enumerate(vectors):
        q = quantize([v], 8.0, 2**22)[0].astype(np.int64)
        q = (q + pseudo_rand_gen(seeds[i][i], MOD, [(n,)])[0]) % MOD  # self mask
        for j in range(MEMBERS):
            if j != i:
                pair = seeds[min(i, j)][max(i, j)]
                sign = 1 if i < j else -1
                q = (q + sign * pseudo_rand_gen(pair, MOD, [(n,)])[0]) % MOD
        masked.append(q)
    t1 = time.perf_counter()
    total = np.sum(masked, axis=0) % MOD
    for i in range(MEMBERS):
        total = (total - pseudo_rand_gen(seeds[i][i], MOD, [(n,)])[0]) % MOD
    out = dequantize([total], 8.0, 2**22)[0] - (MEMBERS - 1) * 8.0  # each quantised value is shifted by +8
    t2 = time.perf_counter()
    return {
        f"secagg_{n}_mask_per_member_s": (t1 - t0) / MEMBERS,
        f"secagg_{n}_sum_unmask_s": t2 - t1,
        f"secagg_{n}_end_to_end_sequential_s": t2 - t0,
        f"secagg_{n}_expansion_vs_float64": 8.0 / 8.0,
        f"secagg_{n}_max_abs_error": float(np.max(np.abs(out - np.sum(vectors, axis=0)))),
    }


def _encrypt_job(args: tuple[ThresholdPublicKey, KeyShare, np.ndarray, PackingSpec]) -> object:
    pk, share, values, spec = args
    return ThresholdMember(pk, share, spec).encrypt(values)


def _partial_job(args: tuple[ThresholdPublicKey, KeyShare, object, PackingSpec]) -> object:
    pk, share, total, spec = args
    return ThresholdMember(pk, share, spec).partial_decrypt(total)  # type: ignore[arg-type]


def _threshold_two_processes(
    n: int, rng: np.random.Generator, keys: tuple[ThresholdPublicKey, list[KeyShare]], spec: PackingSpec
) -> dict[str, float]:
    """Threshold mode with the members' encryption and partial decryption spread over 2 processes."""
    pk, shares = keys
    vectors = [rng.uniform(-1, 1, n) for _ in range(MEMBERS)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        t0 = time.perf_counter()
        enc = list(pool.map(_encrypt_job, [(pk, s, v, spec) for s, v in zip(shares, vectors, strict=True)]))
        t1 = time.perf_counter()
        total = ThresholdAggregator(pk).aggregate(enc)  # type: ignore[arg-type]
        t2 = time.perf_counter()
        partials = list(pool.map(_partial_job, [(pk, s, total, spec) for s in shares[: pk.threshold]]))
        t3 = time.perf_counter()
    out = threshold_decrypt(pk, total, partials, spec)  # type: ignore[arg-type]
    t4 = time.perf_counter()
    return {
        f"thr_update_{n}_values_per_ciphertext": float(spec.slots_per_plaintext(pk.bits)),
        f"thr_update_{n}_end_to_end_2_processes_s": t4 - t0,
        f"thr_update_{n}_encrypt_all_2_processes_s": t1 - t0,
        f"thr_update_{n}_partial_decrypt_2_processes_s": t3 - t2,
        f"thr_update_{n}_max_abs_error": float(np.max(np.abs(out - np.sum(vectors, axis=0)))),
    }


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


def federation_ratio(data_dir: str, keys_dir: str) -> dict[str, float]:
    """Plain vs ``aggregation = "he"`` jobs of the quick demo's 4 members on one Flower simulation start."""
    import pandas as pd

    from fedrisk.features.panel import Split
    from fedrisk.federation.plan import FederationPlan, Job, TrainSettings
    from fedrisk.federation.runner import run_plan
    from fedrisk.privacy.he import write_ckks_keys

    members = ("bitfinex", "bitstamp", "coinbase", "kraken")
    write_ckks_keys(__import__("pathlib").Path(keys_dir), list(members), ckks_keygen())
    split = Split(
        train_start=pd.Timestamp("2018-03-01", tz="UTC"),
        val_start=pd.Timestamp("2019-01-01", tz="UTC"),
        test_start=pd.Timestamp("2019-07-01", tz="UTC"),
        test_end=pd.Timestamp("2020-01-01", tz="UTC"),
    )
    settings = TrainSettings(rounds=4, local_steps=15)
    plan = FederationPlan(
        members=members,
        split=split,
        sim_data_dir=data_dir,
        he_keys_dir=keys_dir,
        jobs=(
            Job("plain", members, settings=settings),
            Job("he", members, settings=settings, aggregation="he"),
            Job("plain-2", members, settings=settings),
        ),
    )
    out = {o.job.name: o for o in run_plan(plan)}
    plain = [h.wall_s for name in ("plain", "plain-2") for h in out[name].history[1:]]  # round 1 loads data
    he = [h.wall_s for h in out["he"].history]
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(out["plain"].weights, out["he"].weights, strict=True))
    return {
        "fed_plain_round_s_median": float(np.median(plain)),
        "fed_he_round_s_median": float(np.median(he)),
        "fed_he_over_plain_round_ratio": float(np.median(he) / np.median(plain)),
        "fed_he_vs_plain_max_weight_diff": diff,
        "fed_he_vs_plain_val_auprc_diff": abs(
            (out["plain"].history[-1].val_auprc or 0) - (out["he"].history[-1].val_auprc or 0)
        ),
    }


def main(full: bool = False) -> dict[str, float]:
    """Run the bench (short by default) and print a table."""
    rng = np.random.default_rng(0)
    res: dict[str, float] = {}
    for n in (100_000, 1_000_000) if full else (100_000,):
        res |= _ckks(n, rng)
        res |= _secagg_masking(n, rng)
    t0 = time.perf_counter()
    keys = generate_threshold_keypair(2048, n_parties=MEMBERS, threshold=6)
    res["thr_keygen_2048_s"] = time.perf_counter() - t0
    for n in (1_000, 10_000, 100_000) if full else (1_000,):
        if n <= 10_000:
            res |= _threshold(n, rng, keys)  # type: ignore[arg-type]
        if full:
            res |= _threshold_two_processes(n, rng, keys, UPDATE_SPEC)
    res["slots_per_ciphertext_2048"] = float(PackingSpec().slots_per_plaintext(2048))
    width = max(len(k) for k in res)
    for k, v in res.items():
        print(f"{k:{width}}  {v:12.4g}")
    return res


if __name__ == "__main__":
    if "--federation" in sys.argv[1:]:  # bench_he.py --federation DATA_DIR KEYS_DIR
        at = sys.argv.index("--federation")
        for key, value in federation_ratio(sys.argv[at + 1], sys.argv[at + 2]).items():
            print(f"{key:36}  {value:12.4g}")
    else:
        main(full="--full" in sys.argv[1:])
