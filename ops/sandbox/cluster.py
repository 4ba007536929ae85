"""The local Kubernetes cluster: one real node, the same Kubernetes minor as dev and prod.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd (Debian's, with runc
and the CNI plugins), kubelet and kube-proxy, then CoreDNS and metrics-server as pods. Everything
runs in a private mount + network namespace, so the node's addresses, iptables rules and mounts
never touch the host; two loopback bridges (ops/sandbox/bridge.py) let kubectl reach the API
server and containerd pull from the local registry (127.0.0.1:5000) by digest. Binaries and
images come from tools/build/kubernetes.

    invoke sandbox.cluster-start    # start or reuse; prints progress and the time to Ready
    invoke sandbox.cluster-stop     # no process, mount, cgroup, interface or rule left behind

The kubeconfig is written to .data/local/kubeconfig (the `local` environment's). etcd's data and
containerd's images stay under ~/.cache/orderdesk/sandbox/node between runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess  # nosec B404 - starts the cluster's components with fixed arguments
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from invoke import Context, task
from invoke.exceptions import Exit

from ops import envconfig
from ops.core.wait import WaitTimeout, wait_until
from ops.sandbox.pki import Pki, kubeconfig
from ops.toolchain import CACHE_DIR

# Keep in step with tools/build/kubernetes and infra/env.yaml (tests/sandbox checks all three).
KUBERNETES_VERSION = "v1.36.3"
PAUSE_VERSION = "3.10.2"
IMAGES_DIR = CACHE_DIR / "kubernetes" / KUBERNETES_VERSION / "images"
KUBERNETES_BIN = CACHE_DIR / "kubernetes" / KUBERNETES_VERSION / "bin"
NODE_DIR = CACHE_DIR / "sandbox" / "node"
LOCAL_KUBECONFIG = envconfig.REPO_ROOT / ".data" / "local" / "kubeconfig"

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
# cgroup v1 hierarchies are global: the kubelet's and containerd's groups must go on stop.
CGROUP_ROOT = Path("/sys/fs/cgroup")
CLUSTER_CGROUPS = ("kubepods", "k8s.io", "orderdesk-node")

BUILD_HINT = "run tools/build/kubernetes (or scripts/bootstrap --system)"


class ClusterError(Exception):
    """The cluster cannot start or stop; the message says what to do."""


# --- layout ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    root: Path = NODE_DIR

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
        "unshare",
        "nsenter",
    ):
        path_found = shutil.which(name)
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


# --- state ----------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(FileNotFoundError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
    return True


def read_state(layout: Layout = Layout()) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(layout.state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return state


def _write_state(layout: Layout, state: dict[str, Any]) -> None:
    tmp = layout.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
    tmp.replace(layout.state_file)


def _leftover_cgroups() -> list[Path]:
    found = []
    for hierarchy in sorted(CGROUP_ROOT.iterdir()) if CGROUP_ROOT.is_dir() else []:
        for name in CLUSTER_CGROUPS:
            if (hierarchy / name).is_dir():
                found.append(hierarchy / name)
    return found


def running(layout: Layout = Layout()) -> bool:
    """True when a started cluster's processes all still run."""
    pids = read_state(layout).get("pids") or {}
    return bool(pids) and all(_alive(int(pid)) for pid in pids.values())


def stale_state(layout: Layout = Layout()) -> list[str]:
    """What a killed run left behind (nothing when the cluster runs or was stopped cleanly)."""
    if running(layout):
        return []
    leftovers = []
    state = read_state(layout)
    alive = [name for name, pid in (state.get("pids") or {}).items() if _alive(int(pid))]
    if alive:
        leftovers.append(f"processes still running: {', '.join(alive)}")
    elif state:
        leftovers.append(f"{layout.state_file} of a run that did not stop")
    leftovers += [f"cgroup {path}" for path in _leftover_cgroups()]
    return leftovers


# --- start ----------------------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _spawn(layout: Layout, name: str, argv: list[str]) -> int:
    layout.logs.mkdir(parents=True, exist_ok=True)
    with layout.log(name).open("ab") as out:
        process = subprocess.Popen(  # noqa: S603  # nosec B603 - fixed argv, no shell
            argv,
            # The bridge runs as `python -m ops.sandbox.bridge`, whatever directory invoke ran in.
            cwd=envconfig.REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process.pid


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class Node:
    """Starts the components one by one inside the node's namespaces, recording every pid."""

    def __init__(self, layout: Layout, bins: dict[str, str], progress: Callable[[str], None]):
        self.layout = layout
        self.bins = bins
        self.progress = progress
        self.started = time.monotonic()
        self.state: dict[str, Any] = {"version": KUBERNETES_VERSION, "pids": {}}

    def say(self, message: str) -> None:
        self.progress(f"[{time.monotonic() - self.started:5.1f}s] {message}")

    @property
    def holder(self) -> int:
        return int(self.state["pids"]["namespace"])

    def inside(self, *argv: str) -> list[str]:
        return [self.bins["nsenter"], "-t", str(self.holder), "-m", "-n", "--", *argv]

    def run_inside(self, *argv: str) -> str:
        result = subprocess.run(  # noqa: S603  # nosec B603
            self.inside(*argv), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ClusterError(f"{' '.join(argv)} failed in the node: {result.stderr.strip()}")
        return result.stdout

    def start_process(self, name: str, argv: list[str], *, in_node: bool = True) -> None:
        pid = _spawn(self.layout, name, self.inside(*argv) if in_node else argv)
        self.state["pids"][name] = pid
        _write_state(self.layout, self.state)

    def wait_for(self, name: str, check: Callable[[], bool], what: str) -> None:
        def ready() -> bool:
            pid = self.state["pids"].get(name)
            if pid is not None and not _alive(int(pid)):
                raise ClusterError(
                    f"{name} exited while starting; last lines of {self.layout.log(name)}:\n"
                    + tail(self.layout.log(name))
                )
            return check()

        try:
            wait_until(
                ready,
                what=what,
                timeout=READY_TIMEOUT_S,
                interval=0.3,
                errors=(subprocess.SubprocessError, OSError),
            )
        except WaitTimeout as exc:
            raise ClusterError(
                f"{exc}; last lines of {self.layout.log(name)}:\n{tail(self.layout.log(name))}"
            ) from exc
        self.say(what)

    def probe_inside(self, *argv: str) -> bool:
        return (
            subprocess.run(  # noqa: S603  # nosec B603
                self.inside(*argv), capture_output=True, check=False, timeout=10
            ).returncode
            == 0
        )

    # -- the steps ------------------------------------------------------------------------

    def namespace(self) -> None:
        """A private mount + network namespace: the node's own /run, /var/lib and /var/log."""
        layout = self.layout
        self.start_process(
            "namespace",
            [
                self.bins["unshare"],
                "--mount",
                "--net",
                "--propagation",
                "private",
                "sleep",
                "infinity",
            ],
            in_node=False,
        )
        # unshare has made its namespaces once its network one differs from ours.
        wait_until(
            lambda: os.readlink(f"/proc/{self.holder}/ns/net") != os.readlink("/proc/self/ns/net"),
            what="unshare's namespaces",
            timeout=5,
            interval=0.05,
        )
        self.state["netns_inode"] = os.stat(f"/proc/{self.holder}/ns/net").st_ino
        self.state["mntns_inode"] = os.stat(f"/proc/{self.holder}/ns/mnt").st_ino
        node_logs = layout.root / "var-log"
        node_logs.mkdir(parents=True, exist_ok=True)
        # The kubelet, libcni and the containerd shim hard-code paths under these.
        script = f"""set -e
mount --make-rshared /
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=0755 tmpfs /var/lib
mount --bind {node_logs} /var/log
ip link set lo up
ip link add odnode type veth peer name odpeer
ip addr add {NODE_IP}/24 dev odnode
ip addr add {NODE_PEER_IP}/24 dev odpeer
ip link set odnode up
ip link set odpeer up
ip route add default via {NODE_PEER_IP} dev odnode src {NODE_IP} 2>/dev/null || true
sysctl -qw net.ipv4.ip_forward=1
# A pod reaching a Service whose backend sits on the same bridge (CoreDNS): the reply must pass
# iptables to be un-NATed.
sysctl -qw net.bridge.bridge-nf-call-iptables=1
"""
        self.run_inside("sh", "-c", script)
        self.say(f"namespace ready (node IP {NODE_IP} on a veth inside it)")

    def bridge(self, api_port: int, registry: str) -> None:
        host, port = registry.rsplit(":", 1)
        self.start_process(
            "bridge",
            [
                sys.executable,
                "-m",
                "ops.sandbox.bridge",
                f"/proc/{self.holder}/ns/net",
                f"host:127.0.0.1:{api_port}=node:127.0.0.1:{API_PORT_IN_NODE}",
                f"node:{host}:{port}=host:{host}:{port}",
            ],
            in_node=False,
        )
        self.wait_for("bridge", lambda: "ready" in tail(self.layout.log("bridge"), 3), "bridge up")

    def etcd(self) -> None:
        url = "http://127.0.0.1:2379"
        self.start_process(
            "etcd",
            [
                self.bins["etcd"],
                "--name=orderdesk-node",
                f"--data-dir={self.layout.root / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                "--listen-peer-urls=http://127.0.0.1:2380",
                "--initial-advertise-peer-urls=http://127.0.0.1:2380",
                "--initial-cluster=orderdesk-node=http://127.0.0.1:2380",
                "--listen-metrics-urls=http://127.0.0.1:2381",
                "--log-level=warn",
            ],
        )
        self.wait_for(
            "etcd", lambda: self.probe_inside("curl", "-sf", f"{url}/health"), "etcd healthy"
        )

    def apiserver(self, pki: Pki) -> None:
        self.start_process(
            "kube-apiserver",
            [
                self.bins["kube-apiserver"],
                "--etcd-servers=http://127.0.0.1:2379",
                # Inside the node's namespace only: its loopback, the node IP and the pod bridge.
                "--bind-address=0.0.0.0",
                f"--advertise-address={NODE_IP}",
                f"--secure-port={API_PORT_IN_NODE}",
                f"--cert-dir={self.layout.root / 'apiserver-certs'}",
                f"--tls-cert-file={pki.path('server.crt')}",
                f"--tls-private-key-file={pki.path('server.key')}",
                f"--client-ca-file={pki.path('ca.crt')}",
                f"--kubelet-client-certificate={pki.path('admin.crt')}",
                f"--kubelet-client-key={pki.path('admin.key')}",
                # The node's name resolves nowhere (no DNS for nodes in the namespace): logs, exec
                # and port-forward reach the kubelet by its IP.
                "--kubelet-preferred-address-types=InternalIP",
                f"--service-account-key-file={pki.path('sa.pub')}",
                f"--service-account-signing-key-file={pki.path('sa.key')}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                # The aggregation layer, for metrics-server's metrics.k8s.io.
                f"--requestheader-client-ca-file={pki.path('ca.crt')}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-username-headers=X-Remote-User",
                f"--proxy-client-cert-file={pki.path('front-proxy.crt')}",
                f"--proxy-client-key-file={pki.path('front-proxy.key')}",
                "--enable-aggregator-routing=true",
                "--profiling=false",
            ],
        )
        self.wait_for(
            "kube-apiserver", lambda: self.kubectl_ok("get", "--raw=/readyz"), "API server ready"
        )

    def kubectl_ok(self, *args: str) -> bool:
        return (
            subprocess.run(  # noqa: S603  # nosec B603
                [self.bins["kubectl"], f"--kubeconfig={self.layout.kubeconfig}", *args],
                capture_output=True,
                check=False,
                timeout=10,
            ).returncode
            == 0
        )

    def controllers(self) -> None:
        config = str(self.layout.kubeconfig_in_node)
        pki = Pki(self.layout.pki)
        self.start_process(
            "kube-controller-manager",
            [
                self.bins["kube-controller-manager"],
                f"--kubeconfig={config}",
                f"--authentication-kubeconfig={config}",
                f"--authorization-kubeconfig={config}",
                "--bind-address=127.0.0.1",
                f"--cert-dir={self.layout.root / 'controller-manager-certs'}",
                f"--flex-volume-plugin-dir={self.layout.root / 'flex'}",
                "--leader-elect=false",
                f"--service-account-private-key-file={pki.path('sa.key')}",
                f"--root-ca-file={pki.path('ca.crt')}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # Scale-in is proven by a test: AKS's 5-minute window would make it wait that long.
                "--horizontal-pod-autoscaler-downscale-stabilization=20s",
                "--horizontal-pod-autoscaler-sync-period=5s",
            ],
        )
        self.start_process(
            "kube-scheduler",
            [
                self.bins["kube-scheduler"],
                f"--kubeconfig={config}",
                f"--authentication-kubeconfig={config}",
                f"--authorization-kubeconfig={config}",
                "--bind-address=127.0.0.1",
                "--leader-elect=false",
            ],
        )
        self.say("controller-manager and scheduler started")

    def containerd(self) -> None:
        root = self.layout.root
        cni_conf = root / "cni"
        cni_conf.mkdir(parents=True, exist_ok=True)
        (cni_conf / "10-orderdesk.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "orderdesk",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": "cni0",
                            "isGateway": True,
                            "ipMasq": True,
                            # A pod reaching its own Service through the ClusterIP.
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": POD_CIDR}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                            },
                        },
                        {"type": "portmap", "capabilities": {"portMappings": True}},
                        {"type": "loopback"},
                    ],
                },
                indent=2,
            )
        )
        registry = envconfig.load("local").registry.login_server
        hosts_dir = root / "certs.d" / registry
        hosts_dir.mkdir(parents=True, exist_ok=True)
        # Plain HTTP on the node's loopback, which the bridge joins to the host's registry.
        (hosts_dir / "hosts.toml").write_text(
            f'server = "http://{registry}"\n\n'
            f'[host."http://{registry}"]\n  capabilities = ["pull", "resolve"]\n'
        )
        config = root / "containerd.toml"
        config.write_text(
            f"""version = 2
root = "{root / "containerd"}"
state = "/run/containerd"
[grpc]
  address = "{CONTAINERD_SOCKET}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{root / "containerd-opt"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # The VM lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj below its own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni_conf}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{root / "certs.d"}"
"""
        )
        self.start_process("containerd", [self.bins["containerd"], f"--config={config}"])
        ctr = [self.bins["ctr"], f"--address={CONTAINERD_SOCKET}", "--namespace=k8s.io"]
        self.wait_for("containerd", lambda: self.probe_inside(*ctr, "version"), "containerd ready")
        # containerd's image store outlives the node: import only what a first start lacks.
        present = self.run_inside(*ctr, "images", "list", "--quiet").split()
        for image, version in (
            ("pause", PAUSE_VERSION),
            ("coredns", ADDON_VERSIONS["coredns"]),
            ("metrics-server", ADDON_VERSIONS["metrics-server"]),
        ):
            if f"localhost/orderdesk-cluster/{image}:{version}" not in present:
                self.run_inside(*ctr, "images", "import", str(IMAGES_DIR / f"{image}.tar"))
        self.say("node images present (pause, coredns, metrics-server)")

    def kubelet(self) -> None:
        root = self.layout.root
        pki = Pki(self.layout.pki)
        resolv = root / "resolv.conf"
        # The node has no upstream resolver (no internet): CoreDNS answers for the cluster only.
        resolv.write_text(f"nameserver {NODE_IP}\n")
        config = root / "kubelet.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kubelet.config.k8s.io/v1beta1",
                    "kind": "KubeletConfiguration",
                    "cgroupDriver": "cgroupfs",
                    # cgroups are v1 here; from 1.35 the kubelet refuses them unless told.
                    "failCgroupV1": False,
                    "failSwapOn": False,
                    "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
                    "authentication": {
                        "anonymous": {"enabled": False},
                        "webhook": {"enabled": True},
                        "x509": {"clientCAFile": pki.path("ca.crt")},
                    },
                    "authorization": {"mode": "Webhook"},
                    "clusterDNS": [CLUSTER_DNS],
                    "clusterDomain": "cluster.local",
                    "resolvConf": str(resolv),
                    "podLogsDir": str(root / "pod-logs"),
                    "volumePluginDir": str(root / "volume-plugins"),
                    "readOnlyPort": 0,
                    "serializeImagePulls": False,
                    "evictionHard": {
                        "memory.available": "100Mi",
                        "nodefs.available": "1%",
                        "imagefs.available": "1%",
                        "nodefs.inodesFree": "1%",
                    },
                    "imageGCHighThresholdPercent": 99,
                    "imageGCLowThresholdPercent": 98,
                    "healthzBindAddress": "127.0.0.1",
                }
            )
        )
        self.start_process(
            "kubelet",
            [
                self.bins["kubelet"],
                f"--config={config}",
                f"--kubeconfig={self.layout.kubeconfig_in_node}",
                f"--root-dir={self.layout.kubelet_root}",
                f"--cert-dir={root / 'kubelet-pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
            ],
        )
        self.start_process(
            "kube-proxy",
            [
                self.bins["kube-proxy"],
                f"--kubeconfig={self.layout.kubeconfig_in_node}",
                f"--hostname-override={NODE_NAME}",
                "--proxy-mode=iptables",
                "--cluster-cidr=10.244.0.0/16",
                "--conntrack-max-per-core=0",
                "--metrics-bind-address=127.0.0.1:10249",
                "--healthz-bind-address=127.0.0.1:10256",
            ],
        )
        self.wait_for(
            "kubelet",
            lambda: self.kubectl_ok(
                "wait", "--for=condition=Ready", f"node/{NODE_NAME}", "--timeout=1s"
            ),
            f"node {NODE_NAME} Ready",
        )

    def addons(self) -> None:
        manifest = (Path(__file__).with_name("addons.yaml")).read_text(encoding="utf-8")
        manifest = manifest.replace("${CLUSTER_DNS}", CLUSTER_DNS)
        result = subprocess.run(  # noqa: S603  # nosec B603
            [self.bins["kubectl"], f"--kubeconfig={self.layout.kubeconfig}", "apply", "-f", "-"],
            input=manifest,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(f"applying CoreDNS and metrics-server failed: {result.stderr}")
        for deployment in ("coredns", "metrics-server"):
            self.wait_for(
                "kubelet",
                lambda d=deployment: self.kubectl_ok(  # type: ignore[misc]
                    "-n", "kube-system", "rollout", "status", f"deployment/{d}", "--timeout=2s"
                ),
                f"{deployment} Ready",
            )


def start(layout: Layout = Layout(), progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Start the cluster unless it runs; return its state (server, pids, time to Ready)."""
    if running(layout):
        state = read_state(layout)
        progress(f"cluster: already running ({state['server']})")
        return state
    bins = binaries()
    leftovers = stale_state(layout)
    if leftovers:
        raise ClusterError(
            "a previous cluster run was killed and left "
            + "; ".join(leftovers)
            + "; run `invoke sandbox.cluster-stop` to clean it up, then start again"
        )
    if os.geteuid() != 0:
        raise ClusterError(
            "the local cluster needs root (namespaces, mounts, cgroups); run as root"
        )
    registry = envconfig.load("local").registry.login_server
    layout.root.mkdir(parents=True, exist_ok=True)
    port_file = layout.root / "api-port"
    api_port = int(port_file.read_text()) if port_file.is_file() else _free_port()
    if not _port_free(api_port):
        raise ClusterError(
            f"127.0.0.1:{api_port}, the port the cluster's kubeconfig uses, is taken by another "
            f"process (`ss -ltnp 'sport = :{api_port}'` names it); stop it, or delete {port_file} "
            "to let the next start pick a free port"
        )
    port_file.write_text(str(api_port))
    # A fresh kubelet directory each start: the old pods' volumes died with the old namespace.
    shutil.rmtree(layout.kubelet_root, ignore_errors=True)
    shutil.rmtree(layout.logs, ignore_errors=True)
    pki = Pki(layout.pki, server_ips=("127.0.0.1", NODE_IP, "10.96.0.1"))
    server = f"https://127.0.0.1:{api_port}"
    layout.kubeconfig.write_text(yaml.safe_dump(kubeconfig(pki, server, "orderdesk-local")))
    layout.kubeconfig.chmod(0o600)
    in_node = kubeconfig(pki, f"https://127.0.0.1:{API_PORT_IN_NODE}", "orderdesk-local")
    layout.kubeconfig_in_node.write_text(yaml.safe_dump(in_node))
    layout.kubeconfig_in_node.chmod(0o600)

    node = Node(layout, bins, progress)
    node.state["server"] = server
    progress(f"cluster: starting Kubernetes {KUBERNETES_VERSION} ({layout.root})")
    try:
        node.namespace()
        node.bridge(api_port, registry)
        node.etcd()
        node.apiserver(pki)
        node.controllers()
        node.containerd()
        node.kubelet()
        node.state["ready_seconds"] = round(time.monotonic() - node.started, 1)
        node.addons()
    except (ClusterError, OSError, subprocess.SubprocessError) as exc:
        progress("cluster: start failed; stopping what was started")
        stop(layout, progress=lambda _m: None)
        raise ClusterError(str(exc)) from exc
    node.state["addons_seconds"] = round(time.monotonic() - node.started, 1)
    _write_state(layout, node.state)
    publish_kubeconfig(layout)
    progress(
        f"cluster: node Ready in {node.state['ready_seconds']} s, CoreDNS and metrics-server in "
        f"{node.state['addons_seconds']} s; kubeconfig {LOCAL_KUBECONFIG}"
    )
    return node.state


def publish_kubeconfig(layout: Layout = Layout()) -> Path:
    """The `local` environment's kubeconfig (.data/local/kubeconfig) points at this cluster."""
    LOCAL_KUBECONFIG.parent.mkdir(parents=True, exist_ok=True)
    tmp = LOCAL_KUBECONFIG.with_suffix(".tmp")
    tmp.write_text(layout.kubeconfig.read_text(encoding="utf-8"), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(LOCAL_KUBECONFIG)
    return LOCAL_KUBECONFIG


# --- stop -----------------------------------------------------------------------------------


def _pids_in_namespace(kind: str, inode: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if os.stat(entry / "ns" / kind).st_ino == inode:
                pids.append(int(entry.name))
    return pids


def _pids_in_cgroups() -> list[int]:
    pids: set[int] = set()
    for group in _leftover_cgroups():
        for procs in group.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids.update(int(line) for line in procs.read_text().split())
    return sorted(pids)


def _kill(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    """The pids still alive after up to `timeout` seconds."""
    with contextlib.suppress(WaitTimeout):
        wait_until(
            lambda: not any(_alive(pid) for pid in pids),
            what="processes to exit",
            timeout=timeout,
            interval=0.1,
        )
    return [pid for pid in pids if _alive(pid)]


def _remove_cgroups() -> list[Path]:
    """rmdir the cluster's cgroups deepest first; return those that would not go."""
    stuck = []
    for group in _leftover_cgroups():
        for directory in sorted(
            (p for p in group.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
        ):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            group.rmdir()
        if group.exists():
            stuck.append(group)
    return stuck


def stop(layout: Layout = Layout(), progress: Callable[[str], None] = print) -> bool:
    """Stop everything the cluster started and remove what it left; True if anything was there."""
    state = read_state(layout)
    pids = {name: int(pid) for name, pid in (state.get("pids") or {}).items()}
    found = any(_alive(pid) for pid in pids.values()) or bool(_leftover_cgroups())
    # Components first (the API server may take > 10 s on SIGTERM), the namespace holder last.
    ordered = [pid for name, pid in reversed(list(pids.items())) if name != "namespace"]
    _kill(ordered, signal.SIGTERM)
    _kill(_wait_gone(ordered, STOP_TIMEOUT_S), signal.SIGKILL)
    # Whatever else lives in the node: shims, pods' processes (they have their own namespaces but
    # sit in the kubelet's cgroups).
    for _ in range(3):
        others = _pids_in_cgroups()
        if "mntns_inode" in state:
            others += _pids_in_namespace("mnt", int(state["mntns_inode"]))
        if "netns_inode" in state:
            others += _pids_in_namespace("net", int(state["netns_inode"]))
        others = [pid for pid in others if pid != pids.get("namespace")]
        if not others:
            break
        _kill(others, signal.SIGKILL)
        _wait_gone(others, 5)
    if "namespace" in pids:
        _kill([pids["namespace"]], signal.SIGKILL)
        _wait_gone([pids["namespace"]], 5)
    stuck = _remove_cgroups()
    if stuck:
        raise ClusterError(
            f"cgroups still in use after stopping: {', '.join(map(str, stuck))}; "
            "`cat <group>/cgroup.procs` names what runs there; kill it and run cluster-stop again"
        )
    layout.state_file.unlink(missing_ok=True)
    if found:
        progress("cluster: stopped (no process, mount, cgroup, interface or rule left)")
    else:
        progress("cluster: was not running")
    return found


# --- checks other areas use -----------------------------------------------------------------


def verify_kubeconfig(path: Path, layout: Layout = Layout()) -> None:
    """Refuse a `local` kubeconfig that points at any cluster but the running local one (a copied
    AKS kubeconfig, a stale file from an old cluster): kubectl and helm would act on that one."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        context = next(
            c["context"] for c in config["contexts"] if c["name"] == config["current-context"]
        )
        entry = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    except (OSError, yaml.YAMLError, KeyError, StopIteration, TypeError) as exc:
        raise ClusterError(
            f"{path} is not a usable kubeconfig ({exc}); run `invoke sandbox.cluster-start`, "
            "which rewrites it"
        ) from exc
    state = read_state(layout)
    ours = Path(layout.pki) / "ca.crt"
    authority = entry.get("certificate-authority")
    same_ca = (
        authority is not None
        and ours.is_file()
        and Path(authority).is_file()
        and Path(authority).read_bytes() == ours.read_bytes()
    )
    if state.get("server") != entry.get("server") or not same_ca:
        raise ClusterError(
            f"{path} points at {entry.get('server')}, which is not the local cluster "
            f"({state.get('server') or 'not running'}); refusing to act on another cluster. Run "
            "`invoke sandbox.cluster-start` (it rewrites the file), or set INVOKE_K8S_KUBECONFIG "
            "to the cluster you mean"
        )


@contextlib.contextmanager
def node_network(layout: Layout = Layout()) -> Iterator[str]:
    """The node's network namespace path, for `nsenter --net=` (ClusterIPs answer only there)."""
    holder = (read_state(layout).get("pids") or {}).get("namespace")
    if holder is None or not running(layout):
        raise ClusterError("the local cluster is not running; run `invoke sandbox.cluster-start`")
    yield f"/proc/{holder}/ns/net"


# --- tasks ----------------------------------------------------------------------------------


@task
def cluster_start(c: Context) -> None:
    """Start the local Kubernetes cluster (or reuse it); kubeconfig in .data/local."""
    try:
        start()
    except (ClusterError, envconfig.EnvConfigError) as exc:
        raise Exit(f"sandbox.cluster-start: {exc}", code=1) from exc


@task
def cluster_stop(c: Context) -> None:
    """Stop the local cluster and remove everything it left (etcd data and images are kept)."""
    try:
        stop()
    except ClusterError as exc:
        raise Exit(f"sandbox.cluster-stop: {exc}", code=1) from exc
