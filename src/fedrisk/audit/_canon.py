"""Canonical JSON (RFC 8785 / JCS) and SHA-256 helpers shared by the audit modules."""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import rfc8785

from fedrisk.errors import ConfigError

HEX64 = frozenset("0123456789abcdef")
"""Characters of a lower-case hex digest."""

_FAST_SEPARATORS = (",", ":")


def normalize(value: Any, *, where: str = "payload") -> Any:
    """Return ``value`` as plain JSON types (dict / list / str / int / float / bool / None).

    Tuples become lists and objects with ``.item()`` (NumPy scalars) or ``.tolist()`` (NumPy arrays)
    are converted, so a caller can log what it computed without thinking about types. Anything else
    raises :class:`ConfigError` naming the offending path.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ConfigError(
                f"{where} is {value!r}: NaN and infinity cannot be written to the audit log (JSON has no "
                "such numbers). Log a string such as 'inf' or leave the field out."
            )
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(
                    f"{where} has a non-string key {key!r}: JSON object keys are strings. Convert the key "
                    "with str() before logging."
                )
            out[key] = normalize(item, where=f"{where}.{key}")
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [normalize(item, where=f"{where}[{i}]") for i, item in enumerate(value)]
    if hasattr(value, "tolist"):
        return normalize(value.tolist(), where=where)
    if hasattr(value, "item"):
        return normalize(value.item(), where=where)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise ConfigError(
        f"{where} has a value of type {type(value).__name__} that JSON cannot hold. Log plain numbers, "
        "strings, lists and dicts (hex-encode bytes)."
    )


def canonical(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``value`` (already plain JSON types)."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as err:
        raise ConfigError(
            f"cannot write canonical JSON: {err}. Integers must lie within ±(2**53-1) and strings must be "
            "valid Unicode; log large integers as strings."
        ) from err


_INT_LIMIT = 2**53 - 1
_FLOAT_TEXT: dict[str, str] = {}  # float token -> its RFC 8785 text (privacy parameters repeat a lot)


def loads_checked(line: bytes) -> tuple[Any, bool]:
    """Parse one JSON line and say whether it is in RFC 8785 canonical form.

    Fast path, for ASCII lines (all of ours unless a payload holds non-ASCII text): parse with every
    float replaced by a placeholder string, serialize with ``json.dumps`` (sorted keys, no whitespace),
    put back each float as RFC 8785 (ECMAScript) formats it, and compare with the line. For ASCII
    content this equals the RFC 8785 serialization: keys sort the same in UTF-16 and code-point order,
    and strings escape the same. The placeholder ``"\\u0000F<k>\\u0000"`` cannot come from a genuine
    string, since lines containing an escaped NUL take the slow path, as do integers outside RFC 8785's
    ±(2**53-1). Any other line is compared with the full ``rfc8785`` serialization.
    """
    tokens: list[str] = []
    big_int = False

    def on_float(token: str) -> str:
        tokens.append(token)
        return f"\x00F{len(tokens) - 1}\x00"

    def on_int(token: str) -> int:
        nonlocal big_int
        value = int(token)
        if not -_INT_LIMIT <= value <= _INT_LIMIT:
            big_int = True
        return value

    if not line.isascii() or b"\\u0000" in line:
        obj = json.loads(line)
        return obj, _slow_canonical(obj, line)
    alt = json.loads(line, parse_float=on_float, parse_int=on_int)
    obj = json.loads(line) if tokens else alt
    if big_int:
        return obj, False
    out = json.dumps(alt, sort_keys=True, separators=_FAST_SEPARATORS, ensure_ascii=False)
    for k, token in enumerate(tokens):
        text = _FLOAT_TEXT.get(token)
        if text is None:
            try:
                text = rfc8785.dumps(float(token)).decode()
            except rfc8785.CanonicalizationError:
                return obj, False
            if len(_FLOAT_TEXT) < 4096:
                _FLOAT_TEXT[token] = text
        out = out.replace(f'"\\u0000F{k}\\u0000"', text, 1)
    return obj, out.encode() == line


def _slow_canonical(obj: Any, line: bytes) -> bool:
    try:
        return bool(rfc8785.dumps(obj) == line)
    except rfc8785.CanonicalizationError:
        return False


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> str:
    """Lower-case hex SHA-256 of a file's bytes, read in chunks (models can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk_size)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def is_hex64(value: object) -> bool:
    """True for a 64-character lower-case hex string (a SHA-256 digest)."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= HEX64


def fsync_dir(path: Path) -> None:
    """Make a directory entry (a new or renamed file) durable; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
