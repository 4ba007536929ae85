"""What a sandbox start owns, told apart from everything else on the host: its cgroups.

Its processes are told apart by boot and start time (ops.core.processes). cgroup v1 hierarchies
are global to the host: a name such as `kubepods` or `k8s.io` is also what any other kubelet or
containerd on the machine uses. Every group the sandbox makes sits under
CGROUP_PARENT, a name nothing else uses, one subtree per stand-in (`orderdesk-sandbox/cluster`,
`orderdesk-sandbox/engine`); its processes join that subtree as they start, so whatever they fork
(shims, containers, pods) is found there, and a stop removes that subtree and nothing else.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ops.core.wait import WaitTimeout, wait_until

CGROUP_MOUNT = Path("/sys/fs/cgroup")
MOUNTS = Path("/proc/self/mounts")
CGROUP_PARENT = "orderdesk-sandbox"
# The controllers a v1 kubelet (cgroupfs driver) needs in a hierarchy of their own or shared.
KUBELET_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids")
# How long a stop waits for a killed subtree's groups to empty before it names them as stuck.
REMOVE_TIMEOUT_S = 15.0


class CgroupError(Exception):
    """The host's cgroups do not allow what the sandbox needs; the message says what to do."""


# --- cgroups --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hierarchy:
    path: Path
    controllers: frozenset[str]


def hierarchies(mounts: str | None = None, *, unified: bool = False) -> list[Hierarchy]:
    """The cgroup v1 hierarchies mounted on this host; with `unified`, cgroup2 mounts too.

    The sandbox makes and joins its groups in the v1 hierarchies only; runc in hybrid mode also
    mirrors each container's group in the unified one (/sys/fs/cgroup/unified), so what is
    looked for and removed includes it.
    """
    types = {"cgroup", "cgroup2"} if unified else {"cgroup"}
    found = []
    for line in (MOUNTS.read_text() if mounts is None else mounts).splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] in types:
            options = set(fields[3].split(","))
            found.append(Hierarchy(Path(fields[1]), frozenset(options)))
    return found


def require_v1(mounts: str | None = None) -> None:
    """Refuse a host whose cgroups cannot carry the local cluster, naming what is missing.

    The cluster runs a cgroupfs-driver kubelet and Debian's containerd 1.6 on cgroup v1; on a
    cgroup v2 (unified) host those hierarchies do not exist, and v2 would need the systemd driver
    and a newer containerd, which this sandbox does not set up.
    """
    text = MOUNTS.read_text() if mounts is None else mounts
    present = set().union(*(h.controllers for h in hierarchies(text)))
    missing = [name for name in KUBELET_CONTROLLERS if name not in present]
    if not missing:
        return
    unified = any(
        len(f) >= 3 and f[2] == "cgroup2" and f[1] == str(CGROUP_MOUNT)
        for f in (line.split() for line in text.splitlines())
    )
    host = "this host mounts only cgroup v2 at /sys/fs/cgroup" if unified else "this host"
    raise CgroupError(
        f"{host}: the local cluster needs cgroup v1 hierarchies for {', '.join(missing)} "
        "(its kubelet uses the cgroupfs driver with containerd 1.6); boot the machine with "
        "`systemd.unified_cgroup_hierarchy=0` or run the sandbox on a cgroup v1 host"
    )


def _checked(group: str) -> str:
    """Only groups under the sandbox's own root are ever made, joined or removed."""
    parts = Path(group).parts
    if len(parts) < 2 or parts[0] != CGROUP_PARENT or ".." in parts:
        raise CgroupError(f"{group!r} is not a group under {CGROUP_PARENT}/")
    return group


def directories(group: str, mounts: str | None = None, *, unified: bool = True) -> list[Path]:
    """Where `group` is (or would be) in each hierarchy (v1 only, unless `unified`)."""
    return [h.path / _checked(group) for h in hierarchies(mounts, unified=unified)]


def make(group: str) -> None:
    """Create `group` in every v1 hierarchy (a new cpuset inherits its parent's CPUs and memory
    nodes: an empty one takes no process)."""
    for hierarchy in hierarchies():
        directory = hierarchy.path
        for part in Path(_checked(group)).parts:
            parent, directory = directory, directory / part
            if directory.is_dir():
                continue
            directory.mkdir()
            if "cpuset" in hierarchy.controllers:
                for setting in ("cpuset.cpus", "cpuset.mems"):
                    (directory / setting).write_text((parent / setting).read_text())


def joiner(group: str) -> Callable[[], None]:
    """A subprocess preexec_fn that moves the child into `group` before it runs anything, so
    nothing it forks can start outside it."""
    procs = [str(directory / "cgroup.procs") for directory in directories(group, unified=False)]

    def join() -> None:
        for path in procs:
            descriptor = os.open(path, os.O_WRONLY)
            try:
                os.write(descriptor, b"0")
            finally:
                os.close(descriptor)

    return join


def _subtree(directory: Path) -> list[Path]:
    """directory and every group below it, deepest first."""
    if not directory.is_dir():
        return []
    below = [p for p in directory.rglob("*") if p.is_dir()]
    return [*sorted(below, key=lambda p: len(p.parts), reverse=True), directory]


def present(group: str) -> list[Path]:
    return [d for d in directories(group) if d.is_dir()]


def pids(group: str) -> list[int]:
    """Every process in `group` or below it, in any hierarchy."""
    found: set[int] = set()
    for directory in directories(group):
        for member in _subtree(directory):
            with contextlib.suppress(OSError):
                found.update(int(pid) for pid in (member / "cgroup.procs").read_text().split())
    return sorted(found)


def _remove_once(group: str) -> list[Path]:
    stuck = []
    for directory in directories(group):
        for member in _subtree(directory):
            with contextlib.suppress(OSError):
                member.rmdir()
        if directory.exists():
            stuck.append(directory)
        with contextlib.suppress(OSError):
            directory.parent.rmdir()
    return stuck


def remove(group: str, timeout: float = REMOVE_TIMEOUT_S) -> list[Path]:
    """rmdir `group`'s subtree deepest first in every hierarchy; return those that would not go.

    Called once its processes were killed: a killed process leaves its cgroup only when its last
    thread has exited, which under load can lag the signal, so the removal is retried for up to
    `timeout` seconds. The shared parent goes too once it is empty (another stand-in's subtree
    keeps it)."""
    with contextlib.suppress(WaitTimeout):
        wait_until(
            lambda: not _remove_once(group),
            what=f"cgroup {group} to empty",
            timeout=timeout,
            interval=0.2,
        )
    return _remove_once(group)


def in_namespace(kind: str, inode: int) -> list[int]:
    """The processes whose `kind` namespace (mnt, net) has this inode, this process excepted."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if os.stat(entry / "ns" / kind).st_ino == inode:
                found.append(int(entry.name))
    return found
