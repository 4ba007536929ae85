"""scripts/test's lanes (testkit/lanes.py): every session runs once, a lane stops cleanly."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.core.wait import wait_until
from ops.sandbox import engine as engine_module
from testkit import lanes
from testkit.support import need


@pytest.fixture
def project_nox() -> Path:
    """The project's own nox, which scripts/test's lanes run."""
    if not lanes.NOX.is_file():
        need(f"{lanes.NOX} is missing (scripts/bootstrap --dev)")
    return lanes.NOX


@pytest.mark.usefixtures("project_nox")
def test_every_session_nox_lists_runs_in_exactly_one_lane_or_last() -> None:
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
        # What sandbox.left_as_found calls in its own module, then what lanes calls.
        monkeypatch.setattr(engine_module, "engine_running", lambda _e: self.running["engine"])
        monkeypatch.setattr(engine_module, "registry_running", lambda _r: self.running["registry"])
        monkeypatch.setattr(engine_module, "stop_engine", lambda _e: self._stop("engine"))
        monkeypatch.setattr(engine_module, "stop_registry", lambda _r: self._stop("registry"))
        monkeypatch.setattr(lanes.sandbox, "ensure_engine", lambda: self._start("engine"))
        monkeypatch.setattr(lanes.sandbox, "prune_engine", self._prune)
        monkeypatch.setattr(lanes.sandbox, "start_registry", lambda _r: self._start("registry"))

    def _start(self, name: str) -> str:
        self.calls.append(f"start {name}")
        self.running[name] = True
        return "unix:///fake/docker.sock"

    def _prune(self, url: str, *, registry: object) -> lanes.sandbox.Pruned:
        assert self.running["engine"], "pruned a stopped engine"
        self.calls.append(f"prune {url}")
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
    assert fake.calls == [
        "start engine",
        "start registry",
        "prune unix:///fake/docker.sock",
        "stop registry",
        "stop engine",
    ]


def test_an_engine_found_running_is_left_running(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSandbox(monkeypatch, engine=True, registry=False)
    with lanes.shared_engine():
        pass
    assert fake.running == {"engine": True, "registry": False}
    assert not [call for call in fake.calls if call.startswith(("stop engine", "prune"))]


def test_an_engine_given_by_docker_host_is_never_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSandbox(monkeypatch, engine=False, registry=True)
    monkeypatch.setenv("DOCKER_HOST", "unix:///somebody/else.sock")
    with lanes.sandbox.left_as_found(lanes.sandbox.Registry(address="127.0.0.1:5000")) as found:
        assert found == lanes.sandbox.Found(engine=True, registry=True)
    assert fake.calls == []


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


SLOW_TEARDOWN_TEST = """
import pathlib, time, pytest

@pytest.fixture(scope="session")
def started():
    yield
    time.sleep(2)  # a cluster's stop takes longer still
    pathlib.Path({stopped!r}).touch()

def test_runs_until_interrupted(started):
    pathlib.Path({ready!r}).touch()
    time.sleep(60)
"""

NOXFILE_RUNNING_IT = """
import importlib.util, nox

spec = importlib.util.spec_from_file_location("project_noxfile", {noxfile!r})
project = importlib.util.module_from_spec(spec)
spec.loader.exec_module(project)

@nox.session(python=False)
def interrupted(session):
    args = ["-p", "no:cacheprovider", "-p", "no:django", {test!r}]
    if {with_grace!r}:
        project.run_pytest(session, *args, env={{"COVERAGE_FILE": {coverage!r}}})
    else:
        session.run(*project.PYTEST, *args, env={{"COVERAGE_FILE": {coverage!r}}})
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("with_grace", "torn_down"), [(True, True), (False, False)], ids=["run_pytest", "nox-default"]
)
def test_an_interrupted_session_s_pytest_stops_what_its_fixtures_started(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    project_nox: Path,
    with_grace: bool,
    torn_down: bool,
) -> None:
    """A lane stopped (Ctrl-C, a cancelled job) interrupts its nox and pytest together. Through
    the noxfile's run_pytest, pytest's session fixtures finish stopping what they started; with
    nox's default 0.3 s, pytest is killed halfway (a kube-apiserver was left running so)."""
    ready, stopped = tmp_path / "ready", tmp_path / "stopped"
    test = tmp_path / "test_slow_teardown.py"
    test.write_text(SLOW_TEARDOWN_TEST.format(ready=str(ready), stopped=str(stopped)))
    noxfile = tmp_path / "noxfile.py"
    noxfile.write_text(
        NOXFILE_RUNNING_IT.format(
            noxfile=str(lanes.ROOT / "noxfile.py"),
            test=str(test),
            with_grace=with_grace,
            coverage=str(tmp_path / ".coverage"),
        )
    )
    # pytest from this interpreter's environment, as a session's venv would put it first.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    lane = lanes.Lane("sandbox", [str(project_nox), "-f", str(noxfile), "-s", "interrupted"])
    wait_until(ready.exists, what="the session's test to start", timeout=60, interval=0.1)
    lane.interrupt()
    lane.wait()
    assert stopped.exists() == torn_down


TASK_STOPPING_SLOWLY = """
import pathlib, time
from invoke import task

@task
def slow_stop(c):
    pathlib.Path({ready!r}).touch()
    try:
        time.sleep(60)
    except KeyboardInterrupt:
        time.sleep(2)  # a deploy's cluster parts take longer still to stop
        pathlib.Path({stopped!r}).touch()
        raise
"""

TEST_RUNNING_THE_TASK = """
import sys
from pathlib import Path

sys.path.insert(0, {root!r})
from testkit import support

try:
    support.invoke("slow-stop", repo=Path({repo!r}))
except KeyboardInterrupt:
    sys.exit(3)
"""


@pytest.mark.slow
def test_an_interrupted_test_waits_for_the_task_it_runs_to_stop(tmp_path: Path) -> None:
    """Ctrl-C reaches a test and the `invoke deploy` it runs together; the test waits for the
    task to stop what it started instead of killing it halfway (an etcd was left so)."""
    ready, stopped, repo = tmp_path / "ready", tmp_path / "stopped", tmp_path / "repo"
    (repo / ".venv" / "bin").mkdir(parents=True)
    python = repo / ".venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    (repo / "tasks.py").write_text(
        TASK_STOPPING_SLOWLY.format(ready=str(ready), stopped=str(stopped))
    )
    program = TEST_RUNNING_THE_TASK.format(root=str(lanes.ROOT), repo=str(repo))
    lane = lanes.Lane("sandbox", [sys.executable, "-c", program])
    wait_until(ready.exists, what="the task to start", timeout=60, interval=0.1)
    lane.interrupt()
    assert lane.wait() == 3
    assert stopped.exists(), "the task was killed halfway through its own stop"
