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
import os
import random
import shutil
import signal
import socket
import subprocess  # nosec B404 - starts the cluster's components with fixed arguments
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from invoke import Context, task
from invoke.exceptions import Exit

from ops import envconfig
from ops.core.wait import WaitTimeout, wait_until
from ops.sandbox.layout import (
    API_PORT_IN_NODE,
    DEFAULT_LAYOUT,
    KUBERNETES_VERSION,
    LOCAL_KUBECONFIG,
    NODE_IP,
    STOP_TIMEOUT_S,
    ClusterError,
    Layout,
    _alive,
    _leftover_cgroups,
    _write_state,
    binaries,
    read_state,
    running,
    stale_state,
)
from ops.sandbox.node import Node
from ops.sandbox.pki import Pki, kubeconfig

# --- start ----------------------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_ports() -> range:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return range(int(low), int(high) + 1)


def _free_port() -> int:
    """A free port below the kernel's ephemeral range.

    Any outgoing connection on the host may take a port of the ephemeral range as its own
    (kubectl, the registry, a browser), so a port kept there across starts is sometimes found
    taken; one below the range is only ever taken by a process that asks for it.
    """
    below = range(20000, min(_ephemeral_ports().start, 32768))
    for port in random.sample(below, k=64):  # nosec B311 - not a secret
        if _port_free(port):
            return port
    raise ClusterError(
        f"no free port between {below.start} and {below.stop - 1} for the API server; "
        "stop what listens there and start again"
    )


def start(
    layout: Layout = DEFAULT_LAYOUT, progress: Callable[[str], None] = print
) -> dict[str, Any]:
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
    kept = int(port_file.read_text()) if port_file.is_file() else None
    api_port = kept if kept is not None and kept not in _ephemeral_ports() else _free_port()
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
    failed_at = ""
    try:
        for name, run in (
            ("namespace", node.namespace),
            ("bridge", lambda: node.bridge(api_port, registry)),
            ("etcd", node.etcd),
            ("kube-apiserver", lambda: node.apiserver(pki)),
            ("controllers", node.controllers),
            ("containerd", node.containerd),
            ("kubelet", node.kubelet),
        ):
            failed_at = name
            run()
        node.state["ready_seconds"] = round(time.monotonic() - node.started, 1)
        failed_at = "addons"
        node.addons()
    except (ClusterError, OSError, subprocess.SubprocessError) as exc:
        progress(f"cluster: start failed at {failed_at}; stopping what was started")
        stop(layout, progress=lambda _m: None)
        raise ClusterError(f"starting the cluster failed at {failed_at}: {exc}") from exc
    node.state["addons_seconds"] = round(time.monotonic() - node.started, 1)
    _write_state(layout, node.state)
    publish_kubeconfig(layout)
    progress(
        f"cluster: node Ready in {node.state['ready_seconds']} s, CoreDNS and metrics-server in "
        f"{node.state['addons_seconds']} s; kubeconfig {LOCAL_KUBECONFIG}"
    )
    return node.state


def publish_kubeconfig(layout: Layout = DEFAULT_LAYOUT) -> Path:
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


def stop(layout: Layout = DEFAULT_LAYOUT, progress: Callable[[str], None] = print) -> bool:
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


def verify_kubeconfig(path: Path, layout: Layout = DEFAULT_LAYOUT) -> None:
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
def node_network(layout: Layout = DEFAULT_LAYOUT) -> Iterator[str]:
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
