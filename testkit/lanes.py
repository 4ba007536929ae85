"""Every nox session in two lanes side by side, then `quality` over both (scripts/test).

The sandbox lane runs image, deploy and cleanroom one after another: they share the machine's
one Docker engine (its `local` image tag among them) and its one Kubernetes node. The other lane
runs every other session nox lists, niced, as the sandbox lane is the longer one. Plain `nox`
runs the same sessions one after another.

Each lane is its own process group: Ctrl-C reaches both as SIGINT (pytest then stops what its
fixtures started), and neither outlives this process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess  # nosec B404 - runs this checkout's own nox
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOX = ROOT / ".venv" / "bin" / "nox"
SANDBOX_LANE = ("image", "deploy", "cleanroom")
LAST = "quality"


def other_lane(sessions: Sequence[str]) -> list[str]:
    """Every session but the sandbox lane's and the last: a new session is never left out."""
    return [name for name in sessions if name not in {*SANDBOX_LANE, LAST}]


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


def main() -> int:
    if not NOX.is_file():
        print(
            f"scripts/test: {NOX} is missing; run scripts/bootstrap --system first", file=sys.stderr
        )
        return 2
    others = other_lane(listed_sessions())
    # A cancelled CI job sends SIGTERM: the lanes get the same clean stop as at Ctrl-C.
    signal.signal(signal.SIGTERM, _stop_as_interrupted)
    lanes = [Lane("sandbox", nox_argv(SANDBOX_LANE)), Lane("other", nox_argv(others, nice=10))]
    try:
        statuses = {lane.name: lane.wait() for lane in lanes}
    except KeyboardInterrupt:
        for lane in lanes:
            lane.interrupt()
        for lane in lanes:
            lane.wait()
        return 130
    last = subprocess.run([str(NOX), "--sessions", LAST], cwd=ROOT, check=False)  # nosec B603
    statuses[LAST] = last.returncode
    print("scripts/test: " + ", ".join(f"{name} exit {code}" for name, code in statuses.items()))
    return 0 if not any(statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
