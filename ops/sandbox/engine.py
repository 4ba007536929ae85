"""The Docker engine and the image registry: local stand-ins for the cloud's container services.

A Docker engine (Debian's dockerd) on a private socket, and Debian's `docker-registry` on the
address the `local` environment names in infra/env.yaml (127.0.0.1:5000), both kept under the cache
directory so they survive a fresh clone and never touch a system-wide engine. The engine runs with
no bridge and no iptables (the sandbox allows neither): containers use the host or no network.

    invoke sandbox.start     # engine + registry + the image's base stand-ins; again: a no-op
    invoke sandbox.status
    invoke sandbox.env       # `eval "$(invoke sandbox.env)"` points the docker CLI at the engine
    invoke sandbox.prune     # images of other commits, stopped containers, unused build cache
    invoke sandbox.stop      # and unmounts what dockerd left under its directories; again: a no-op

Other areas call `ensure_engine()` / `ensure_registry()` rather than the tasks.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
from invoke import Context, task
from invoke.exceptions import Exit

from ops import envconfig
from ops.core import git, mounts, processes
from ops.core.wait import WaitTimeout, wait_until
from ops.sandbox import owned
from ops.sandbox.stand_ins import BUILD_STAND_IN, RUNTIME_STAND_IN, StandInError, import_stand_in
from ops.toolchain import CACHE_DIR, find

SANDBOX_DIR = CACHE_DIR / "sandbox"
ENGINE_DIR = SANDBOX_DIR / "engine"
REGISTRY_DIR = SANDBOX_DIR / "registry"

ENGINE_START_TIMEOUT_S = 30.0
REGISTRY_START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 30.0
# A SIGKILLed containerd exits in well under a second unless the machine is very busy.
CONTAINERD_EXIT_WAIT_S = 10.0


class SandboxError(Exception):
    """A stand-in could not be started or reached; the message says what to do."""


@dataclass(frozen=True)
class Engine:
    root: Path = ENGINE_DIR
    # dockerd, its containerd, the shims and every container sit in this subtree of the
    # sandbox's own cgroup root (ops/sandbox/owned.py): after a crashed dockerd, stop finds them
    # there. On a cgroup v2 host it stays empty and containers go where dockerd puts them.
    cgroup: str = f"{owned.CGROUP_PARENT}/engine"

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        return self.root / "exec"

    @property
    def pidfile(self) -> Path:
        return self.root / "dockerd.pid"

    @property
    def containerd_pidfile(self) -> Path:
        """Where dockerd records the containerd it starts, and looks for one to reuse."""
        return self.exec_root / "containerd" / "containerd.pid"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"


@dataclass(frozen=True)
class Registry:
    address: str
    root: Path = REGISTRY_DIR

    @property
    def url(self) -> str:
        return f"http://{self.address}/v2/"

    @property
    def config(self) -> Path:
        return self.root / "config.yml"

    @property
    def pidfile(self) -> Path:
        return self.root / "registry.pid"

    @property
    def log(self) -> Path:
        return self.root / "registry.log"


ENGINE = Engine()


def local_registry() -> Registry:
    """The registry of the `local` environment, at the address env.yaml gives it."""
    return Registry(address=envconfig.load("local").registry.login_server)


def _running(pidfile: Path, log: Path) -> processes.Process | None:
    """The server the pid file names, while it is still the one a start here started."""
    return processes.read_pidfile(pidfile, log=log)


def _spawn(
    name: str,
    argv: list[str],
    log: Path,
    pidfile: Path,
    before_exec: Callable[[], None] | None = None,
) -> processes.Process:
    """Start a long-lived server detached from this process (it outlives the invoke call)."""
    process = processes.spawn(name, argv, log=log, before_exec=before_exec)
    processes.write_pidfile(process, pidfile)
    return process


def _stop(pidfile: Path, log: Path) -> bool:
    stopped = processes.stop([_running(pidfile, log)], grace=STOP_TIMEOUT_S)
    pidfile.unlink(missing_ok=True)
    return stopped


# --- engine ---------------------------------------------------------------------------------


def engine_client(url: str | None = None, timeout: int = 120) -> docker.DockerClient:
    return docker.DockerClient(base_url=url or ENGINE.url, timeout=timeout)


def engine_running(engine: Engine = ENGINE) -> bool:
    if not engine.socket.exists():
        return False
    try:
        return bool(engine_client(engine.url, timeout=5).ping())
    except (docker.errors.DockerException, OSError):
        return False


def start_engine(engine: Engine = ENGINE) -> str:
    """Start dockerd on the private socket unless it already answers; return its URL."""
    if engine_running(engine):
        return engine.url
    dockerd = find("dockerd")
    if dockerd is None:
        raise SandboxError(
            "dockerd not found; install Debian's docker.io, containerd and runc "
            "(scripts/bootstrap --system, see tools/apt/image.txt)"
        )
    if os.geteuid() != 0:
        raise SandboxError("the sandbox engine needs root (dockerd); run as root or use sudo")
    if _running(engine.pidfile, engine.log) is None:
        # A killed engine's mounts would otherwise pile up under the new one.
        _unmount_leftovers(engine)
        _forget_dead_containerd(engine)
    engine.data_root.mkdir(parents=True, exist_ok=True)
    engine.exec_root.mkdir(parents=True, exist_ok=True)
    owned.make(engine.cgroup)
    # An empty daemon config of our own, so /etc/docker/daemon.json cannot change this engine.
    daemon_json = engine.root / "daemon.json"
    daemon_json.write_text("{}\n")
    engine.socket.unlink(missing_ok=True)
    process = _spawn(
        "dockerd",
        [
            dockerd,
            f"--config-file={daemon_json}",
            f"--data-root={engine.data_root}",
            f"--exec-root={engine.exec_root}",
            f"--pidfile={engine.root / 'dockerd.self.pid'}",
            f"--host={engine.url}",
            "--storage-driver=overlay2",
            # No bridge, NAT or firewall rules: the sandbox forbids them, and containers here only
            # ever use the host's loopback or no network at all.
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            *([f"--cgroup-parent=/{engine.cgroup}"] if owned.hierarchies() else []),
        ],
        engine.log,
        engine.pidfile,
        owned.joiner(engine.cgroup),
    )
    try:
        _wait_for_engine(engine, process)
    except BaseException:
        # A dockerd that never answered (or a Ctrl-C while waiting) goes with what it made.
        with contextlib.suppress(SandboxError):
            stop_engine(engine)
        raise
    return engine.url


def _wait_for_engine(engine: Engine, process: processes.Process) -> None:
    try:
        processes.wait_ready(
            process,
            lambda: engine_running(engine),
            what="dockerd to answer",
            timeout=ENGINE_START_TIMEOUT_S,
        )
    except processes.ProcessError as exc:
        raise SandboxError(str(exc)) from exc


def _forget_dead_containerd(engine: Engine) -> None:
    """Remove the containerd pidfile a killed dockerd left, if it names a dead or zombie process.

    dockerd reuses the containerd its pidfile names when kill(pid, 0) succeeds, which it also
    does for a zombie: the containerd of a SIGKILLed dockerd dies with it but stays a zombie
    until init reaps it (~1 s here), and a dockerd started meanwhile waits on that corpse's
    socket and gives up after 15 s ("failed to start containerd: timeout"). Without the pidfile
    it starts a containerd of its own at once; waiting for the reaping instead would add that
    second to every restart after a crash, and fail outright under an init that never reaps.

    A containerd still alive is still dying: dockerd starts it with Pdeathsig SIGKILL (moby
    libcontainerd/supervisor/utils_linux.go), and on a loaded machine its exit can take seconds,
    during which dockerd would reuse it and then time out on its socket as above (seen in a cold
    .ci/run). So it is given CONTAINERD_EXIT_WAIT_S to go; one that outlives that is reused.
    """
    pidfile = engine.containerd_pidfile
    with contextlib.suppress(WaitTimeout):
        wait_until(
            lambda: not _containerd_runs(pidfile),
            what="the killed dockerd's containerd to exit",
            timeout=CONTAINERD_EXIT_WAIT_S,
            interval=0.1,
        )
    if not _containerd_runs(pidfile):
        pidfile.unlink(missing_ok=True)


def _containerd_runs(pidfile: Path) -> bool:
    """The pid file (dockerd writes the bare pid) names a live containerd, not a reused pid."""
    try:
        pid = int(pidfile.read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return False
    return comm == "containerd" and processes.alive(pid)


def _unmount_leftovers(engine: Engine) -> list[Path]:
    """Unmount what dockerd left under its data and exec roots (never anything else).

    dockerd keeps the host's network namespace bind-mounted at exec/netns/default once a
    host-network container has run, and does not unmount it when it exits
    (https://github.com/moby/moby/issues/32712); a killed one also leaves its data root's
    bind mount. Either makes `rm -rf` of the cache fail with "Device or resource busy".
    """
    try:
        return mounts.unmount_under([engine.data_root, engine.exec_root])
    except mounts.UnmountError as exc:
        raise SandboxError(f"dockerd's mounts under {engine.root}: {exc}") from exc


def _kill_leftovers(engine: Engine) -> None:
    """SIGKILL what a crashed dockerd left running in its cgroup: containers, their shims, its
    containerd. Called only once no dockerd answers; a live one stops its containers itself."""
    for _ in range(3):
        members = owned.pids(engine.cgroup)
        if not members:
            break
        processes.signal_all(members, signal.SIGKILL)
        processes.wait_gone(members, 5)


def stop_engine(engine: Engine = ENGINE) -> bool:
    """Stop dockerd, then remove what it left: containers a crashed one left running, mounts under
    its directories, its cgroup; True if it was running.

    Safe to repeat: a stopped engine, or one whose mounts are already gone, is a no-op.
    """
    was_running = _stop(engine.pidfile, engine.log)
    if engine_running(engine):
        # Unmounting under a live dockerd would break it.
        raise SandboxError(
            f"a dockerd that {engine.pidfile} does not name still answers on {engine.socket}; "
            "stop that process (`ss -xlp | grep docker.sock` names it), then stop again"
        )
    _kill_leftovers(engine)
    _unmount_leftovers(engine)
    stuck = owned.remove(engine.cgroup)
    if stuck:
        raise SandboxError(
            f"cgroups still in use after stopping the engine: {', '.join(map(str, stuck))}; "
            "`cat <group>/cgroup.procs` names what runs there; kill it and stop again"
        )
    return was_running


# The build stage's apt and uv layers are about 0.5 GB.
BUILD_CACHE_KEPT_BYTES = 2 * 10**9


@dataclass(frozen=True)
class Pruned:
    tags: int
    freed_bytes: int


def prune_engine(url: str, *, registry: Registry, keep_commit: str | None = None) -> Pruned:
    """Free what builds and tests leave in the engine, whose data would otherwise grow by every
    commit built (125 tags and 13 GB here after a week of runs): stopped containers, every tag
    under the local registry's address but those of `keep_commit` (tags begin with the commit:
    ops/image/common.image_tag; what was pushed stays in the registry; default: this checkout's
    HEAD, whose image the next run reuses), then the layers and the build cache no image uses
    beyond the newest BUILD_CACHE_KEPT_BYTES (so the next build of an unchanged uv.lock stays
    warm). The base stand-ins and other names outside the registry stay.

    Raises git.GitError when `keep_commit` is not given and this is no git checkout."""
    keep_commit = keep_commit or git.head(short=12)
    client = engine_client(url, timeout=600)
    before = client.df()
    client.containers.prune()
    removed = 0
    for image in client.images.list():
        for name in image.tags:
            repository, _, tag = name.rpartition(":")
            if repository.startswith(registry.address + "/") and not tag.startswith(keep_commit):
                client.images.remove(name, noprune=False)
                removed += 1
    client.images.prune(filters={"dangling": True})
    client.api.prune_builds(keep_storage=BUILD_CACHE_KEPT_BYTES)
    return Pruned(tags=removed, freed_bytes=_bytes_held(before) - _bytes_held(client.df()))


def _bytes_held(usage: dict[str, Any]) -> int:
    """Image layers plus build cache, from the engine's `docker system df` answer."""
    cache = sum(entry.get("Size", 0) for entry in usage.get("BuildCache") or [])
    return int(usage.get("LayersSize", 0)) + cache


@dataclass(frozen=True)
class Found:
    """Which of the sandbox engine and registry were running before a block that may start them."""

    engine: bool
    registry: bool


@contextlib.contextmanager
def left_as_found(registry: Registry | None = None, engine: Engine = ENGINE) -> Iterator[Found]:
    """Stop after the block whatever of the engine and the registry it started; what was running
    before it (a developer's engine, another run's) keeps running. With $DOCKER_HOST set, the
    engine is somebody else's and is never stopped."""
    registry = registry or local_registry()
    found = Found(
        engine=bool(os.environ.get("DOCKER_HOST")) or engine_running(engine),
        registry=registry_running(registry),
    )
    try:
        yield found
    finally:
        if not found.registry:
            stop_registry(registry)
        if not found.engine:
            stop_engine(engine)


def ensure_engine() -> str:
    """URL of the engine to use: $DOCKER_HOST when set (CI runners, laptops), else the sandbox's."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    return start_engine()


# --- registry -------------------------------------------------------------------------------


def registry_running(registry: Registry) -> bool:
    try:
        with urllib.request.urlopen(registry.url, timeout=3) as response:  # noqa: S310  # nosec B310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def registry_config(registry: Registry) -> str:
    """docker-registry's config: loopback only, no auth, filesystem storage under the cache."""
    storage = registry.root / "storage"
    return json.dumps(
        {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text"},
            "storage": {
                "filesystem": {"rootdirectory": str(storage)},
                "delete": {"enabled": True},
            },
            "http": {
                "addr": registry.address,
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
        },
        indent=2,
    )


def start_registry(registry: Registry | None = None) -> Registry:
    registry = registry or local_registry()
    if registry_running(registry):
        return registry
    binary = find("docker-registry")
    if binary is None:
        raise SandboxError(
            "docker-registry not found; install Debian's docker-registry "
            "(scripts/bootstrap --system, see tools/apt/image.txt)"
        )
    (registry.root / "storage").mkdir(parents=True, exist_ok=True)
    # JSON is YAML: the config needs no YAML writer. The stock /etc config listens on every
    # interface with auth; ours listens on loopback only.
    registry.config.write_text(registry_config(registry) + "\n")
    process = _spawn(
        "docker-registry", [binary, "serve", str(registry.config)], registry.log, registry.pidfile
    )
    try:
        processes.wait_ready(
            process,
            lambda: registry_running(registry),
            what=f"docker-registry to answer on {registry.url}",
            timeout=REGISTRY_START_TIMEOUT_S,
        )
    except processes.ProcessError as exc:
        raise SandboxError(str(exc)) from exc
    return registry


def stop_registry(registry: Registry | None = None) -> bool:
    registry = registry or local_registry()
    return _stop(registry.pidfile, registry.log)


def ensure_registry() -> Registry:
    return start_registry()


# --- tasks ----------------------------------------------------------------------------------


def _exit(exc: Exception) -> Exit:
    return Exit(f"sandbox: {exc}", code=1)


@task
def start(c: Context) -> None:
    """Start the Docker engine and the local registry, and import the image's base stand-ins."""
    try:
        url = start_engine()
        registry = start_registry()
        engine = engine_client(url)
        stand_ins = (BUILD_STAND_IN, RUNTIME_STAND_IN)
        bases = [import_stand_in(engine, stand_in) for stand_in in stand_ins]
    except (SandboxError, StandInError, envconfig.EnvConfigError) as exc:
        raise _exit(exc) from exc
    print(f"engine:     {url}")
    print(f"registry:   {registry.url}")
    print(f"base images: {', '.join(bases)}")


@task
def stop(c: Context) -> None:
    """Stop the local registry and the Docker engine (running containers are stopped too)."""
    try:
        stopped_registry = stop_registry()
        stopped_engine = stop_engine()
    except (SandboxError, envconfig.EnvConfigError) as exc:
        raise _exit(exc) from exc
    print(f"registry: {'stopped' if stopped_registry else 'was not running'}")
    print(f"engine:   {'stopped' if stopped_engine else 'was not running'}")


@task
def prune(c: Context) -> None:
    """Remove the engine's images of other commits, stopped containers and unused build cache."""
    if not engine_running():
        raise Exit("sandbox: the engine is not running; nothing to prune (invoke sandbox.start)")
    try:
        pruned = prune_engine(ENGINE.url, registry=local_registry())
    except (git.GitError, envconfig.EnvConfigError) as exc:
        raise _exit(exc) from exc
    except docker.errors.APIError as exc:
        raise Exit(f"sandbox: the engine refused to prune ({exc.explanation or exc})", 1) from exc
    print(f"pruned {pruned.tags} image tags, {pruned.freed_bytes / 1e9:.1f} GB freed")


@task
def status(c: Context) -> None:
    """Show whether the engine, the registry and the image's base stand-ins are there."""
    try:
        registry = local_registry()
    except envconfig.EnvConfigError as exc:
        raise _exit(exc) from exc
    engine_up = engine_running()
    print(f"engine:     {'running at ' + ENGINE.url if engine_up else 'stopped'}")
    print(
        f"registry:   {'running at ' + registry.url if registry_running(registry) else 'stopped'}"
    )
    for stand_in in (BUILD_STAND_IN, RUNTIME_STAND_IN):
        if engine_up:
            try:
                engine_client().images.get(stand_in.image)
                print(f"base image: {stand_in.image}")
            except docker.errors.ImageNotFound:
                print(f"base image: {stand_in.image} not imported (invoke sandbox.start)")
        else:
            built = "cached" if stand_in.tarball.is_file() else "not built"
            print(f"base image: {stand_in.image} tarball {built}")


@task
def env(c: Context) -> None:
    """Print `export DOCKER_HOST=...` for the sandbox engine (use with eval)."""
    print(f"export DOCKER_HOST={ENGINE.url}")
