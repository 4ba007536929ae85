"""scripts/test's lanes (testkit/lanes.py): every session runs once, a lane stops cleanly."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.core.wait import wait_until
from testkit import lanes
from testkit.support import need


def test_every_session_nox_lists_runs_in_exactly_one_lane_or_last() -> None:
    if not lanes.NOX.is_file():
        need(f"{lanes.NOX} is missing (scripts/bootstrap --dev)")
    listed = lanes.listed_sessions()
    others = lanes.other_lane(listed)
    assert set(lanes.SANDBOX_LANE) <= set(listed), "a sandbox lane session is no longer defined"
    assert lanes.LAST in listed
    assert sorted([*lanes.SANDBOX_LANE, *others, lanes.LAST]) == sorted(listed)


def test_a_new_session_joins_the_other_lane() -> None:
    assert lanes.other_lane(["lint", "deploy", "docs", "quality", "cleanroom"]) == ["lint", "docs"]


def test_a_lane_s_lines_carry_its_name(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    lane = lanes.Lane("other", [sys.executable, "-c", "print('one'); print('two')"])
    assert lane.wait() == 0
    assert capsysbinary.readouterr().out == b"[other] one\n[other] two\n"


@pytest.fixture(params=["default", "ignored"], ids=["sigint-default", "sigint-ignored"])
def inherited_sigint(request: pytest.FixtureRequest) -> Iterator[None]:
    """SIGINT as this process got it: Python's handler, or ignored (a job a shell started in the
    background, as `nohup ... &` does)."""
    handler = signal.SIG_IGN if request.param == "ignored" else signal.default_int_handler
    previous = signal.signal(signal.SIGINT, handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("inherited_sigint")
def test_an_interrupted_lane_gets_sigint_as_at_ctrl_c(tmp_path: Path) -> None:
    ready, stopped = tmp_path / "ready", tmp_path / "stopped"
    program = (
        "import pathlib, time\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "try:\n"
        "    time.sleep(60)\n"
        "except KeyboardInterrupt:\n"
        f"    pathlib.Path({str(stopped)!r}).touch()\n"
        "    raise SystemExit(3)\n"
    )
    lane = lanes.Lane("sandbox", [sys.executable, "-c", program])
    wait_until(ready.exists, what="the lane's program to start", timeout=30, interval=0.05)
    lane.interrupt()
    assert lane.wait() == 3
    assert stopped.exists(), "the program was killed instead of interrupted"
