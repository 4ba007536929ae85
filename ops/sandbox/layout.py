"""What the local cluster is made of and where it lives: versions, addresses, the node's
directory, the programs it runs, and the state a start records (ops/sandbox/cluster.py starts and
stops it, ops/sandbox/node.py brings up each component)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops import envconfig
from ops.core import processes
from ops.core.kube import LOCAL_CLUSTER_DIR
from ops.core.state import write_json
from ops.sandbox import owned
from ops.toolchain import CACHE_DIR, find

# Keep in step with tools/build/kubernetes and infra/env.yaml (tests/sandbox checks all three).
KUBERNETES_VERSION = "v1.36.3"
PAUSE_VERSION = "3.10.2"
IMAGES_DIR = CACHE_DIR / "kubernetes" / KUBERNETES_VERSION / "images"
KUBERNETES_BIN = CACHE_DIR / "kubernetes" / KUBERNETES_VERSION / "bin"
# ops.core.kube checks a `local` kubeconfig against what a start records there (state.json's
# server, pki/ca.crt): the paths are core's, so that check needs no import of the sandbox.
NODE_DIR = LOCAL_CLUSTER_DIR

NODE_NAME = "orderdesk-node"
NODE_IP = "10.213.0.2"
NODE_PEER_IP = "10.213.0.1"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/24"
CLUSTER_DNS = "10.96.0.10"
API_PORT_IN_NODE = 6443
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
PAUSE_IMAGE = f"localhost/orderdesk-cluster/pause:{PAUSE_VERSION}"
# The Go tools tools/build/kubernetes packs as node images (tools/go/cluster.txt pins them).
ADDON_VERSIONS = {"coredns": "v1.14.7", "metrics-server": "v0.8.0"}

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
# The cluster's own cgroup subtree: its components, containerd's shims and the kubelet's pods
# (cgroupRoot) all sit under it, and stop removes it and nothing else (ops/sandbox/owned.py).
CLUSTER_CGROUP = f"{owned.CGROUP_PARENT}/cluster"

BUILD_HINT = "run tools/build/kubernetes (or scripts/bootstrap --system)"


class ClusterError(Exception):
    """The cluster cannot start or stop; the message says what to do."""


# --- layout ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    root: Path = NODE_DIR
    cgroup: str = CLUSTER_CGROUP

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def kubeconfig_in_node(self) -> Path:
        """The same identity, for the components inside the node (the API server's own port)."""
        return self.root / "kubeconfig-node"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


def binaries() -> dict[str, str]:
    """Every program the cluster runs; the Kubernetes ones from the versioned cache only."""
    found: dict[str, str] = {}
    missing = []
    for name in (
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
        "kubectl",
    ):
        path = KUBERNETES_BIN / name
        if path.is_file():
            found[name] = str(path)
        else:
            missing.append(f"{name} {KUBERNETES_VERSION} ({path})")
    for name in (
        "etcd",
        "containerd",
        "containerd-shim-runc-v2",
        "runc",
        "ctr",
        "crictl",
        "unshare",
        "nsenter",
    ):
        path_found = find(name)
        if path_found is None:
            missing.append(name)
        else:
            found[name] = path_found
    for image in ("pause", "coredns", "metrics-server"):
        if not (IMAGES_DIR / f"{image}.tar").is_file():
            missing.append(f"image {IMAGES_DIR / image}.tar")
    if not Path("/usr/lib/cni/bridge").is_file():
        missing.append("/usr/lib/cni/bridge (Debian: containernetworking-plugins)")
    if missing:
        raise ClusterError(f"missing: {', '.join(missing)}; {BUILD_HINT}")
    return found


def kubectl_path() -> str:
    """The kubectl built at the cluster's version: every task and test uses this one."""
    path = KUBERNETES_BIN / "kubectl"
    if not path.is_file():
        raise ClusterError(f"kubectl {KUBERNETES_VERSION} not found at {path}; {BUILD_HINT}")
    return str(path)


# The cluster's one home; functions elsewhere take it as their default layout.
DEFAULT_LAYOUT = Layout()

# --- state ----------------------------------------------------------------------------------


def read_state(layout: Layout = Layout()) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(layout.state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return state


def _write_state(layout: Layout, state: dict[str, Any]) -> None:
    """Record the pids with the boot and their start times, so stop can tell they are its own."""
    write_json(layout.state_file, {**state, **processes.record(state.get("pids") or {})})


def running(layout: Layout = Layout()) -> bool:
    """True when a start finished and every process it recorded still runs as that process."""
    state = read_state(layout)
    pids = state.get("pids") or {}
    if not state.get("complete") or not pids:
        return False
    return set(processes.ownership(state).ours) == set(pids)


def stale_state(layout: Layout = Layout()) -> list[str]:
    """What a killed run left behind (nothing when the cluster runs or was stopped cleanly)."""
    if running(layout):
        return []
    leftovers = []
    state = read_state(layout)
    alive = list(processes.ownership(state).ours)
    if alive:
        leftovers.append(f"processes still running: {', '.join(alive)}")
    elif state:
        leftovers.append(f"{layout.state_file} of a run that did not stop")
    leftovers += [f"cgroup {path}" for path in owned.present(layout.cgroup)]
    return leftovers


def spawn(layout: Layout, name: str, argv: list[str]) -> processes.Process:
    """Start one of the cluster's components in its cgroup, its output in its log."""
    return processes.spawn(
        name,
        argv,
        log=layout.log(name),
        # The bridge runs as `python -m ops.sandbox.bridge`, whatever directory invoke ran in.
        cwd=envconfig.REPO_ROOT,
        # In the cluster's cgroup before it runs: all it forks is found there on stop.
        before_exec=owned.joiner(layout.cgroup),
    )
