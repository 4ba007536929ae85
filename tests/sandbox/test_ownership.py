"""Stop kills only what start started: real processes, real cgroups, no cluster build needed.

Each test uses a layout of its own (a temporary directory and a cgroup subtree named for the
test), so the machine's cluster is never touched. Run under `flock /tmp/orderdesk-sandbox.lock`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.core import processes
from ops.core.state import write_json
from ops.sandbox import cluster, layout, owned
from testkit.support import need, need_tool

V1_MOUNTS = """\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/cpuset cgroup rw,nosuid,nodev,noexec,relatime,cpuset 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,nodev,noexec,relatime,pids 0 0
"""
# What a systemd host booted with the unified hierarchy (every current distribution) mounts.
V2_MOUNTS = """\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0
"""


def quiet(_message: str) -> None:
    pass


@pytest.fixture
def own_layout(tmp_path: Path) -> Iterator[layout.Layout]:
    """A layout whose cgroup subtree no other test or cluster uses, removed whatever happens."""
    if os.geteuid() != 0:
        need("the sandbox's ownership checks make cgroups and namespaces (root)")
    if not owned.hierarchies():
        need("cgroup v1 hierarchies (the local cluster's host)")
    own = layout.Layout(tmp_path / "node", cgroup=f"{owned.CGROUP_PARENT}/test-{uuid.uuid4().hex}")
    own.root.mkdir()
    try:
        yield own
    finally:
        for pid in owned.pids(own.cgroup):
            os.kill(pid, signal.SIGKILL)
        for directory in owned.present(own.cgroup):
            for member in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if member.is_dir():
                    member.rmdir()
            directory.rmdir()


@pytest.fixture
def bystanders() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes this test starts outside any sandbox cgroup: stop must leave them running."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait(timeout=10)


def bystander(started: list[subprocess.Popen[bytes]], *argv: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([*argv, "sleep", "300"])
    started.append(process)
    # unshare has made its namespace once it has become sleep.
    for _ in range(100):
        if Path(f"/proc/{process.pid}/comm").read_text().strip() == "sleep":
            break
        subprocess.run(["sleep", "0.05"], check=True)
    return process


def write_recorded_state(
    own_layout: layout.Layout, pids: dict[str, int], boot: str, ticks_earlier: int
) -> None:
    """A complete start's state naming `pids`, recorded in `boot` by processes that started
    `ticks_earlier` clock ticks before the ones holding those pids now; its namespaces are those
    of the `namespace` pid."""
    holder = pids["namespace"]
    write_json(
        own_layout.state_file,
        {
            "pids": pids,
            "boot_id": boot,
            "start_times": {
                name: int(processes.start_time(pid) or 0) - ticks_earlier
                for name, pid in pids.items()
            },
            "netns_inode": os.stat(f"/proc/{holder}/ns/net").st_ino,
            "mntns_inode": os.stat(f"/proc/{holder}/ns/mnt").st_ino,
            "complete": True,
        },
    )


def test_state_from_another_boot_kills_nothing_and_is_cleared(
    own_layout: layout.Layout, bystanders: list[subprocess.Popen[bytes]]
) -> None:
    need_tool("unshare", "a bystander in a network namespace of its own")
    holder = bystander(bystanders, "unshare", "--net")
    etcd = bystander(bystanders)
    pids = {"namespace": holder.pid, "etcd": etcd.pid}
    # A state written before a reboot: the same pids, its namespace inode now the bystander's.
    write_recorded_state(own_layout, pids, boot=str(uuid.uuid4()), ticks_earlier=0)
    assert not cluster.running(own_layout)
    said: list[str] = []

    assert cluster.stop(own_layout, progress=said.append) is False

    assert holder.poll() is None, "stop killed a process it did not start"
    assert etcd.poll() is None, "stop killed a process it did not start"
    assert not own_layout.state_file.exists()
    [message] = said
    assert "stale state" in message
    assert "recorded in another boot" in message
    assert "nothing it names was killed; the state is cleared" in message


def test_pids_that_now_belong_to_other_processes_are_not_killed(
    own_layout: layout.Layout, bystanders: list[subprocess.Popen[bytes]]
) -> None:
    need_tool("unshare", "a bystander in a network namespace of its own")
    holder = bystander(bystanders, "unshare", "--net")
    kubelet = bystander(bystanders)
    pids = {"namespace": holder.pid, "kubelet": kubelet.pid}
    # This boot, but the processes the start recorded exited and their pids were handed on: the
    # recorded start times are those of the earlier processes.
    write_recorded_state(own_layout, pids, boot=processes.boot_id(), ticks_earlier=1)
    assert cluster.stale_state(own_layout) == [
        f"{own_layout.state_file} of a run that did not stop"
    ]
    said: list[str] = []

    cluster.stop(own_layout, progress=said.append)

    assert holder.poll() is None, "stop killed a process it did not start"
    assert kubelet.poll() is None, "stop killed a process it did not start"
    assert not own_layout.state_file.exists()
    assert any("is now another process" in m and "nothing it names was killed" in m for m in said)


def test_stop_kills_what_start_started_and_what_that_forked_but_not_a_reused_pid(
    own_layout: layout.Layout, bystanders: list[subprocess.Popen[bytes]]
) -> None:
    owned.make(own_layout.cgroup)
    # Started as start starts a component: joined to the cluster's cgroup before it runs. Its
    # child (as containerd's shims are) is recorded nowhere but found in the cgroup.
    component = layout.spawn(own_layout, "etcd", ["sh", "-c", "sleep 300 & wait"]).pid
    reused = bystander(bystanders)
    layout._write_state(own_layout, {"pids": {"etcd": component, "kube-scheduler": reused.pid}})
    state = layout.read_state(own_layout)
    state["start_times"]["kube-scheduler"] -= 1
    write_json(own_layout.state_file, state)
    members = owned.pids(own_layout.cgroup)
    assert component in members
    assert len(members) == 2, members
    said: list[str] = []

    assert cluster.stop(own_layout, progress=said.append) is True

    assert not any(processes.alive(pid) for pid in members)
    assert reused.poll() is None
    assert owned.present(own_layout.cgroup) == []
    assert any("kube-scheduler" in m and "is now another process" in m for m in said), said


# The main thread leaves (pthread_exit) while another thread runs on for 3 s: the shape of a
# killed Go component or etcd whose leader thread has exited before a thread stuck in a write.
LEADER_GONE_THREAD_RUNS = (
    "import ctypes, threading, time\n"
    "threading.Thread(target=time.sleep, args=(3,)).start()\n"
    "ctypes.CDLL(None).pthread_exit(None)\n"
)


def test_a_process_whose_leader_thread_exited_runs_until_its_last_thread_and_holds_its_cgroup(
    own_layout: layout.Layout,
) -> None:
    owned.make(own_layout.cgroup)
    pid = layout.spawn(own_layout, "etcd", [sys.executable, "-c", LEADER_GONE_THREAD_RUNS]).pid
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the leader thread never exited"
        time.sleep(0.05)

    # /proc shows the leader as a zombie, yet a thread runs: alive, and still in the cgroup.
    assert processes.alive(pid)
    assert owned.pids(own_layout.cgroup) == [pid]
    assert owned.remove(own_layout.cgroup, timeout=0.2), "a group with a live thread went"

    # Removal waits (bounded) for the group to empty instead of calling it stuck at once.
    assert owned.remove(own_layout.cgroup, timeout=15) == []
    assert not processes.alive(pid)
    assert owned.present(own_layout.cgroup) == []


def test_the_cluster_and_engine_cgroups_are_the_sandboxs_own() -> None:
    from ops.sandbox import engine

    for group in (layout.Layout().cgroup, engine.Engine().cgroup):
        assert Path(group).parts[0] == "orderdesk-sandbox", group
    assert layout.Layout().cgroup != engine.Engine().cgroup
    # Names any other kubelet or containerd on the host uses are refused outright.
    for foreign in ("kubepods", "k8s.io", "orderdesk-sandbox", "orderdesk-sandbox/../kubepods"):
        with pytest.raises(owned.CgroupError, match="not a group under orderdesk-sandbox/"):
            owned.directories(foreign, V1_MOUNTS)


def test_a_cgroup_v2_host_is_refused_naming_what_is_missing() -> None:
    with pytest.raises(owned.CgroupError) as refused:
        owned.require_v1(V2_MOUNTS)
    message = str(refused.value)
    assert "only cgroup v2" in message
    assert "cgroup v1 hierarchies for cpu, cpuacct, cpuset, memory, pids" in message
    assert "systemd.unified_cgroup_hierarchy=0" in message
    owned.require_v1(V1_MOUNTS)
    without_pids = V1_MOUNTS.replace(
        "cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,nodev,noexec,relatime,pids 0 0\n", ""
    )
    with pytest.raises(owned.CgroupError, match="v1 hierarchies for pids "):
        owned.require_v1(without_pids)
    assert [h.path for h in owned.hierarchies(V2_MOUNTS)] == []


def test_cluster_start_on_a_cgroup_v2_host_stops_before_anything_starts(
    own_layout: layout.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster, "binaries", lambda: {})
    monkeypatch.setattr(owned, "MOUNTS", own_layout.root / "mounts")
    (own_layout.root / "mounts").write_text(V2_MOUNTS)
    with pytest.raises(cluster.ClusterError, match="needs cgroup v1 hierarchies for cpu"):
        cluster.start(own_layout, progress=quiet)
    assert not own_layout.state_file.exists()
    assert not (own_layout.root / "api-port").exists()
