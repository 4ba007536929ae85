"""Long-running programs (daemons) this process starts, waits for and stops: written once.

    process = processes.spawn("dockerd", argv, log=root / "dockerd.log")
    processes.write_pidfile(process, root / "dockerd.pid")        # a later invoke call finds it
    processes.wait_ready(process, engine_answers, what="dockerd to answer", timeout=30)
    processes.stop([processes.read_pidfile(root / "dockerd.pid")], grace=30)

What the sandbox's stand-ins (dockerd, the registry, the cluster's components, the throwaway control
plane, the identity provider) share: each runs in a session of its own with its output in a log
file, readiness is polled through ops.core.wait with the process's death and its log's last lines in
the error, and a stop is SIGTERM, a grace period, then SIGKILL.

Only what a start started is ever signalled. A pid names a process only while that process lives:
after a reboot, or once it exits, the kernel hands the number to something else. So a start records
the boot it ran in (/proc/sys/kernel/random/boot_id) and the process's start time (field 22 of
/proc/PID/stat, clock ticks since boot), and a stop signals a recorded pid only while both still
match. Short-lived programs go through ops.core.run instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess  # nosec B404 - the one place a long-running program is started
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.core.wait import NotYet, WaitTimeout, wait_until

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
# After the grace period a stop SIGKILLs; this long it then waits for the kernel to finish.
KILL_WAIT_S = 5.0


class ProcessError(Exception):
    """A daemon exited while starting or never became ready; the message carries its log's end."""


# --- who a pid is ------------------------------------------------------------------------------


def boot_id() -> str:
    return BOOT_ID.read_text().strip()


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (which may hold spaces and parentheses)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat, the process's start in clock ticks since boot; None if gone."""
    fields = _stat_fields(pid)
    # Field 3 (the state) is the first after the name: field 22 is the 20th.
    return int(fields[19]) if fields else None


def _other_threads_live(pid: int) -> bool:
    """True while a thread of pid other than its leader has not exited yet."""
    try:
        threads = [int(entry.name) for entry in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return False
    for thread in threads:
        if thread == pid:
            continue
        with contextlib.suppress(OSError, IndexError):
            state = Path(f"/proc/{pid}/task/{thread}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state not in ("Z", "X"):
                return True
    return False


def alive(pid: int) -> bool:
    """True while pid runs; a zombie (exited, not yet reaped) is reaped if it is ours, and dead.

    A multi-threaded process (etcd, every Go component) whose leader thread has exited shows the
    leader as a zombie while its other threads still exit (one in a disk write may take seconds):
    it still runs, and still holds its cgroup.
    """
    fields = _stat_fields(pid)
    if fields is None:
        return False
    if fields[0] == "Z":
        if _other_threads_live(pid):
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def record(pids: Mapping[str, int]) -> dict[str, Any]:
    """What a start writes beside its pids so a later stop can tell they are still its own."""
    return {
        "boot_id": boot_id(),
        "start_times": {name: start_time(pid) for name, pid in pids.items()},
    }


@dataclass(frozen=True)
class Ownership:
    """The recorded processes sorted by what they are now."""

    ours: dict[str, int]
    # name -> why it is not ours any more (another boot, another process under that pid).
    foreign: dict[str, str]

    @property
    def stale(self) -> bool:
        """Every pid the state names that still exists belongs to something else."""
        return bool(self.foreign) and not self.ours


def ownership(state: Mapping[str, Any]) -> Ownership:
    """Which of the state's pids (as `record` wrote them) are still the processes the start
    recorded; dead ones are left out."""
    pids = {name: int(pid) for name, pid in (state.get("pids") or {}).items()}
    recorded_boot = state.get("boot_id")
    if recorded_boot != boot_id():
        reason = f"recorded in another boot ({recorded_boot or 'no boot ID recorded'})"
        return Ownership(ours={}, foreign=dict.fromkeys(pids, reason))
    starts = state.get("start_times") or {}
    ours, foreign = {}, {}
    for name, pid in pids.items():
        now = start_time(pid)
        if now is None or not alive(pid):
            continue
        if starts.get(name) is None or int(starts[name]) != now:
            foreign[name] = (
                f"pid {pid} is now another process (started at tick {now}, not {starts.get(name)})"
            )
        else:
            ours[name] = pid
    return Ownership(ours=ours, foreign=foreign)


# --- one daemon ---------------------------------------------------------------------------------


def tail(path: Path | None, lines: int = 20) -> str:
    """The last lines of a log, or "(no log)"."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace") if path else ""
    except FileNotFoundError:
        text = ""
    return "\n".join(text.splitlines()[-lines:]) or "(no log)"


@dataclass
class Process:
    """A daemon a start started: its pid with the boot and start time that make it ours."""

    name: str
    pid: int
    started: int | None
    boot: str
    log: Path | None = None
    # Set when this very process started it: its exit code can be read.
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def running(self) -> bool:
        # A child of ours is reaped through its Popen, which keeps its exit code.
        return self.popen.poll() is None if self.popen is not None else alive(self.pid)

    def ours(self) -> bool:
        """Still the process the start started, and running."""
        same = self.boot == boot_id() and start_time(self.pid) == self.started
        return same and self.running()

    def signal(self, sig: int) -> None:
        """Signal it, only while it is still ours."""
        if self.ours():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def wait(self, timeout: float) -> int | None:
        """Wait for it to exit; its exit code when this process started it."""
        if self.popen is not None:
            return self.popen.wait(timeout=timeout)
        wait_gone([self.pid], timeout)
        return None

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log, lines)


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    replace_env: bool = False,
    before_exec: Callable[[], None] | None = None,
) -> Process:
    """Start a daemon in a session of its own (it outlives an invoke call, a terminal's Ctrl-C is
    not its), stdin closed, stdout and stderr appended to `log`; `env` is added to this
    process's environment, or with `replace_env` is the whole of it. `before_exec` runs in the child
    before the program (ops.sandbox.owned.joiner puts it in a cgroup)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        popen = subprocess.Popen(  # noqa: S603  # nosec B603 - an argument list, no shell
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env) if replace_env else {**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=before_exec,  # noqa: PLW1509 - only ever os.open/os.write
        )
    return Process(name, popen.pid, start_time(popen.pid), boot_id(), log, popen)


def write_pidfile(process: Process, path: Path) -> None:
    """`pid start-time boot-id`: what read_pidfile needs to tell the process is still ours."""
    path.write_text(f"{process.pid} {process.started} {process.boot}\n")


def read_pidfile(path: Path, name: str = "", log: Path | None = None) -> Process | None:
    """The process the pid file names, while it is still the one started (else None)."""
    try:
        pid_text, started, boot = path.read_text().split()
        process = Process(name or path.stem, int(pid_text), int(started), boot, log)
    except (FileNotFoundError, ValueError):
        return None
    return process if process.ours() else None


def wait_ready(
    process: Process,
    ready: Callable[[], Any],
    *,
    what: str,
    timeout: float,
    interval: float = 0.2,
    errors: tuple[type[BaseException], ...] = (),
) -> None:
    """Poll `ready` until it is true; a ProcessError with the log's last lines if the process
    exits first or `timeout` passes. `ready` may raise NotYet (or one of `errors`) to say why."""

    def check() -> Any:
        if not process.running():
            code = process.returncode
            raise ProcessError(
                f"{process.name} exited"
                + ("" if code is None else f" with {code}")
                + f" before {what}; last lines of {process.log}:\n{process.log_tail()}"
            )
        return ready()

    try:
        wait_until(check, what=what, timeout=timeout, interval=interval, errors=(NotYet, *errors))
    except WaitTimeout as exc:
        raise ProcessError(f"{exc}; last lines of {process.log}:\n{process.log_tail()}") from None


def signal_all(pids: Iterable[int], sig: int) -> None:
    """Signal pids found by ownership (a cgroup's members, a proven state): no further check."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pids: Sequence[int], timeout: float) -> list[int]:
    """The pids still alive after up to `timeout` seconds."""
    with contextlib.suppress(WaitTimeout):
        wait_until(
            lambda: not any(alive(pid) for pid in pids),
            what="processes to exit",
            timeout=timeout,
            interval=0.1,
        )
    return [pid for pid in pids if alive(pid)]


def _wait_stopped(processes: Sequence[Process], timeout: float) -> list[Process]:
    """The processes still running after up to `timeout` seconds."""
    with contextlib.suppress(WaitTimeout):
        wait_until(
            lambda: not any(process.running() for process in processes),
            what="processes to exit",
            timeout=timeout,
            interval=0.1,
        )
    return [process for process in processes if process.running()]


def stop(processes: Iterable[Process | None], *, grace: float) -> bool:
    """SIGTERM each process still ours, SIGKILL what runs after `grace` seconds; True if any
    was running. A process that is no longer ours (exited, its pid reused) is never signalled."""
    running = [process for process in processes if process is not None and process.ours()]
    for process in running:
        process.signal(signal.SIGTERM)
    stubborn = _wait_stopped(running, grace)
    for process in stubborn:
        process.signal(signal.SIGKILL)
    _wait_stopped(stubborn, KILL_WAIT_S)
    return bool(running)
