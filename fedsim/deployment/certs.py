"""TLS material for a Flower federation: a CA, a SuperLink certificate and SuperNode keys.

Made with the ``cryptography`` package (a Flower dependency), in the formats Flower 1.42 reads:
PEM certificates and key for ``flower-superlink --ssl-*``, the CA certificate for
``flower-supernode --root-certificates`` and the CLI's ``root-certificates``, and EC SECP384R1
node keys in OpenSSH format for ``--auth-supernode-private-key`` / ``flwr supernode register``.

For a test federation or a first trial on real machines; a production federation should use
certificates from its own PKI.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DEFAULT_HOSTS = ("localhost", "127.0.0.1")
VALID_DAYS = 365


@dataclass(frozen=True)
class FederationCerts:
    """Paths of the files :func:`make_certs` writes.

    Attributes
    ----------
    ca_cert : Path
        CA certificate (``ca.crt``): give it to every SuperNode and to the ``flwr`` CLI.
    server_cert, server_key : Path
        SuperLink certificate (``server.pem``) and its private key (``server.key``).
    node_keys : list[Path]
        SuperNode private keys (``node-K``, OpenSSH); the public key is ``node-K.pub``.
    """

    ca_cert: Path
    server_cert: Path
    server_key: Path
    node_keys: list[Path]

    def node_public(self, k: int) -> Path:
        """Public key file of node ``k`` (what ``flwr supernode register`` takes)."""
        return self.node_keys[k].with_suffix(".pub")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fedsim test federation"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.chmod(path, 0o600)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_node_key(path: Path) -> Path:
    """Write an EC SECP384R1 key pair: ``path`` (OpenSSH private) and ``path.pub``."""
    key = ec.generate_private_key(ec.SECP384R1())
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(
        path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    path.with_suffix(".pub").write_bytes(public + b"\n")
    return path


def make_certs(out_dir: Path, *, num_nodes: int, hosts: list[str] | None = None) -> FederationCerts:
    """Write a CA, a SuperLink certificate for ``hosts`` and ``num_nodes`` node key pairs.

    Parameters
    ----------
    out_dir : Path
        Directory to write into (created).
    num_nodes : int
        Node key pairs to make (``node-0`` .. ``node-{num_nodes-1}``).
    hosts : list[str], optional
        Names and IP addresses the SuperLink is reached at (the certificate's SANs);
        ``localhost`` and ``127.0.0.1`` are always included.

    Returns
    -------
    FederationCerts
        The paths written.
    """
    if num_nodes < 0:
        raise ValueError(f"num_nodes must be >= 0, got {num_nodes}")
    san_hosts = list(dict.fromkeys([*DEFAULT_HOSTS, *(hosts or [])]))
    for host in san_hosts:
        if not host or any(c.isspace() for c in host):
            raise ValueError(f"invalid host name for the certificate: {host!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=VALID_DAYS)

    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = _name("fedsim test CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP384R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(san_hosts[0]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(_san(san_hosts), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = FederationCerts(
        ca_cert=out_dir / "ca.crt",
        server_cert=out_dir / "server.pem",
        server_key=out_dir / "server.key",
        node_keys=[out_dir / f"node-{k}" for k in range(num_nodes)],
    )
    paths.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(out_dir / "ca.key", _pem_key(ca_key))
    paths.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(paths.server_key, _pem_key(server_key))
    for key_path in paths.node_keys:
        make_node_key(key_path)
    return paths
