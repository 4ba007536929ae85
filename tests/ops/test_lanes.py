"""scripts/test's lanes (testkit/lanes.py): every session runs once, a lane stops cleanly."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.core import git
from ops.core.wait import wait_until
from testkit import lanes
from testkit.support import need


def test_every_session_nox_lists_runs_in_exactly_one_lane_or_last() -> None:
    if not lanes.NOX.is_file():
        need(f"{lanes.NOX} is missing (scripts/bootstrap --dev)")
    listed = lanes.listed_sessions()
    others = lanes.other_lane(listed)
    named = [*lanes.SANDBOX_LANE, *lanes.CLEANROOM_LANE]
    assert set(named) <= set(listed), "a named lane's session is no longer defined"
    assert lanes.LAST in listed
    assert sorted([*named, *others, lanes.LAST]) == sorted(listed)


def test_a_new_session_joins_the_other_lane() -> None:
    listed = ["lint", "image", "deploy", "docs", "quality", "cleanroom"]
    assert lanes.other_lane(listed) == ["lint", "docs"]


def test_lanes_run_side_by_side_and_each_reports_its_status(tmp_path: Path) -> None:
    """The first lane finishes only once the second has started: one after another, it would
    wait out its timeout and fail."""
    mark = tmp_path / "second-started"
    waits_for_second = (
        "import pathlib, sys, time\n"
        "deadline = time.monotonic() + 30\n"
        f"while not pathlib.Path({str(mark)!r}).exists():\n"
        "    if time.monotonic() > deadline: sys.exit(9)\n"
        "    time.sleep(0.05)\n"
    )
    second = f"import pathlib, sys; pathlib.Path({str(mark)!r}).touch(); sys.exit(4)"
    statuses = lanes.run_lanes(
        [
            ("first", [sys.executable, "-c", waits_for_second]),
            ("second", [sys.executable, "-c", second]),
        ]
    )
    assert statuses == {"first": 0, "second": 4}


class FakeSandbox:
    """ops.sandbox's start/stop/running calls, recorded: which of engine and registry run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, engine: bool, registry: bool) -> None:
        self.running = {"engine": engine, "registry": registry}
        self.calls: list[str] = []
        monkeypatch.delenv("DOCKER_HOST", raising=False)
        monkeypatch.setattr(lanes.sandbox, "engine_running", lambda: self.running["engine"])
        monkeypatch.setattr(lanes.sandbox, "registry_running", lambda _r: self.running["registry"])
        monkeypatch.setattr(lanes.sandbox, "ensure_engine", lambda: self._start("engine"))
        monkeypatch.setattr(lanes.sandbox, "prune_engine", self._prune)
        monkeypatch.setattr(lanes.sandbox, "start_registry", lambda _r: self._start("registry"))
        monkeypatch.setattr(lanes.sandbox, "stop_engine", lambda: self._stop("engine"))
        monkeypatch.setattr(lanes.sandbox, "stop_registry", lambda _r: self._stop("registry"))

    def _start(self, name: str) -> str:
        self.calls.append(f"start {name}")
        self.running[name] = True
        return "unix:///fake/docker.sock"

    def _prune(self, url: str, *, registry: object, keep_commit: str) -> lanes.sandbox.Pruned:
        assert self.running["engine"], "pruned a stopped engine"
        self.calls.append(f"prune {url} keeping {keep_commit}")
        return lanes.sandbox.Pruned(tags=0, freed_bytes=0)

    def _stop(self, name: str) -> None:
        self.calls.append(f"stop {name}")
        self.running[name] = False


def test_the_shared_engine_runs_through_every_lane_and_stops_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeSandbox(monkeypatch, engine=False, registry=False)
    with lanes.shared_engine():
        assert fake.running == {"engine": True, "registry": True}
    assert fake.running == {"engine": False, "registry": False}
    head = git.head(short=12)
    assert fake.calls == [
        "start engine",
        "start registry",
        "stop registry",
        f"prune unix:///fake/docker.sock keeping {head}",
        "stop engine",
    ]


def test_an_engine_found_running_is_left_running(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSandbox(monkeypatch, engine=True, registry=False)
    with lanes.shared_engine():
        pass
    assert fake.running == {"engine": True, "registry": False}
    assert not [call for call in fake.calls if call.startswith(("stop engine", "prune"))]


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
