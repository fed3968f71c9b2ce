"""``fedrisk he``: the homomorphic-encryption key ceremony."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from fedrisk.cli._common import console, print_json
from fedrisk.errors import ConfigError

app = typer.Typer(help="Homomorphic-encryption aggregation: key ceremony.", no_args_is_help=True)


def _members(raw: str) -> list[str]:
    names = [m.strip() for m in raw.split(",") if m.strip()]
    if len(names) < 3:
        raise ConfigError(f"--members needs at least 3 comma-separated names, got {names}")
    return names


@app.callback()
def _group() -> None:
    """Homomorphic-encryption aggregation."""


@app.command()
def keygen(
    members: Annotated[str, typer.Option(help="Comma-separated member names (share order).")],
    out: Annotated[Path, typer.Option(help="Directory for public.json and members/<name>.key.json.")],
    threshold: Annotated[int, typer.Option(help="t: partial decryptions needed (threshold scheme).")] = 0,
    scheme: Annotated[str, typer.Option(help="threshold (Paillier, t of n) or ckks (TenSEAL).")] = "threshold",
    bits: Annotated[int, typer.Option(help="Paillier modulus bits (2048 production; >= 256 test only).")] = 2048,
    dkg: Annotated[
        bool, typer.Option("--dkg", help="Threshold scheme: distributed key generation (TNO), no dealer.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Key ceremony: write the public key and one secret file per member (dealer, or --dkg; see docs)."""
    from fedrisk.privacy.he import ckks_keygen, generate_threshold_keypair, write_ckks_keys, write_threshold_keys

    names = _members(members)
    start = time.perf_counter()
    if scheme == "threshold" and dkg:
        t = threshold or 3
        if t % 2 == 0 or t > len(names):
            raise ConfigError(f"with --dkg the threshold is 2c + 1 (odd, <= {len(names)}), got {t}")
        from fedrisk.privacy.he.dkg import distributed_keygen

        result = distributed_keygen(len(names), corruption_threshold=(t - 1) // 2, bits=bits)
        paths = write_threshold_keys(out, names, result.public, result.shares)
        info: dict[str, object] = {"scheme": "threshold-paillier", "bits": result.public.bits, "threshold": t}
        info["key_generation"] = "distributed (TNO), every party in this process"
    elif scheme == "threshold":
        t = threshold or len(names) // 2 + 1
        if not 2 <= t <= len(names):
            raise ConfigError(f"--threshold must be in [2, {len(names)}], got {t}")
        pk, shares = generate_threshold_keypair(bits, n_parties=len(names), threshold=t)
        paths = write_threshold_keys(out, names, pk, shares)
        info = {"scheme": "threshold-paillier", "bits": pk.bits, "threshold": t, "key_generation": "dealer"}
    elif scheme == "ckks":
        if threshold or dkg:
            raise ConfigError("--threshold/--dkg apply to the threshold scheme only; CKKS (TenSEAL) has no threshold")
        paths = write_ckks_keys(out, names, ckks_keygen())
        info = {"scheme": "ckks", "threshold": None, "key_generation": "one secret context shared by the members"}
    else:
        raise ConfigError(f"--scheme must be 'threshold' or 'ckks', got {scheme!r}")
    info |= {
        "members": names,
        "public": str(paths.pop("public")),
        "member_files": {m: str(p) for m, p in paths.items()},
        "seconds": round(time.perf_counter() - start, 3),
    }
    if as_json:
        print_json(info)
        return
    console.print(
        f"{info['scheme']} keys for {len(names)} members in {info['seconds']} s (threshold {info['threshold']})"
    )
    console.print(f"public (coordinator): {info['public']}")
    for m, p in info["member_files"].items():  # type: ignore[attr-defined]
        console.print(f"  {m}: {p}  (move to the member, then delete here)")
