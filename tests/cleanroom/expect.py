"""What the clean-room tests expect of a job's run, shared by the GitHub and Azure DevOps tests."""

from __future__ import annotations

import re

from tests.cleanroom import room
from tests.cleanroom.conftest import CleanRoom

NOT_SIGNED_IN = "not logged in to Azure"
# The deploy jobs' first steps that need Azure, named alike in both CI systems.
PREFLIGHT = "invoke deploy (preflight)"
IMAGE_STAGE = "invoke deploy (image)"
# The Azure DevOps jobs the clean room runs, each up to its boundary.
PIPELINE_JOBS = {"plan": PREFLIGHT, "image": IMAGE_STAGE}


def steps_before(workflow: str, job: str, boundary: str, clean_room: CleanRoom) -> list[str]:
    """The names of the job's steps before its boundary, from the workflow file."""
    steps = room.load_workflow(clean_room.checkout / workflow)["jobs"][job]["steps"]
    names = [str(step.get("name")) for step in steps]
    return names[: names.index(boundary)]


def assert_ran_until(run: room.JobRun, names: list[str]) -> None:
    """Every step before the boundary ran and succeeded, in the clean room, for real."""
    assert names, f"{run.job}: no step before the boundary"
    for name in names:
        step = run.step(name)
        assert step.outcome == "success", (
            f"{run.job}: step {name!r} {step.outcome or 'did not finish'}:\n{run.excerpt(name)}"
        )


def preflight_problems(step: room.Step) -> list[str]:
    """The problems `invoke deploy` listed before stopping (ops/deploy/preflight.py)."""
    assert "preflight failed" in step.text, f"no preflight report in {step.name!r}:\n{step.text}"
    return [line.strip()[2:] for line in step.output if line.strip().startswith("- ")]


def assert_stops_only_at_azure(run: room.JobRun, boundary: str) -> None:
    """Signed out, the deploy's preflight must find nothing missing but Azure's sign-in."""
    problems = preflight_problems(run.step(boundary))
    assert any(problem.startswith(NOT_SIGNED_IN) for problem in problems), problems
    others = [problem for problem in problems if not problem.startswith(NOT_SIGNED_IN)]
    assert others == [], (
        f"{run.job}: without Azure the preflight should miss only the sign-in; it also found:\n"
        + "\n".join(f"  - {problem}" for problem in others)
    )


# dev's bases are public images pinned by digest, which no registry here serves: the probes build
# and scan the same Dockerfile on the image's local stand-in bases (ops/sandbox/stand_ins.py),
# which tools/build/image made on this machine and the shelf hands to the job. The engine is the one
# the image tasks choose for an Azure environment (ops/image/common.engine_url: the runner's own
# Docker socket), reached as the runner's non-root user: finding 3's private dockerd needed root.
# Where ops.toolchain.CACHE_DIR is in the job: the pipeline sets ORDERDESK_CACHE, GitHub's don't.
JOB_CACHE = '"${ORDERDESK_CACHE:-$HOME/.cache/orderdesk}/image"'
BASES = (
    f'mkdir -p {JOB_CACHE} && curl -fsS "$CLEANROOM_SHELF/tree/base-images" | tar -x -C {JOB_CACHE}'
)
AZURE_ENGINE = (
    'DOCKER_HOST=$(.venv/bin/python -c "from ops import envconfig; '
    "from ops.image.common import engine_url; print(engine_url(envconfig.load('dev')))\") "
    "&& export DOCKER_HOST"
)
# The probes build `local` under a repository of their own: the image and deploy sessions build
# the same commit's `<sha>-local` tag on the same engine, and scripts/test runs the clean room
# beside them (testkit/lanes.py), so a shared tag would be retagged under a running deploy.
# env_file is the setting every task reads env.yaml from (ops/core/settings.py).
LOCAL_REPOSITORY = "127.0.0.1:5000/orderdesk"
PROBE_REPOSITORY = "127.0.0.1:5000/orderdesk-cleanroom"
PROBE_ENV_FILE = (
    "INVOKE_ENV_FILE=$(mktemp) && export INVOKE_ENV_FILE && "
    f"sed 's#image_repository: {LOCAL_REPOSITORY}$#image_repository: {PROBE_REPOSITORY}#' "
    'infra/env.yaml > "$INVOKE_ENV_FILE"'
)
IMAGE_PROBES = (
    room.Probe(
        "clean room: image.build",
        f"{BASES} && {AZURE_ENGINE} && {PROBE_ENV_FILE} && invoke image.build --env local",
    ),
    room.Probe(
        "clean room: image.scan",
        f"{AZURE_ENGINE} && {PROBE_ENV_FILE} && invoke image.scan --env local",
    ),
)


def assert_image_built(run: room.JobRun) -> None:
    step = run.step("clean room: image.build")
    assert step.outcome == "success", step.text[-3000:]
    built = rf"^built {re.escape(PROBE_REPOSITORY)}:\S+ \(sha256:"
    assert re.search(built, step.text, re.MULTILINE), step.text[-3000:]


def assert_image_scanned(run: room.JobRun) -> None:
    step = run.step("clean room: image.scan")
    assert step.outcome == "success", step.text[-3000:]
    scanned = rf"^scan: {re.escape(PROBE_REPOSITORY)}:\S+ clean"
    assert re.search(scanned, step.text, re.MULTILINE), step.text[-3000:]
