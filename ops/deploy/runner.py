"""Running a plan: stages in order, progress on the terminal, a record of what happened, and one
rollback when a new revision did not prove healthy."""

from __future__ import annotations

import contextlib
import datetime
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit, UnexpectedExit
from rich.console import Console

from ops import k8s
from ops.core import kube, state
from ops.deploy.checks import DEPLOYMENT, image_record
from ops.deploy.plan import Stage, Step
from ops.envconfig import Environment
from ops.k8s.cluster import RolloutFailed

RECORD_ANNOTATION = "orderdesk.dev/last-deploy"

console = Console(highlight=False, soft_wrap=True)


class StageFailed(Exception):
    """A step failed; the message names the step and what to do."""


@dataclass
class DeployRecord:
    environment: str
    git_sha: str
    started: str
    stages: list[dict[str, Any]] = field(default_factory=list)
    image: str = ""
    ended: str = ""
    result: str = "running"

    def save(self, files: state.EnvState) -> Path:
        """One file per deploy under deploys/, and last-deploy.json for `invoke status`."""
        data = asdict(self)
        path = state.write_json(files.deploys / f"{self.started.replace(':', '')}.json", data)
        state.write_json(files.last_deploy, data)
        return path


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


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


def run_step(c: Context, stage: Stage, number: int, step: Step, environment: Environment) -> None:
    """Run one step; a failure becomes StageFailed, after a rollback if the step calls for one."""
    # A spinner on a terminal while the step runs (its output scrolls above); plain in CI.
    label = f"{stage.name} {number}/{len(stage.steps)}: {step.command[:80]}"
    try:
        with console.status(label, spinner="dots"):
            step.call(c)
    except RolloutFailed as exc:
        # k8s.rollout has rolled back already; undoing again would return to the failed revision.
        raise StageFailed(_failure(step, exc)) from exc
    except (Exit, UnexpectedExit, state.StateMissing) as exc:
        message = _failure(step, exc)
        if step.rolls_back:
            message += f"; {roll_back(c, environment)}"
        raise StageFailed(message) from exc


def run_stage(c: Context, stage: Stage, environment: Environment) -> None:
    for number, step in enumerate(stage.steps, 1):
        run_step(c, stage, number, step, environment)


def roll_back(c: Context, environment: Environment) -> str:
    """Undo the last rollout once, through `invoke k8s.rollback`; say how it went."""
    console.print(f"[red]rolling back[/] {DEPLOYMENT} in {environment.name}")
    try:
        k8s.rollback(c, env=environment.name)
    except (Exit, UnexpectedExit) as exc:
        detail = exc.message if isinstance(exc, Exit) else f"exit {exc.result.exited}"
        return f"rollback failed too ({detail})"
    return "rolled back to the previous revision"


def annotate(c: Context, environment: Environment, record: DeployRecord) -> None:
    """Keep the record on the Deployment too, so the cluster says what put it there."""
    summary = json.dumps(
        {k: getattr(record, k) for k in ("git_sha", "image", "started", "ended", "result")},
        separators=(",", ":"),
    )
    command = kube.target(c, environment).kubectl(
        "annotate", "deployment", DEPLOYMENT, "--overwrite", f"{RECORD_ANNOTATION}={summary}"
    )
    c.run(command, hide=True, warn=True)


def execute(c: Context, environment: Environment, stages: list[Stage], sha: str) -> DeployRecord:
    """Run the stages that are not skipped, in order; record each; stop at the first failure."""
    files = state.EnvState.of(environment.name, c)
    record = DeployRecord(environment=environment.name, git_sha=sha, started=now())
    active = [stage for stage in stages if not stage.skipped]
    for index, stage in enumerate(active, 1):
        started = time.monotonic()
        try:
            with stage_progress(stage, index, len(active)):
                run_stage(c, stage, environment)
        except StageFailed as exc:
            seconds = round(time.monotonic() - started, 1)
            record.stages.append({"name": stage.name, "result": "failed", "seconds": seconds})
            record.result, record.ended = f"failed at {stage.name}", now()
            path = record.save(files)
            remaining = ",".join(s.name for s in active[index - 1 :])
            raise Exit(
                f"deploy --env {environment.name}: stage {stage.name} failed: {exc}\n"
                f"Fix the cause, then resume with `invoke deploy --env {environment.name} "
                f"--only {remaining}` (every stage is safe to run again). Record: {path}",
                code=1,
            ) from exc
        seconds = round(time.monotonic() - started, 1)
        record.stages.append({"name": stage.name, "result": "ok", "seconds": seconds})
    record.result, record.ended = "succeeded", now()
    # The image the manifests name: pushed now, or by the deploy before (--only kubernetes).
    with contextlib.suppress(state.StateMissing):
        record.image = image_record(c, environment)["reference"]
    if any(stage.name == "kubernetes" for stage in active):
        annotate(c, environment, record)
    path = record.save(files)
    console.print(f"[bold green]deployed[/] {environment.name}: record {path}")
    return record
