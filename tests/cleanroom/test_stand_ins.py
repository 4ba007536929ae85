"""The clean room's own parts, without an engine: every action a workflow uses has a stand-in,
each stand-in says it is one, and a derived job keeps the real steps up to its boundary."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from ops import envconfig
from ops.envconfig import REPO_ROOT
from tests.cleanroom import room
from tests.cleanroom.expect import PIPELINE_JOBS, PROBE_ENV_FILE, PROBE_REPOSITORY

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))


def used_actions() -> set[str]:
    actions = set()
    for path in WORKFLOWS:
        for job in room.load_workflow(path)["jobs"].values():
            actions |= {str(step["uses"]).split("@")[0] for step in job["steps"] if "uses" in step}
    return actions


def test_every_action_a_workflow_uses_has_a_stand_in_or_acts_own() -> None:
    actions = used_actions()
    assert actions, f"no `uses:` found in {WORKFLOWS}"
    missing = actions - set(room.ACTION_STAND_INS) - room.EMULATED_BY_ACT
    assert not missing, f"add a stand-in under tests/cleanroom/actions for: {sorted(missing)}"


def test_every_task_a_clean_room_pipeline_job_meets_has_a_stand_in() -> None:
    pipeline = yaml.safe_load((REPO_ROOT / "azure-pipelines.yml").read_text(encoding="utf-8"))
    jobs = room.pipeline_jobs(pipeline)
    tasks = set()
    for job, boundary in PIPELINE_JOBS.items():
        steps = jobs[job]["steps"]
        names = [step.get("displayName") for step in steps]
        assert boundary in names, f"{job} has no step {boundary!r}: {names}"
        tasks |= {
            str(step["task"]) for step in steps[: names.index(boundary) + 1] if "task" in step
        }
    assert tasks, "the clean room's pipeline jobs use no task"
    missing = tasks - room.PIPELINE_TASK_STAND_INS
    assert not missing, (
        f"give tests/cleanroom/room.py PipelineJob a stand-in for: {sorted(missing)}"
    )


def test_act_gets_the_shared_caches_as_env_and_a_bind_mount(tmp_path: Path) -> None:
    caches = room.SharedCaches(tmp_path)
    options = room.act_options(
        tmp_path, "http://127.0.0.1:1", [], inputs=None, matrix=None, socket_gid=7, caches=caches
    )
    assert options[options.index("--container-options") + 1] == (
        f"--group-add 7 --volume {tmp_path}:{room.SHARED_CACHES_IN_JOB}"
    )
    passed = {options[i + 1] for i, flag in enumerate(options) if flag == "--env"}
    assert {f"{name}={value}" for name, value in caches.env.items()} <= passed
    assert "ORDERDESK_KEEP_GO_CACHES=1" in passed


@pytest.mark.parametrize("name", sorted(set(room.ACTION_STAND_INS.values())))
def test_each_stand_in_is_a_composite_action_named_as_a_stand_in(name: str) -> None:
    action = yaml.safe_load((room.ACTIONS_DIR / name / "action.yml").read_text(encoding="utf-8"))
    assert "clean-room stand-in for " in action["name"], action["name"]
    assert action["runs"]["using"] == "composite"
    assert all(step.get("shell") == "bash" for step in action["runs"]["steps"])


def test_a_derived_job_keeps_the_real_steps_until_its_boundary_then_the_probes() -> None:
    workflow = room.load_workflow(REPO_ROOT / ".github" / "workflows" / "deploy.yml")
    real = workflow["jobs"]["image"]["steps"]
    probe = room.Probe("clean room: probe", "invoke --list")
    derived = room.derive_job(workflow, "image", "invoke deploy (image)", [probe])
    steps = derived["jobs"]["image"]["steps"]
    names = [step.get("name") for step in real]
    cut = names.index("invoke deploy (image)")
    assert steps[:cut] == real[:cut]
    assert steps[cut] == {**real[cut], "continue-on-error": True}
    assert steps[cut + 1] == {
        "name": probe.name,
        "run": probe.run,
        "env": real[cut].get("env", {}),
        "continue-on-error": True,
    }
    assert len(steps) == cut + 2
    assert "needs" not in derived["jobs"]["image"]
    assert list(derived["jobs"]) == ["image"]


def test_a_derived_job_refuses_a_boundary_the_job_does_not_have() -> None:
    workflow = room.load_workflow(REPO_ROOT / ".github" / "workflows" / "deploy.yml")
    with pytest.raises(room.CleanRoomError, match="has no step named 'nope'"):
        room.derive_job(workflow, "plan", "nope", [])


def test_an_unknown_action_is_named_with_the_fix() -> None:
    job = {"steps": [{"uses": "someone/something@v1"}]}
    with pytest.raises(
        room.CleanRoomError, match=r"someone/something@v1 has no clean-room stand-in"
    ):
        room.action_mappings(job)


def test_act_log_steps_keep_their_order_output_and_outcome(tmp_path: Path) -> None:
    lines = [
        '{"step": "Set up job", "stepResult": "success", "msg": "ok"}',
        '{"step": "Build", "stage": "Main", "raw_output": true, "msg": "compiling\\n"}',
        '{"step": "Build", "stage": "Post", "raw_output": true, "msg": "post output\\n"}',
        "not json at all",
        '{"step": "Build", "stage": "Main", "stepResult": "failure", "msg": "failed"}',
    ]
    steps = room.parse_act_log(lines)
    assert [(step.name, step.outcome, step.output) for step in steps] == [
        ("Set up job", "success", []),
        ("Build", "failure", ["compiling"]),
    ]


def test_a_step_s_seconds_run_from_its_first_line_to_its_result() -> None:
    """act's --json lines carry logrus's RFC 3339 time; the job's summary ranks its steps."""
    entries: list[dict[str, object]] = [
        {"step": "Checkout", "msg": "start", "time": "2026-12-07T07:00:00Z"},
        {"step": "Checkout", "stepResult": "success", "time": "2026-12-07T07:00:03Z"},
        {"step": "Bootstrap", "msg": "go", "time": "2026-12-07T07:00:03Z"},
        {"step": "Bootstrap", "raw_output": True, "msg": "built", "time": "2026-12-07T07:04:10Z"},
        {"step": "Bootstrap", "stepResult": "success", "time": "2026-12-07T07:05:03Z"},
    ]
    lines = [json.dumps({"stage": "Main", **entry}) for entry in entries]
    steps = room.parse_act_log(lines)
    assert [(step.name, step.seconds) for step in steps] == [
        ("Checkout", 3.0),
        ("Bootstrap", 300.0),
    ]
    run = room.JobRun(job="deploy.yml:image", steps=steps, log="", stand_ins=[])
    assert run.timing() == "deploy.yml:image: 303 s (Bootstrap 300 s, Checkout 3 s)"


def test_the_image_probes_build_local_under_a_repository_of_their_own() -> None:
    """The probes' env.yaml moves only local's image, so the clean room never retags the
    `<sha>-local` image a deploy beside it (testkit/lanes.py) is rolling out."""
    derived = subprocess.run(
        ["bash", "-c", f'{PROBE_ENV_FILE} && echo "$INVOKE_ENV_FILE"'],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    path = Path(derived.stdout.strip())
    try:
        assert envconfig.load("local", path).app.image_repository == PROBE_REPOSITORY
        for name in ("dev", "prod"):
            assert envconfig.load(name, path) == envconfig.load(name), name
        changed = [
            line
            for line in path.read_text().splitlines()
            if line not in envconfig.ENV_FILE.read_text().splitlines()
        ]
        assert changed == [f"      image_repository: {PROBE_REPOSITORY}"]
    finally:
        path.unlink()
