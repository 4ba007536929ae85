"""Everything that can be checked before a deploy changes anything, reported all at once."""

from __future__ import annotations

import os

from invoke.context import Context
from invoke.exceptions import Exit

from ops import azure, toolchain
from ops.core import git
from ops.core.environments import BAD_INPUT
from ops.deploy.plan import Stage
from ops.deploy.runner import console
from ops.envconfig import Environment
from ops.monitoring.layout import TEAMS_WEBHOOK_VARIABLE

BOOTSTRAP = "scripts/bootstrap --system"
KUSTOMIZE = "python -m ops.toolchain install kustomize"
SUPPLY_CHAIN = "python -m ops.toolchain install cosign syft"

# tool: (how to get it, the stages that call it)
LOCAL_TOOLS: dict[str, tuple[str, set[str]]] = {
    "dockerd": (f"Debian docker.io ({BOOTSTRAP})", {"image", "kubernetes"}),
    "docker-registry": (f"Debian docker-registry ({BOOTSTRAP})", {"image"}),
    # The local cluster: its Kubernetes binaries at env.yaml's version, Debian's runtime.
    "kube-apiserver": (f"tools/build/kubernetes ({BOOTSTRAP})", {"credentials"}),
    "kubelet": (f"tools/build/kubernetes ({BOOTSTRAP})", {"credentials"}),
    "etcd": (f"Debian etcd-server ({BOOTSTRAP})", {"credentials"}),
    "containerd": (f"Debian containerd ({BOOTSTRAP})", {"credentials"}),
    "kubectl": (f"tools/build/kubernetes ({BOOTSTRAP})", {"credentials", "kubernetes"}),
    "kustomize": (KUSTOMIZE, {"kubernetes"}),
    "syft": (SUPPLY_CHAIN, {"image"}),
    "cosign": (SUPPLY_CHAIN, {"image", "kubernetes"}),
}
AZURE_TOOLS: dict[str, tuple[str, set[str]]] = {
    "terraform": (BOOTSTRAP, {"terraform", "credentials"}),
    "az": (azure.AZ_INSTALL, {"image", "credentials", "entra", "secrets", "dns"}),
    "kubelogin": ("https://azure.github.io/kubelogin/install.html", {"credentials"}),
    "kubectl": ("az aks install-cli", {"credentials", "addons", "kubernetes", "monitoring", "dns"}),
    "kustomize": (KUSTOMIZE, {"kubernetes"}),
    "helm": ("https://helm.sh/docs/intro/install/", {"addons", "monitoring"}),
    "syft": (SUPPLY_CHAIN, {"image"}),
    "cosign": (SUPPLY_CHAIN, {"image", "kubernetes"}),
}


def required_tools(environment: Environment, stages: list[Stage]) -> dict[str, str]:
    """Tool -> how to get it, for the stages that will run (CI jobs run a few stages each)."""
    needs = LOCAL_TOOLS if environment.is_local else AZURE_TOOLS
    running = {stage.name for stage in stages if not stage.skipped}
    return {tool: how for tool, (how, used_by) in needs.items() if used_by & running}


# Alertmanager's receiver (monitoring) and the Azure Monitor action group (terraform: tf.* hands
# the URL to Terraform as TF_VAR_teams_webhook_url).
WEBHOOK_STAGES = frozenset({"monitoring", "terraform"})


def teams_webhook_problem(environment: Environment, stages: list[Stage]) -> str:
    """What is wrong with the Teams webhook URL the terraform and monitoring stages need, or "".

    Without it the first deploy would stop at the terraform plan, or at the monitoring stage
    after every change.
    """
    running = {stage.name for stage in stages if not stage.skipped}
    if environment.is_local or not WEBHOOK_STAGES & running:
        return ""
    url = os.environ.get(TEAMS_WEBHOOK_VARIABLE, "").strip()
    # Azure Pipelines leaves the macro `$(TEAMS_WEBHOOK_URL)` as it is when no such variable exists.
    if not url or url.startswith("$("):
        return (
            f"{TEAMS_WEBHOOK_VARIABLE} is not set: the monitoring stage sends alerts to that Teams "
            "Workflows URL; export it (in CI: map the secret TEAMS_WEBHOOK_URL into the step's "
            "env), see monitoring/README.md"
        )
    if not url.startswith("https://"):
        return f"{TEAMS_WEBHOOK_VARIABLE} does not start with https://; copy the Workflow's URL"
    return ""


def problems(
    c: Context,
    environment: Environment,
    stages: list[Stage],
    *,
    allow_dirty: bool,
    check_login: bool,
) -> tuple[str, list[str]]:
    """The commit to deploy, and every problem that would stop the deploy."""
    found = [
        f"{tool} is not installed ({how})"
        for tool, how in required_tools(environment, stages).items()
        if toolchain.find(tool) is None
    ]
    sha = "0" * 40
    try:
        sha = git.head()
        dirty = git.changes()
    except git.GitError as exc:
        found.append(str(exc))
    else:
        if dirty and not allow_dirty:
            found.append(
                f"the working tree has {len(dirty)} uncommitted change(s): the image is tagged "
                "with the git SHA, so commit or stash them, or pass --allow-dirty"
            )
    webhook = teams_webhook_problem(environment, stages)
    if webhook:
        found.append(webhook)
    if environment.azure is not None and check_login and toolchain.find("az") is not None:
        login = azure.login_problem()
        if login:
            found.append(login)
        elif any(stage.name == "terraform" and not stage.skipped for stage in stages):
            # azurerm 5 registers no resource provider itself: an unregistered one would fail
            # the apply halfway, after some resources exist.
            found.extend(azure.registration_problems(c, env=environment.name))
    return sha, found


def preflight(
    c: Context,
    environment: Environment,
    stages: list[Stage],
    *,
    allow_dirty: bool,
    dry_run: bool,
) -> str:
    """Check everything that can fail before anything is changed; return the git SHA.

    A dry run lists the problems and goes on (it needs no Azure login); a real run stops.
    """
    sha, found = problems(c, environment, stages, allow_dirty=allow_dirty, check_login=not dry_run)
    if found:
        listing = "\n".join(f"  - {problem}" for problem in found)
        if dry_run:
            console.print(f"preflight would stop a real deploy:\n{listing}")
        else:
            raise Exit(
                f"deploy --env {environment.name}: preflight failed:\n{listing}", code=BAD_INPUT
            )
    return sha
