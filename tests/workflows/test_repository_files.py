"""The real CI/CD files: every rule of policy.py, and what each file promises beyond the rules."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ops import envconfig, toolchain
from testkit.support import need_tool
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
        "actions/setup-go",
        "hashicorp/setup-terraform",
        "azure/setup-kubectl",
        "azure/use-kubelogin",
        "azure/setup-helm",
    }
    assert {action: len(found) for action, found in pins.items()} == dict.fromkeys(pins, 1)


# --- ci.yml -----------------------------------------------------------------------------------


def test_ci_runs_the_app_tests_on_every_supported_python() -> None:
    tests = workflow("ci.yml")["jobs"]["tests"]
    assert tests["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    assert tests["container"]["image"] == "python:${{ matrix.python }}-trixie"
    calls = [
        c for c in policy.github_commands(WORKFLOWS_DIR / "ci.yml") if isinstance(c, policy.Command)
    ]
    forced = {c.argv for c in calls if c.program == "nox" and "tests" in c.argv}
    assert forced == {("-s", "tests", "--force-python", v) for v in ("3.11", "3.12", "3.13")}


def test_ci_tool_sessions_run_on_the_project_python() -> None:
    jobs = workflow("ci.yml")["jobs"]
    (setup,) = steps_using(jobs["checks"], "actions/setup-python")
    assert setup["with"]["python-version"] == "3.11"
    for name in ("areas", "toolchain"):
        assert jobs[name]["container"]["image"] == "python:3.11-trixie", name


# GitHub can run a job in a container (jobs.<id>.container); Docker's own image documentation
# says "--privileged is required for Docker-in-Docker to function properly"
# (docker-library/docs, docker/content.md).
def test_ci_jobs_that_need_debian_packages_run_in_a_debian_container() -> None:
    jobs = workflow("ci.yml")["jobs"]
    system = [
        name
        for name, job in jobs.items()
        if any("--system" in str(step.get("run", "")) for step in job["steps"])
    ]
    assert sorted(system) == ["areas", "tests", "toolchain"]
    for name in system:
        container = jobs[name]["container"]
        # Which Debian release: test_conventions' test of the image's release.
        assert re.fullmatch(r"python:[^:]+-(bookworm|trixie|forky)", container["image"]), name
        assert "--privileged" in container["options"].split(), name
        # The image's Python is the one: setup-python's builds are for Ubuntu, not Debian.
        assert not steps_using(jobs[name], "actions/setup-python"), name
    for name in set(jobs) - set(system):
        assert "container" not in jobs[name], name


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


# "Jobs that reference an environment configured with required reviewers will wait for an
# approval before starting" (docs.github.com/actions/managing-workflow-runs/reviewing-deployments).
def test_one_approval_per_deploy_only_the_apply_job_names_the_gated_environment() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    expression = "${{ inputs.environment || 'dev' }}"
    named = {name: job.get("environment") for name, job in jobs.items()}
    gated = [name for name, environment in named.items() if environment == {"name": expression}]
    assert gated == ["apply"]
    assert named["plan"] == {"name": f"{expression}-plan"}
    # The later jobs change things too: they wait for the approved apply.
    for name in ("image", "kubernetes"):
        assert named[name] == {"name": f"{expression}-deploy"}, name
        assert "apply" in policy._upstream(jobs, name), name


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


# Prod's vault, registry and API server answer only inside the VNet (private endpoints, a private
# cluster), dev's only to env.yaml's runners.ip_ranges; Microsoft-hosted Azure DevOps agents
# cannot reach private endpoints
# (learn.microsoft.com/azure/container-registry/container-registry-access-selected-networks).
ENVIRONMENT_RUNNER = "${{ format('orderdesk-{0}', inputs.environment || 'dev') }}"


def test_every_job_that_touches_the_estate_runs_on_the_environments_runner() -> None:
    deploy = workflow("deploy.yml")
    assert set(deploy["on"]["workflow_dispatch"]["inputs"]) == {"environment"}
    jobs = deploy["jobs"]
    assert set(jobs) == {"plan", "apply", "image", "kubernetes"}
    for name, job in jobs.items():
        assert job["runs-on"] == ENVIRONMENT_RUNNER, name
    destroy = workflow("destroy.yml")["jobs"]["destroy"]
    assert destroy["runs-on"] == "${{ format('orderdesk-{0}', inputs.environment) }}"
    pipeline = load(AZURE_PIPELINE)
    pipeline_jobs = {job_name: job for _, job_name, job in policy.pipeline_jobs(pipeline)}
    assert pipeline_jobs
    for name, job in pipeline_jobs.items():
        assert job["pool"] == {"name": "orderdesk-${{ parameters.environment }}"}, name


def test_terraform_plans_get_the_alarms_teams_url_from_the_ci_secret() -> None:
    """infra/variables.tf refuses a plan without teams_webhook_url; tf.plan reads it from
    TEAMS_WEBHOOK_URL, which a step has only when the secret is mapped into its env."""
    (plan,) = [
        step
        for step in workflow("deploy.yml")["jobs"]["plan"]["steps"]
        if step.get("run", "").startswith("invoke tf.plan")
    ]
    assert plan["env"]["TEAMS_WEBHOOK_URL"] == "${{ secrets.TEAMS_WEBHOOK_URL }}"
    (destroy,) = [
        step
        for step in workflow("destroy.yml")["jobs"]["destroy"]["steps"]
        if step.get("run", "").startswith("invoke destroy")
    ]
    assert destroy["env"]["TEAMS_WEBHOOK_URL"] == "${{ secrets.TEAMS_WEBHOOK_URL }}"
    pipeline = load(AZURE_PIPELINE)
    jobs = {job_name: job for _, job_name, job in policy.pipeline_jobs(pipeline)}
    (pipeline_plan,) = [
        step
        for step in policy.pipeline_steps(jobs["plan"])
        if "invoke tf.plan" in str(step.get("inputs", {}).get("inlineScript", ""))
    ]
    assert pipeline_plan["env"]["TEAMS_WEBHOOK_URL"] == "$(TEAMS_WEBHOOK_URL)"


def test_each_environments_runner_is_admitted_by_the_estate() -> None:
    """Where the runner is: a public range the firewalls admit, or a subnet inside the VNet."""
    environments = envconfig.load_all()
    azure_ones = {name: env.azure for name, env in environments.items() if env.azure is not None}
    assert set(azure_ones) == {"dev", "prod"}
    for name, azure in azure_ones.items():
        inside = azure.network.subnets.runners is not None
        assert azure.runners.ip_ranges or inside, name
        if azure.aks.private_cluster:
            assert inside, name


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


# The azurerm provider and backend sign in as ARM_CLIENT_ID through the service connection named
# by ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID (ado_pipeline_service_connection_id, hashicorp/
# terraform-provider-azurerm's provider schema), not through the AzureCLI@2 task's connection.
def test_azure_pipeline_plan_stage_uses_the_plan_connection_for_the_cli_and_terraform_alike() -> (
    None
):
    pipeline = load(AZURE_PIPELINE)
    identity = {
        "ARM_CLIENT_ID": "AZURE_CLIENT_ID",
        "ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID": "SERVICE_CONNECTION_ID",
    }
    checked = 0
    for stage, _, job in policy.pipeline_jobs(pipeline):
        for step in policy.pipeline_steps(job):
            if step.get("task") != "AzureCLI@2":
                continue
            checked += 1
            plan = stage == "terraform_plan"
            connection = step["inputs"]["azureSubscription"]
            assert connection.endswith("-plan") == plan, (stage, connection)
            for variable, source in identity.items():
                expected = f"$(PLAN_{source})" if plan else f"$({source})"
                assert step["env"][variable] == expected, (stage, variable)
    assert checked >= 5


def test_azure_pipeline_gates_every_change_behind_an_environment() -> None:
    pipeline = load(AZURE_PIPELINE)
    parameters = {p["name"]: p for p in pipeline["parameters"]}
    assert sorted(parameters["environment"]["values"]) == azure_environments()
    jobs = {job_name: job for _, job_name, job in policy.pipeline_jobs(pipeline)}
    assert list(jobs) == ["plan", "apply", "image", "kubernetes"]
    # Checks run before every stage that uses the resource
    # (learn.microsoft.com/azure/devops/pipelines/process/approvals): one stage names it.
    assert [name for name, job in jobs.items() if "environment" in job] == ["apply"]
    assert jobs["apply"]["environment"] == "orderdesk-${{ parameters.environment }}"
    stages = [stage for stage, _, _ in policy.pipeline_jobs(pipeline)]
    for stage in stages[2:]:
        assert "terraform_apply" in policy._stage_upstream(pipeline, stage), stage


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


# --- the Teams webhook secret (issue 14, item 12) -----------------------------------------------


# GitHub hands a secret to a step only through the secrets context; Azure Pipelines maps a secret
# variable into a script's environment only through the step's env
# (learn.microsoft.com/azure/devops/pipelines/process/variables#secret-variables).
def test_the_teams_webhook_url_comes_from_a_ci_secret_in_every_deploying_file() -> None:
    github = WORKFLOWS_DIR / "deploy.yml"
    for path, rendered in (
        (github, "${{ secrets.TEAMS_WEBHOOK_URL }}"),
        (AZURE_PIPELINE, "$(TEAMS_WEBHOOK_URL)"),
    ):
        text = path.read_text(encoding="utf-8")
        assert text.count(f"TEAMS_WEBHOOK_URL: {rendered}") >= 3, path.name
        invokes = [c.argv for c in policy.commands([path]) if c.program == "invoke"]
        assert sum(policy.needs_webhook(argv) for argv in invokes) >= 3, path.name
        assert any("--preflight-only" in argv for argv in invokes), path.name


@pytest.mark.parametrize(
    ("path", "line", "why"),
    [
        (
            WORKFLOWS_DIR / "deploy.yml",
            "          TEAMS_WEBHOOK_URL: ${{ secrets.TEAMS_WEBHOOK_URL }}\n",
            "without TEAMS_WEBHOOK_URL",
        ),
        (
            AZURE_PIPELINE,
            "              TEAMS_WEBHOOK_URL: $(TEAMS_WEBHOOK_URL)\n",
            "without TEAMS_WEBHOOK_URL",
        ),
        (
            WORKFLOWS_DIR / "deploy.yml",
            '        run: invoke deploy --env "$DEPLOY_ENV" --preflight-only\n',
            "changes something before any preflight",
        ),
        (
            WORKFLOWS_DIR / "destroy.yml",
            "          TEAMS_WEBHOOK_URL: ${{ secrets.TEAMS_WEBHOOK_URL }}\n",
            "without TEAMS_WEBHOOK_URL",
        ),
    ],
    ids=["github-env", "azure-devops-env", "github-no-preflight", "github-destroy-env"],
)
def test_a_missing_teams_webhook_fails_in_preflight_not_halfway(
    tmp_path: Path, path: Path, line: str, why: str
) -> None:
    text = path.read_text(encoding="utf-8")
    assert line in text
    broken = tmp_path / path.name
    replacement = "        run: invoke tf.plan --help\n" if "preflight" in line else ""
    # Whole lines only: a deeper-indented copy of the line (another step's env) stays.
    lines = text.splitlines(keepends=True)
    broken.write_text("".join(replacement if x == line else x for x in lines), encoding="utf-8")
    check = policy.check_azure_pipeline if path == AZURE_PIPELINE else policy.check_github_workflow
    violations = [v for v in check(broken) if v.rule == "teams-webhook"]
    assert violations
    assert all(why in v.message for v in violations), [str(v) for v in violations]


# --- current runtimes (issue 14, item 17) -------------------------------------------------------

# Azure/login's tag v3.0.1 (this commit) has `runs.using: node24` in action.yml; v2.3.0
# (a457da9e) ran on node20, which GitHub stops running (Azure/login#577).
AZURE_LOGIN_NODE24 = "azure/login@f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca"


def test_azure_login_is_pinned_to_a_node24_release() -> None:
    pins = [
        (path.name, ref + rest)
        for path in policy.github_workflows()
        for _, ref, rest in policy._uses_lines(path.read_text(encoding="utf-8"))
        if ref.lower().startswith("azure/login@")
    ]
    assert len(pins) >= 5, pins  # four deploy jobs and destroy
    for name, pin in pins:
        assert pin.startswith(AZURE_LOGIN_NODE24), (name, pin)
        assert pin.endswith("# v3.0.1"), (name, pin)


# --- deploy jobs install only what deploying needs (issue 14, item 14) ----------------------------

# Each setup action's tag was checked in the action's own repository: hashicorp/setup-terraform
# v4.0.1, azure/setup-kubectl v5.1.0, azure/use-kubelogin v1.3 and azure/setup-helm v5.0.1 all
# have `runs.using: node24` in action.yml at these commits. Hosted runners lack kubelogin, which
# AKS with Entra ID needs (learn.microsoft.com .../kubelogin-installer-v0: "installs kubelogin").
DEPLOY_SETUP_ACTIONS = {
    "hashicorp/setup-terraform@dfe3c3f87815947d99a8997f908cb6525fc44e9e": "# v4.0.1",
    "azure/setup-kubectl@829323503d1be3d00ca8346e5391ca0b07a9ab0d": "# v5.1.0",
    "azure/use-kubelogin@0ce7c36141aa27d4934872cf00b0120804c98a29": "# v1.3",
    "azure/setup-helm@9bc31f4ebc9c6b171d7bfbaa5d006ae7abdb4310": "# v5.0.1",
    # actions/setup-go v7.0.0 (runs.using node24), checked against its own tag: Go for the deploy
    # profile's Go tools (the image keeps Go only in its tool cache).
    "actions/setup-go@b7ad1dad31e06c5925ef5d2fc7ad053ef454303e": "# v7.0.0",
}


def deploy_jobs() -> list[tuple[str, dict[str, Any]]]:
    """Every job that signs in to Azure: deploy.yml's four and destroy.yml's one."""
    found = [
        (f"{name}:{job_name}", job)
        for name in ("deploy.yml", "destroy.yml")
        for job_name, job in workflow(name)["jobs"].items()
        if steps_using(job, "azure/login")
    ]
    assert len(found) == 5
    return found


def test_deploy_jobs_install_only_what_deploying_needs_never_the_test_stand_ins() -> None:
    for where, job in deploy_jobs():
        bootstraps = [
            str(step["run"]) for step in job["steps"] if "scripts/bootstrap" in str(step.get("run"))
        ]
        assert bootstraps == ["scripts/bootstrap --deploy"], where
        used = {str(step.get("uses")) for step in job["steps"] if "uses" in step}
        assert set(DEPLOY_SETUP_ACTIONS) <= used, where
        # The terraform wrapper would rewrite stdout that tf.plan/tf.output parse.
        (terraform,) = steps_using(job, "hashicorp/setup-terraform")
        assert terraform["with"]["terraform_wrapper"] is False, where
        for action in ("azure/setup-kubectl", "azure/use-kubelogin", "azure/setup-helm"):
            (step,) = steps_using(job, action)
            assert re.fullmatch(r"v\d+\.\d+\.\d+", next(iter(step["with"].values()))), where
    for path in (WORKFLOWS_DIR / "deploy.yml", WORKFLOWS_DIR / "destroy.yml"):
        pins = {ref: rest.strip() for _, ref, rest in policy._uses_lines(path.read_text())}
        for ref, version in DEPLOY_SETUP_ACTIONS.items():
            assert pins[ref] == version, (path.name, ref)


def test_the_deploy_profile_installs_no_debian_package_and_builds_no_stand_in(
    tmp_path: Path,
) -> None:
    """scripts/bootstrap --deploy, run for real with recording stand-ins for apt and sudo."""
    shims = tmp_path / "bin"
    shims.mkdir()
    calls = tmp_path / "calls"
    go = need_tool("go", "the cached tools' build info is read with `go version -m`")
    for program in ("apt-get", "dpkg-query", "sudo", "go"):
        shim = shims / program
        # Reading a binary's build info (is it the pinned version?) builds nothing.
        passes = f'[ "$1" = version ] && exec {go} "$@"\n' if program == "go" else ""
        shim.write_text(f'#!/bin/sh\n{passes}echo "{program} $*" >> {calls}\nexit 1\n')
        shim.chmod(0o755)
    built = {
        name: need_tool(name, "the deploy profile installs it into the shared cache")
        for name in toolchain.DEPLOY_TOOLS
    }
    # A copy of what bootstrap reads, so the checkout's own .venv keeps no deploy-only az.
    checkout = tmp_path / "checkout"
    for name in ("scripts", "ops", "tools"):
        shutil.copytree(policy.ROOT / name, checkout / name)
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy2(policy.ROOT / name, checkout / name)
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}"}
    # Run as a person would, outside nox: its venv and uv's project environment are not ours.
    for variable in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"):
        env.pop(variable, None)
    # The Go caches it would drop are this machine's shared ones (tests/ops/test_toolchain.py
    # proves the dropping on caches of its own).
    env["ORDERDESK_KEEP_GO_CACHES"] = "1"
    result = subprocess.run(
        [str(checkout / "scripts" / "bootstrap"), "--deploy"],
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not calls.exists(), calls.read_text()
    for name, path in built.items():
        assert f"{name}: {path}" in result.stdout
    # image.scan's scanners, from the locked image group.
    for script in ("hadolint", "detect-secrets"):
        assert (checkout / ".venv" / "bin" / script).is_file(), script
    assert "tools/build" not in result.stdout
    assert "Debian packages" not in result.stdout
    # The locked Azure CLI, at the same release as the azure-cli-core the ops group pins.
    installed = subprocess.run(
        [str(checkout / ".venv" / "bin" / "az"), "version", "--output", "json"],
        env={**env, "AZURE_CONFIG_DIR": str(tmp_path / "azure")},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    versions = json.loads(installed.stdout)
    assert versions["azure-cli"] == versions["azure-cli-core"] == locked_version("azure-cli")


def locked_version(package: str) -> str:
    lock = tomllib.loads((policy.ROOT / "uv.lock").read_text(encoding="utf-8"))
    (version,) = [p["version"] for p in lock["package"] if p["name"] == package]
    return str(version)


def test_the_azure_cli_is_locked_in_its_own_group_at_the_release_of_its_pinned_core() -> None:
    project = tomllib.loads((policy.ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    groups = project["dependency-groups"]
    assert groups["azure"] == [f"azure-cli=={locked_version('azure-cli')}"]
    assert f"azure-cli-core=={locked_version('azure-cli-core')}" in groups["ops"]
    assert locked_version("azure-cli") == locked_version("azure-cli-core")


# KubeloginInstaller@0, KubectlInstaller@0 and HelmInstaller@1 are built-in tasks
# (learn.microsoft.com/azure/devops/pipelines/tasks/reference/kubelogin-installer-v0 and siblings).
def test_azure_pipeline_deploy_jobs_install_only_what_deploying_needs() -> None:
    pipeline = load(AZURE_PIPELINE)
    installers = {
        "KubectlInstaller@0": "kubectlVersion",
        "KubeloginInstaller@0": "kubeloginVersion",
        "HelmInstaller@1": "helmVersionToInstall",
        "GoTool@0": "version",
    }
    jobs = list(policy.pipeline_jobs(pipeline))
    assert len(jobs) == 4
    for stage, _, job in jobs:
        steps = policy.pipeline_steps(job)
        scripts = [str(step["script"]) for step in steps if "bootstrap" in str(step.get("script"))]
        assert scripts == ["scripts/bootstrap --deploy"], stage
        for task, version_input in installers.items():
            (step,) = [step for step in steps if step.get("task") == task]
            assert re.fullmatch(r"\d+\.\d+\.\d+", str(step["inputs"][version_input])), stage


def test_every_deploy_job_installs_the_helm_the_machines_build() -> None:
    """One Helm version: what tools/go/cluster.txt builds (and the tests run) is what each deploy
    job downloads. azure/setup-helm puts `version` into the release file's name as given, v4
    included (Azure/setup-helm#230 shows it installing v4.0.0); HelmInstaller@1 takes any
    semantic version (microsoft/azure-pipelines-tasks#22068)."""
    built = toolchain.GO_TOOLS["helm"].rsplit("@", 1)[1]
    assert toolchain.GO_TOOLS["helm"].startswith("helm.sh/helm/v4/")
    workflow_pins = [
        str(step["with"]["version"])
        for _, job in deploy_jobs()
        for step in steps_using(job, "azure/setup-helm")
    ]
    pipeline_pins = [
        str(step["inputs"]["helmVersionToInstall"])
        for _, _, job in policy.pipeline_jobs(load(AZURE_PIPELINE))
        for step in policy.pipeline_steps(job)
        if step.get("task") == "HelmInstaller@1"
    ]
    assert len(workflow_pins) == 5
    assert len(pipeline_pins) == 4
    assert set(workflow_pins) == {built}
    assert set(pipeline_pins) == {built.removeprefix("v")}
