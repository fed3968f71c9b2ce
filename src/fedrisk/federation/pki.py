"""Transport PKI of a deployed federation: a CA, the coordinator's TLS certificate, each member's node key.

Layout written by :func:`init_pki` (the coordinator's operator runs it once; private keys are files with mode
0600 and never leave the directory they are written to)::

    DIR/ca.crt, ca.key                    the federation's CA (keep ca.key offline after init)
    DIR/coordinator/server.crt, .key      the SuperLink's TLS certificate (SANs: 127.0.0.1, localhost, hosts)
    DIR/members/<id>/auth.key             the member's node-authentication key (EC P-384, OpenSSH format)
    DIR/members/<id>/auth.pub             its public key (what the coordinator registers)
    DIR/members/<id>/ca.crt               a copy of the CA certificate (what the member trusts)
    DIR/nodes.json                        member id -> public key and SHA-256 fingerprint (the registry)

Flower 1.42 authenticates SuperNodes with NIST EC keys in OpenSSH format (``flower-supernode
--auth-supernode-private-key``; the SuperLink with ``--enable-supernode-auth`` accepts only nodes whose public
key was registered through its Control API, ``flwr supernode register``). The constitution's member keys are
Ed25519 *signing* keys for the audit trail, a different curve and purpose; a member's node key is listed in
``nodes.json`` and only members of the constitution are registered (``member_ids_from_constitution``).

In a real federation each member generates its own key pair (``fedrisk pki node-key``) and sends only
``auth.pub`` to the coordinator; ``init_pki`` writing every member's key in one place is for one-machine
trials and tests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fedrisk.errors import ConfigError

CURVE = ec.SECP384R1()
"""Node keys and certificates use NIST P-384 (Flower accepts any NIST curve for node auth)."""
DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost")


@dataclass(frozen=True, slots=True)
class PkiPaths:
    """Where each file of a PKI directory lives."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        """The CA certificate every node trusts."""
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        """The CA's private key."""
        return self.root / "ca.key"

    @property
    def server_cert(self) -> Path:
        """The coordinator's TLS certificate."""
        return self.root / "coordinator" / "server.crt"

    @property
    def server_key(self) -> Path:
        """The coordinator's TLS private key."""
        return self.root / "coordinator" / "server.key"

    @property
    def registry(self) -> Path:
        """``nodes.json``: member id -> public node key."""
        return self.root / "nodes.json"

    def member_dir(self, member: str) -> Path:
        """A member's own key directory (what its node machine needs: auth.key, auth.pub, ca.crt)."""
        return self.root / "members" / member


@dataclass(frozen=True, slots=True)
class NodeKey:
    """A member's node-authentication public key."""

    member: str
    public_key: str
    """OpenSSH one-line form, ``ecdsa-sha2-nistp384 AAAA...``."""

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the key line (hex), to compare out of band."""
        return hashlib.sha256(self.public_key.encode()).hexdigest()


def _check_member_id(member: str) -> str:
    if not member or not all(c.isalnum() or c in "-_" for c in member) or member != member.lower():
        raise ConfigError(f"member id {member!r} must be lower-case letters, digits, '-' or '_'")
    return member


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fedrisk federation"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(hosts: tuple[str, ...]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _make_ca(days: int) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(CURVE)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("fedrisk federation CA"))
        .issuer_name(_name("fedrisk federation CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )
    return key, cert


def _make_server_cert(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, hosts: tuple[str, ...], days: int
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(CURVE)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA384())
    )
    return key, cert


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_node_key(member_dir: Path, member: str) -> NodeKey:
    """Create a member's node-authentication key pair in ``member_dir`` (``auth.key`` 0600, ``auth.pub``)."""
    _check_member_id(member)
    key = ec.generate_private_key(CURVE)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    _write_private(member_dir / "auth.key", private)
    line = f"{public.decode()} fedrisk-{member}"
    (member_dir / "auth.pub").write_text(line + "\n")
    return NodeKey(member=member, public_key=line)


def read_node_key(path: Path, member: str) -> NodeKey:
    """A member's public node key from its ``auth.pub`` (checked: an OpenSSH NIST EC key)."""
    if not path.is_file():
        raise ConfigError(f"no public node key at {path}: the member creates it with `fedrisk pki node-key`.")
    line = path.read_text().strip()
    try:
        key = serialization.load_ssh_public_key(line.encode())
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{path} is not an OpenSSH public key ({err})") from err
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError(f"{path}: Flower node authentication needs an EC (NIST P-256/384/521) key")
    return NodeKey(member=_check_member_id(member), public_key=line)


def write_registry(paths: PkiPaths, keys: list[NodeKey]) -> None:
    """Write ``nodes.json`` (member id -> public key and fingerprint)."""
    doc = {
        k.member: {"public_key": k.public_key, "sha256": k.fingerprint} for k in sorted(keys, key=lambda k: k.member)
    }
    paths.registry.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def read_registry(paths: PkiPaths) -> dict[str, NodeKey]:
    """The node keys of ``nodes.json``."""
    if not paths.registry.is_file():
        raise ConfigError(f"no node registry at {paths.registry}: run `fedrisk pki init` first.")
    doc = json.loads(paths.registry.read_text())
    return {m: NodeKey(member=m, public_key=str(v["public_key"])) for m, v in doc.items()}


def init_pki(
    root: Path, members: list[str], *, hosts: tuple[str, ...] = (), days: int = 365, force: bool = False
) -> PkiPaths:
    """Create a CA, the coordinator's TLS certificate and every member's node key pair under ``root``.

    ``hosts`` are extra names or IP addresses of the coordinator (added to 127.0.0.1 and localhost).
    Refuses to overwrite an existing CA unless ``force``.
    """
    ids = [_check_member_id(m) for m in members]
    if len(set(ids)) != len(ids) or not ids:
        raise ConfigError(f"members must be distinct and non-empty, got {members}")
    if days <= 0:
        raise ConfigError(f"days must be > 0, got {days}")
    paths = PkiPaths(Path(root))
    if paths.ca_cert.exists() and not force:
        raise ConfigError(f"{paths.ca_cert} exists; refusing to replace the federation's CA (use --force).")
    all_hosts = tuple(dict.fromkeys((*DEFAULT_HOSTS, *hosts)))
    ca_key, ca_cert = _make_ca(days)
    srv_key, srv_cert = _make_server_cert(ca_key, ca_cert, all_hosts, days)
    paths.root.mkdir(parents=True, exist_ok=True)
    _write_private(paths.ca_key, _pem_key(ca_key))
    paths.ca_cert.write_bytes(_pem_cert(ca_cert))
    _write_private(paths.server_key, _pem_key(srv_key))
    paths.server_cert.write_bytes(_pem_cert(srv_cert))
    keys = []
    for member in ids:
        mdir = paths.member_dir(member)
        keys.append(write_node_key(mdir, member))
        (mdir / "ca.crt").write_bytes(_pem_cert(ca_cert))
    write_registry(paths, keys)
    return paths


def certificate_hosts(cert_path: Path) -> list[str]:
    """The subject alternative names of a certificate (to check a coordinator certificate's hosts)."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v) for v in san.get_values_for_type(x509.IPAddress)] + list(san.get_values_for_type(x509.DNSName))


def member_ids_from_constitution(path: Path) -> list[str]:
    """Member ids of a constitution (founding members), for ``fedrisk pki init --constitution``."""
    from fedrisk.governance.constitution_loader import load_constitution

    return [m.id for m in load_constitution(path).members]
