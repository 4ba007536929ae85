"""`invoke tf.*`: the Azure estate in infra/, one environment of env.yaml at a time.

    invoke tf.bootstrap --env dev     resource providers + features, state storage (idempotent)
    invoke tf.lock                    infra/.terraform.lock.hcl from the registry (commit it)
    invoke tf.plan --env dev          writes .data/terraform/dev.tfplan
    invoke tf.apply --env dev         applies exactly that saved plan
    invoke tf.output --env dev        outputs as JSON (one with --name)
    invoke tf.destroy --env dev       plan -destroy, typed confirmation (or --yes), apply

The environment is required (--env, as for every task): infrastructure tasks never pick one for
you. Each task resolves its Target (ops/core/target.py) and calls the function of the same name
with `_for` (`plan_for(target)`, ...), which deploy calls too. Everything that can be checked
without Azure is checked first: env.yaml (ops/envconfig.py), the environment having an azure block,
the subscription id, the terraform program, an `az login`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from invoke import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from ops import envconfig
from ops.azure.providers import register_providers_and_features
from ops.core import git, state
from ops.core.azcli import program as az_program
from ops.core.azcli import require_login
from ops.core.environments import BAD_INPUT, ENV_HELP, TEAMS_WEBHOOK_VARIABLE
from ops.core.run import RunFailed, Runner
from ops.core.target import Target
from ops.core.wait import NotYet, wait_or_exit
from ops.envconfig import Azure, Environment
from ops.terraform_cli import TerraformCli, TerraformNotFound, terraform_env

INFRA_DIR = envconfig.REPO_ROOT / "infra"
# Plans and terraform data directories, beside the per-environment state.
WORK_DIR = state.DEFAULT_ROOT / "terraform"
PLACEHOLDER_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
LOCK_FILE = INFRA_DIR / ".terraform.lock.hcl"
# Where people plan and apply: CI runners and Linux laptops, and Apple silicon Macs.
LOCK_PLATFORMS = ("linux_amd64", "darwin_arm64")
LOCK_FIX = (
    "run `invoke tf.lock` where registry.terraform.io is reachable and commit "
    "infra/.terraform.lock.hcl"
)


# What a first apply creates alone (README, "Before your first real deploy"): the zone depends on
# nothing but the resource group, and `-target` adds only what the target depends on.
DNS_ZONE_ADDRESS = "module.dns.azurerm_dns_zone.this"
NETWORK_ADDRESS = "module.network"


def subscription_id(environment: Environment, azure: Azure) -> str:
    """ARM_SUBSCRIPTION_ID wins; otherwise env.yaml, unless it still holds the placeholder."""
    chosen = os.environ.get("ARM_SUBSCRIPTION_ID") or azure.subscription_id
    if chosen == PLACEHOLDER_SUBSCRIPTION:
        raise Exit(
            f"tf: infra/env.yaml has a placeholder subscription_id for {environment.name}; "
            "export ARM_SUBSCRIPTION_ID=<your subscription id> (or set it in env.yaml)",
            code=BAD_INPUT,
        )
    return chosen


TEAMS_WEBHOOK_TF_VAR = "TF_VAR_teams_webhook_url"


def _terraform(environment: Environment, subscription: str) -> TerraformCli:
    try:
        # One data directory per environment: switching --env never reuses another's backend.
        # Real deployments take azurerm from the registry (signed releases), not the local mirror
        # that offline validation uses.
        env = terraform_env(data_dir=WORK_DIR / environment.name / "tfdata", use_mirror=False)
        env["ARM_SUBSCRIPTION_ID"] = subscription
        # One secret for both alarm paths: Alertmanager reads TEAMS_WEBHOOK_URL, and the Azure
        # Monitor action group gets the same URL through the root variable teams_webhook_url.
        if os.environ.get(TEAMS_WEBHOOK_VARIABLE) and not os.environ.get(TEAMS_WEBHOOK_TF_VAR):
            env[TEAMS_WEBHOOK_TF_VAR] = os.environ[TEAMS_WEBHOOK_VARIABLE]
        return TerraformCli(INFRA_DIR, env=env)
    except TerraformNotFound as exc:
        raise Exit(f"tf: {exc}", code=BAD_INPUT) from exc


def _backend_config(environment: Environment, azure: Azure, subscription: str) -> dict[str, str]:
    return {
        "resource_group_name": azure.state.resource_group,
        "storage_account_name": azure.state.storage_account,
        "container_name": azure.state.container,
        "key": f"{environment.name}.tfstate",
        "subscription_id": subscription,
    }


def default_plan_file(env: str, *, destroy: bool = False) -> Path:
    return WORK_DIR / (f"{env}.destroy.tfplan" if destroy else f"{env}.tfplan")


def require_committed_lock_file() -> None:
    """The provider lock file exists and is committed as it is: plan and apply then install the
    same provider builds, checked against the same registry checksums."""
    name, checkout = LOCK_FILE.name, LOCK_FILE.parent
    if not LOCK_FILE.is_file():
        raise Exit(
            f"tf: {LOCK_FILE} is missing, so plan and apply could each pick a different provider "
            f"release; {LOCK_FIX}",
            code=BAD_INPUT,
        )
    try:
        git.git("ls-files", "--error-unmatch", name, cwd=checkout)
        changed = git.changes(name, cwd=checkout)
    except git.GitError as exc:
        raise Exit(f"tf: {LOCK_FILE} is not committed ({exc}); {LOCK_FIX}", code=BAD_INPUT) from exc
    if changed:
        raise Exit(
            f"tf: {LOCK_FILE} has uncommitted changes; review and commit them (or `git checkout` "
            "the file) so every run uses the same provider builds",
            code=BAD_INPUT,
        )


def _prepare(target: Target) -> TerraformCli:
    """Every offline check, then the login check, then init against the environment's state."""
    c, environment, azure = target.context, target.environment, target.require_azure()
    subscription = subscription_id(environment, azure)
    terraform = _terraform(environment, subscription)
    require_committed_lock_file()
    require_login(c)
    terraform.run(c, terraform.init_argv(_backend_config(environment, azure, subscription)))
    return terraform


@task(help={"env": ENV_HELP})
def bootstrap(c: Context, env: str = "") -> None:
    """Register the subscription's resource providers and features, create the Terraform state
    storage (resource group, account, container); idempotent."""
    bootstrap_for(Target.resolve(c, env))


def bootstrap_for(target: Target) -> None:
    """tf.bootstrap for one environment."""
    c, environment, azure = target.context, target.environment, target.require_azure()
    subscription = subscription_id(environment, azure)
    account = require_login(c)
    program, runner = az_program(), target.runner
    register_providers_and_features(c, subscription)
    storage = azure.state
    location = azure.location
    scope = (
        f"/subscriptions/{subscription}/resourceGroups/{storage.resource_group}"
        f"/providers/Microsoft.Storage/storageAccounts/{storage.storage_account}"
    )
    where = ["--subscription", subscription, "--output", "none"]

    def create(*words: str) -> None:
        runner.run([program, *words, *where], timeout=AZ_CREATE_TIMEOUT_S, hide=False)

    create(
        *("group", "create", "--name", storage.resource_group, "--location", location),
        *("--tags", "managed-by=invoke-tf-bootstrap"),
    )
    # Entra ID only (no shared keys), TLS 1.2, no public blobs; versions and soft delete let a
    # broken state be rolled back.
    create(
        *("storage", "account", "create", "--name", storage.storage_account),
        *("--resource-group", storage.resource_group, "--location", location),
        *("--sku", "Standard_GRS", "--kind", "StorageV2", "--https-only", "true"),
        *("--min-tls-version", "TLS1_2", "--allow-blob-public-access", "false"),
        *("--allow-shared-key-access", "false"),
    )
    create(
        *("storage", "account", "blob-service-properties", "update"),
        *("--account-name", storage.storage_account, "--resource-group", storage.resource_group),
        *("--enable-versioning", "true", "--enable-delete-retention", "true"),
        *("--delete-retention-days", "30", "--enable-container-delete-retention", "true"),
        *("--container-delete-retention-days", "30"),
    )
    principal = _signed_in_object_id(runner, program, account)
    create(
        *("role", "assignment", "create", "--assignee-object-id", principal),
        *("--assignee-principal-type", _principal_type(account)),
        *("--role", "Storage Blob Data Contributor", "--scope", scope),
    )
    _create_state_container(
        runner,
        [
            *(program, "storage", "container", "create", "--name", storage.container),
            *("--account-name", storage.storage_account, "--auth-mode", "login", *where),
        ],
    )
    # The state's prevent_destroy: Azure refuses to delete the account while this lock exists.
    create(
        *("lock", "create", "--name", "tfstate-cannot-delete", "--lock-type", "CanNotDelete"),
        *("--resource-group", storage.resource_group, "--resource", storage.storage_account),
        *("--resource-type", "Microsoft.Storage/storageAccounts"),
    )


# Azure RBAC: "When you assign roles or remove role assignments, it can take up to 10 minutes for
# changes to take effect" (learn.microsoft.com/azure/storage/blobs/assign-azure-role-data-access).
# The container is created through the data plane with the role granted a moment ago, so a first
# bootstrap retries its 403 for that long.
ROLE_PROPAGATION_TIMEOUT_S, ROLE_PROPAGATION_INTERVAL_S = 600, 15
# One az create or show: a storage account's creation is the slowest, about a minute.
AZ_CREATE_TIMEOUT_S = 300
AZ_SHOW_TIMEOUT_S = 60


def _create_state_container(runner: Runner, command: list[str]) -> None:
    def created() -> bool:
        result = runner.run(command, timeout=AZ_CREATE_TIMEOUT_S, warn=True)
        if result.ok:
            return True
        raise NotYet((result.stderr.strip().splitlines() or ["no message"])[-1])

    wait_or_exit(
        created,
        what="the state container (Storage Blob Data Contributor granted just now)",
        timeout=ROLE_PROPAGATION_TIMEOUT_S,
        interval=ROLE_PROPAGATION_INTERVAL_S,
        label="state container",
        failure=lambda exc: (
            f"tf: {exc}; a new role assignment takes up to 10 minutes to reach the storage data "
            "plane: run `invoke tf.bootstrap` again (every step is idempotent)"
        ),
    )


def _principal_type(account: dict[str, Any]) -> str:
    return (
        "ServicePrincipal" if account.get("user", {}).get("type") == "servicePrincipal" else "User"
    )


def _signed_in_object_id(runner: Runner, az: str, account: dict[str, Any]) -> str:
    if _principal_type(account) == "ServicePrincipal":
        who = ["sp", "show", "--id", str(account["user"]["name"])]
    else:
        who = ["signed-in-user", "show"]
    result = runner.run(
        [az, "ad", *who, "--query", "id", "--output", "tsv"], timeout=AZ_SHOW_TIMEOUT_S
    )
    if not result.stdout.strip():
        raise Exit("tf: could not find your Entra ID object id; check `az ad signed-in-user show`")
    return result.stdout.strip()


@task(
    help={
        "env": ENV_HELP,
        "plan_file": "where to write the plan (default .data/terraform/<env>.tfplan)",
        "target": "plan only this address (repeatable); a first apply plans the DNS zone "
        f"alone ({DNS_ZONE_ADDRESS}) so it can be delegated before Let's Encrypt is asked, and "
        "prod's module.network with it, so the runner can be set up inside the VNet",
    },
    iterable=["target"],
)
def plan(c: Context, env: str = "", plan_file: str = "", target: list[str] | None = None) -> None:
    """Plan the environment into a plan file; tf.apply applies exactly that file."""
    plan_for(Target.resolve(c, env), plan_file, addresses=target or [])


def plan_for(target: Target, plan_file: str = "", addresses: list[str] | None = None) -> None:
    """tf.plan: the environment's plan, saved for tf.apply."""
    terraform = _prepare(target)
    env = target.name
    plan_path = Path(plan_file) if plan_file else default_plan_file(env)
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    terraform.run(
        target.context,
        terraform.plan_argv(plan_path.resolve(), {"environment": env}, targets=addresses or []),
    )
    print(f"tf: plan saved to {plan_path}; apply it with `invoke tf.apply --env {env}`")


def _check_plan_is_for(c: Context, terraform: TerraformCli, plan_path: Path, env: str) -> None:
    shown = terraform.run_json(c, terraform.show_plan_json_argv(plan_path))
    planned_for = shown.get("variables", {}).get("environment", {}).get("value")
    if planned_for != env:
        raise Exit(
            f"tf: {plan_path} was planned for environment {planned_for!r}, not {env!r}; "
            f"run `invoke tf.plan --env {env}` first",
            code=BAD_INPUT,
        )


@task(
    help={
        "env": ENV_HELP,
        "plan_file": "the saved plan to apply (default .data/terraform/<env>.tfplan)",
    }
)
def apply(c: Context, env: str = "", plan_file: str = "") -> None:
    """Apply the saved plan of tf.plan, and nothing else."""
    apply_for(Target.resolve(c, env), plan_file)


def apply_for(target: Target, plan_file: str = "") -> None:
    """tf.apply: exactly the saved plan."""
    c, env = target.context, target.name
    target.require_azure()  # a local environment fails before looking for files
    plan_path = Path(plan_file) if plan_file else default_plan_file(env)
    if not plan_path.is_file():
        raise Exit(
            f"tf: no saved plan at {plan_path}; "
            f"run `invoke tf.plan --env {env}` and review it first",
            code=BAD_INPUT,
        )
    terraform = _prepare(target)
    plan_path = plan_path.resolve()
    _check_plan_is_for(c, terraform, plan_path, env)
    terraform.run(c, terraform.apply_plan_argv(plan_path))
    # A plan is spent once applied; Terraform would refuse it as stale anyway.
    plan_path.unlink(missing_ok=True)


@task(
    help={
        "env": ENV_HELP,
        "yes": "skip the typed confirmation (for automation that has its own gate)",
    }
)
def destroy(c: Context, env: str = "", yes: bool = False) -> None:
    """Destroy the environment: plan -destroy, then a typed confirmation (or --yes), then apply.

    The database and its server carry prevent_destroy, so the plan stops there until that line
    is removed on purpose.
    """
    destroy_for(Target.resolve(c, env), yes=yes)


def destroy_for(target: Target, *, yes: bool = False) -> None:
    """tf.destroy for one environment."""
    terraform = _prepare(target)
    c, env = target.context, target.name
    plan_path = default_plan_file(env, destroy=True).resolve()
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    terraform.run(c, terraform.plan_argv(plan_path, {"environment": env}, destroy=True))
    if not yes:
        if not sys.stdin.isatty():
            plan_path.unlink(missing_ok=True)
            raise Exit(
                "tf: refusing to destroy without a typed confirmation; run it in a terminal "
                "or pass --yes",
                code=BAD_INPUT,
            )
        answer = input(f"Type the environment name ({env}) to destroy everything above: ")
        if answer.strip() != env:
            plan_path.unlink(missing_ok=True)
            raise Exit("tf: not confirmed; nothing was destroyed", code=1)
    try:
        terraform.run(c, terraform.apply_plan_argv(plan_path))
    finally:
        plan_path.unlink(missing_ok=True)


@task(
    help={
        "env": ENV_HELP,
        "name": "print only this output's value",
        "save": "also write .data/<env>/tf-outputs.json, which `invoke k8s.render` reads",
    }
)
def output(c: Context, env: str = "", name: str = "", save: bool = False) -> None:
    """Print the environment's outputs as JSON, or one output's value."""
    output_for(Target.resolve(c, env), name, save=save)


def output_for(target: Target, name: str = "", *, save: bool = False) -> None:
    """tf.output: every output as JSON, or one's value; --save writes them for k8s.render."""
    terraform = _prepare(target)
    c, env = target.context, target.name
    try:
        outputs = terraform.run_json(c, terraform.output_json_argv())
    except RunFailed as exc:
        # terraform's own words stay in the message: a missing state reads differently from a
        # lost login.
        raise Exit(f"tf: terraform output failed; has {env} been applied? ({exc})") from exc
    values = {key: value["value"] for key, value in outputs.items()}
    if save:
        path = state.write_json(target.state.tf_outputs, values)
        print(f"tf.output --env {env}: wrote {path}", file=sys.stderr)
    if not name:
        print(json.dumps(values, indent=2))
        return
    if name not in outputs:
        known = ", ".join(sorted(outputs)) or "(none: apply first)"
        raise Exit(f"tf: no output {name!r}; outputs: {known}", code=BAD_INPUT)
    value = values[name]
    print(value if isinstance(value, str) else json.dumps(value))


def lock_providers(c: Context, working_dir: Path) -> None:
    """`terraform providers lock` for LOCK_PLATFORMS in working_dir, from the registry (never the
    offline mirror, whose builds are not the registry's); an Exit when it cannot be reached."""
    try:
        env = terraform_env(data_dir=WORK_DIR / "lock" / "tfdata", use_mirror=False)
        terraform = TerraformCli(working_dir, env=env)
    except TerraformNotFound as exc:
        raise Exit(f"tf.lock: {exc}", code=BAD_INPUT) from exc
    # providers lock reads the whole configuration, modules included, but installs no provider:
    # `get` installs the local modules without touching the registry.
    terraform.run(c, terraform.get_argv())
    # It asks the origin registry whatever the CLI configuration's installation methods say.
    result = terraform.run(c, terraform.providers_lock_argv(LOCK_PLATFORMS), warn=True)
    if not result.ok:
        raise Exit(
            "tf.lock: `terraform providers lock` failed; it needs registry.terraform.io "
            f"(and releases.hashicorp.com), which this machine cannot reach. Run `invoke tf.lock` "
            f"where they are reachable and commit {LOCK_FILE.name}; the file was left as it was",
            code=1,
        )
    print(
        f"tf.lock: {working_dir / LOCK_FILE.name} holds the registry's checksums for "
        f"{', '.join(LOCK_PLATFORMS)}; commit it"
    )


@task
def lock(c: Context) -> None:
    """Lock infra/'s providers to the registry's checksums for linux_amd64 and darwin_arm64."""
    lock_providers(c, INFRA_DIR)


ns = Collection("tf", bootstrap, lock, plan, apply, destroy, output)
