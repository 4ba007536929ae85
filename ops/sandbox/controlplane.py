"""A throwaway control plane on 127.0.0.1 (etcd, kube-apiserver, kube-controller-manager) for tests
that only need the API: server-side validation, admission, dry runs (tests/manifests).

Same binaries as the local cluster (tools/build/kubernetes), but no node, so it starts in seconds
and needs no root. Pods are created by the controllers and stay Pending. Anything that must run a
pod uses the real cluster (ops/sandbox/cluster.py).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import requests
import urllib3
import yaml
from invoke.runners import Result

from ops import envconfig
from ops.core import processes
from ops.core.kube import KubeTarget
from ops.core.ports import free_port
from ops.core.run import Runner
from ops.core.wait import NotYet
from ops.sandbox.pki import Pki, kubeconfig

READY_TIMEOUT_SECONDS = 90
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")


@dataclass
class ControlPlane:
    binaries: dict[str, str]
    directory: Path
    server: str = ""
    kubeconfig: Path = field(init=False)
    processes: list[processes.Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pki = Pki(self.directory / "pki")
        self.kubeconfig = self.directory / "kubeconfig"

    def _start(self, name: str, args: list[str]) -> None:
        log = self.directory / f"{name}.log"
        self.processes.append(processes.spawn(name, [self.binaries[name], *args], log=log))

    def _wait(self, url: str, **request: object) -> None:
        """Until the newest process answers `url` with 200."""
        process = self.processes[-1]

        def healthy() -> bool:
            try:
                with warnings.catch_warnings():
                    # The controller manager serves a self-signed certificate: only its health
                    # is read, nothing is sent to it.
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    response = requests.get(url, timeout=2, **request)  # type: ignore[arg-type]
            except requests.RequestException as exc:
                raise NotYet(str(exc)) from exc
            if response.status_code != 200:
                raise NotYet(f"{response.status_code} {response.text[:200]}")
            return True

        processes.wait_ready(
            process,
            healthy,
            what=f"{process.name} ready",
            timeout=READY_TIMEOUT_SECONDS,
            interval=0.25,
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
        self._wait(f"{etcd_url}/health")
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
        self._wait(f"https://127.0.0.1:{cm_port}/healthz", verify=False)
        return self

    def _write_kubeconfig(self) -> None:
        config = kubeconfig(self.pki, self.server, "orderdesk-test")
        self.kubeconfig.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.kubeconfig.chmod(0o600)

    def stop(self) -> None:
        processes.stop(reversed(self.processes), grace=15)
        self.processes.clear()

    def kubectl(self, *args: str, timeout: float = 60) -> Result:
        """kubectl on this control plane, composed as every task composes it (ops.core.kube);
        its exit is returned, not raised."""
        target = KubeTarget(
            environment=envconfig.load("local"),
            kubeconfig=str(self.kubeconfig),
            context=None,
            request_timeout=20,
            kubectl_program=self.binaries["kubectl"],
        )
        return Runner().run(target.kubectl_argv(*args, namespace=None), timeout=timeout, warn=True)

    def environ(self, **extra: str) -> dict[str, str]:
        """Environment for an `invoke k8s.*` subprocess aimed at this cluster."""
        env = dict(os.environ)
        env.pop("KUBECONFIG", None)
        env.update({"KUBECONFIG": str(self.kubeconfig)}, **extra)
        return env
