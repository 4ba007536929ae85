"""Command composition of the tf.* tasks with MockContext, and every refusal before a cloud call.

The commands composed here are run for real, against a real terraform, in test_terraform_cli.py.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from invoke import MockContext, Result
from invoke.exceptions import Exit

from ops import envconfig, tf
from ops.azure import providers
from ops.core.run import Call, RecordingRunner
from testkit.support import (
    committed_lock_file,
    context_answering,
    invoke,
    recorded_commands,
    recorded_run,
)

SUBSCRIPTION = "12345678-1234-1234-1234-123456789abc"
ACCOUNT = json.dumps({"id": SUBSCRIPTION, "user": {"name": "ops@example.com", "type": "user"}})


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Plans go to a temp dir; az and terraform are found at fixed fake paths (never run)."""
    monkeypatch.setattr(tf, "WORK_DIR", tmp_path / "work")
    tools = {"az": "/opt/az/bin/az", "terraform": "/opt/tf/terraform"}
    monkeypatch.setattr("ops.core.azcli.find", tools.get)
    monkeypatch.setattr("ops.terraform_cli.find", tools.get)
    monkeypatch.setenv("ARM_SUBSCRIPTION_ID", SUBSCRIPTION)
    monkeypatch.setattr(tf, "LOCK_FILE", committed_lock_file(tmp_path / "checkout"))
    monkeypatch.setattr("ops.core.wait.time.sleep", lambda seconds: None)
    return tmp_path


def answers(mapping: dict[str, Result]) -> dict[re.Pattern[str], Result]:
    """MockContext matches regex keys from the start of the command; ours match anywhere."""
    return {re.compile(".*" + pattern): result for pattern, result in mapping.items()}


ALL_REGISTERED = json.dumps(
    [[namespace, "Registered"] for namespace in providers.RESOURCE_PROVIDERS]
)


def logged_in_context(**extra: Result) -> MockContext:
    """Logged in as a user to a subscription with every provider and feature registered; `extra`
    answers specific commands, everything else succeeds."""
    return MockContext(
        run=answers(
            {
                "az account show": Result(stdout=ACCOUNT),
                "az provider list": Result(stdout=ALL_REGISTERED),
                "az feature show": Result(stdout="Registered\n"),
                **extra,
                "": Result(),
            }
        ),
    )


# --- refusals before anything runs -------------------------------------------------------------


def test_unknown_environment_is_refused_before_any_command() -> None:
    c = logged_in_context()
    with pytest.raises(
        Exit, match="unknown environment 'staging'; known environments: dev, local, prod"
    ):
        tf.plan(c, env="staging")
    assert recorded_commands(c) == []


def test_local_environment_has_no_azure_block() -> None:
    c = logged_in_context()
    with pytest.raises(Exit, match="no azure block"):
        tf.plan(c, env="local")
    assert recorded_commands(c) == []


def test_malformed_env_yaml_is_refused_before_any_command(monkeypatch, tmp_path) -> None:
    bad = tmp_path / "env.yaml"
    bad.write_text("environments: {dev: [\n", encoding="utf-8")
    c = logged_in_context()
    c.config.env_file = str(bad)  # invoke's `env_file` setting: every task reads this env.yaml
    with pytest.raises(Exit, match="is not valid YAML"):
        tf.plan(c, env="dev")
    assert recorded_commands(c) == []


def test_overlapping_cidrs_are_refused_before_any_command(monkeypatch, tmp_path) -> None:
    text = envconfig.ENV_FILE.read_text(encoding="utf-8").replace(
        "database: 10.10.18.0/24", "database: 10.10.1.0/24"
    )
    bad = tmp_path / "env.yaml"
    bad.write_text(text, encoding="utf-8")
    c = logged_in_context()
    c.config.env_file = str(bad)  # invoke's `env_file` setting: every task reads this env.yaml
    with pytest.raises(
        Exit, match=r"subnets aks \(10.10.0.0/20\) and database \(10.10.1.0/24\) overlap"
    ):
        tf.plan(c, env="dev")
    assert recorded_commands(c) == []


# The AKS release calendar: standard support for 1.36 ends in Jun 2027 (a month means its last
# day; learn.microsoft.com/azure/aks/supported-kubernetes-versions).
def test_plan_refuses_a_kubernetes_minor_past_its_end_of_aks_standard_support(monkeypatch) -> None:
    monkeypatch.setattr(envconfig, "today", lambda: datetime.date(2027, 7, 1))
    c = logged_in_context()
    with pytest.raises(
        Exit,
        match=r"AKS standard support for Kubernetes 1\.36 ended on 2027-06-30 .*use 1\.37, the "
        "newest minor in standard support",
    ):
        tf.plan(c, env="dev")
    assert recorded_commands(c) == []
    monkeypatch.setattr(envconfig, "today", lambda: datetime.date(2027, 6, 30))
    tf.plan(logged_in_context(), env="dev")


def test_placeholder_subscription_asks_for_arm_subscription_id(monkeypatch) -> None:
    monkeypatch.delenv("ARM_SUBSCRIPTION_ID")
    c = logged_in_context()
    with pytest.raises(
        Exit, match="placeholder subscription_id for dev; export ARM_SUBSCRIPTION_ID"
    ):
        tf.plan(c, env="dev")
    assert recorded_commands(c) == []


def test_missing_az_says_install_it_and_log_in(monkeypatch) -> None:
    monkeypatch.setattr("ops.core.azcli.find", {"terraform": "/opt/tf/terraform"}.get)
    c = logged_in_context()
    with pytest.raises(
        Exit, match=r"Azure CLI \(az\) is not installed; install it .* then run `az login`"
    ):
        tf.plan(c, env="dev")
    assert recorded_commands(c) == []


def test_missing_login_names_az_login_and_runs_no_terraform() -> None:
    c = MockContext(
        run=answers({"az account show": Result(exited=1, stderr="Please run 'az login'")})
    )
    with pytest.raises(Exit, match="not logged in to Azure; run `az login`"):
        tf.plan(c, env="dev")
    assert recorded_commands(c) == ["/opt/az/bin/az account show --output json"]


def test_missing_terraform_points_at_the_build_script(monkeypatch) -> None:
    monkeypatch.setattr("ops.terraform_cli.find", lambda name: None)
    c = logged_in_context()
    with pytest.raises(Exit, match=r"terraform not found .* run tools/build/terraform"):
        tf.plan(c, env="dev")
    assert recorded_commands(c) == []


# --- the provider lock file (tf.lock) -------------------------------------------------------------


# Terraform's dependency lock file: init creates or updates it unless -lockfile=readonly, so
# without a committed one plan and apply may each pick a different provider release
# (developer.hashicorp.com/terraform/language/files/dependency-lock).
@pytest.mark.parametrize("task", [tf.plan, tf.apply, tf.destroy, tf.output])
def test_plan_and_apply_refuse_to_run_without_a_committed_lock_file(
    monkeypatch, tmp_path, task
) -> None:
    monkeypatch.setattr(tf, "LOCK_FILE", tmp_path / "infra" / ".terraform.lock.hcl")
    saved_plan(tmp_path, "dev", "dev")
    c = logged_in_context()
    with pytest.raises(Exit, match=r"\.terraform\.lock\.hcl is missing.*run `invoke tf\.lock`"):
        task(c, env="dev")
    assert not any("terraform" in command for command in recorded_commands(c))


# Terraform's init: "Include this file in your version control repository" (hashicorp/terraform
# website/docs/language/files/dependency-lock.mdx); README step 3 commits it, tf.plan requires it.
def test_the_root_lock_file_is_not_ignored_so_it_can_be_committed() -> None:
    infra = envconfig.REPO_ROOT / "infra"

    def ignored(path: Path) -> bool:
        check = ["git", "check-ignore", "--no-index", "--quiet", str(path)]
        return subprocess.run(check, cwd=envconfig.REPO_ROOT, check=False).returncode == 0

    assert not ignored(infra / ".terraform.lock.hcl")
    # A module's lock file from validating against the offline mirror stays out of the index.
    assert ignored(infra / "modules" / "acr" / ".terraform.lock.hcl")


def test_plan_refuses_a_lock_file_that_is_not_committed(monkeypatch, tmp_path) -> None:
    lock_file = committed_lock_file(tmp_path / "another-checkout")
    untracked = lock_file.with_name("other") / ".terraform.lock.hcl"
    untracked.parent.mkdir()
    untracked.write_text("# never added\n")
    monkeypatch.setattr(tf, "LOCK_FILE", untracked)
    c = logged_in_context()
    with pytest.raises(Exit, match=r"is not committed .*run `invoke tf\.lock`"):
        tf.plan(c, env="dev")
    assert recorded_commands(c) == []


def test_plan_refuses_a_lock_file_with_uncommitted_changes(isolated) -> None:
    tf.LOCK_FILE.write_text(
        'provider "registry.terraform.io/hashicorp/azurerm" { version = "9" }\n'
    )
    c = logged_in_context()
    with pytest.raises(Exit, match="has uncommitted changes; review and commit them"):
        tf.plan(c, env="dev")
    assert recorded_commands(c) == []


def test_lock_asks_the_registry_for_linux_and_apple_silicon(isolated, capsys) -> None:
    c = logged_in_context()
    tf.lock(c)
    get, command = recorded_commands(c)
    assert shlex.split(get)[2:] == ["get", "-no-color"]
    assert shlex.split(command) == [
        "/opt/tf/terraform",
        f"-chdir={tf.INFRA_DIR}",
        "providers",
        "lock",
        "-no-color",
        "-platform=linux_amd64",
        "-platform=darwin_arm64",
    ]
    # The registry's checksums, never the offline mirror's own builds.
    assert "TF_CLI_CONFIG_FILE" not in recorded_run(c).call_args.kwargs["env"]
    assert "commit it" in capsys.readouterr().out


def test_lock_without_the_registry_says_where_to_run_it_and_fails() -> None:
    c = MockContext(run=answers({"terraform .* providers lock": Result(exited=1), "": Result()}))
    with pytest.raises(
        Exit, match=r"needs registry\.terraform\.io .*the file was left as it was"
    ) as caught:
        tf.lock(c)
    assert caught.value.code == 1


# --- plan ---------------------------------------------------------------------------------------


def test_plan_initialises_the_environments_state_and_writes_a_plan_file(isolated) -> None:
    c = logged_in_context()
    tf.plan(c, env="dev")
    _login, init, plan = recorded_commands(c)
    assert shlex.split(init) == [
        "/opt/tf/terraform",
        f"-chdir={tf.INFRA_DIR}",
        "init",
        "-input=false",
        "-no-color",
        "-reconfigure",
        "-lockfile=readonly",
        "-backend-config=resource_group_name=rg-orderdesk-tfstate",
        "-backend-config=storage_account_name=storderdesktfdev",
        "-backend-config=container_name=tfstate",
        "-backend-config=key=dev.tfstate",
        f"-backend-config=subscription_id={SUBSCRIPTION}",
    ]
    plan_file = isolated / "work" / "dev.tfplan"
    assert shlex.split(plan) == [
        "/opt/tf/terraform",
        f"-chdir={tf.INFRA_DIR}",
        "plan",
        "-input=false",
        "-no-color",
        "-lock-timeout=5m",
        "-var=environment=dev",
        f"-out={plan_file}",
    ]


def test_plan_runs_terraform_with_the_subscription_and_its_own_data_dir(isolated) -> None:
    c = logged_in_context()
    tf.plan(c, env="prod")
    plan_call = recorded_run(c).call_args_list[-1]
    env = plan_call.kwargs["env"]
    assert env["ARM_SUBSCRIPTION_ID"] == SUBSCRIPTION
    assert env["TF_DATA_DIR"] == str(isolated / "work" / "prod" / "tfdata")
    assert env["TF_IN_AUTOMATION"] == "1"
    # Real deployments use the registry's signed provider, not the offline mirror.
    assert "TF_CLI_CONFIG_FILE" not in env


def test_plan_hands_the_teams_webhook_secret_to_terraform_as_its_root_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A root variable without a default is set from TF_VAR_<name>
    # (developer.hashicorp.com/terraform/language/values/variables#environment-variables).
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", "https://teams.example.invalid/workflows/alerts")
    monkeypatch.delenv("TF_VAR_teams_webhook_url", raising=False)
    c = logged_in_context()
    tf.plan(c, env="dev")
    env = recorded_run(c).call_args_list[-1].kwargs["env"]
    assert env["TF_VAR_teams_webhook_url"] == "https://teams.example.invalid/workflows/alerts"
    # A value set for Terraform itself is inherited unchanged: it wins over the shared secret.
    monkeypatch.setenv("TF_VAR_teams_webhook_url", "https://teams.example.invalid/workflows/infra")
    c = logged_in_context()
    tf.plan(c, env="dev")
    assert "TF_VAR_teams_webhook_url" not in recorded_run(c).call_args_list[-1].kwargs["env"]


def test_plan_can_target_the_network_alone_for_the_first_prod_apply(isolated) -> None:
    c = logged_in_context()
    tf.plan(c, env="prod", target=["module.network"])
    plan = shlex.split(recorded_commands(c)[-1])
    assert "-target=module.network" in plan
    assert plan[-1] == f"-out={isolated / 'work' / 'prod.tfplan'}"


# --- apply --------------------------------------------------------------------------------------


# Let's Encrypt's HTTP-01 validation looks the host up in DNS (letsencrypt.org/docs/challenge-
# types), so the zone is delegated before the first full apply; `-target` plans the target and
# what it depends on only (developer.hashicorp.com/terraform/cli/commands/plan#resource-targeting).
def test_a_first_apply_can_create_and_delegate_the_dns_zone_before_anything_else(isolated) -> None:
    dns_module = (tf.INFRA_DIR / "modules" / "dns" / "main.tf").read_text(encoding="utf-8")
    zone = dns_module[dns_module.index('resource "azurerm_dns_zone" "this"') :].split("\n}\n")[0]
    # The zone refers to nothing but the module's inputs ...
    assert re.findall(r"=\s*(\w+)\.", zone) == ["var", "var", "var"]
    root = (tf.INFRA_DIR / "main.tf").read_text(encoding="utf-8")
    dns_call = root[root.index('module "dns"') :].split("\n}\n")[0]
    zone_inputs = re.search(r"resource_group_name\s*=\s*(\S+)", dns_call)
    # ... which come from env.yaml and the resource group, not from the gateway or the cluster.
    assert zone_inputs is not None
    assert zone_inputs.group(1) == "azurerm_resource_group.this.name"
    c = logged_in_context()
    tf.plan(c, env="prod", target=[tf.NETWORK_ADDRESS, tf.DNS_ZONE_ADDRESS])
    plan = shlex.split(recorded_commands(c)[-1])
    assert "-target=module.network" in plan
    assert "-target=module.dns.azurerm_dns_zone.this" in plan
    readme = (envconfig.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert f"--target {tf.DNS_ZONE_ADDRESS}" in readme


def test_apply_without_a_saved_plan_runs_nothing() -> None:
    c = logged_in_context()
    with pytest.raises(
        Exit, match=r"no saved plan at .*dev\.tfplan; run `invoke tf\.plan --env dev`"
    ):
        tf.apply(c, env="dev")
    assert recorded_commands(c) == []


def saved_plan(isolated: Path, env: str, planned_for: str) -> tuple[Path, str]:
    plan_file = isolated / "work" / f"{env}.tfplan"
    plan_file.parent.mkdir(parents=True, exist_ok=True)
    plan_file.write_bytes(b"a saved plan")
    show = json.dumps({"variables": {"environment": {"value": planned_for}}})
    return plan_file, show


def test_apply_applies_exactly_the_saved_plan(isolated) -> None:
    plan_file, show = saved_plan(isolated, "dev", "dev")
    c = logged_in_context(**{r"terraform .* show": Result(stdout=show)})
    tf.apply(c, env="dev")
    apply_command = shlex.split(recorded_commands(c)[-1])
    assert apply_command[2:] == [
        "apply",
        "-input=false",
        "-no-color",
        "-lock-timeout=5m",
        str(plan_file),
    ]
    assert not any(
        arg.startswith(("-var", "-auto-approve", "-replace", "-target")) for arg in apply_command
    )
    assert not plan_file.exists(), "an applied plan is spent and must be removed"


# An ephemeral input variable is not kept in a saved plan: applying the plan needs it set again
# (hashicorp/terraform f5841fc, "backend/local: Handle apply-time values for ephemeral input
# variables").
def test_apply_hands_terraform_the_ephemeral_teams_url_again(
    isolated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", "https://teams.example.invalid/workflows/alerts")
    monkeypatch.delenv("TF_VAR_teams_webhook_url", raising=False)
    _plan_file, show = saved_plan(isolated, "dev", "dev")
    c = logged_in_context(**{r"terraform .* show": Result(stdout=show)})
    tf.apply(c, env="dev")
    [apply] = [call for call in recorded_run(c).call_args_list if " apply " in call.args[0]]
    assert apply.kwargs["env"]["TF_VAR_teams_webhook_url"] == (
        "https://teams.example.invalid/workflows/alerts"
    )
    assert "teams.example.invalid" not in apply.args[0]


def test_apply_refuses_a_plan_made_for_another_environment(isolated) -> None:
    plan_file, show = saved_plan(isolated, "prod", "dev")
    c = logged_in_context(**{r"terraform .* show": Result(stdout=show)})
    with pytest.raises(Exit, match="was planned for environment 'dev', not 'prod'"):
        tf.apply(c, env="prod")
    assert not any(" apply " in command for command in recorded_commands(c))
    assert plan_file.exists()


# --- destroy ------------------------------------------------------------------------------------


def test_destroy_without_a_terminal_or_yes_refuses(monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    c = logged_in_context()
    with pytest.raises(
        Exit, match=r"refusing to destroy without a typed confirmation; .* pass --yes"
    ):
        tf.destroy(c, env="dev")
    assert not any(" apply " in command for command in recorded_commands(c))


def test_destroy_with_the_wrong_answer_destroys_nothing(monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "prod")
    c = logged_in_context()
    with pytest.raises(Exit, match="not confirmed; nothing was destroyed"):
        tf.destroy(c, env="dev")
    assert not any(" apply " in command for command in recorded_commands(c))


def test_destroy_with_the_typed_name_applies_the_destroy_plan(monkeypatch, isolated) -> None:
    prompts: list[str] = []

    def type_the_name(prompt: str) -> str:
        prompts.append(prompt)
        return "dev"

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", type_the_name)
    c = logged_in_context()
    tf.destroy(c, env="dev")
    plan, apply_command = (shlex.split(command) for command in recorded_commands(c)[-2:])
    destroy_plan = str((isolated / "work" / "dev.destroy.tfplan").resolve())
    assert "-destroy" in plan
    assert f"-out={destroy_plan}" in plan
    assert apply_command[2] == "apply"
    assert apply_command[-1] == destroy_plan
    assert prompts == ["Type the environment name (dev) to destroy everything above: "]


def test_destroy_with_yes_needs_no_terminal(monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    c = logged_in_context()
    tf.destroy(c, env="dev", yes=True)
    assert shlex.split(recorded_commands(c)[-1])[2] == "apply"


# --- output -------------------------------------------------------------------------------------


OUTPUTS = json.dumps(
    {
        "registry_login_server": {
            "value": "acrorderdeskdev.azurecr.io",
            "type": "string",
            "sensitive": False,
        },
        "key_vault_secret_names": {
            "value": ["card-fingerprint-key"],
            "type": ["list", "string"],
            "sensitive": False,
        },
    }
)


def test_output_prints_one_value(capsys) -> None:
    c = logged_in_context(**{r"terraform .* output -json": Result(stdout=OUTPUTS)})
    tf.output(c, env="dev", name="registry_login_server")
    assert capsys.readouterr().out == "acrorderdeskdev.azurecr.io\n"


def test_output_prints_all_values_as_json(capsys) -> None:
    c = logged_in_context(**{r"terraform .* output -json": Result(stdout=OUTPUTS)})
    tf.output(c, env="dev")
    assert json.loads(capsys.readouterr().out) == {
        "registry_login_server": "acrorderdeskdev.azurecr.io",
        "key_vault_secret_names": ["card-fingerprint-key"],
    }


def test_output_names_the_known_outputs_for_a_typo() -> None:
    c = logged_in_context(**{r"terraform .* output -json": Result(stdout=OUTPUTS)})
    with pytest.raises(
        Exit, match="no output 'registry'; outputs: key_vault_secret_names, registry_login_server"
    ):
        tf.output(c, env="dev", name="registry")


# --- bootstrap ----------------------------------------------------------------------------------


def logged_in_runner(account: str = ACCOUNT) -> RecordingRunner:
    """A recording Runner logged in to a subscription with every provider and feature
    registered; a user (ad signed-in-user) unless `account` says otherwise."""
    runner = RecordingRunner()
    runner.answer("account", "show", stdout=account, times=None)
    runner.answer("provider", "list", stdout=ALL_REGISTERED, times=None)
    runner.answer("feature", "show", stdout="Registered\n", times=None)
    runner.answer("signed-in-user", "show", stdout="aaaaaaaa-0000-0000-0000-000000000001\n")
    return runner


def flag(call: Call, name: str) -> str:
    """The value after `name` in a recorded call (its last occurrence)."""
    words = call.argv
    assert name in words, f"{name} not in {words}"
    return words[len(words) - 1 - words[::-1].index(name) + 1]


def test_bootstrap_creates_locked_entra_only_state_storage() -> None:
    runner = logged_in_runner()
    tf.bootstrap(runner.context, env="dev")
    named = runner.named()
    assert named[0] == ["az", "account", "show", "--output", "json"]
    assert all(
        command[-4:] == ["--subscription", SUBSCRIPTION, "--output", "none"]
        for command in named
        if "create" in command or "update" in command
    )
    account = runner.find("storage", "account", "create")
    for name, value in (
        ("--allow-shared-key-access", "false"),
        ("--allow-blob-public-access", "false"),
        ("--min-tls-version", "TLS1_2"),
        ("--https-only", "true"),
    ):
        assert flag(account, name) == value
    assert flag(runner.find("blob-service-properties", "update"), "--enable-versioning") == "true"
    role = runner.find("role", "assignment", "create")
    assert flag(role, "--assignee-object-id") == "aaaaaaaa-0000-0000-0000-000000000001"
    assert flag(role, "--assignee-principal-type") == "User"
    # One word for the shell-less Runner, whatever its spaces.
    assert flag(role, "--role") == "Storage Blob Data Contributor"
    assert flag(role, "--scope") == (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-orderdesk-tfstate"
        "/providers/Microsoft.Storage/storageAccounts/storderdesktfdev"
    )
    assert named[-2][1:9] == [
        *("storage", "container", "create", "--name", "tfstate"),
        *("--account-name", "storderdesktfdev", "--auth-mode"),
    ]
    assert named[-1][1:7] == [
        *("lock", "create", "--name", "tfstate-cannot-delete", "--lock-type", "CanNotDelete")
    ]
    # Every az call is bounded; creating the storage account is the slowest Azure allows for.
    assert all(0 < record.timeout <= tf.AZ_CREATE_TIMEOUT_S for record in runner.records)
    assert account.timeout == tf.AZ_CREATE_TIMEOUT_S


# "it can take up to 10 minutes for changes to take effect" (a new storage data role):
# learn.microsoft.com/azure/storage/blobs/assign-azure-role-data-access
def test_bootstrap_retries_the_state_container_until_the_new_storage_role_propagates(
    capsys,
) -> None:
    denied = Result(exited=1, stderr="ErrorCode:AuthorizationPermissionMismatch\n")
    answers_in_turn = iter([denied, denied, Result()])
    subscription = FakeSubscription(
        registered={*providers.RESOURCE_PROVIDERS, "Microsoft.Compute/EncryptionAtHost"}
    )

    def run(command: str, **kwargs: object) -> Result:
        if " storage container create " in command:
            subscription.log.append(command)
            return next(answers_in_turn)
        return subscription(command, **kwargs)

    c = context_answering(run)
    tf.bootstrap(c, env="dev")
    ran = subscription.log
    tries = [i for i, command in enumerate(ran) if " storage container create " in command]
    assert len(tries) == 3
    assert ran.index(next(c for c in ran if "role assignment create" in c)) < tries[0]
    assert "lock create" in ran[-1]
    assert "AuthorizationPermissionMismatch (1/41)" in capsys.readouterr().out


def test_bootstrap_stops_after_ten_minutes_of_denied_container_creation() -> None:
    subscription = FakeSubscription(
        registered={*providers.RESOURCE_PROVIDERS, "Microsoft.Compute/EncryptionAtHost"}
    )

    def run(command: str, **kwargs: object) -> Result:
        if " storage container create " in command:
            subscription.log.append(command)
            return Result(exited=1, stderr="ErrorCode:AuthorizationPermissionMismatch\n")
        return subscription(command, **kwargs)

    c = context_answering(run)
    with pytest.raises(Exit, match=r"not after 600 s .*run `invoke tf\.bootstrap` again"):
        tf.bootstrap(c, env="dev")
    # Tries at 0, 15, ..., 600 s (ops.core.wait: one at the start and one after each pause).
    assert sum(" storage container create " in command for command in subscription.log) == 41
    assert not any("lock create" in command for command in subscription.log)


def test_bootstrap_as_a_service_principal_looks_up_its_object_id() -> None:
    account = json.dumps(
        {
            "id": SUBSCRIPTION,
            "user": {"name": "11111111-aaaa-bbbb-cccc-222222222222", "type": "servicePrincipal"},
        }
    )
    runner = logged_in_runner(account)
    runner.answer(
        "ad",
        "sp",
        "show",
        "--id",
        "11111111-aaaa-bbbb-cccc-222222222222",
        stdout="bbbbbbbb-0000-0000-0000-000000000002\n",
    )
    tf.bootstrap(runner.context, env="prod")
    assert not any("signed-in-user" in command for command in runner.calls)
    role = runner.find("role", "assignment", "create")
    assert flag(role, "--assignee-object-id") == "bbbbbbbb-0000-0000-0000-000000000002"
    assert flag(role, "--assignee-principal-type") == "ServicePrincipal"


def test_bootstrap_without_login_creates_nothing() -> None:
    c = MockContext(run=answers({"az account show": Result(exited=1)}))
    with pytest.raises(Exit, match="run `az login`"):
        tf.bootstrap(c, env="dev")
    assert len(recorded_commands(c)) == 1


# --- bootstrap: resource providers and features -------------------------------------------------


class FakeSubscription:
    """az against a subscription's registrations: `register` starts one, and Azure reports it
    Registered only after `delay` more reads (registration is asynchronous)."""

    def __init__(self, registered: set[str], delay: int = 2) -> None:
        self.states = dict.fromkeys(registered, "Registered")
        self.pending: dict[str, int] = {}
        self.delay = delay
        self.log: list[str] = []

    def _tick(self) -> None:
        for name, reads in list(self.pending.items()):
            if reads <= 1:
                self.states[name] = "Registered"
                self.log.append(f"<{name} Registered>")
                del self.pending[name]
            else:
                self.pending[name] = reads - 1

    def __call__(self, command: str, **kwargs: object) -> Result:
        self.log.append(command)
        if " account show " in command:
            return Result(stdout=ACCOUNT)
        if " ad signed-in-user show " in command:
            return Result(stdout="aaaaaaaa-0000-0000-0000-000000000001\n")
        if " provider list " in command:
            self._tick()
            # ARM spells Insights in lower case (azurerm's internal/resourceproviders/required.go
            # lists "microsoft.insights" the same way).
            providers = [
                [name.replace("Microsoft.Insights", "microsoft.insights"), state]
                for name, state in self.states.items()
                if "/" not in name
            ]
            return Result(stdout=json.dumps(providers))
        feature = re.search(r" feature (show|register) --namespace (\S+) --name (\S+)", command)
        if feature:
            name = f"{feature.group(2)}/{feature.group(3)}"
            if feature.group(1) == "register":
                self._register(name)
                return Result()
            return Result(stdout=self.states.get(name, "NotRegistered") + "\n")
        provider = re.search(r" provider register --namespace (\S+)", command)
        if provider:
            self._register(provider.group(1))
        return Result()

    def _register(self, name: str) -> None:
        if self.states.get(name) != "Registered":
            self.states[name] = "Registering"
            self.pending[name] = self.delay


def bootstrap_against(subscription: FakeSubscription) -> list[str]:
    c = context_answering(subscription)
    tf.bootstrap(c, env="dev")
    return subscription.log


# azurerm 5.0: "the resource_provider_registrations property now defaults to none ... no Resource
# Providers are registered by default" (website/docs/guides/5.0-upgrade-guide.html.markdown).
def test_bootstrap_registers_the_resource_providers_azurerm_5_no_longer_registers() -> None:
    subscription = FakeSubscription(registered=set())
    ran = bootstrap_against(subscription)
    registered = []
    for command in ran:
        if " provider register " in command:
            named = re.search(r"--namespace (\S+)", command)
            assert named, f"{command} names the provider it registers"
            registered.append(named[1])
    assert sorted(registered) == sorted(providers.RESOURCE_PROVIDERS)
    for namespace in ("Microsoft.ContainerService", "Microsoft.KeyVault", "Microsoft.Network"):
        assert namespace in registered
    assert all(f"--subscription {SUBSCRIPTION}" in c for c in ran if " register " in c)
    assert all(state == "Registered" for state in subscription.states.values())
    # Terraform's state storage is created only once the subscription can hold it.
    first_storage = next(i for i, c in enumerate(ran) if " storage account create " in c)
    last_read = max(i for i, c in enumerate(ran) if " provider list " in c)
    assert last_read < first_storage


# Host encryption needs the subscription feature Microsoft.Compute/EncryptionAtHost, and "once the
# feature 'EncryptionAtHost' is registered, invoking 'az provider register -n Microsoft.Compute'
# is required to get the change propagated"
# (learn.microsoft.com/azure/virtual-machines/linux/disks-enable-host-based-encryption-cli).
def test_bootstrap_registers_encryption_at_host_then_registers_compute_again() -> None:
    subscription = FakeSubscription(registered=set(providers.RESOURCE_PROVIDERS))
    ran = bootstrap_against(subscription)
    feature = ran.index(
        "/opt/az/bin/az feature register --namespace Microsoft.Compute --name EncryptionAtHost "
        f"--output none --subscription {SUBSCRIPTION}"
    )
    feature_registered = ran.index("<Microsoft.Compute/EncryptionAtHost Registered>")
    compute = [
        i for i, c in enumerate(ran) if "provider register --namespace Microsoft.Compute" in c
    ]
    assert len(compute) == 1
    assert feature < feature_registered < compute[0]
    # Providers already registered are left alone.
    assert [c for c in ran if " provider register " in c] == [ran[compute[0]]]
    assert subscription.states["Microsoft.Compute/EncryptionAtHost"] == "Registered"


def test_bootstrap_on_a_registered_subscription_registers_nothing() -> None:
    subscription = FakeSubscription(
        registered={*providers.RESOURCE_PROVIDERS, "Microsoft.Compute/EncryptionAtHost"}
    )
    ran = bootstrap_against(subscription)
    assert not any(" register " in command for command in ran)
    assert any(" storage account create " in command for command in ran)


def test_bootstrap_waits_for_registration_only_so_long(capsys) -> None:
    subscription = FakeSubscription(registered=set(), delay=10**6)
    c = context_answering(subscription)
    with pytest.raises(
        Exit,
        match=r"has not finished registering after 900 s .*run `invoke "
        "tf.bootstrap` again later",
    ) as caught:
        tf.bootstrap(c, env="dev")
    assert caught.value.code == 1
    reads = [command for command in subscription.log if " feature show " in command]
    assert len(reads) == 2 + providers.REGISTRATION_TIMEOUT_S // providers.REGISTRATION_INTERVAL_S
    assert not any(" storage account create " in command for command in subscription.log)
    assert "not Registered yet" in capsys.readouterr().out


# --- the real command line ----------------------------------------------------------------------


def invoke_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`invoke tf.*` as a person types it, in a fresh process whose PATH finds no program: the
    machine's or the venv's az (the deploy profile installs one there) must not leak in."""
    path = {"PATH": os.devnull, "HOME": os.environ["HOME"]}
    return invoke(*args, env={**path, **env}, timeout=60)


def test_invoke_tf_plan_with_an_unknown_environment_says_which_exist() -> None:
    result = invoke_cli("tf.plan", "--env", "staging")
    assert result.returncode == 2
    assert "unknown environment 'staging'; known environments: dev, local, prod" in result.stderr


def test_invoke_lists_the_tf_tasks() -> None:
    result = invoke_cli("--list")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")}
    assert {"tf.bootstrap", "tf.lock", "tf.plan", "tf.apply", "tf.destroy", "tf.output"} <= listed


def test_invoke_tf_tasks_require_an_environment_as_every_task_does() -> None:
    result = invoke_cli("tf.apply")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "no environment chosen; pass --env NAME (known environments: dev, local, prod)"
    )


# Which namespace serves each azurerm resource type the estate declares (Azure's "Resource
# providers for Azure services", learn.microsoft.com/azure/azure-resource-manager/management/
# azure-services-resource-providers). A new type fails here until it is mapped, so tf.bootstrap
# never misses the provider a first apply would need.
NAMESPACE_OF_PREFIX = {
    "azurerm_application_gateway": "Microsoft.Network",
    "azurerm_application_insights_workbook": "Microsoft.Insights",
    "azurerm_container_registry": "Microsoft.ContainerRegistry",
    "azurerm_dns_": "Microsoft.Network",
    "azurerm_federated_identity_credential": "Microsoft.ManagedIdentity",
    "azurerm_key_vault": "Microsoft.KeyVault",
    "azurerm_kubernetes_cluster": "Microsoft.ContainerService",
    "azurerm_log_analytics_workspace": "Microsoft.OperationalInsights",
    "azurerm_monitor_": "Microsoft.Insights",
    "azurerm_mssql_": "Microsoft.Sql",
    "azurerm_nat_gateway": "Microsoft.Network",
    "azurerm_network_security_group": "Microsoft.Network",
    "azurerm_postgresql_flexible_server": "Microsoft.DBforPostgreSQL",
    "azurerm_private_dns_": "Microsoft.Network",
    "azurerm_private_endpoint": "Microsoft.Network",
    "azurerm_public_ip": "Microsoft.Network",
    "azurerm_subnet": "Microsoft.Network",
    "azurerm_user_assigned_identity": "Microsoft.ManagedIdentity",
    "azurerm_virtual_network": "Microsoft.Network",
    "azurerm_web_application_firewall_policy": "Microsoft.Network",
    # Registered in every subscription from the start.
    "azurerm_resource_group": "Microsoft.Resources",
    "azurerm_role_assignment": "Microsoft.Authorization",
}
ALWAYS_REGISTERED = {"Microsoft.Resources", "Microsoft.Authorization"}


def test_bootstrap_registers_the_provider_of_every_resource_type_the_estate_declares() -> None:
    declared = {
        match
        for path in tf.INFRA_DIR.rglob("*.tf")
        if ".terraform" not in path.parts
        for match in re.findall(r'^resource "(azurerm_\w+)"', path.read_text(), re.MULTILINE)
    }
    assert len(declared) > 20
    for resource_type in sorted(declared):
        prefixes = [prefix for prefix in NAMESPACE_OF_PREFIX if resource_type.startswith(prefix)]
        assert prefixes, f"{resource_type}: map it to its resource provider namespace"
        namespace = NAMESPACE_OF_PREFIX[max(prefixes, key=len)]
        assert namespace in {*providers.RESOURCE_PROVIDERS, *ALWAYS_REGISTERED}, resource_type


# Azure Policy for Kubernetes: "Register the Microsoft.PolicyInsights resource provider" before the
# add-on (learn.microsoft.com/azure/governance/policy/concepts/policy-for-kubernetes).
def test_the_azure_policy_add_on_has_its_policy_insights_provider_registered() -> None:
    aks = (tf.INFRA_DIR / "modules" / "aks" / "main.tf").read_text(encoding="utf-8")
    assert re.search(r"^\s*azure_policy_enabled\s*=\s*true\s*$", aks, re.MULTILINE)
    subscription = FakeSubscription(registered=set())
    ran = bootstrap_against(subscription)
    assert any("provider register --namespace Microsoft.PolicyInsights " in c for c in ran)
    assert subscription.states["Microsoft.PolicyInsights"] == "Registered"
