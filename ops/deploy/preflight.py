"""Everything that can be checked before a deploy changes anything, reported all at once."""

from __future__ import annotations

import os

from invoke.context import Context
from invoke.exceptions import Exit

from ops import azure, toolchain
from ops.azure import providers
from ops.core import git
from ops.core.environments import BAD_INPUT, TEAMS_WEBHOOK_VARIABLE
from ops.deploy.plan import Stage
from ops.deploy.runner import console
from ops.envconfig import Environment

BOOTSTRAP = "scripts/bootstrap --system"
KUSTOMIZE = "python -m ops.toolchain install kustomize"
SUPPLY_CHAIN = "python -m ops.toolchain install cosign syft"
# Every deploy job runs this first: the project's own deploy tools, exactly (ops.toolchain
# DEPLOY_TOOLS and the locked azure and image groups).
DEPLOY_PROFILE = "scripts/bootstrap --deploy"
# Hosted runners have the engine at /var/run/docker.sock for their user (actions/runner-images
# images/ubuntu/scripts/build/install-docker.sh); a self-hosted runner needs it installed.
RUNNER_DOCKER = (
    "Docker Engine with its socket at /var/run/docker.sock and the runner's user in the docker "
    "group (https://docs.docker.com/engine/install/), or DOCKER_HOST"
)

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
    "terraform": (
        "https://developer.hashicorp.com/terraform/install (CI: hashicorp/setup-terraform)",
        {"terraform", "credentials"},
    ),
    "az": (DEPLOY_PROFILE, {"image", "credentials", "entra", "secrets", "dns", "kubernetes"}),
    "kubelogin": ("https://azure.github.io/kubelogin/install.html", {"credentials"}),
    "kubectl": ("az aks install-cli", {"credentials", "addons", "kubernetes", "monitoring", "dns"}),
    "kustomize": (DEPLOY_PROFILE, {"kubernetes"}),
    "helm": ("https://helm.sh/docs/intro/install/", {"addons", "monitoring"}),
    "syft": (DEPLOY_PROFILE, {"image"}),
    "cosign": (DEPLOY_PROFILE, {"image", "kubernetes"}),
    # image.scan's Dockerfile lint and secret scan (the image group of uv.lock).
    "hadolint": (DEPLOY_PROFILE, {"image"}),
    "detect-secrets": (DEPLOY_PROFILE, {"image"}),
    # image.build/push, and `az acr login` before image.verify, talk to the runner's engine.
    "docker": (RUNNER_DOCKER, {"image", "kubernetes"}),
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


def person_problem(environment: Environment, account: dict[str, object]) -> str:
    """Azure deploys run as the deploy identity on the environment's runner, or "" if az is
    signed in as a workload identity: a person's login reaches neither the registry nor the
    vault, which admit only the runners' ranges and the deploy identity's data-plane roles."""
    user = account.get("user")
    if not isinstance(user, dict) or user.get("type") != "user":
        return ""
    name = environment.name
    return (
        f"az is signed in as {user.get('name')}, a person: deploys to {name} run as its deploy "
        f"identity on the runner orderdesk-{name}, the only place its registry, vault and API "
        "server admit (README, 'Who deploys from where'); push to main or run the deploy "
        f"workflow. From here: `invoke deploy --env {name} --dry-run` or `--preflight-only`"
    )


def login_problem(c: Context, environment: Environment, *, check_runner: bool) -> str:
    """What is wrong with az's login for this deploy (`az account show`), or "": nobody signed
    in, the wrong subscription or tenant, or (check_runner) a person instead of the runner."""
    try:
        account = azure.require_login(c)
    except Exit as exc:
        return str(exc.message)
    problem = azure.account_problem(account)
    if check_runner and not problem:
        problem = person_problem(environment, account)
    return problem


# The resources each stage reaches with az's token (fetched while the CI login is fresh):
# Key Vault for secrets and cosign's azurekms:// signing and verifying, AKS for kubelogin,
# Microsoft Graph for the sign-in app registration (the entra stage, `az rest`).
TOKEN_STAGES: dict[str, set[str]] = {
    azure.KEY_VAULT_RESOURCE: {"image", "secrets", "kubernetes"},
    azure.AKS_SERVER_APPLICATION: {"credentials", "addons", "monitoring", "kubernetes", "dns"},
    azure.GRAPH_RESOURCE: {"entra"},
}


def tokens_for(stages: list[Stage]) -> list[str]:
    running = {stage.name for stage in stages if not stage.skipped}
    return [resource for resource, used_by in TOKEN_STAGES.items() if used_by & running]


def problems(
    c: Context,
    environment: Environment,
    stages: list[Stage],
    *,
    allow_dirty: bool,
    check_login: bool,
    check_runner: bool = False,
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
        login = login_problem(c, environment, check_runner=check_runner)
        if login:
            found.append(login)
        elif any(stage.name == "terraform" and not stage.skipped for stage in stages):
            # azurerm 5 registers no resource provider itself: an unregistered one would fail
            # the apply halfway, after some resources exist.
            found.extend(providers.registration_problems(c, env=environment.name))
    return sha, found


def preflight(
    c: Context,
    environment: Environment,
    stages: list[Stage],
    *,
    allow_dirty: bool,
    dry_run: bool,
    preflight_only: bool = False,
) -> str:
    """Check everything that can fail before anything is changed; return the git SHA.

    A dry run lists the problems and goes on (it needs no Azure login); a real run stops. A run
    that will deploy to Azure then has az issue the tokens its stages need, while the login is
    fresh (see ops.azure.fetch_tokens).
    """
    sha, found = problems(
        c,
        environment,
        stages,
        allow_dirty=allow_dirty,
        check_login=not dry_run,
        check_runner=not (dry_run or preflight_only),
    )
    if found:
        listing = "\n".join(f"  - {problem}" for problem in found)
        if dry_run:
            console.print(f"preflight would stop a real deploy:\n{listing}")
        else:
            raise Exit(
                f"deploy --env {environment.name}: preflight failed:\n{listing}", code=BAD_INPUT
            )
    if environment.azure is not None and not (dry_run or preflight_only):
        azure.fetch_tokens(c, tokens_for(stages))
    return sha
