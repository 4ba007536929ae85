"""A throwaway control plane on 127.0.0.1 (etcd, kube-apiserver, kube-controller-manager) for tests
that only need the API: server-side validation, admission, dry runs (tests/manifests).

Same binaries as the local cluster (tools/build/kubernetes), but no node, so it starts in seconds
and needs no root. Pods are created by the controllers and stay Pending. Anything that must run a
pod uses the real cluster (ops/sandbox/cluster.py).
"""

from __future__ import annotations

import os
import subprocess  # nosec B404 - starts etcd and the control plane with fixed arguments
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import requests
import urllib3
import yaml

from ops.core.ports import free_port
from ops.sandbox.pki import Pki, kubeconfig

READY_TIMEOUT_SECONDS = 90
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")


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
                f"--cert-dir={self.directory / 'controller-manager-certs'}",
                # Else it creates /usr/libexec/kubernetes on the host.
                f"--flex-volume-plugin-dir={self.directory / 'flex'}",
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
        config = kubeconfig(self.pki, self.server, "orderdesk-test")
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
