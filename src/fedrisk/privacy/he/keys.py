"""Key ceremony files: one public file for the coordinator, one secret file per member (mode 0600).

Layout written by :func:`write_threshold_keys` / :func:`write_ckks_keys` (``fedrisk he keygen``)::

    DIR/public.json                 scheme, members (in share order), threshold, public key / public context
    DIR/members/<member>.key.json   that member's secret: its key share (threshold) or secret context (ckks)

Each member's file is meant to be moved to that member's machine and deleted from DIR.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedrisk.errors import ConfigError, DataNotFoundError
from fedrisk.privacy.he.ckks import CkksKeys, CkksParams
from fedrisk.privacy.he.threshold_paillier import KeyShare, ThresholdPublicKey

__all__ = [
    "load_ckks_member",
    "load_public",
    "load_threshold_share",
    "write_ckks_keys",
    "write_threshold_keys",
]

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _check_members(members: Sequence[str]) -> list[str]:
    names = list(members)
    if len(set(names)) != len(names):
        raise ConfigError(f"member names must be unique, got {names}")
    for m in names:
        if not _NAME.match(m) or m in {".", ".."}:
            raise ConfigError(f"member name {m!r} must be 1-64 characters of letters, digits, '_', '-', '.'")
    return names


def _write_secret(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh)


def _write_public(out: Path, payload: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "public.json"
    path.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return path


def write_threshold_keys(
    out: Path, members: Sequence[str], pk: ThresholdPublicKey, shares: Sequence[KeyShare]
) -> dict[str, Path]:
    """Write the public key and one share file per member; return member → file (plus ``"public"``)."""
    names = _check_members(members)
    if len(names) != len(shares) or pk.n_parties != len(names):
        raise ConfigError(f"{len(names)} members but {len(shares)} shares for a {pk.n_parties}-party key")
    paths = {"public": _write_public(out, {"scheme": "threshold-paillier", "members": names, **pk.to_dict()})}
    for name, share in zip(names, shares, strict=True):
        path = out / "members" / f"{name}.key.json"
        _write_secret(
            path, {"scheme": "threshold-paillier", "member": name, "index": share.index, "share": share.share}
        )
        paths[name] = path
    return paths


def write_ckks_keys(out: Path, members: Sequence[str], keys: CkksKeys) -> dict[str, Path]:
    """Write the public context (coordinator) and the secret context once per member."""
    names = _check_members(members)
    params = {
        "poly_modulus_degree": keys.params.poly_modulus_degree,
        "coeff_mod_bit_sizes": list(keys.params.coeff_mod_bit_sizes),
        "scale_bits": keys.params.scale_bits,
    }
    public = {"scheme": "ckks", "members": names, "params": params, "context": base64.b64encode(keys.public).decode()}
    paths = {"public": _write_public(out, public)}
    for name in names:
        path = out / "members" / f"{name}.key.json"
        secret = base64.b64encode(keys.secret).decode()
        _write_secret(path, {"scheme": "ckks", "member": name, "params": params, "context": secret})
        paths[name] = path
    return paths


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataNotFoundError(f"key file {path} not found; run `fedrisk he keygen` or copy the member's file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ConfigError(f"key file {path} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"key file {path} must hold a JSON object")
    return data


def load_public(path: Path) -> dict[str, Any]:
    """The public file as a dict; ``"key"`` holds a :class:`ThresholdPublicKey` or the public context bytes."""
    data = _read(path)
    if data.get("scheme") == "threshold-paillier":
        data["key"] = ThresholdPublicKey.from_dict(data)
    elif data.get("scheme") == "ckks":
        data["key"] = base64.b64decode(data["context"])
    else:
        raise ConfigError(f"{path}: unknown scheme {data.get('scheme')!r}")
    return data


def load_threshold_share(path: Path) -> KeyShare:
    """A member's threshold key share."""
    data = _read(path)
    if data.get("scheme") != "threshold-paillier":
        raise ConfigError(f"{path} is not a threshold-paillier key share")
    return KeyShare(index=int(data["index"]), share=int(data["share"]))


def load_ckks_member(path: Path) -> tuple[bytes, CkksParams]:
    """A member's secret CKKS context and its parameters."""
    data = _read(path)
    if data.get("scheme") != "ckks":
        raise ConfigError(f"{path} is not a CKKS member key")
    p = data["params"]
    params = CkksParams(
        poly_modulus_degree=int(p["poly_modulus_degree"]),
        coeff_mod_bit_sizes=tuple(int(b) for b in p["coeff_mod_bit_sizes"]),
        scale_bits=int(p["scale_bits"]),
    )
    return base64.b64decode(data["context"]), params
