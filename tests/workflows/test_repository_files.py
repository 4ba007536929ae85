"""The real CI/CD files: every rule of policy.py, and what each file promises beyond the rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ops import envconfig
from tests.workflows import policy
from tests.workflows.policy import AZURE_PIPELINE, WORKFLOWS_DIR, load

EXPECTED_WORKFLOWS = {"ci.yml", "deploy.yml", "destroy.yml"}


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS_DIR / name)


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(f"{action}@")]


def invoke_argv(job: dict[str, Any], task_name: str) -> list[str]:
    for step in job["steps"]:
        for line in policy.command_lines(str(step.get("run", ""))):
            result = policy.classify(line)
            if not isinstance(result, str) and result[0] == "invoke" and result[1][0] == task_name:
                return list(result[1])
    raise AssertionError(f"no `invoke {task_name}` step")


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def azure_environments() -> list[str]:
    return sorted(name for name, env in envconfig.load_all().items() if env.azure is not None)


def test_the_expected_workflows_are_there() -> None:
    assert {p.name for p in policy.github_workflows()} == EXPECTED_WORKFLOWS


@pytest.mark.parametrize("path", policy.github_workflows(), ids=lambda p: p.name)
def test_workflow_keeps_every_rule(path: Path) -> None:
    assert [str(v) for v in policy.check_github_workflow(path)] == []


def test_azure_pipeline_keeps_every_rule() -> None:
    assert [str(v) for v in policy.check_azure_pipeline(AZURE_PIPELINE)] == []


def test_one_pin_per_action_everywhere() -> None:
    """The same action is pinned to the same SHA and version in every workflow."""
    pins: dict[str, set[str]] = {}
    workflows = policy.github_workflows()
    assert workflows
    for path in workflows:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = policy.USES_LINE.match(line)
            if match:
                action, sha = match.group("ref").split("@")
                pins.setdefault(action, set()).add(f"{sha} {match.group('rest').strip()}")
    assert set(pins) == {
        "actions/checkout",
        "actions/setup-python",
        "actions/cache",
        "actions/upload-artifact",
        "actions/download-artifact",
        "azure/login",
    }
    assert {action: len(found) for action, found in pins.items()} == dict.fromkeys(pins, 1)


# --- ci.yml -----------------------------------------------------------------------------------


def test_ci_runs_the_app_tests_on_every_supported_python() -> None:
    tests = workflow("ci.yml")["jobs"]["tests"]
    assert tests["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    setup = steps_using(tests, "actions/setup-python")[0]
    assert setup["with"]["python-version"] == "${{ matrix.python }}"
    calls = [
        c for c in policy.github_commands(WORKFLOWS_DIR / "ci.yml") if isinstance(c, policy.Command)
    ]
    forced = {c.argv for c in calls if c.program == "nox" and "tests" in c.argv}
    assert forced == {("-s", "tests", "--force-python", v) for v in ("3.11", "3.12", "3.13")}


def test_ci_tool_sessions_run_on_the_project_python() -> None:
    jobs = workflow("ci.yml")["jobs"]
    for name in ("checks", "areas", "toolchain"):
        (setup,) = steps_using(jobs[name], "actions/setup-python")
        assert setup["with"]["python-version"] == "3.11", name


def test_ci_caches_uv_and_the_built_tools() -> None:
    jobs = workflow("ci.yml")["jobs"]
    for name in ("toolchain", "tests", "areas"):
        paths = [str(s["with"]["path"]) for s in steps_using(jobs[name], "actions/cache")]
        assert "~/.cache/uv" in paths, name
        assert any("~/.cache/orderdesk" in p for p in paths), name
    for name in ("tests", "areas"):
        assert jobs[name]["needs"] == "toolchain"


def test_ci_never_asks_for_an_oidc_token_or_write_access() -> None:
    jobs = workflow("ci.yml")["jobs"]
    assert jobs
    for name, job in jobs.items():
        assert job["permissions"] == {"contents": "read"}, name


# --- deploy.yml -------------------------------------------------------------------------------


def test_deploy_triggers_push_to_main_and_a_manual_choice_of_environment() -> None:
    on = workflow("deploy.yml")["on"]
    assert on["push"] == {"branches": ["main"]}
    environment = on["workflow_dispatch"]["inputs"]["environment"]
    assert environment["type"] == "choice"
    assert sorted(environment["options"]) == azure_environments()
    assert environment["default"] == "dev"
    assert workflow("deploy.yml")["env"]["DEPLOY_ENV"] == "${{ inputs.environment || 'dev' }}"


def test_deploy_stages_run_in_the_seed_order() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    assert list(jobs) == ["plan", "apply", "image", "kubernetes"]
    assert [jobs[name].get("needs") for name in jobs] == [None, "plan", "apply", "image"]


def test_the_apply_job_applies_exactly_the_plan_the_plan_job_uploaded() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    plan_job, apply_job = jobs["plan"], jobs["apply"]
    plan_file = flag(invoke_argv(plan_job, "tf.plan"), "--plan-file")
    (upload,) = steps_using(plan_job, "actions/upload-artifact")
    as_shell = upload["with"]["path"].replace("${{ env.DEPLOY_ENV }}", "$DEPLOY_ENV")
    assert as_shell == plan_file
    assert upload["with"]["if-no-files-found"] == "error"
    assert upload["with"]["retention-days"] <= 7

    (download,) = steps_using(apply_job, "actions/download-artifact")
    assert download["with"]["name"] == upload["with"]["name"]
    applied = flag(invoke_argv(apply_job, "tf.apply"), "--plan-file")
    assert applied == f"{download['with']['path']}/{Path(plan_file).name}"
    assert applied == plan_file
    # Nothing between download and apply may plan again.
    steps = [s.get("run", "") for s in apply_job["steps"]]
    assert not any("tf.plan" in str(run) for run in steps)


def test_the_gate_is_after_the_plan_and_before_every_change() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    expression = "${{ inputs.environment || 'dev' }}"
    assert jobs["plan"]["environment"] == {"name": f"{expression}-plan"}
    for name in ("apply", "image", "kubernetes"):
        assert jobs[name]["environment"] == {"name": expression}, name


def test_every_deploy_job_signs_in_with_oidc_from_variables() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    assert set(jobs) == {"plan", "apply", "image", "kubernetes"}
    for name, job in jobs.items():
        (login,) = steps_using(job, "azure/login")
        assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}, name
        assert all(v.startswith("${{ vars.AZURE_") for v in login["with"].values()), name
        assert job["permissions"] == {"contents": "read", "id-token": "write"}, name
        assert job["env"]["ARM_USE_OIDC"] == "true", name


def test_the_image_record_travels_from_the_image_job_to_the_kubernetes_job() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    (upload,) = steps_using(jobs["image"], "actions/upload-artifact")
    (download,) = steps_using(jobs["kubernetes"], "actions/download-artifact")
    assert upload["with"]["path"] == ".data/${{ env.DEPLOY_ENV }}/image.json"
    assert download["with"] == {
        "name": upload["with"]["name"],
        "path": ".data/${{ env.DEPLOY_ENV }}",
    }


def test_the_cluster_steps_can_run_on_a_self_hosted_runner() -> None:
    deploy = workflow("deploy.yml")
    runner = deploy["on"]["workflow_dispatch"]["inputs"]["kubernetes-runner"]
    assert runner["default"] == "ubuntu-24.04"
    assert any(not label.startswith("ubuntu-") for label in runner["options"])
    runs_on = deploy["jobs"]["kubernetes"]["runs-on"]
    assert runs_on == "${{ inputs.kubernetes-runner || vars.KUBERNETES_RUNNER || 'ubuntu-24.04' }}"


def test_deploys_of_one_environment_queue_and_are_never_cancelled() -> None:
    for name in ("deploy.yml", "destroy.yml"):
        concurrency = workflow(name)["concurrency"]
        assert concurrency["group"].startswith("deploy-${{ inputs.environment"), name
        assert concurrency["cancel-in-progress"] is False, name


# --- destroy.yml ------------------------------------------------------------------------------


def test_destroy_is_manual_and_needs_the_name_typed_again() -> None:
    destroy = workflow("destroy.yml")
    assert list(destroy["on"]) == ["workflow_dispatch"]
    inputs = destroy["on"]["workflow_dispatch"]["inputs"]
    assert sorted(inputs["environment"]["options"]) == azure_environments()
    assert "default" not in inputs["environment"]
    assert inputs["confirm"]["required"] is True
    jobs = destroy["jobs"]
    assert jobs["destroy"]["if"] == "inputs.confirm == inputs.environment"
    assert jobs["refuse"]["if"] == "inputs.confirm != inputs.environment"
    assert jobs["refuse"]["permissions"] == {}
    assert jobs["destroy"]["environment"] == {"name": "${{ inputs.environment }}"}
    assert invoke_argv(jobs["destroy"], "destroy") == ["destroy", "--env", "$DEPLOY_ENV", "--yes"]


# --- azure-pipelines.yml ----------------------------------------------------------------------


def invoke_sequence(path: Path) -> list[tuple[str, ...]]:
    return [c.argv for c in policy.commands([path]) if c.program == "invoke"]


def test_azure_pipeline_calls_the_same_tasks_in_the_same_order_as_deploy() -> None:
    assert invoke_sequence(AZURE_PIPELINE) == invoke_sequence(WORKFLOWS_DIR / "deploy.yml")


def test_azure_pipeline_signs_in_through_workload_identity_service_connections() -> None:
    pipeline = load(AZURE_PIPELINE)
    checked = 0
    for stage, job_name, job in policy.pipeline_jobs(pipeline):
        for step in policy.pipeline_steps(job):
            if "invoke " not in str((step.get("inputs") or {}).get("inlineScript", "")):
                continue
            checked += 1
            assert step["task"] == "AzureCLI@2", (stage, job_name)
            subscription = step["inputs"]["azureSubscription"]
            expected = "orderdesk-${{ parameters.environment }}"
            assert subscription == (f"{expected}-plan" if stage == "terraform_plan" else expected)
            assert step["env"]["ARM_USE_OIDC"] == "true"
            assert step["env"]["SYSTEM_ACCESSTOKEN"] == "$(System.AccessToken)"
    assert checked >= 4, "expected an invoke step in each deploy job"


def test_azure_pipeline_gates_every_change_behind_an_environment() -> None:
    pipeline = load(AZURE_PIPELINE)
    parameters = {p["name"]: p for p in pipeline["parameters"]}
    assert sorted(parameters["environment"]["values"]) == azure_environments()
    assert any(v != "Azure Pipelines" for v in parameters["kubernetesPool"]["values"])
    jobs = {job_name: job for _, job_name, job in policy.pipeline_jobs(pipeline)}
    assert list(jobs) == ["plan", "apply", "image", "kubernetes"]
    assert "deployment" not in jobs["plan"]
    for name in ("apply", "image", "kubernetes"):
        assert jobs[name]["environment"] == "orderdesk-${{ parameters.environment }}", name
    pool = jobs["kubernetes"]["pool"]
    assert any(re.search(r"parameters\.kubernetesPool", str(key)) for key in pool)


def test_azure_pipeline_carries_the_plan_to_the_apply_stage() -> None:
    pipeline = load(AZURE_PIPELINE)
    jobs = {job_name: job for _, job_name, job in policy.pipeline_jobs(pipeline)}
    (publish,) = [
        s
        for s in policy.pipeline_steps(jobs["plan"])
        if s.get("task") == "PublishPipelineArtifact@1"
    ]
    (download,) = [
        s
        for s in policy.pipeline_steps(jobs["apply"])
        if s.get("task") == "DownloadPipelineArtifact@2"
    ]
    assert download["inputs"]["artifactName"] == publish["inputs"]["artifact"]
    assert publish["inputs"]["targetPath"] == ".data/terraform/$(DEPLOY_ENV).tfplan"
    assert download["inputs"]["targetPath"] == "$(Build.SourcesDirectory)/.data/terraform"
