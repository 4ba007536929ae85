"""GitHub Actions jobs, run from the workflow files by act in the clean room.

Each job runs in a stand-in of the image it names (tools/build/cleanroom; README, "The clean
room") holding only what that image documents, as that image's user, until the first step that
needs Azure. What a job installs, it must install itself: these are the rules the issue's
findings broke (syft/cosign for preflight, Docker as a non-root user, Go in the test containers).
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.cleanroom import room
from tests.cleanroom.conftest import CleanRoom
from tests.cleanroom.expect import (
    IMAGE_PROBES,
    IMAGE_STAGE,
    PREFLIGHT,
    assert_image_built,
    assert_image_scanned,
    assert_ran_until,
    assert_stops_only_at_azure,
    steps_before,
)

DEPLOY = ".github/workflows/deploy.yml"
CI = ".github/workflows/ci.yml"
DESTROY = ".github/workflows/destroy.yml"
# --- deploy.yml --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan_job(clean_room: CleanRoom) -> room.JobRun:
    return run_deploy_job(clean_room, "plan", PREFLIGHT)


@pytest.fixture(scope="module")
def image_job(clean_room: CleanRoom) -> room.JobRun:
    return run_deploy_job(clean_room, "image", IMAGE_STAGE, IMAGE_PROBES)


def run_deploy_job(
    clean_room: CleanRoom, job: str, boundary: str, probes: tuple[room.Probe, ...] = ()
) -> room.JobRun:
    return clean_room.run_github(
        DEPLOY,
        job,
        "workflow_dispatch",
        inputs={"environment": "dev"},
        boundary=boundary,
        probes=probes,
    )


def test_deploy_plan_job_sets_itself_up_on_a_hosted_runner(
    plan_job: room.JobRun, clean_room: CleanRoom
) -> None:
    """checkout, Python, bootstrap --deploy, Terraform, kubectl, kubelogin, Helm: all on the bare
    ubuntu-24.04 stand-in, as its non-root runner user."""
    assert_ran_until(plan_job, steps_before(DEPLOY, "plan", PREFLIGHT, clean_room))


def test_deploy_plan_job_installs_every_tool_its_preflight_requires(plan_job: room.JobRun) -> None:
    """Finding 1: preflight needs syft and cosign for the image stage; the plan job must install
    them (the ubuntu-24.04 image has neither: actions/runner-images
    images/ubuntu/Ubuntu2404-Readme.md)."""
    assert_stops_only_at_azure(plan_job, PREFLIGHT)


def test_deploy_image_job_installs_every_tool_its_stage_requires(image_job: room.JobRun) -> None:
    """The image stage's own preflight (syft, cosign, az) finds nothing missing but Azure."""
    assert_stops_only_at_azure(image_job, IMAGE_STAGE)


def test_deploy_image_job_builds_as_the_runners_non_root_user(image_job: room.JobRun) -> None:
    """Finding 3: hosted jobs run as `runner`, not root, next to the runner's own Docker daemon;
    image.build must use that daemon, never start a private dockerd (which needs root).
    (GitHub docs, "Using GitHub-hosted runners": the runner user has passwordless sudo; Docker
    Server is listed in Ubuntu2404-Readme.)"""
    assert_image_built(image_job)


def test_deploy_image_job_has_the_scanners_image_scan_runs(image_job: room.JobRun) -> None:
    """Finding 3: image.scan runs hadolint, checkov and detect-secrets: the job installs them."""
    assert_image_scanned(image_job)


@pytest.mark.parametrize(
    ("workflow", "job", "boundary"),
    [
        # The plan comes from the plan job, after Azure: the apply stops at fetching it.
        (DEPLOY, "apply", "Fetch the reviewed plan"),
        (DEPLOY, "kubernetes", "Fetch the image record"),
        # `invoke destroy` plans against Azure's state: the job stops at the sign-in.
        (DESTROY, "destroy", "Sign in to Azure (OIDC)"),
    ],
)
def test_other_deploy_jobs_set_themselves_up_until_azure(
    clean_room: CleanRoom, workflow: str, job: str, boundary: str
) -> None:
    run = clean_room.run_github(
        workflow,
        job,
        "workflow_dispatch",
        inputs={"environment": "dev", "confirm": "dev"},
        boundary=boundary,
    )
    assert_ran_until(run, steps_before(workflow, job, boundary, clean_room))


# --- ci.yml ------------------------------------------------------------------------------------

BOOTSTRAP_SYSTEM = "Bootstrap the project and its system tools"
# ops.toolchain prints "name: path (N s)" for each Go tool it has built: Go is there and builds.
FIRST_GO_TOOL_BUILT = re.compile(r"^[\w-]+: /\S+/\.cache/orderdesk/bin/[\w-]+ \(\d+ s\)$")


@pytest.fixture(scope="module")
def toolchain_job(clean_room: CleanRoom) -> room.JobRun:
    return clean_room.run_github(
        CI,
        "toolchain",
        "push",
        as_root=True,
        boundary=BOOTSTRAP_SYSTEM,
        # A cold bootstrap --system then builds every tool for an hour: one Go tool built is the
        # proof this rule needs.
        stop_when=FIRST_GO_TOOL_BUILT,
    )


def test_ci_test_containers_have_go_for_bootstrap_system(toolchain_job: room.JobRun) -> None:
    """Finding 7: python:*-trixie has no Go (docker-library/python's trixie Dockerfile builds
    on buildpack-deps, which installs none), and `scripts/bootstrap --system` builds the Go tools:
    the job must set Go up before it."""
    step = toolchain_job.step(BOOTSTRAP_SYSTEM)
    assert step.outcome == room.STOPPED, (
        f"bootstrap --system {step.outcome or 'did not finish'} before building a Go tool:\n"
        + toolchain_job.excerpt(BOOTSTRAP_SYSTEM)
    )


def test_ci_containers_install_every_debian_package_of_their_release(
    toolchain_job: room.JobRun, clean_room: CleanRoom
) -> None:
    """The job container is Debian trixie, whose names differ from the bookworm machines'
    (docker-cli, `@trixie` in tools/apt): bootstrap --system installs trixie's whole list there
    (apt-get fails on a name the release lacks, and the step would end before any Go tool)."""
    step = toolchain_job.step(BOOTSTRAP_SYSTEM)
    listed = subprocess.run(
        ["sh", str(clean_room.checkout / "tools" / "apt" / "packages"), "trixie"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    # "installing Debian packages: <the missing ones, one a line>", then apt's own lines.
    marker = "bootstrap: installing Debian packages:"
    assert marker in step.text, toolchain_job.excerpt(BOOTSTRAP_SYSTEM)
    first, *rest = step.text.split(marker, 1)[1].splitlines()
    installed = set(first.split())
    for line in rest:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", line.strip()):
            break
        installed.add(line.strip())
    assert "docker-cli" in installed, installed
    assert installed <= set(listed), installed - set(listed)
    assert "bootstrap: creating .venv with Python 3.11." in step.text, step.text[-3000:]
    assert step.outcome == room.STOPPED, toolchain_job.excerpt(BOOTSTRAP_SYSTEM)


def test_ci_checks_job_runs_its_session_on_a_hosted_runner(clean_room: CleanRoom) -> None:
    """A CI job from end to end: checkout, setup-python, bootstrap, `nox -s lint`."""
    run = clean_room.run_github(
        CI,
        "checks",
        "push",
        matrix={"session": "lint"},
    )
    steps = room.load_workflow(clean_room.checkout / CI)["jobs"]["checks"]["steps"]
    assert_ran_until(
        run, [str(step["name"]).replace("${{ matrix.session }}", "lint") for step in steps]
    )
