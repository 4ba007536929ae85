"""Azure DevOps jobs, read from azure-pipelines.yml and run step by step in the clean room.

No local runner executes Azure Pipelines YAML (act reads only GitHub's), so tests/cleanroom/room.py
does the agent's part: the pipeline's variables and each step's env as the agent maps them, its
`script:` steps as they are, the installer tasks from this machine's builds, and AzureCLI@2's
inline script signed out (the Azure boundary), in the same ubuntu-24.04 stand-in as the runner
user: Microsoft-hosted ubuntu-24.04 agents use the runner-images image too (its readme).
"""

from __future__ import annotations

import pytest

from tests.cleanroom import room
from tests.cleanroom.conftest import CleanRoom
from tests.cleanroom.expect import (
    IMAGE_PROBES,
    IMAGE_STAGE,
    PIPELINE_JOBS,
    PREFLIGHT,
    assert_image_built,
    assert_image_scanned,
    assert_stops_only_at_azure,
)


@pytest.fixture(scope="module")
def plan_job(clean_room: CleanRoom) -> room.JobRun:
    return clean_room.run_pipeline("plan", PIPELINE_JOBS["plan"])


@pytest.fixture(scope="module")
def image_job(clean_room: CleanRoom) -> room.JobRun:
    return clean_room.run_pipeline("image", PIPELINE_JOBS["image"], IMAGE_PROBES)


def assert_set_up(job: room.JobRun, boundary: str) -> None:
    names = [step.name for step in job.steps]
    assert boundary in names, (
        f"{job.job}: stopped at {names[-1]!r} before reaching {boundary!r}:\n"
        + "\n".join(job.steps[-1].output[-30:])
    )
    before = job.steps[: names.index(boundary)]
    assert len(before) >= 5, names
    for step in before:
        assert step.outcome == "success", f"{job.job}: {step.name!r} failed:\n{step.text[-3000:]}"


def test_pipeline_plan_job_sets_itself_up_on_a_hosted_agent(plan_job: room.JobRun) -> None:
    assert_set_up(plan_job, PREFLIGHT)


def test_pipeline_plan_job_installs_every_tool_its_preflight_requires(
    plan_job: room.JobRun,
) -> None:
    """Finding 1, Azure DevOps: preflight needs syft and cosign; the plan stage installs them."""
    assert_stops_only_at_azure(plan_job, PREFLIGHT)


def test_pipeline_image_job_installs_every_tool_its_stage_requires(image_job: room.JobRun) -> None:
    assert_stops_only_at_azure(image_job, IMAGE_STAGE)


def test_pipeline_image_job_builds_as_the_agents_non_root_user(image_job: room.JobRun) -> None:
    """Finding 3, Azure DevOps: the agent's user is not root either."""
    assert_image_built(image_job)


def test_pipeline_image_job_has_the_scanners_image_scan_runs(image_job: room.JobRun) -> None:
    assert_image_scanned(image_job)
