"""Running a plan: stages in order, progress on the terminal, a record of what happened, and one
return to the revision that ran before when a new one did not prove healthy.

The record (last-deploy.json) says "running" before the first change and is finished whatever
ends the run: success, a failed stage, Ctrl-C, SIGTERM (a CI job's timeout) or an exception.
So `invoke status` never shows the previous deploy's "succeeded" for one that stopped halfway.
"""

from __future__ import annotations

import contextlib
import datetime
import getpass
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from invoke.exceptions import Exit, UnexpectedExit
from rich.console import Console

from ops.core import state
from ops.core.kube import KUBECTL_CALL_TIMEOUT_S
from ops.core.target import Target
from ops.deploy.checks import DEPLOYMENT, image_record
from ops.deploy.plan import Stage, Step
from ops.envconfig import Environment
from ops.k8s import revisions
from ops.k8s.cluster import Kubectl, RolloutFailed

RECORD_ANNOTATION = "orderdesk.dev/last-deploy"

console = Console(highlight=False, soft_wrap=True)


# A child still running this long after SIGTERM reached deploy was not sent it (only deploy's
# own PID was signalled): it gets it from deploy. Children that had it (a whole process group
# was signalled, as CI runners and `timeout` do) have time to stop first, so a graceful tool such
# as terraform is not hit twice (a second signal makes terraform exit at once).
FORWARD_GRACE_S = 5.0


class StageFailed(Exception):
    """A step failed; the message names the step and what to do."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived while a deploy ran (BaseException: no `except Exception`, and
    not invoke's KeyboardInterrupt handling, which only forwards ^C and keeps waiting)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class DeployRecord:
    environment: str
    git_sha: str
    started: str
    stages: list[dict[str, Any]] = field(default_factory=list)
    image: str = ""
    ended: str = ""
    result: str = "running"
    # The stage running now, or the one the deploy stopped in.
    stage: str = ""
    # Why an interrupted deploy stopped (a signal, an exception).
    reason: str = ""
    who: str = ""
    host: str = ""
    pid: int = 0

    def save(self, files: state.EnvState) -> Path:
        """One file per deploy under deploys/, and last-deploy.json for `invoke status`."""
        data = asdict(self)
        path = state.write_json(files.deploys / f"{self.started.replace(':', '')}.json", data)
        state.write_json(files.last_deploy, data)
        return path


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def who() -> str:
    """Who runs this deploy: the user on this machine, and the CI identity when there is one."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container running as an arbitrary UID)
        user = f"uid {os.getuid()}"
    actor = os.environ.get("GITHUB_ACTOR") or os.environ.get("BUILD_REQUESTEDFOR") or ""
    return f"{user} (CI: {actor})" if actor else user


def _children() -> list[int]:
    """The commands this process runs now: its children in its own process group (Linux /proc;
    elsewhere none are known). The sandbox's daemons (dockerd, the registry, the cluster) run in
    sessions of their own and outlive a deploy: they are not among them."""
    found = []
    for listing in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(pid) for pid in listing.read_text().split()]
    group = os.getpgrp()
    return [pid for pid in found if _group_of(pid) == group]


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _forward_sigterm() -> None:
    deadline = time.monotonic() + FORWARD_GRACE_S
    while _children() and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in _children():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """While a deploy runs, SIGINT and SIGTERM raise Interrupted, so the record is finished and
    the command running (kubectl, terraform, ...) is stopped rather than left behind."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread (an embedding test, a worker)
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGTERM:
            _forward_sigterm()
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def describe_record(record: dict[str, Any]) -> str:
    """One line for `invoke status`. A "running" record whose process is gone on this machine was
    killed outright (SIGKILL, a lost machine): it is reported as interrupted, not running."""
    result, reason = record["result"], record.get("reason", "")
    when = record.get("ended") or record["started"]
    if result == "running":
        pid, here = int(record.get("pid") or 0), record.get("host") == socket.gethostname()
        if here and pid and not _alive(pid):
            result = f"interrupted at stage {record.get('stage') or 'start'}"
            reason = f"process {pid} ended without finishing the record"
        else:
            result = f"running (stage {record.get('stage') or 'start'}, pid {pid or '?'})"
            when = f"started {record['started']}"
    detail = f" ({reason})" if reason else ""
    by = f", by {record['who']}" if record.get("who") else ""
    return (
        f"{result}{detail} at {when} (git {record['git_sha'][:12]}, "
        f"image {record.get('image') or '-'}{by})"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(stages: list[Stage], environment: Environment, sha: str) -> None:
    """The summary before a deploy, and all of a dry run."""
    console.print(f"[bold]Deploy {environment.app.name} to {environment.name}[/] at {sha[:12]}")
    for index, stage in enumerate(stages, 1):
        if stage.skipped:
            console.print(f" {index}. {stage.name}: skipped ({stage.skipped})")
            continue
        console.print(f" {index}. {stage.name}: {stage.summary}")
        for step in stage.steps:
            console.print(f"      {'$' if step.is_command else 'check:'} {step.command}")


@contextlib.contextmanager
def stage_progress(stage: Stage, index: int, total: int) -> Iterator[None]:
    started = time.monotonic()
    console.rule(f"[{index}/{total}] {stage.name}: {stage.summary}")
    yield
    console.print(f"[green]✓[/] {stage.name} in {time.monotonic() - started:.1f} s")


def _failure(step: Step, error: Exception) -> str:
    if isinstance(error, UnexpectedExit):
        return f"`{step.command}` exited {error.result.exited}; its output above says why"
    if isinstance(error, Exit):
        return f"`{step.command}`: {error.message}"
    return f"`{step.command}`: {error}"


def run_step(target: Target, stage: Stage, number: int, step: Step) -> None:
    """Run one step; a failure becomes StageFailed, after a return to the revision that ran
    before if the step calls for one (and a smoke test of that revision)."""
    # A spinner on a terminal while the step runs (its output scrolls above); plain in CI.
    label = f"{stage.name} {number}/{len(stage.steps)}: {step.command[:80]}"
    smoke_test = next((s for s in stage.steps if s.rolls_back), None)
    try:
        with console.status(label, spinner="dots"):
            step.call(target.context)
    except RolloutFailed as exc:
        # k8s.rollout has dealt with the revision already; undoing again would return to the
        # failed one. What it restored still has to prove itself.
        message = _failure(step, exc)
        if exc.restored and smoke_test is not None:
            message += f"; {smoke_test_restored(target, smoke_test)}"
        raise StageFailed(message) from exc
    except (Exit, UnexpectedExit, state.StateMissing) as exc:
        message = _failure(step, exc)
        if step.rolls_back:
            message += f"; {roll_back(target, step)}"
        raise StageFailed(message) from exc


def run_stage(target: Target, stage: Stage) -> None:
    for number, step in enumerate(stage.steps, 1):
        run_step(target, stage, number, step)


def smoke_test_restored(target: Target, smoke_test: Step) -> str:
    """The revision that ran before is back: the same smoke test, on it."""
    console.print("smoke-testing the restored revision")
    try:
        smoke_test.call(target.context)
    except (Exit, UnexpectedExit) as exc:
        detail = exc.message if isinstance(exc, Exit) else f"exit {exc.result.exited}"
        return f"the restored revision fails the smoke test too ({detail})"
    return "the restored revision passed the smoke test"


def roll_back(target: Target, smoke_test: Step) -> str:
    """Return to the revision that ran before apply, only if this deploy moved the Deployment
    off it; say how it went, and what no undo restores."""
    c, environment = target.context, target.environment
    console.print(f"[red]returning[/] {DEPLOYMENT} in {environment.name} to what ran before")
    kubectl = Kubectl(c, target.kube())
    try:
        undo = revisions.return_to_recorded(target, kubectl, target.settings.k8s.rollout_timeout)
    except (Exit, UnexpectedExit) as exc:
        detail = exc.message if isinstance(exc, Exit) else f"exit {exc.result.exited}"
        return f"the rollback failed too ({detail})"
    if undo.restored:
        return f"{undo.message}; {smoke_test_restored(target, smoke_test)}"
    return undo.message


def annotate(target: Target, record: DeployRecord) -> None:
    """Keep the record on the Deployment too, so the cluster says what put it there."""
    summary = json.dumps(
        {k: getattr(record, k) for k in ("git_sha", "image", "started", "ended", "result")},
        separators=(",", ":"),
    )
    command = target.kube().kubectl_argv(
        "annotate", "deployment", DEPLOYMENT, "--overwrite", f"{RECORD_ANNOTATION}={summary}"
    )
    # Best effort: the record is in the deploy log whatever the cluster answers.
    target.runner.run(command, timeout=KUBECTL_CALL_TIMEOUT_S, warn=True)


def execute(target: Target, stages: list[Stage], sha: str) -> DeployRecord:
    """Run the stages that are not skipped, in order; record each; stop at the first failure.

    The record says "running" before anything changes and is finished in every case: Ctrl-C,
    SIGTERM or an exception leave "interrupted at stage X", never the previous deploy's result.
    """
    environment, files = target.environment, target.state
    active = [stage for stage in stages if not stage.skipped]
    record = DeployRecord(
        environment=environment.name,
        git_sha=sha,
        started=now(),
        who=who(),
        host=socket.gethostname(),
        pid=os.getpid(),
    )
    if not any(stage.name == "image" for stage in active):
        record.image = _recorded_image(target)
    record.save(files)
    try:
        with signals_interrupt():
            _run_stages(target, active, record)
    except Interrupted as exc:
        record.reason = exc.args[0]
        raise Exit(
            f"deploy --env {environment.name}: interrupted by {exc.args[0]} at stage "
            f"{record.stage}; `invoke status --env {environment.name}` shows what runs. Resume "
            f"with `invoke deploy --env {environment.name} --only {_remaining(active, record)}`",
            code=128 + exc.signum,
        ) from None
    except BaseException as exc:
        if record.result == "running":
            record.reason = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if record.result == "running":
            record.result = f"interrupted at stage {record.stage or 'start'}"
            record.ended = now()
            record.save(files)
    return record


def _recorded_image(target: Target) -> str:
    """The image the manifests name: pushed by this deploy, or by the one before (--only)."""
    with contextlib.suppress(state.StateMissing):
        return str(image_record(target)["reference"])
    return ""


def _remaining(active: list[Stage], record: DeployRecord) -> str:
    names = [stage.name for stage in active]
    start = names.index(record.stage) if record.stage in names else 0
    return ",".join(names[start:])


def _run_stages(target: Target, active: list[Stage], record: DeployRecord) -> None:
    environment, files = target.environment, target.state
    for index, stage in enumerate(active, 1):
        record.stage = stage.name
        record.save(files)
        started = time.monotonic()
        try:
            with stage_progress(stage, index, len(active)):
                run_stage(target, stage)
        except StageFailed as exc:
            seconds = round(time.monotonic() - started, 1)
            record.stages.append({"name": stage.name, "result": "failed", "seconds": seconds})
            record.result, record.ended = f"failed at {stage.name}", now()
            path = record.save(files)
            raise Exit(
                f"deploy --env {environment.name}: stage {stage.name} failed: {exc}\n"
                f"Fix the cause, then resume with `invoke deploy --env {environment.name} "
                f"--only {_remaining(active, record)}` (every stage is safe to run again). "
                f"Record: {path}",
                code=1,
            ) from exc
        seconds = round(time.monotonic() - started, 1)
        record.stages.append({"name": stage.name, "result": "ok", "seconds": seconds})
        if stage.name == "image":
            record.image = _recorded_image(target)
    record.image = _recorded_image(target)
    record.result, record.ended = "succeeded", now()
    if any(stage.name == "kubernetes" for stage in active):
        annotate(target, record)
    path = record.save(files)
    console.print(f"[bold green]deployed[/] {environment.name}: record {path}")
