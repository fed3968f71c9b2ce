"""Signers: who signs audit records and countersignatures.

Everything that signs goes through the small :class:`Signer` protocol, so a key held in an HSM (a
PKCS#11 token with ``CKM_EDDSA``), a cloud KMS or a smart card can replace the default
:class:`FileSigner` without touching any caller. The algorithm is fixed: Ed25519 (RFC 8032). A signer
only has to name its key, hand out its 32-byte raw public key and sign bytes.

Public keys travel as PEM ``SubjectPublicKeyInfo`` files named ``<key_id>.pub`` (readable by
``openssl pkey -pubin``); a key's *fingerprint* is the SHA-256 of its 32 raw public-key bytes.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import stat
import warnings
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedrisk.audit._canon import sha256_hex
from fedrisk.errors import AuditIntegrityError, ConfigError

KEY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""A key id doubles as a file name (``keys/<key_id>.pub``): letters, digits, ``.``, ``_``, ``-``."""


@runtime_checkable
class Signer(Protocol):
    """Anything that can sign with an Ed25519 key.

    Implementations: :class:`FileSigner` (a PEM key on disk). An HSM signer implements the same three
    members, e.g. with python-pkcs11: ``key_id`` from configuration, ``public_key_bytes()`` from the
    token's ``CKA_EC_POINT``, ``sign()`` with mechanism ``CKM_EDDSA``.
    """

    @property
    def key_id(self) -> str:
        """Stable name of the key; the public key is exported as ``<key_id>.pub``."""
        ...

    def public_key_bytes(self) -> bytes:
        """The 32-byte raw Ed25519 public key."""
        ...

    def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature of ``message``."""
        ...


def _tmp_name(path: Path) -> Path:
    """A temp file beside ``path`` that no other thread or process will pick."""
    return path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")


def check_key_id(key_id: str) -> str:
    """Return ``key_id`` or raise :class:`ConfigError` when it cannot be a key file name."""
    if not isinstance(key_id, str) or not KEY_ID_RE.match(key_id):
        raise ConfigError(
            f"key id {key_id!r} is not usable: it names the file keys/<key_id>.pub, so it must be 1-64 "
            "letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    return key_id


def fingerprint(public_key: bytes) -> str:
    """SHA-256 hex of a raw 32-byte public key: what people compare out of band."""
    return sha256_hex(public_key)


def public_key_pem(public_key: bytes) -> bytes:
    """PEM ``SubjectPublicKeyInfo`` text of a raw Ed25519 public key."""
    return Ed25519PublicKey.from_public_bytes(public_key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(path: Path) -> bytes:
    """Read a ``.pub`` file (PEM SubjectPublicKeyInfo, or 32 raw bytes) and return the raw key."""
    data = Path(path).read_bytes()
    if len(data) == 32:
        return data
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as err:
        raise AuditIntegrityError(
            f"{path} is not a PEM public key ({err}). Replace it with the .pub file the key's owner exported."
        ) from err
    if not isinstance(key, Ed25519PublicKey):
        raise AuditIntegrityError(
            f"{path} holds a {type(key).__name__}, not an Ed25519 key. The audit trail is signed with "
            "Ed25519 only; use the .pub file that FileSigner (or your HSM signer) exported."
        )
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def write_public_key(keys_dir: Path, key_id: str, public_key: bytes) -> Path:
    """Write ``<keys_dir>/<key_id>.pub``; an existing different key is an error, never overwritten."""
    check_key_id(key_id)
    keys_dir.mkdir(parents=True, exist_ok=True)
    path = keys_dir / f"{key_id}.pub"
    if path.exists():
        existing = load_public_key(path)
        if existing != public_key:
            raise AuditIntegrityError(
                f"{path} already holds a different public key for {key_id!r} (fingerprint "
                f"{fingerprint(existing)[:16]}…, new {fingerprint(public_key)[:16]}…). "
                "Keys are never replaced silently: use a new key id for a new key, or restore the right key."
            )
        return path
    tmp = _tmp_name(path)
    tmp.write_bytes(public_key_pem(public_key))
    os.replace(tmp, path)
    return path


def verify_signature(public_key: bytes | Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message``."""
    key = public_key if isinstance(public_key, Ed25519PublicKey) else Ed25519PublicKey.from_public_bytes(public_key)
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def b64encode(data: bytes) -> str:
    """Standard base64 text (signatures in records)."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Decode standard base64, strictly (a damaged signature must not decode to something)."""
    return base64.b64decode(text.encode("ascii"), validate=True)


class FileSigner:
    """An Ed25519 private key in a PEM (PKCS#8) file, mode 0600, with its ``.pub`` beside it."""

    def __init__(self, private_key: Ed25519PrivateKey, key_id: str) -> None:
        self._key = private_key
        self._key_id = check_key_id(key_id)
        self._public = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return self._key_id

    def public_key_bytes(self) -> bytes:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    @property
    def fingerprint(self) -> str:
        """SHA-256 hex of the public key."""
        return fingerprint(self._public)

    @classmethod
    def generate(cls, key_id: str) -> FileSigner:
        """A fresh in-memory key (tests, simulations); nothing is written."""
        return cls(Ed25519PrivateKey.generate(), key_id)

    @classmethod
    def load(cls, path: Path, *, key_id: str | None = None, password: bytes | None = None) -> FileSigner:
        """Load a PEM private key. ``key_id`` defaults to the file's stem (``keys/kraken.key`` → kraken)."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError as err:
            raise ConfigError(
                f"signing key {path} does not exist. Create it with FileSigner.load_or_create({str(path)!r})."
            ) from err
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.warn(
                f"signing key {path} is readable by other users (mode {stat.filemode(mode)}): run `chmod 600 {path}`.",
                stacklevel=2,
            )
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError) as err:
            raise ConfigError(
                f"cannot read signing key {path}: {err}. It must be the PEM file FileSigner wrote "
                "(pass password= when it is encrypted)."
            ) from err
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{path} holds a {type(key).__name__}; audit signing keys are Ed25519.")
        return cls(key, key_id or path.stem)

    @classmethod
    def load_or_create(cls, path: Path, *, key_id: str | None = None, password: bytes | None = None) -> FileSigner:
        """Load ``path`` or, when absent, create a key there (mode 0600) and its ``.pub`` beside it.

        Creation is race-free: two processes starting together end up with the same key.
        """
        path = Path(path)
        kid = check_key_id(key_id or path.stem)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = Ed25519PrivateKey.generate()
            encryption: serialization.KeySerializationEncryption = (
                serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
            )
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
            # Write a private temp file in full, then link it into place: link() fails when the key
            # already exists, so a concurrent creator never sees (or clobbers) a half-written key.
            tmp = _tmp_name(path)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(pem)
                    fh.flush()
                    os.fsync(fh.fileno())
                with contextlib.suppress(FileExistsError):  # another process won the race: load its key
                    os.link(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        signer = cls.load(path, key_id=kid, password=password)
        pub = path.with_suffix(".pub")
        if not pub.exists() or load_public_key(pub) != signer.public_key_bytes():
            tmp = _tmp_name(pub)
            tmp.write_bytes(public_key_pem(signer.public_key_bytes()))
            os.replace(tmp, pub)
        return signer

    def __repr__(self) -> str:
        return f"FileSigner(key_id={self._key_id!r}, fingerprint={self.fingerprint[:16]}…)"
