"""Throwaway certificates for the local Kubernetes clusters (one CA, the identities they need)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Long enough for a kept local cluster; the tests' clusters live for minutes.
VALIDITY = dt.timedelta(days=365)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    usage: list[x509.ObjectIdentifier] | None = None,
    names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class Pki:
    """A CA, the API server's certificate, an admin client, the aggregator's front-proxy client and
    the service-account keys, in one directory. Kept once made: a restarted cluster keeps the
    identities its etcd and kubeconfig already know."""

    def __init__(self, directory: Path, *, server_ips: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self.directory = directory
        if not (directory / "sa.pub").exists():
            self._make(server_ips)

    def _make(self, server_ips: tuple[str, ...]) -> None:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("orderdesk-local-ca")
        issued: dict[str, tuple[x509.Certificate, ec.EllipticCurvePrivateKey | None]] = {
            "ca": (_certificate(ca_name, ca_key, ca_name, ca_key, ca=True), None)
        }
        server_key = ec.generate_private_key(ec.SECP256R1())
        dns_names = [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ]
        issued["server"] = (
            _certificate(
                _name("kube-apiserver"),
                server_key,
                ca_name,
                ca_key,
                usage=[ExtendedKeyUsageOID.SERVER_AUTH],
                names=[x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
                + [x509.DNSName(name) for name in dns_names],
            ),
            server_key,
        )
        # The one client identity of a single-user local cluster (tasks, tests and the node).
        for name, subject in (
            ("admin", _name("orderdesk-local-admin", "system:masters")),
            # The API server's identity towards aggregated APIs (metrics-server).
            ("front-proxy", _name("front-proxy-client")),
        ):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _certificate(
                subject, key, ca_name, ca_key, usage=[ExtendedKeyUsageOID.CLIENT_AUTH]
            )
            issued[name] = (cert, key)
        for name, (cert, private) in issued.items():
            (d / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            if private is not None:
                _write_key(d / f"{name}.key", private)
        service_accounts = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_key(d / "sa.key", service_accounts)
        (d / "sa.pub").write_bytes(
            service_accounts.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def path(self, name: str) -> str:
        return str(self.directory / name)


def kubeconfig(pki: Pki, server: str, name: str) -> dict[str, object]:
    """A kubeconfig for the admin identity, with one context named after the cluster."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority": pki.path("ca.crt")},
            }
        ],
        "users": [
            {
                "name": f"{name}-admin",
                "user": {
                    "client-certificate": pki.path("admin.crt"),
                    "client-key": pki.path("admin.key"),
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin"}}],
        "current-context": name,
    }
