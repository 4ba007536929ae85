"""Every nox session in three lanes side by side, then `quality` over all (scripts/test).

- sandbox: image, then deploy (one Kubernetes node, rollouts with their own timeouts), at full
  priority, as it is the longest lane;
- cleanroom: the workflow jobs in stand-ins of their runners, niced. It builds `local` under a
  repository of its own (tests/cleanroom/expect.py), so it never retags the sandbox lane's image;
- other: every other session nox lists, niced.

The sandbox and clean room lanes share the machine's one Docker engine and its registry: this
starts them before the lanes and stops them after (when it started them), since a session's
fixture that started the engine would stop it under the other lane. Plain `nox` runs the same
sessions one after another.

Each lane is its own process group: Ctrl-C reaches every lane as SIGINT (pytest then stops what
its fixtures started), and none outlives this process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess  # nosec B404 - runs this checkout's own nox
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import docker.errors

from ops import sandbox
from ops.core import git

ROOT = Path(__file__).resolve().parent.parent
NOX = ROOT / ".venv" / "bin" / "nox"
SANDBOX_LANE = ("image", "deploy")
CLEANROOM_LANE = ("cleanroom",)
LAST = "quality"


def other_lane(sessions: Sequence[str]) -> list[str]:
    """Every session but the named lanes' and the last: a new session is never left out."""
    return [name for name in sessions if name not in {*SANDBOX_LANE, *CLEANROOM_LANE, LAST}]


def listed_sessions() -> list[str]:
    listed = subprocess.run(  # nosec B603 - fixed argv
        [str(NOX), "--list", "--json"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [entry["session"] for entry in json.loads(listed.stdout)]


def nox_argv(sessions: Sequence[str], *, nice: int = 0) -> list[str]:
    argv = [str(NOX), "--sessions", *sessions]
    return ["nice", "-n", str(nice), *argv] if nice else argv


class Lane:
    """A program (a lane's nox) in its own process group, its lines prefixed with its name."""

    def __init__(self, name: str, argv: Sequence[str]) -> None:
        self.name = name
        # A shell that starts this in the background leaves SIGINT ignored, and an ignored
        # signal stays ignored across exec: the lane's nox would never act on interrupt(). A
        # handler here (not SIG_IGN) is reset to the default in the child.
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        self.process = subprocess.Popen(  # nosec B603 - nox_argv's, or a test's
            list(argv),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.relay = threading.Thread(target=self._relay, daemon=True)
        self.relay.start()

    def _relay(self) -> None:
        assert self.process.stdout is not None  # nosec B101 - set by Popen above
        prefix = f"[{self.name}] ".encode()
        for line in self.process.stdout:
            sys.stdout.buffer.write(prefix + line)
            sys.stdout.buffer.flush()

    def interrupt(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)

    def wait(self) -> int:
        status = self.process.wait()
        self.relay.join()
        return status


def _stop_as_interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def shared_engine() -> Iterator[None]:
    """The sandbox engine and registry up for every lane's whole run; pruned of the run's
    leftovers and stopped after, unless they were already running (a developer's engine is
    theirs to prune: `invoke sandbox.prune`). Where they cannot start (no root, no dockerd),
    the sessions' own fixtures say why and skip (or fail, in CI)."""
    registry = sandbox.local_registry()
    with sandbox.left_as_found(registry) as found:
        url = ""
        try:
            url = sandbox.ensure_engine()
            sandbox.start_registry(registry)
        except sandbox.SandboxError as exc:
            print(f"scripts/test: no shared sandbox engine ({exc})", file=sys.stderr)
        try:
            yield
        finally:
            if url and not found.engine:
                prune(url, registry)


def prune(url: str, registry: sandbox.Registry) -> None:
    """What this run built goes with it: the next run builds its own commit again anyway."""
    try:
        pruned = sandbox.prune_engine(url, registry=registry)
    except (docker.errors.DockerException, git.GitError) as exc:
        print(f"scripts/test: the engine was not pruned ({exc})", file=sys.stderr)
        return
    freed = pruned.freed_bytes / 1e9
    print(f"scripts/test: engine pruned: {pruned.tags} image tags, {freed:.1f} GB freed")


def run_lanes(lanes: Sequence[tuple[str, list[str]]]) -> dict[str, int] | None:
    """Each lane's exit status, or None when interrupted (every lane then stopped as at Ctrl-C)."""
    started = [Lane(name, argv) for name, argv in lanes]
    try:
        return {lane.name: lane.wait() for lane in started}
    except KeyboardInterrupt:
        for lane in started:
            lane.interrupt()
        for lane in started:
            lane.wait()
        return None


def main() -> int:
    if not NOX.is_file():
        print(
            f"scripts/test: {NOX} is missing; run scripts/bootstrap --system first", file=sys.stderr
        )
        return 2
    others = other_lane(listed_sessions())
    # A cancelled CI job sends SIGTERM: the lanes get the same clean stop as at Ctrl-C.
    signal.signal(signal.SIGTERM, _stop_as_interrupted)
    with shared_engine():
        statuses = run_lanes(
            [
                ("sandbox", nox_argv(SANDBOX_LANE)),
                ("cleanroom", nox_argv(CLEANROOM_LANE, nice=10)),
                ("other", nox_argv(others, nice=10)),
            ]
        )
    if statuses is None:
        return 130
    last = subprocess.run([str(NOX), "--sessions", LAST], cwd=ROOT, check=False)  # nosec B603
    statuses[LAST] = last.returncode
    print("scripts/test: " + ", ".join(f"{name} exit {code}" for name, code in statuses.items()))
    return 0 if not any(statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
