"""The deploy record survives whatever stops a deploy: SIGTERM (a CI job's timeout), Ctrl-C, an
exception in a stage, even SIGKILL; `invoke status` then says where it stopped, never the
previous deploy's "succeeded".

The killed deploys are real processes running ops.deploy.runner.execute (the same function
`invoke deploy` runs after preflight) with real commands as steps; `invoke status` runs as a user
runs it. What a stage does is not under test here, so its steps are plain commands.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from invoke import Config, Context

from ops.core.target import Target
from ops.core.wait import wait_until
from ops.deploy import runner
from ops.deploy.plan import Stage, Step
from ops.envconfig import REPO_ROOT
from testkit import support

SHA = "f" * 40
# A deploy whose image stage passes and whose kubernetes stage runs a command that takes long
# (a rollout being waited for), as a separate process.
DEPLOY = textwrap.dedent(
    """
    import subprocess
    import sys
    from pathlib import Path
    from invoke import Config, Context
    from invoke.exceptions import Exit
    from ops.core.target import Target
    from ops.deploy import runner
    from ops.deploy.plan import Stage, Step, command_step

    def start_daemon(c):
        # As sandbox.start starts dockerd: in a session of its own, to outlive the deploy, its
        # output to a log rather than the deploy's pipes.
        daemon = subprocess.Popen(
            ["sleep", "300"],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        (Path(sys.argv[1]) / "daemon.pid").write_text(str(daemon.pid))

    c = Context(Config(overrides={"state_dir": sys.argv[1]}))
    stages = [
        Stage(
            "image",
            "push",
            (command_step(["true"], timeout=10), Step("invoke sandbox.start", start_daemon)),
        ),
        Stage("kubernetes", "roll out", (command_step(["sleep", "120"], timeout=300),)),
        Stage("dns", "records", (command_step(["true"], timeout=10),)),
    ]
    try:
        runner.execute(Target.resolve(c, "local"), stages, "f" * 40)
    except Exit as exc:  # as invoke's Program ends a task that raised Exit
        print(exc.message, file=sys.stderr)
        sys.exit(exc.code)
    """
)


def last_deploy(state: Path) -> dict[str, Any]:
    return json.loads((state / "local" / "last-deploy.json").read_text())


def earlier_success(state: Path) -> None:
    """What a finished deploy before this one left: "succeeded"."""
    record = runner.DeployRecord(environment="local", git_sha="e" * 40, started="2026-01-01")
    record.result, record.ended = "succeeded", "2026-01-01T00:05:00+00:00"
    record.save(runner.state.EnvState.of("local", Context(Config({"state_dir": str(state)}))))


def children(pid: int) -> list[int]:
    found = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in listing.read_text().split()]
    return found


def start_deploy(state: Path) -> tuple[subprocess.Popen[str], int]:
    """The deploy, in a process group of its own (as a terminal or a CI runner starts it), once
    its record says the kubernetes stage runs and its command is running; returns the command's
    PID too."""
    process = subprocess.Popen(
        [sys.executable, "-c", DEPLOY, str(state)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )

    def stage_running() -> int | None:
        if process.poll() is not None:
            raise AssertionError(f"deploy ended early: {process.communicate()}")
        record_file = state / "local" / "last-deploy.json"
        if not record_file.is_file() or last_deploy(state).get("stage") != "kubernetes":
            return None
        daemon = int((state / "daemon.pid").read_text())
        commands = [pid for pid in children(process.pid) if pid != daemon]
        return commands[0] if commands else None

    command = wait_until(
        stage_running, what="the kubernetes stage running", timeout=60, interval=0.1
    )
    running = last_deploy(state)
    # Before it stops: the record already says "running", with who, where and what.
    assert running["result"] == "running"
    assert running["stage"] == "kubernetes"
    assert running["pid"] == process.pid
    assert running["who"]
    assert [stage["name"] for stage in running["stages"]] == ["image"]
    return process, command


def status(state: Path) -> str:
    """`invoke status --env local` as a user runs it; the cluster is unreachable here, so only
    its first line (the record) is of interest."""
    done = support.invoke(
        "status",
        "--env",
        "local",
        env={
            **os.environ,
            "INVOKE_STATE_DIR": str(state),
            "KUBECONFIG": str(state / "no-kubeconfig"),
            "NO_COLOR": "1",
        },
        timeout=120,
    )
    return done.stdout.splitlines()[0] if done.stdout else done.stderr


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie of the killed deploy (reaped by init only when its parent is gone) counts as gone.
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")


@pytest.mark.parametrize(
    ("signum", "whole_group"),
    [
        # A CI runner's timeout, or `kill PID`: only deploy is signalled; it stops the command.
        (signal.SIGTERM, False),
        # GNU timeout and most runners signal the whole process group.
        (signal.SIGTERM, True),
        # Ctrl-C: the terminal sends SIGINT to the whole foreground process group.
        (signal.SIGINT, True),
    ],
    ids=["sigterm-to-deploy", "sigterm-to-group", "ctrl-c"],
)
def test_a_deploy_killed_mid_stage_is_reported_as_interrupted_at_that_stage(
    tmp_path: Path, signum: signal.Signals, whole_group: bool
) -> None:
    earlier_success(tmp_path)
    process, command = start_deploy(tmp_path)
    daemon = int((tmp_path / "daemon.pid").read_text())
    started = time.monotonic()
    try:
        if whole_group:
            os.killpg(process.pid, signum)
        else:
            os.kill(process.pid, signum)
        _, stderr = process.communicate(timeout=60)
        elapsed = time.monotonic() - started
        # A daemon the deploy started in its own session (the sandbox's) is left running.
        assert not gone(daemon)
    finally:
        os.kill(daemon, signal.SIGKILL)
    assert process.returncode == 128 + signum, stderr[-2000:]
    name = signal.Signals(signum).name
    assert f"interrupted by {name} at stage kubernetes" in stderr
    assert "--only kubernetes,dns" in stderr
    # The command the stage ran was stopped, not left running for its 120 s.
    assert elapsed < runner.FORWARD_GRACE_S + 10
    assert gone(command)
    record = last_deploy(tmp_path)
    assert record["result"] == "interrupted at stage kubernetes"
    assert record["reason"] == name
    assert record["ended"]
    assert status(tmp_path).startswith(f"last deploy: interrupted at stage kubernetes ({name}) at ")
    # Every deploy keeps its own record too: the earlier success and this one.
    kept = sorted(
        json.loads(path.read_text())["result"]
        for path in (tmp_path / "local" / "deploys").iterdir()
    )
    assert kept == ["interrupted at stage kubernetes", "succeeded"]


def test_a_deploy_killed_outright_is_reported_as_interrupted_not_running(tmp_path: Path) -> None:
    """SIGKILL (a CI runner's last resort) runs no handler: the "running" record written before
    the first change is all there is, and status sees that its process is gone."""
    earlier_success(tmp_path)
    process, _ = start_deploy(tmp_path)
    os.killpg(process.pid, signal.SIGKILL)
    os.kill(int((tmp_path / "daemon.pid").read_text()), signal.SIGKILL)
    process.communicate(timeout=30)
    assert last_deploy(tmp_path)["result"] == "running"
    line = status(tmp_path)
    assert line.startswith(
        f"last deploy: interrupted at stage kubernetes (process {process.pid} ended without "
        "finishing the record)"
    ), line
    assert "succeeded" not in line


def stages_failing_with(error: BaseException, seen: list[Any] | None = None) -> list[Stage]:
    def fail(c: Context) -> None:
        if seen is not None:  # the handlers deploy has installed while its stages run
            seen.extend(signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT))
        raise error

    return [
        Stage("image", "push", (Step("invoke image.push --env local", lambda c: None),)),
        Stage("kubernetes", "apply", (Step("invoke k8s.apply --env local", fail),)),
    ]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError(28, "No space left on device"), "OSError: [Errno 28] No space left on device"),
        (KeyboardInterrupt(), "KeyboardInterrupt: "),
        (RuntimeError("a bug"), "RuntimeError: a bug"),
    ],
)
def test_an_exception_in_a_stage_finishes_the_record_and_propagates(
    tmp_path: Path, error: BaseException, reason: str
) -> None:
    earlier_success(tmp_path)
    c = Context(Config(overrides={"state_dir": str(tmp_path)}))
    # What was there before deploy, not Python's defaults: a shell that starts the tests in the
    # background has SIGINT ignored, and deploy must hand back exactly that.
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    during: list[Any] = []
    with pytest.raises(type(error)):
        runner.execute(Target.resolve(c, "local"), stages_failing_with(error, during), SHA)
    record = last_deploy(tmp_path)
    assert record["result"] == "interrupted at stage kubernetes"
    assert record["reason"] == reason
    assert [stage["name"] for stage in record["stages"]] == ["image"]
    assert runner.describe_record(record).startswith(
        f"interrupted at stage kubernetes ({reason}) at "
    )
    # Deploy had its own handlers while the stage ran, and they are gone again.
    assert len(during) == 2, during
    assert not set(during) & set(before), (during, before)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
