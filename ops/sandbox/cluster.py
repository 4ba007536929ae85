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

Stop kills only what a start started (ops/core/processes.py, ops/sandbox/owned.py): pids whose
boot ID and start time still match what the start recorded, what runs in the cluster's own cgroup
subtree (orderdesk-sandbox/cluster: the components, containerd's shims and, as the kubelet's
cgroupRoot, the pods), and what was entered into the node's namespaces while a proven process
holds them. A start that fails or is interrupted at any step stops what it made, and marks the
state complete only at the end.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from invoke import Context, task
from invoke.exceptions import Exit

from ops import envconfig
from ops.core import processes
from ops.core.kube import LOCAL_KUBECONFIG
from ops.core.run import RunFailed
from ops.sandbox import owned
from ops.sandbox.layout import (
    API_PORT_IN_NODE,
    DEFAULT_LAYOUT,
    KUBERNETES_VERSION,
    NODE_IP,
    STOP_TIMEOUT_S,
    ClusterError,
    Layout,
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
    try:
        owned.require_v1()
    except owned.CgroupError as exc:
        raise ClusterError(str(exc)) from exc
    registry = envconfig.load("local").registry.login_server
    layout.root.mkdir(parents=True, exist_ok=True)
    api_port = _api_port(layout)
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
    steps: tuple[tuple[str, Callable[[], None]], ...] = (
        ("cgroup", lambda: owned.make(layout.cgroup)),
        ("namespace", node.namespace),
        ("bridge", lambda: node.bridge(api_port, registry)),
        ("etcd", node.etcd),
        ("kube-apiserver", lambda: node.apiserver(pki)),
        ("controllers", node.controllers),
        ("containerd", node.containerd),
        ("kubelet", node.kubelet),
        ("addons", node.addons),
    )
    failed_at = ""
    # Whatever stops this start (an error, Ctrl-C, a kill signal turned into an exception),
    # what it made goes, and the state never says "complete" for a cluster that is not.
    try:
        for name, run in steps:
            failed_at = name
            run()
        failed_at = "the final state"
        node.state["addons_seconds"] = round(time.monotonic() - node.started, 1)
        node.state["complete"] = True
        _write_state(layout, node.state)
    except BaseException as exc:
        how = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        progress(f"cluster: start {how} at {failed_at}; stopping what this start made")
        stop(layout, progress=lambda _m: None)
        if isinstance(exc, (ClusterError, owned.CgroupError, OSError, RunFailed)):
            raise ClusterError(f"starting the cluster failed at {failed_at}: {exc}") from exc
        raise
    publish_kubeconfig(layout)
    progress(
        f"cluster: node Ready in {node.state['ready_seconds']} s, CoreDNS and metrics-server in "
        f"{node.state['addons_seconds']} s; kubeconfig {LOCAL_KUBECONFIG}"
    )
    return node.state


def _api_port(layout: Layout) -> int:
    """The API server's host port: the one the kubeconfig kept, else a free one."""
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
    return api_port


def publish_kubeconfig(layout: Layout = DEFAULT_LAYOUT) -> Path:
    """The `local` environment's kubeconfig (.data/local/kubeconfig) points at this cluster."""
    LOCAL_KUBECONFIG.parent.mkdir(parents=True, exist_ok=True)
    tmp = LOCAL_KUBECONFIG.with_suffix(".tmp")
    tmp.write_text(layout.kubeconfig.read_text(encoding="utf-8"), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(LOCAL_KUBECONFIG)
    return LOCAL_KUBECONFIG


# --- stop -----------------------------------------------------------------------------------


def _our_namespaces(state: dict[str, Any], ours: dict[str, int]) -> list[tuple[str, int]]:
    """The node's namespaces, only while a process proven ours is in them: a namespace's inode
    cannot be reused while it lives, but once it is gone the number may name any other one."""
    found = []
    for kind in ("mnt", "net"):
        inode = state.get(f"{kind}ns_inode")
        if inode is None:
            continue
        for pid in ours.values():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{pid}/ns/{kind}").st_ino == int(inode):
                    found.append((kind, int(inode)))
                    break
    return found


def _report_foreign(
    ownership: processes.Ownership, layout: Layout, progress: Callable[[str], None]
) -> None:
    if ownership.stale:
        reasons = sorted(set(ownership.foreign.values()))
        progress(
            f"cluster: stale state in {layout.state_file} ({'; '.join(reasons)}): nothing it "
            "names was killed; the state is cleared"
        )
    elif ownership.foreign:
        progress(
            "cluster: not killed, no longer the processes this cluster started: "
            + "; ".join(f"{name} ({why})" for name, why in ownership.foreign.items())
        )


def stop(layout: Layout = DEFAULT_LAYOUT, progress: Callable[[str], None] = print) -> bool:
    """Stop what the cluster's start started and remove what it left; True if anything was there.

    Only processes proven to be the start's own are signalled: a recorded pid whose boot ID or
    start time no longer matches names some other process now, and is left alone.
    """
    state = read_state(layout)
    ownership = processes.ownership(state)
    _report_foreign(ownership, layout, progress)
    pids = ownership.ours
    found = bool(pids) or bool(owned.present(layout.cgroup))
    namespaces = _our_namespaces(state, pids)
    holder = pids.get("namespace")
    # Components first (the API server may take > 10 s on SIGTERM), the namespace holder last.
    ordered = [pid for name, pid in reversed(list(pids.items())) if name != "namespace"]
    processes.signal_all(ordered, signal.SIGTERM)
    processes.signal_all(processes.wait_gone(ordered, STOP_TIMEOUT_S), signal.SIGKILL)
    # Whatever else the start made: shims and pods sit in the cluster's own cgroup; a process
    # entered into the node (nsenter) is in its namespaces.
    for _ in range(3):
        others = owned.pids(layout.cgroup)
        for kind, inode in namespaces:
            others += owned.in_namespace(kind, inode)
        others = [pid for pid in others if pid != holder]
        if not others:
            break
        processes.signal_all(others, signal.SIGKILL)
        processes.wait_gone(others, 5)
    if holder is not None:
        processes.signal_all([holder], signal.SIGKILL)
        processes.wait_gone([holder], 5)
    stuck = owned.remove(layout.cgroup)
    if stuck:
        raise ClusterError(
            f"cgroups still in use after stopping: {', '.join(map(str, stuck))}; "
            "`cat <group>/cgroup.procs` names what runs there; kill it and run cluster-stop again"
        )
    layout.state_file.unlink(missing_ok=True)
    if found:
        progress("cluster: stopped (no process, mount, cgroup, interface or rule left)")
    elif not ownership.stale:
        progress("cluster: was not running")
    return found


# --- for tests and benchmarks --------------------------------------------------------------


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
