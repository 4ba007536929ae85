"""A start stopped at any step (an error, Ctrl-C) leaves nothing: no process, mount, cgroup or
network namespace, and no state that a later start would take for a running cluster.

Each case starts a cluster of its own (a temporary directory, a cgroup subtree of its own) and
breaks it right after one real step has run. Run under `flock /tmp/orderdesk-sandbox.lock`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ops.core import processes
from ops.sandbox import cluster, layout, owned
from ops.sandbox.node import Node
from testkit.cluster import require_cluster_build

pytestmark = pytest.mark.slow

# start()'s steps in order: the Node method that runs each (the cgroup step is owned.make).
STEPS = {
    "cgroup": None,
    "namespace": "namespace",
    "bridge": "bridge",
    "etcd": "etcd",
    "kube-apiserver": "apiserver",
    "controllers": "controllers",
    "containerd": "containerd",
    "kubelet": "kubelet",
    "addons": "addons",
}


def mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve())
    targets = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [t for t in targets if t == prefix or t.startswith(prefix + "/")]


def break_after(
    monkeypatch: pytest.MonkeyPatch, step: str, error: BaseException, seen: dict[str, Any]
) -> None:
    """Run the real step, note what the start had made by then, then raise `error`."""
    method = STEPS[step]
    if method is None:
        real_make = owned.make

        def make_then_fail(group: str) -> None:
            real_make(group)
            seen["cgroups"] = owned.present(group)
            raise error

        monkeypatch.setattr(owned, "make", make_then_fail)
        return
    real: Callable[..., None] = getattr(Node, method)

    def run_then_fail(self: Node, *args: Any) -> None:
        real(self, *args)
        seen["state"] = {**self.state, "pids": dict(self.state["pids"])}
        seen["cgroups"] = owned.present(self.layout.cgroup)
        raise error

    monkeypatch.setattr(Node, method, run_then_fail)


@pytest.fixture
def own_layout(tmp_path: Path) -> layout.Layout:
    require_cluster_build()
    return layout.Layout(tmp_path / "node", cgroup=f"{owned.CGROUP_PARENT}/test-{uuid.uuid4().hex}")


def assert_nothing_left(own: layout.Layout, seen: dict[str, Any]) -> None:
    state = seen.get("state") or {}
    pids = [int(pid) for pid in (state.get("pids") or {}).values()]
    assert not [pid for pid in pids if processes.alive(pid)], "a process of the start still runs"
    assert owned.pids(own.cgroup) == []
    assert owned.present(own.cgroup) == [], "the start's cgroups are still there"
    assert mounts_under(own.root) == []
    for kind in ("net", "mnt"):
        inode = state.get(f"{kind}ns_inode")
        if inode is not None:
            assert owned.in_namespace(kind, int(inode)) == [], f"the node's {kind} namespace lives"
    assert cluster.read_state(own) == {}
    assert not cluster.running(own)
    assert cluster.stale_state(own) == []


@pytest.mark.parametrize("step", list(STEPS))
def test_ctrl_c_at_any_step_leaves_nothing(
    own_layout: layout.Layout, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    seen: dict[str, Any] = {}
    break_after(monkeypatch, step, KeyboardInterrupt(), seen)
    said: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        cluster.start(own_layout, progress=said.append)
    # The step ran and had made something before the interruption: something was cleaned up.
    assert seen["cgroups"], f"nothing was made by {step}: nothing here is tested"
    if step != "cgroup":
        assert seen["state"]["pids"], f"no process was running at {step}"
    assert f"cluster: start interrupted at {step}; stopping what this start made" in said
    assert_nothing_left(own_layout, seen)


def test_an_error_at_a_step_names_it_and_leaves_nothing(
    own_layout: layout.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    break_after(monkeypatch, "etcd", OSError(28, "No space left on device"), seen)
    with pytest.raises(cluster.ClusterError, match=r"starting the cluster failed at etcd: .*space"):
        cluster.start(own_layout, progress=lambda _m: None)
    assert seen["state"]["pids"]["etcd"]
    assert_nothing_left(own_layout, seen)
