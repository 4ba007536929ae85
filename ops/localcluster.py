"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager.

Built from Debian's kubernetes source package by tools/build/manifests (etcd from Debian). There is
no kubelet: pods are created by the controllers and stay Pending, which is exactly what a rollout
that never becomes ready looks like.

The tests start throwaway ones (ControlPlane.start / stop). `invoke deploy --env local` uses a
long-lived one under ~/.cache/orderdesk/sandbox/cluster (ensure_running), so a second deploy finds
the objects of the first:

    invoke sandbox.cluster-start     # start, or reuse the running one; kubeconfig in .data/local
    invoke sandbox.cluster-stop
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import signal
import socket
import subprocess  # nosec B404 - starts etcd and the control plane with fixed arguments
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import urllib3
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from invoke import Context, task
from invoke.exceptions import Exit

from ops.envconfig import REPO_ROOT
from ops.toolchain import CACHE_DIR, find

READY_TIMEOUT_SECONDS = 90
CLUSTER_DIR = CACHE_DIR / "sandbox" / "cluster"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


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
        # Long enough for the kept local cluster; the tests' clusters live for minutes.
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Pki:
    """A throwaway CA, the API server's certificate, an admin client and service-account keys."""

    directory: Path

    def __post_init__(self) -> None:
        d = self.directory
        if (d / "sa.pub").exists():
            return  # a kept cluster restarts with the identities etcd already knows
        d.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orderdesk-test-ca")])
        ca = _certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server = _certificate(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
            server_key,
            ca_name,
            ca_key,
            usage=[ExtendedKeyUsageOID.SERVER_AUTH],
            names=[
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName("localhost"),
                x509.DNSName("kubernetes.default.svc"),
            ],
        )
        admin_key = ec.generate_private_key(ec.SECP256R1())
        admin = _certificate(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "orderdesk-test-admin"),
                ]
            ),
            admin_key,
            ca_name,
            ca_key,
            usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
        )
        for name, cert in (("ca", ca), ("server", server), ("admin", admin)):
            (d / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(d / "server.key", server_key)
        _write_key(d / "admin.key", admin_key)
        service_accounts = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_key(d / "sa.key", service_accounts)
        (d / "sa.pub").write_bytes(
            service_accounts.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def path(self, name: str) -> str:
        return str(self.directory / name)


@dataclass
class ControlPlane:
    binaries: dict[str, str]
    directory: Path
    server: str = ""
    kubeconfig: Path = field(init=False)
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pki = Pki(self.directory / "pki")
        self.kubeconfig = self.directory / "kubeconfig"

    def _start(self, name: str, args: list[str]) -> None:
        log = (self.directory / f"{name}.log").open("wb")
        process = subprocess.Popen(  # noqa: S603  # nosec B603 - our cached binaries
            [self.binaries[name], *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.processes.append((name, process))

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.directory / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _wait(self, name: str, url: str, **request: object) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        last = ""
        while time.monotonic() < deadline:
            process = dict(self.processes)[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}):\n{self.log_tail(name)}")
            try:
                with warnings.catch_warnings():
                    # The controller manager serves a self-signed certificate: only its health
                    # is read, nothing is sent to it.
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    response = requests.get(url, timeout=2, **request)  # type: ignore[arg-type]
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(0.25)
        raise RuntimeError(
            f"{name} not ready after {READY_TIMEOUT_SECONDS} s ({last}):\n{self.log_tail(name)}"
        )

    def start(self, ports: dict[str, int] | None = None) -> ControlPlane:
        # A kept cluster restarts on the ports etcd's data and the kubeconfig remember.
        self.ports = ports or {name: free_port() for name in ("etcd", "peer", "api", "cm")}
        etcd_client, etcd_peer = self.ports["etcd"], self.ports["peer"]
        api_port, cm_port = self.ports["api"], self.ports["cm"]
        etcd_url = f"http://127.0.0.1:{etcd_client}"
        self._start(
            "etcd",
            [
                "--name=orderdesk-test",
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=orderdesk-test=http://127.0.0.1:{etcd_peer}",
                "--log-level=warn",
            ],
        )
        self._wait("etcd", f"{etcd_url}/health")
        pki = self.pki
        self.server = f"https://127.0.0.1:{api_port}"
        self._start(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                "--insecure-port=0",
                f"--cert-dir={self.directory / 'apiserver-certs'}",
                f"--tls-cert-file={pki.path('server.crt')}",
                f"--tls-private-key-file={pki.path('server.key')}",
                f"--client-ca-file={pki.path('ca.crt')}",
                f"--service-account-key-file={pki.path('sa.pub')}",
                f"--service-account-signing-key-file={pki.path('sa.key')}",
                "--service-account-issuer=https://kubernetes.default.svc",
                # Only recorded in Service objects; nothing is routed (no kubelet, no proxy).
                "--service-cluster-ip-range=10.96.0.0/24",
                "--authorization-mode=Node,RBAC",
                "--profiling=false",
            ],
        )
        self._wait(
            "kube-apiserver",
            f"{self.server}/readyz",
            verify=pki.path("ca.crt"),
            cert=(pki.path("admin.crt"), pki.path("admin.key")),
        )
        self._write_kubeconfig()
        self._start(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={cm_port}",
                "--port=0",
                f"--cert-dir={self.directory / 'controller-manager-certs'}",
                "--leader-elect=false",
                "--controllers=deployment,replicaset,namespace,garbagecollector,serviceaccount,"
                "serviceaccount-token",
                f"--service-account-private-key-file={pki.path('sa.key')}",
                f"--root-ca-file={pki.path('ca.crt')}",
                "--use-service-account-credentials=false",
            ],
        )
        self._wait("kube-controller-manager", f"https://127.0.0.1:{cm_port}/healthz", verify=False)
        return self

    def _write_kubeconfig(self) -> None:
        pki = self.pki
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "orderdesk-test",
                    "cluster": {"server": self.server, "certificate-authority": pki.path("ca.crt")},
                }
            ],
            "users": [
                {
                    "name": "orderdesk-test-admin",
                    "user": {
                        "client-certificate": pki.path("admin.crt"),
                        "client-key": pki.path("admin.key"),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "orderdesk-test",
                    "context": {"cluster": "orderdesk-test", "user": "orderdesk-test-admin"},
                }
            ],
            "current-context": "orderdesk-test",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.kubeconfig.chmod(0o600)

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        self.processes.clear()

    def environ(self, **extra: str) -> dict[str, str]:
        """Environment for an `invoke k8s.*` subprocess aimed at this cluster."""
        env = dict(os.environ)
        env.pop("KUBECONFIG", None)
        env.update({"KUBECONFIG": str(self.kubeconfig)}, **extra)
        return env


# --- the kept local cluster ----------------------------------------------------------------------


class ClusterError(Exception):
    """The local cluster cannot start; the message says what to do."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_state(directory: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads((directory / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return state


def _pids(directory: Path) -> dict[str, int]:
    return {name: int(pid) for name, pid in (_read_state(directory).get("pids") or {}).items()}


def running(directory: Path = CLUSTER_DIR) -> bool:
    pids = _pids(directory)
    return bool(pids) and all(_alive(pid) for pid in pids.values())


def stop_cluster(directory: Path = CLUSTER_DIR) -> bool:
    """Stop a kept cluster; its data stays for the next start. True when one was running."""
    pids = _pids(directory)
    stopped = False
    for pid in reversed(list(pids.values())):
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
            stopped = True
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids.values():
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    return stopped


def ensure_running(directory: Path = CLUSTER_DIR) -> Path:
    """Start the kept cluster unless it runs already; return its kubeconfig."""
    kubeconfig = directory / "kubeconfig"
    if running(directory) and kubeconfig.exists():
        return kubeconfig
    stop_cluster(directory)  # leftovers of a half-dead one
    binaries = {name: find(name) for name in (*BINARIES, "kubectl")}
    missing = sorted(name for name, path in binaries.items() if path is None)
    if missing:
        raise ClusterError(
            f"{', '.join(missing)} not found; `scripts/bootstrap --system` builds the control "
            "plane (tools/build/manifests) and installs etcd"
        )
    directory.mkdir(parents=True, exist_ok=True)
    ports = _read_state(directory).get("ports")
    plane = ControlPlane({k: str(v) for k, v in binaries.items()}, directory)
    try:
        plane.start(ports=ports if isinstance(ports, dict) else None)
    except RuntimeError as exc:
        plane.stop()
        raise ClusterError(str(exc)) from exc
    state = {
        "server": plane.server,
        "ports": plane.ports,
        "pids": {name: process.pid for name, process in plane.processes},
    }
    (directory / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    return plane.kubeconfig


LOCAL_KUBECONFIG = REPO_ROOT / ".data" / "local" / "kubeconfig"


@task()
def cluster_start(c: Context) -> None:
    """Start the local Kubernetes control plane (or reuse it); kubeconfig in .data/local."""
    try:
        kubeconfig = ensure_running()
    except ClusterError as exc:
        raise Exit(f"sandbox.cluster-start: {exc}", code=1) from exc
    LOCAL_KUBECONFIG.parent.mkdir(parents=True, exist_ok=True)
    LOCAL_KUBECONFIG.write_text(kubeconfig.read_text(encoding="utf-8"), encoding="utf-8")
    LOCAL_KUBECONFIG.chmod(0o600)
    server = _read_state(CLUSTER_DIR).get("server")
    print(f"cluster: {server} (no kubelet: pods stay Pending); kubeconfig {LOCAL_KUBECONFIG}")


@task()
def cluster_stop(c: Context) -> None:
    """Stop the local control plane (its etcd data is kept for the next start)."""
    print("cluster: stopped" if stop_cluster() else "cluster: was not running")
