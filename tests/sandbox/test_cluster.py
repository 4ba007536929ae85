"""The local cluster, for real: Ready, pulls by digest, leaves nothing, refuses bad input."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops import envconfig
from ops.core import processes
from ops.sandbox import cluster, engine, layout, owned
from testkit import support
from testkit.cluster import images_dir, kubectl, kubectl_json

pytestmark = pytest.mark.slow


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return support.invoke(*args, env={**os.environ, "NO_COLOR": "1"}, timeout=600)


def host_snapshot() -> dict[str, Any]:
    """What the cluster must never change on the host: interfaces, routes, iptables, mounts."""

    def run(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout

    mounts = Path("/proc/self/mounts").read_text().splitlines()
    # Top-level cgroups other than the sandbox's own root (kubepods, k8s.io, ...): another kubelet
    # or containerd on the host may own them, so the cluster must create none of them.
    cgroups = sorted(
        str(group)
        for hierarchy in owned.hierarchies()
        for group in hierarchy.path.iterdir()
        if group.is_dir() and group.name != owned.CGROUP_PARENT
    )
    return {
        "cgroups": cgroups,
        "links": sorted(line.split()[0] for line in run("ip", "-br", "link").splitlines()),
        "routes": run("ip", "route"),
        # Counters change with traffic; the rules must not.
        "iptables": [
            line for line in run("iptables-save").splitlines() if not line.startswith(("#", ":"))
        ],
        "mounts": [line for line in mounts if str(layout.NODE_DIR) in line],
    }


def cluster_processes(state: dict[str, Any]) -> list[int]:
    found = list(processes.ownership(state).ours.values()) + owned.pids(layout.CLUSTER_CGROUP)
    for kind in ("mnt", "net"):
        inode = state.get(f"{kind}ns_inode")
        if inode:
            found += owned.in_namespace(kind, int(inode))
    return sorted(set(found))


def test_node_ready_at_the_pinned_version_with_dns_and_metrics(local_cluster) -> None:
    version = kubectl_json("version")["serverVersion"]
    assert version["gitVersion"] == cluster.KUBERNETES_VERSION
    assert f"{version['major']}.{version['minor']}" == envconfig.load("local").kubernetes.version
    [node] = kubectl_json("get", "nodes")["items"]
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert node["status"]["nodeInfo"]["kubeletVersion"] == cluster.KUBERNETES_VERSION
    for deployment in ("coredns", "metrics-server"):
        status = kubectl_json("-n", "kube-system", "get", "deployment", deployment)["status"]
        assert status.get("readyReplicas") == 1, (deployment, status)
    # A second start finds it running and changes nothing.
    again = invoke("sandbox.cluster-start")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert cluster.read_state()["pids"] == local_cluster["pids"]


def test_nothing_listens_outside_loopback_on_the_host(local_cluster) -> None:
    state = cluster.read_state()
    pids = set(cluster_processes(state))
    assert pids
    listening = subprocess.run(["ss", "-ltnupH"], capture_output=True, text=True, check=True)
    ours = [
        line for line in listening.stdout.splitlines() if any(f"pid={pid}," in line for pid in pids)
    ]
    # The bridge's API port is the one host socket; everything else is inside the node.
    assert ours, listening.stdout
    for line in ours:
        assert line.split()[4].startswith("127.0.0.1:"), line


def test_a_pod_runs_an_image_pulled_from_the_local_registry_by_digest(local_cluster) -> None:
    registry = engine.ensure_registry()
    repository = f"{registry.address}/cluster-test/pause"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            f"docker-archive:{images_dir() / 'pause.tar'}",
            f"docker://{repository}:probe",
        ],
        check=True,
        timeout=120,
    )
    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{repository}:probe"],
        capture_output=True,
        text=True,
        check=True,
    )
    digest = json.loads(inspected.stdout)["Digest"]
    reference = f"{repository}@{digest}"
    name = f"by-digest-{int(time.time())}"
    kubectl(
        "run",
        name,
        f"--image={reference}",
        "--image-pull-policy=Always",
        "--restart=Never",
        "--namespace=default",
    )
    try:
        kubectl(
            "wait", "--for=condition=Ready", f"pod/{name}", "--namespace=default", "--timeout=90s"
        )
        pod = kubectl_json("get", "pod", name, "--namespace=default")
        [status] = pod["status"]["containerStatuses"]
        assert status["image"] == reference or status["imageID"].endswith(digest), status
        assert status["imageID"].endswith(digest)
    finally:
        kubectl("delete", "pod", name, "--namespace=default", "--wait=false", check=False)


def test_stop_leaves_nothing_and_start_touches_nothing_on_the_host(local_cluster) -> None:
    state = cluster.read_state()
    cluster.stop()
    assert cluster_processes(state) == []
    assert owned.present(layout.CLUSTER_CGROUP) == []
    stopped = host_snapshot()
    assert stopped["mounts"] == []
    cluster.start()
    running = host_snapshot()
    assert running == stopped
    assert owned.present(layout.CLUSTER_CGROUP), "the cluster runs outside its own cgroup"
    state = cluster.read_state()
    cluster.stop()
    assert cluster_processes(state) == []
    assert host_snapshot() == stopped
    # A second stop has nothing to do and says so.
    again = invoke("sandbox.cluster-stop")
    assert again.returncode == 0
    assert "was not running" in again.stdout
    cluster.start()  # for the tests after this one


def test_a_node_left_cordoned_is_schedulable_after_the_next_start(local_cluster) -> None:
    """A run killed between a test's cordon and its uncordon (tests/deploy/test_local.py) left
    the Node unschedulable in etcd's data; every later deploy then waited for a node in vain."""
    [node] = kubectl("get", "nodes", "--output=name").stdout.split()
    kubectl("cordon", node)
    assert kubectl_json("get", node)["spec"].get("unschedulable") is True
    cluster.stop()
    cluster.start()
    assert not kubectl_json("get", node)["spec"].get("unschedulable"), "still cordoned"


def test_a_killed_run_is_named_and_cluster_stop_cleans_it(local_cluster) -> None:
    state = cluster.read_state()
    os.kill(int(state["pids"]["kube-scheduler"]), signal.SIGKILL)
    time.sleep(0.5)
    refused = invoke("sandbox.cluster-start")
    assert refused.returncode == 1
    assert "a previous cluster run was killed" in refused.stderr
    assert "invoke sandbox.cluster-stop" in refused.stderr
    assert "Traceback" not in refused.stderr
    cleaned = invoke("sandbox.cluster-stop")
    assert cleaned.returncode == 0, cleaned.stderr
    assert cluster_processes(state) == []
    started = invoke("sandbox.cluster-start")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "node Ready in" in started.stdout


def test_a_taken_port_is_named_before_anything_starts(local_cluster) -> None:
    cluster.stop()
    port = int((layout.NODE_DIR / "api-port").read_text())
    # Kept below the ephemeral range, where no outgoing connection can take it between starts.
    assert port not in cluster._ephemeral_ports()
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            refused = invoke("sandbox.cluster-start")
        assert refused.returncode == 1
        assert f"127.0.0.1:{port}" in refused.stderr
        assert "taken by another process" in refused.stderr
        assert not cluster.running()
        assert cluster.read_state() == {}
    finally:
        cluster.start()


def test_a_missing_binary_names_the_build(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(layout, "KUBERNETES_BIN", tmp_path)
    with pytest.raises(cluster.ClusterError) as refused:
        cluster.start(cluster.Layout(tmp_path / "node"), progress=lambda _m: None)
    message = str(refused.value)
    assert f"kube-apiserver {cluster.KUBERNETES_VERSION}" in message
    assert "run tools/build/kubernetes" in message
    assert not (tmp_path / "node" / "state.json").exists()


def test_a_local_kubeconfig_pointing_elsewhere_is_refused_before_kubectl_runs(
    local_cluster,
) -> None:
    original = cluster.LOCAL_KUBECONFIG.read_text()
    config = yaml.safe_load(original)
    config["clusters"][0]["cluster"]["server"] = "https://aks-orderdesk-prod.example:443"
    cluster.LOCAL_KUBECONFIG.write_text(yaml.safe_dump(config))
    try:
        refused = invoke("status", "--env", "local")
    finally:
        cluster.publish_kubeconfig()
    assert refused.returncode == 1
    assert "refusing to act on another cluster" in refused.stderr
    assert "kubectl" not in refused.stdout
    assert cluster.LOCAL_KUBECONFIG.read_text() == original


def memory_cgroup(pid: int) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return path
    raise AssertionError(f"pid {pid} has no memory cgroup")


def test_the_node_and_its_pods_live_in_the_sandboxs_own_cgroup(local_cluster) -> None:
    state = cluster.read_state()
    kubelet = yaml.safe_load((layout.NODE_DIR / "kubelet.yaml").read_text())
    assert kubelet["cgroupRoot"] == "/orderdesk-sandbox/cluster"
    in_node = owned.in_namespace("mnt", int(state["mntns_inode"]))
    assert len(in_node) >= len(state["pids"]), in_node
    outside = {pid: memory_cgroup(pid) for pid in in_node if processes.alive(pid)}
    outside = {
        pid: group
        for pid, group in outside.items()
        if not group.startswith("/orderdesk-sandbox/cluster")
    }
    assert outside == {}, "processes of the node outside its cgroup subtree"
    # The pods (CoreDNS, metrics-server) under the kubelet's cgroupRoot.
    memory = next(h.path for h in owned.hierarchies() if "memory" in h.controllers)
    kubepods = memory / layout.CLUSTER_CGROUP / "kubepods"
    pods = [p for p in kubepods.rglob("pod*") if p.is_dir() and p.parent.name != p.name]
    assert len(pods) >= 2, pods
    assert any(procs.read_text().split() for procs in kubepods.rglob("cgroup.procs"))
