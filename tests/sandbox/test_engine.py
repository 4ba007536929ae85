"""The sandbox's Docker engine stops without leaving a mount behind, on a private dockerd.

Each test runs its own dockerd in a fresh temporary directory: the shared engine (the one
`invoke sandbox.start` runs under the cache) is never started or stopped here.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest

from ops.core import git, processes
from ops.core.wait import wait_until
from ops.sandbox import (
    Engine,
    Registry,
    SandboxError,
    engine_client,
    owned,
    prune_engine,
    start_engine,
    stop_engine,
)
from ops.sandbox import engine as engine_module
from ops.sandbox.engine import _forget_dead_containerd
from testkit.support import need, need_tool

pytestmark = pytest.mark.slow


def mounted_under(root: Path) -> list[str]:
    """Mount points at or below `root`, read straight from the kernel's table."""
    prefix = str(root.resolve())
    targets = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [target for target in targets if target == prefix or target.startswith(prefix + "/")]


@pytest.fixture
def private_engine() -> Iterator[Engine]:
    if os.geteuid() != 0:
        need("the sandbox engine needs root (dockerd)")
    for tool in ("dockerd", "containerd", "runc"):
        need_tool(tool, "the engine tests start a private dockerd")
    # Under /tmp with a short name: dockerd's socket path must fit a unix socket (108 bytes).
    # A cgroup subtree of its own: the machine's engine keeps its containers.
    engine = Engine(
        root=Path(tempfile.mkdtemp(prefix="orderdesk-engine-")),
        cgroup=f"{owned.CGROUP_PARENT}/engine-test-{uuid.uuid4().hex[:12]}",
    )
    try:
        yield engine
    finally:
        # Whatever a failing test left: its dockerd, then (independently of the code under
        # test) its mounts, so the directory goes and nothing piles up on the machine.
        try:
            stop_engine(engine)
        finally:
            for target in reversed(mounted_under(engine.root)):
                subprocess.run(["umount", "--lazy", target], check=False)
            shutil.rmtree(engine.root, ignore_errors=True)
            for pid in owned.pids(engine.cgroup):
                os.kill(pid, signal.SIGKILL)
            owned.remove(engine.cgroup)


def run_on_the_host_network(engine: Engine) -> None:
    """Start a container on the host's network: dockerd then bind-mounts the host's network
    namespace at exec/netns/default and keeps it for its lifetime (moby/moby#32712).

    The image is one empty file, so the start fails at exec, after the network is set up."""
    client = engine_client(engine.url, timeout=60)
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        tar.addfile(tarfile.TarInfo("empty"), io.BytesIO(b""))
    client.api.import_image_from_data(layer.getvalue(), repository="orderdesk-test/empty", tag="1")
    container = client.containers.create(
        "orderdesk-test/empty:1", command=["/no-such-program"], network_mode="host"
    )
    with pytest.raises(docker.errors.APIError, match="no-such-program"):
        container.start()


def test_stop_unmounts_what_dockerd_left_and_the_directory_can_be_removed(
    private_engine: Engine,
) -> None:
    netns = str(private_engine.exec_root.resolve() / "netns" / "default")
    for cycle in (1, 2):
        start_engine(private_engine)
        run_on_the_host_network(private_engine)
        # The leak this guards against: dockerd does not unmount it when it exits.
        assert mounted_under(private_engine.root).count(netns) == 1, (cycle, netns)

        assert stop_engine(private_engine) is True
        assert mounted_under(private_engine.root) == [], f"left mounted after stop {cycle}"

    # A stopped engine, its mounts already gone: stopping again is a no-op.
    assert stop_engine(private_engine) is False
    shutil.rmtree(private_engine.root)
    assert not private_engine.root.exists()


def containerd_pid(engine: Engine) -> int:
    """The containerd that the engine's dockerd started, as dockerd's own pidfile names it."""
    return int(engine.containerd_pidfile.read_text())


def kill_dockerd(engine: Engine) -> None:
    """SIGKILL dockerd, as a crash would; the containerd it started dies with it.

    Nothing waits for init to reap that containerd: start_engine must cope with its zombie."""
    pid = int(engine.pidfile.read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    # Our own child: reaped here, unless subprocess's housekeeping already did.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def test_stop_after_dockerd_was_killed_unmounts_what_it_left(private_engine: Engine) -> None:
    start_engine(private_engine)
    run_on_the_host_network(private_engine)
    kill_dockerd(private_engine)
    left_by_the_killed_engine = mounted_under(private_engine.root)
    assert left_by_the_killed_engine, "a killed dockerd left no mount: nothing here is tested"

    assert stop_engine(private_engine) is False
    assert mounted_under(private_engine.root) == []
    shutil.rmtree(private_engine.root)


def test_start_after_dockerd_was_killed_clears_what_it_left(private_engine: Engine) -> None:
    netns = str(private_engine.exec_root.resolve() / "netns" / "default")
    start_engine(private_engine)
    run_on_the_host_network(private_engine)
    kill_dockerd(private_engine)
    assert netns in mounted_under(private_engine.root)

    start_engine(private_engine)
    # dockerd mounts it again only for the next host-network container.
    assert netns not in mounted_under(private_engine.root)


def test_start_right_after_dockerd_was_killed_answers(private_engine: Engine) -> None:
    start_engine(private_engine)
    containerd = containerd_pid(private_engine)
    kill_dockerd(private_engine)
    # The case under test: dockerd's containerd is killed but not yet reaped by init (~1 s
    # here), so its pid still names a zombie when the next dockerd looks.
    stat = Path(f"/proc/{containerd}/stat")
    assert stat.exists(), f"containerd (pid {containerd}) already reaped: nothing here is tested"

    start_engine(private_engine)
    assert engine_client(private_engine.url, timeout=5).ping()
    assert containerd_pid(private_engine) != containerd


def test_stop_refuses_to_unmount_under_a_dockerd_its_pidfile_does_not_name(
    private_engine: Engine,
) -> None:
    start_engine(private_engine)
    run_on_the_host_network(private_engine)
    pidfile = private_engine.pidfile.read_text()
    private_engine.pidfile.unlink()
    try:
        with pytest.raises(SandboxError, match="still answers"):
            stop_engine(private_engine)
        assert mounted_under(private_engine.root), "unmounted under a running dockerd"
    finally:
        private_engine.pidfile.write_text(pidfile)


SLEEPER_C = textwrap.dedent(
    """
    #include <unistd.h>
    int main(void) { for (;;) pause(); }
    """
)


def run_a_container_that_keeps_running(engine: Engine, workdir: Path) -> str:
    """A detached container whose process runs until killed (a static binary, no base image:
    none can be pulled here). Returns its id."""
    gcc = need_tool("gcc", "a static program for the container")
    source = workdir / "sleeper.c"
    source.write_text(SLEEPER_C)
    binary = workdir / "sleeper"
    subprocess.run([gcc, "-static", "-O2", "-o", str(binary), str(source)], check=True)
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        tar.add(binary, arcname="sleeper")
    client = engine_client(engine.url, timeout=60)
    client.api.import_image_from_data(
        layer.getvalue(), repository="orderdesk-test/sleeper", tag="1"
    )
    container = client.containers.run(
        "orderdesk-test/sleeper:1", command=["/sleeper"], network_mode="none", detach=True
    )
    return str(container.id)


def test_stop_after_dockerd_crashed_removes_its_running_containers(
    private_engine: Engine, tmp_path: Path
) -> None:
    start_engine(private_engine)
    container = run_a_container_that_keeps_running(private_engine, tmp_path)
    in_engine_cgroup = owned.pids(private_engine.cgroup)
    # dockerd, its containerd, the container's shim and the container's own process.
    sleepers = [
        pid
        for pid in in_engine_cgroup
        if Path(f"/proc/{pid}/comm").read_text().strip() == "sleeper"
    ]
    assert len(sleepers) == 1, (in_engine_cgroup, container)
    kill_dockerd(private_engine)
    # What a crash leaves: the shim and the container run on without any dockerd.
    survivors = [pid for pid in owned.pids(private_engine.cgroup) if processes.alive(pid)]
    assert sleepers[0] in survivors
    assert any(
        "containerd-shim" in Path(f"/proc/{pid}/cmdline").read_text() for pid in survivors
    ), survivors
    rootfs = [m for m in mounted_under(private_engine.root) if m.endswith("/merged")]
    assert rootfs, "the running container's root filesystem is not mounted: nothing is tested"

    assert stop_engine(private_engine) is False

    assert not any(processes.alive(pid) for pid in survivors)
    assert mounted_under(private_engine.root) == []
    assert owned.present(private_engine.cgroup) == []
    shutil.rmtree(private_engine.root)


def test_a_pidfile_naming_another_process_is_not_stopped(private_engine: Engine) -> None:
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        started = processes.start_time(bystander.pid)
        # The same pid after a reboot, or once dockerd exited and its pid was handed on.
        for boot, start in (
            (str(uuid.uuid4()), started),
            (processes.boot_id(), int(started or 0) - 1),
        ):
            private_engine.root.mkdir(parents=True, exist_ok=True)
            private_engine.pidfile.write_text(f"{bystander.pid} {start} {boot}\n")
            assert stop_engine(private_engine) is False
            assert bystander.poll() is None, "stop killed a process the engine did not start"
            assert not private_engine.pidfile.exists()
    finally:
        bystander.kill()
        bystander.wait(timeout=10)


def test_a_start_interrupted_while_dockerd_comes_up_leaves_nothing(
    private_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ops.sandbox import engine as engine_module

    started: list[int] = []
    real_wait = engine_module._wait_for_engine

    def interrupted(engine: Engine, process: processes.Process) -> None:
        # dockerd answers, its containerd runs: there is something to undo
        real_wait(engine, process)
        started.extend(owned.pids(engine.cgroup))
        raise KeyboardInterrupt

    monkeypatch.setattr(engine_module, "_wait_for_engine", interrupted)
    with pytest.raises(KeyboardInterrupt):
        start_engine(private_engine)
    assert len(started) >= 2, started  # dockerd and its containerd
    assert not any(processes.alive(pid) for pid in started)
    assert owned.present(private_engine.cgroup) == []
    assert not private_engine.pidfile.exists()
    assert mounted_under(private_engine.root) == []


def import_one_file_image(engine: Engine, name: str, size: int) -> None:
    """An image of one file of `size` random bytes (so each has a layer of its own), as `name`."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("data")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    repository, tag = name.rsplit(":", 1)
    engine_client(engine.url).api.import_image_from_data(
        layer.getvalue(), repository=repository, tag=tag
    )


def test_prune_keeps_head_s_images_and_what_is_not_the_registry_s(private_engine: Engine) -> None:
    registry = Registry(address="127.0.0.1:5000")
    old, kept = "oldcommit000", git.head(short=12)
    start_engine(private_engine)
    client = engine_client(private_engine.url)
    import_one_file_image(private_engine, f"127.0.0.1:5000/orderdesk:{old}-local", 2_000_000)
    import_one_file_image(private_engine, f"127.0.0.1:5000/sc-1a2b3c4d:{old}-local", 1_000_000)
    import_one_file_image(private_engine, f"127.0.0.1:5000/orderdesk:{kept}-local", 1_000)
    import_one_file_image(private_engine, "orderdesk-build:trixie", 1_000)
    # A stopped container would keep its image: prune takes it first.
    client.containers.create(f"127.0.0.1:5000/orderdesk:{old}-local", command=["/data"])

    pruned = prune_engine(private_engine.url, registry=registry)

    tags = sorted(tag for image in client.images.list() for tag in image.tags)
    assert tags == [f"127.0.0.1:5000/orderdesk:{kept}-local", "orderdesk-build:trixie"]
    assert client.containers.list(all=True) == []
    assert pruned.tags == 2
    assert pruned.freed_bytes >= 3_000_000


def a_containerd(tmp_path: Path, seconds: int) -> subprocess.Popen[bytes]:
    """A process /proc calls "containerd" (a copy of sleep) that exits after `seconds`."""
    program = tmp_path / "containerd"
    sleep = shutil.which("sleep")
    assert sleep is not None
    shutil.copy(sleep, program)
    started = subprocess.Popen([str(program), str(seconds)])
    # Popen can return while the child is still this Python (seen when a thread had run): as
    # dockerd writes the pid file only once containerd runs, wait for the name.
    comm = Path(f"/proc/{started.pid}/comm")
    wait_until(
        lambda: comm.read_text().strip() == "containerd", what="the exec", timeout=10, interval=0.01
    )
    return started


def test_a_dying_containerd_is_waited_for_then_forgotten(tmp_path: Path) -> None:
    """The killed dockerd's containerd, still exiting when the next start looks (a loaded
    machine): reusing it would time dockerd out on its socket."""
    engine = Engine(root=tmp_path / "engine")
    engine.containerd_pidfile.parent.mkdir(parents=True)
    dying = a_containerd(tmp_path, 2)
    engine.containerd_pidfile.write_text(str(dying.pid))
    # Reaped as init would, so it stops counting as alive once it exits.
    threading.Thread(target=dying.wait, daemon=True).start()

    _forget_dead_containerd(engine)

    assert dying.poll() is not None, "returned while it still ran"
    assert not engine.containerd_pidfile.exists()


def test_a_containerd_that_outlives_the_wait_is_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "CONTAINERD_EXIT_WAIT_S", 0.5)
    engine = Engine(root=tmp_path / "engine")
    engine.containerd_pidfile.parent.mkdir(parents=True)
    live = a_containerd(tmp_path, 300)
    try:
        engine.containerd_pidfile.write_text(str(live.pid))
        _forget_dead_containerd(engine)
        assert engine.containerd_pidfile.read_text() == str(live.pid)
    finally:
        live.kill()
        live.wait()
