"""One component after another inside the node's namespaces: the namespace holder and bridges,
etcd, the control plane, containerd, the kubelet and kube-proxy, then CoreDNS and metrics-server."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ops import envconfig
from ops.core import processes
from ops.core.kube import KubeTarget
from ops.core.run import RunFailed, Runner
from ops.core.wait import wait_until
from ops.sandbox.layout import (
    ADDON_VERSIONS,
    API_PORT_IN_NODE,
    CLUSTER_DNS,
    CONTAINERD_SOCKET,
    IMAGES_DIR,
    KUBERNETES_VERSION,
    NODE_IP,
    NODE_NAME,
    NODE_PEER_IP,
    PAUSE_IMAGE,
    PAUSE_VERSION,
    POD_CIDR,
    READY_TIMEOUT_S,
    SERVICE_CIDR,
    ClusterError,
    Layout,
    _write_state,
    spawn,
)
from ops.sandbox.pki import Pki


class Node:
    """Starts the components one by one inside the node's namespaces, recording every pid."""

    def __init__(self, layout: Layout, bins: dict[str, str], progress: Callable[[str], None]):
        self.layout = layout
        self.bins = bins
        self.progress = progress
        self.started = time.monotonic()
        self.state: dict[str, Any] = {"version": KUBERNETES_VERSION, "pids": {}}
        self.processes: dict[str, processes.Process] = {}
        self.runner = Runner()
        # kubectl as every task composes it (ops.core.kube), on the node's own kubeconfig.
        self.kube = KubeTarget(
            environment=envconfig.load("local"),
            kubeconfig=str(layout.kubeconfig),
            context=None,
            kubectl_program=bins["kubectl"],
        )

    def say(self, message: str) -> None:
        self.progress(f"[{time.monotonic() - self.started:5.1f}s] {message}")

    @property
    def holder(self) -> int:
        return int(self.state["pids"]["namespace"])

    def inside(self, *argv: str) -> list[str]:
        return [self.bins["nsenter"], "-t", str(self.holder), "-m", "-n", "--", *argv]

    def run_inside(self, *argv: str, timeout: float = 60) -> str:
        result = self.runner.run(
            self.inside(*argv),
            timeout=timeout,
            fix=f"see {self.layout.logs}; run `invoke sandbox.cluster-stop` before a new start",
        )
        return str(result.stdout)

    def start_process(self, name: str, argv: list[str], *, in_node: bool = True) -> None:
        process = spawn(self.layout, name, self.inside(*argv) if in_node else argv)
        self.processes[name] = process
        self.state["pids"][name] = process.pid
        _write_state(self.layout, self.state)

    def wait_for(self, name: str, check: Callable[[], bool], what: str) -> None:
        try:
            processes.wait_ready(
                self.processes[name],
                check,
                what=what,
                timeout=READY_TIMEOUT_S,
                interval=0.3,
                errors=(RunFailed, OSError),
            )
        except processes.ProcessError as exc:
            raise ClusterError(str(exc)) from exc
        self.say(what)

    def probe_inside(self, *argv: str) -> bool:
        return bool(self.runner.run(self.inside(*argv), timeout=10, warn=True).ok)

    def kubectl_ok(self, *args: str, namespace: str | None = None) -> bool:
        argv = self.kube.kubectl_argv(*args, namespace=namespace)
        return bool(self.runner.run(argv, timeout=self.kube.request_timeout, warn=True).ok)

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
        self.wait_for(
            "bridge", lambda: "ready" in processes.tail(self.layout.log("bridge"), 3), "bridge up"
        )

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
        # The socket answers before the CRI plugin has initialised, and a kubelet started in that
        # gap exits ("server is not initialized yet"); a CRI call succeeds only after it.
        crictl = [self.bins["crictl"], f"--runtime-endpoint=unix://{CONTAINERD_SOCKET}"]
        self.wait_for(
            "containerd", lambda: self.probe_inside(*crictl, "version"), "containerd's CRI ready"
        )
        # containerd's image store outlives the node: import only what a first start lacks.
        present = self.run_inside(*ctr, "images", "list", "--quiet").split()
        for image, version in (
            ("pause", PAUSE_VERSION),
            ("coredns", ADDON_VERSIONS["coredns"]),
            ("metrics-server", ADDON_VERSIONS["metrics-server"]),
        ):
            if f"localhost/orderdesk-cluster/{image}:{version}" not in present:
                tarball = str(IMAGES_DIR / f"{image}.tar")
                self.run_inside(*ctr, "images", "import", tarball, timeout=300)
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
                    # The QoS groups (kubepods) under the cluster's own subtree, never beside
                    # another kubelet's at the top of the host's hierarchies.
                    "cgroupRoot": f"/{self.layout.cgroup}",
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
        # The Node object outlives a stop in etcd's data: a run killed between a test's cordon
        # and its uncordon would leave every later start with no node to schedule a pod on.
        self.runner.run(
            self.kube.kubectl_argv("uncordon", NODE_NAME, namespace=None),
            timeout=60,
            fix="the API server's log says why it refused to make the node schedulable",
        )
        self.state["ready_seconds"] = round(time.monotonic() - self.started, 1)

    def addons(self) -> None:
        manifest = (Path(__file__).with_name("addons.yaml")).read_text(encoding="utf-8")
        manifest = manifest.replace("${CLUSTER_DNS}", CLUSTER_DNS)
        self.runner.run(
            self.kube.kubectl_argv("apply", "--filename=-", namespace=None),
            input=manifest,
            timeout=60,
            fix="the API server's log says why it refused CoreDNS or metrics-server",
        )
        for deployment in ("coredns", "metrics-server"):
            self.wait_for(
                "kubelet",
                lambda d=deployment: self.kubectl_ok(  # type: ignore[misc]
                    "rollout", "status", f"deployment/{d}", "--timeout=2s", namespace="kube-system"
                ),
                f"{deployment} Ready",
            )
