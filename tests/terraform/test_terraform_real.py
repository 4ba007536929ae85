"""The Terraform code against a real terraform and the real azurerm provider (a local mirror).

Every module and the root are initialised and validated against the provider's schema, and their
`terraform test` files run with a mocked provider. Each run is slow-ish (the provider is a large
binary), so the checks are grouped per directory.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from python_terraform import Terraform

from ops import tf
from ops.envconfig import REPO_ROOT
from ops.terraform_cli import MIRROR_CLI_CONFIG, TerraformCli, terraform_env
from testkit.support import need, need_tool, serving_on_loopback

pytestmark = pytest.mark.slow

INFRA = REPO_ROOT / "infra"
MODULES = sorted(path.name for path in (INFRA / "modules").iterdir() if path.is_dir())
EXAMPLES = sorted(
    str(path.relative_to(INFRA / "modules"))
    for path in (INFRA / "modules").glob("*/examples/*")
    if path.is_dir()
)
# A Teams URL for plans; never a real one. The secrecy tests use their own, unique one.
TEST_TEAMS_URL = "https://example.invalid/workflows/teams-test"  # pragma: allowlist secret


@pytest.fixture(scope="session")
def terraform() -> str:
    program = need_tool("terraform", "tools/build/terraform installs it")
    if not MIRROR_CLI_CONFIG.is_file():
        need(f"{MIRROR_CLI_CONFIG} is missing: tools/build/terraform builds the provider mirror")
    mirrored = MIRROR_CLI_CONFIG.read_text(encoding="utf-8")
    for provider in ("hashicorp/random", "hashicorp/time"):
        if provider not in mirrored:
            need(f"{MIRROR_CLI_CONFIG} predates {provider}: run tools/build/terraform again")
    return program


@pytest.fixture(scope="session")
def infra_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of infra/, so init's .terraform and lock files never land in the repository."""
    target = tmp_path_factory.mktemp("infra") / "infra"
    shutil.copytree(
        INFRA,
        target,
        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfplan"),
    )
    return target


def cli(terraform: str, working_dir: Path) -> TerraformCli:
    return TerraformCli(working_dir, program=terraform, env=terraform_env(use_mirror=True))


def run(terraform_cli: TerraformCli, argv: list[str]) -> tuple[int, str]:
    result = terraform_cli.run(Context(), argv, hide=True, warn=True)
    return result.exited, result.stdout + result.stderr


def initialised(terraform: str, directory: Path) -> TerraformCli:
    terraform_cli = cli(terraform, directory)
    code, output = run(terraform_cli, terraform_cli.init_argv())
    assert code == 0, output
    assert "hashicorp/azurerm v5.2.0" in output, "init must install azurerm from the local mirror"
    if "hashicorp/random" in output:
        assert "hashicorp/random v3.9.0" in output, "init must install random from the local mirror"
    if "hashicorp/time" in output:
        assert "hashicorp/time v0.14.2" in output, "init must install time from the local mirror"
    return terraform_cli


def run_blocks(directory: Path) -> int:
    return sum(
        len(re.findall(r'^run "', test_file.read_text(encoding="utf-8"), flags=re.MULTILINE))
        for test_file in (directory / "tests").glob("*.tftest.hcl")
    )


def test_code_is_formatted(terraform: str) -> None:
    terraform_cli = cli(terraform, INFRA)
    code, output = run(terraform_cli, terraform_cli.fmt_check_argv())
    assert code == 0, f"run `terraform fmt -recursive infra`:\n{output}"


@pytest.mark.parametrize("module", ["(root)", *MODULES])
def test_validates_against_the_azurerm_schema(
    terraform: str, infra_copy: Path, module: str
) -> None:
    directory = infra_copy if module == "(root)" else infra_copy / "modules" / module
    terraform_cli = initialised(terraform, directory)
    code, output = run(terraform_cli, terraform_cli.validate_argv())
    assert code == 0, output
    assert "The configuration is valid" in output


@pytest.mark.parametrize("module", ["(root)", *MODULES])
def test_terraform_test_runs_every_run_block(terraform: str, infra_copy: Path, module: str) -> None:
    directory = infra_copy if module == "(root)" else infra_copy / "modules" / module
    terraform_cli = initialised(terraform, directory)
    code, output = run(terraform_cli, terraform_cli.test_argv())
    expected = run_blocks(directory)
    assert expected > 0
    assert code == 0, output
    assert f"{expected} passed, 0 failed" in output, output


@pytest.mark.parametrize("example", EXAMPLES)
def test_examples_validate_against_the_azurerm_schema(
    terraform: str, infra_copy: Path, example: str
) -> None:
    terraform_cli = initialised(terraform, infra_copy / "modules" / example)
    code, output = run(terraform_cli, terraform_cli.validate_argv())
    assert code == 0, output
    assert "The configuration is valid" in output


# --- the Teams URL is a secret: no plan output may show it ---------------------------------------

SECRET_URL = "https://example.invalid/workflows/never-print-d41c7e"  # pragma: allowlist secret


def with_url_from_the_environment(test_file_text: str, url: str) -> tuple[str, dict[str, str]]:
    """A test file's mocks and overrides, without its Teams URL: it comes from TF_VAR_, as in use.

    A value written in a .tf or .tftest.hcl file is echoed as source in any error about that line,
    so the URL is never put in a file at all.
    """
    setup = test_file_text[: test_file_text.index('\nrun "')]
    assert "mock_provider" in setup
    without_url = re.sub(r"\n *teams_webhook_url *= *\"[^\"]*\"[^\n]*", "", setup)
    assert "teams_webhook_url" not in without_url
    return without_url + "\n", url_env(url)


def url_env(url: str) -> dict[str, str]:
    """Terraform's environment with the Teams URL given as in use: TF_VAR_, never a file."""
    return {**terraform_env(use_mirror=True), "TF_VAR_teams_webhook_url": url}


def initialised_with(terraform: str, directory: Path, env: dict[str, str]) -> TerraformCli:
    terraform_cli = TerraformCli(directory, program=terraform, env=env)
    code, output = run(terraform_cli, terraform_cli.init_argv())
    assert code == 0, output
    return terraform_cli


def secret_url_root(infra_copy: Path, name: str, runs: str) -> Path:
    """A copy of the root whose only test file is environments.tftest.hcl's setup and `runs`."""
    root = infra_copy.parent / name
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(infra_copy, root, ignore=shutil.ignore_patterns(".terraform", "tests"))
    (root / "tests").mkdir()
    environments = (INFRA / "tests" / "environments.tftest.hcl").read_text(encoding="utf-8")
    setup, _env = with_url_from_the_environment(environments, SECRET_URL)
    # time_sleep would really wait the roles' propagation (up to 600 s) in an apply: a
    # `mock_provider "time"` here does not reach the modules' time_sleep (the root does not require
    # the time provider; the real one slept 600 s), so the waits are overridden by address.
    no_waits = "".join(
        f"override_resource {{\n  target = module.{module}.time_sleep.role_propagation\n}}\n"
        for module in ("aks", "key_vault")
    )
    (root / "tests" / "secret.tftest.hcl").write_text(setup + no_waits + runs, encoding="utf-8")
    return root


def cluster_override_for_apply() -> str:
    """environments.tftest.hcl's AKS cluster override, applied at apply time only.

    Its `override_during = plan` makes the mock invent the cluster's other computed attributes
    (oidc_issuer_url, portal_fqdn, ...) at plan and again at apply, which Terraform rejects as an
    inconsistent final plan; a run's own override of the same target takes precedence over the
    file's ("Mocks", Terraform's testing docs).
    """
    environments = (INFRA / "tests" / "environments.tftest.hcl").read_text(encoding="utf-8")
    block = re.search(
        r"^override_resource \{\n"
        r"  target += module\.aks\.azurerm_kubernetes_cluster\.this\n.*?^\}\n",
        environments,
        flags=re.MULTILINE | re.DOTALL,
    )
    assert block, "environments.tftest.hcl no longer overrides the AKS cluster"
    assert "override_during = plan" in block.group(0)
    return block.group(0).replace("  override_during = plan\n", "")


def test_neither_the_plan_nor_the_state_contains_the_teams_url(
    terraform: str, infra_copy: Path
) -> None:
    """dev planned and applied (mocked azurerm), every resource and the resulting state rendered
    by `terraform test -verbose`: the URL is nowhere, and Key Vault's write-only value got it."""
    root = secret_url_root(
        infra_copy,
        "secret-url",
        'run "apply_dev" {\n  command = apply\n  variables {\n    environment = "dev"\n  }\n'
        + cluster_override_for_apply()
        + "}\n",
    )
    terraform_cli = initialised_with(terraform, root, url_env(SECRET_URL))
    code, output = run(terraform_cli, [*terraform_cli.test_argv(), "-verbose"])
    assert code == 0, output
    assert 'module.key_vault.azurerm_key_vault_secret.this["teams-webhook-url"]' in output, output
    assert "value_wo_version" in output
    assert "never-print" not in output


def vault_lists(names: list[str]) -> str:
    """A run's override of what Key Vault lists (the data source the refusal reads)."""
    listed = ", ".join(f'"{name}"' for name in names)
    return (
        "  override_data {\n    target = module.key_vault.data.azurerm_key_vault_secrets.present\n"
        f"    values = {{ names = [{listed}] }}\n  }}\n"
    )


def test_a_lost_database_password_is_refused_not_written_anew(
    terraform: str, infra_copy: Path
) -> None:
    """The root marks database-password irreplaceable: after an apply wrote it, a plan in which
    Key Vault no longer lists it fails and names the rotation step, instead of writing a fresh
    password the database server does not have (azurerm forgets a secret on Key Vault's 404:
    internal/services/keyvault/key_vault_secret_resource.go, Read)."""
    dev_plan = 'command = plan\n  variables {\n    environment = "dev"\n  }\n'
    all_secrets = ["card-fingerprint-key", "database-password", "django-secret-key"]
    all_secrets.append("teams-webhook-url")
    root = secret_url_root(
        infra_copy,
        "secret-lost",
        'run "apply_dev" {\n  command = apply\n  variables {\n    environment = "dev"\n  }\n'
        + cluster_override_for_apply()
        + "}\n"
        # The refusal tells a later plan from the first by plantimestamp(), in whole seconds.
        + 'run "a_second_passes" {\n  command = apply\n  module {\n    source = "./tests/wait"\n'
        + "  }\n}\n"
        + f'run "every_secret_in_the_vault_plans" {{\n  {dev_plan}{vault_lists(all_secrets)}}}\n'
        + 'run "a_lost_database_password_is_refused" {\n  '
        + dev_plan
        + vault_lists([name for name in all_secrets if name != "database-password"])
        + "}\n",
    )
    (root / "tests" / "wait").mkdir()
    (root / "tests" / "wait" / "main.tf").write_text(
        'terraform {\n  required_providers {\n    time = {\n      source = "hashicorp/time"\n'
        '    }\n  }\n}\n\nresource "time_sleep" "gap" {\n  create_duration = "2s"\n}\n',
        encoding="utf-8",
    )
    terraform_cli = initialised_with(terraform, root, url_env(SECRET_URL))
    code, output = run(terraform_cli, terraform_cli.test_argv())
    flat = re.sub(r"\s+", " ", output)
    assert code != 0, output
    for passing in ("apply_dev", "a_second_passes", "every_secret_in_the_vault_plans"):
        assert f'run "{passing}"... pass' in output, output
    assert 'run "a_lost_database_password_is_refused"... fail' in output, output
    assert "Resource precondition failed" in flat, output
    assert "kv-orderdesk-dev no longer has secret database-password" in flat, output
    assert "bump database-password in key_vault.secret_versions in infra/env.yaml" in flat, output
    assert "no longer has secret card-fingerprint-key" not in flat
    assert "never-print" not in output


def test_the_teams_url_cannot_reach_the_plan_or_the_state(terraform: str, infra_copy: Path) -> None:
    """Terraform refuses an ephemeral variable anywhere a plan or state keeps values: an output
    (or any ordinary resource argument) naming it does not even validate."""
    root = secret_url_root(infra_copy, "secret-url-leak", "")
    (root / "leak.tf").write_text(
        'output "leak" {\n  value     = var.teams_webhook_url\n  sensitive = true\n}\n',
        encoding="utf-8",
    )
    terraform_cli = initialised(terraform, root)
    code, output = run(terraform_cli, terraform_cli.validate_argv())
    assert code != 0, output
    assert "Ephemeral value not allowed" in re.sub(r"\s+", " ", output), output


def test_a_rejected_teams_url_is_not_printed_either(terraform: str, infra_copy: Path) -> None:
    root = secret_url_root(
        infra_copy,
        "secret-url-rejected",
        'run "plan" {\n  command = plan\n  variables {\n    environment = "dev"\n  }\n}\n',
    )
    http_url = SECRET_URL.replace("https://", "http://")
    terraform_cli = initialised_with(terraform, root, url_env(http_url))
    code, output = run(terraform_cli, [*terraform_cli.test_argv(), "-verbose"])
    assert code != 0
    assert "teams_webhook_url must be the https URL" in re.sub(r"\s+", " ", output), output
    assert "never-print" not in output


def bad_environment(infra_copy: Path, tmp_name: str, old: str, new: str) -> Path:
    """A copy of the root with one env.yaml value broken and a test that plans dev with it."""
    root = infra_copy.parent / tmp_name
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(infra_copy, root, ignore=shutil.ignore_patterns(".terraform", "tests"))
    env_text = (INFRA / "env.yaml").read_text(encoding="utf-8")
    assert old in env_text
    (root / "env.yaml").write_text(env_text.replace(old, new, 1), encoding="utf-8")
    (root / "tests").mkdir()
    (root / "tests" / "bad.tftest.hcl").write_text(
        'mock_provider "azurerm" {\n'
        '  mock_data "azurerm_client_config" {\n'
        '    defaults = { tenant_id = "11111111-2222-3333-4444-555555555555" }\n'
        "  }\n}\n"
        'run "plan_dev" {\n  command = plan\n  variables {\n    environment = "dev"\n'
        f'    teams_webhook_url = "{TEST_TEAMS_URL}"\n  }}\n}}\n',
        encoding="utf-8",
    )
    return root


@pytest.mark.parametrize(
    ("case", "old", "new", "message"),
    [
        (
            "overlapping_subnets",
            "database: 10.10.18.0/24",
            "database: 10.10.1.0/24",
            "Subnets must not overlap",
        ),
        (
            "aks_version_out_of_range",
            "cluster_name: aks-orderdesk-dev",
            'cluster_name: aks-orderdesk-dev\n        kubernetes_version: "1.29"',
            "kubernetes_version must be 1.33 to 1.37",
        ),
        (
            "service_range_inside_the_vnet",
            "cluster_name: aks-orderdesk-dev",
            "cluster_name: aks-orderdesk-dev\n        service_cidr: 10.10.128.0/20",
            "service_cidr must not overlap address_space",
        ),
        (
            "subnet_outside_the_vnet",
            "appgw: 10.10.16.0/24",
            "appgw: 10.99.16.0/24",
            "Every subnet must lie inside address_space",
        ),
    ],
)
def test_the_terraform_side_refuses_bad_env_yaml_too(
    terraform: str, infra_copy: Path, *, case: str, old: str, new: str, message: str
) -> None:
    """Even if ops/envconfig.py were bypassed, the plan stops at the module's validation."""
    root = bad_environment(infra_copy, case, old, new)
    terraform_cli = initialised(terraform, root)
    code, output = run(terraform_cli, terraform_cli.test_argv())
    assert code != 0
    assert message in re.sub(r"\s+", " ", output), output


# --- the wrapper, for real, on a configuration with no provider ---------------------------------

NO_PROVIDER_CONFIG = """
variable "environment" {
  type = string
}

output "greeting" {
  value = "hello ${var.environment}"
}
"""


def test_wrapper_plans_shows_and_applies_only_the_saved_plan(
    terraform: str, tmp_path: Path
) -> None:
    (tmp_path / "main.tf").write_text(NO_PROVIDER_CONFIG, encoding="utf-8")
    terraform_cli = cli(terraform, tmp_path)
    plan_file = tmp_path / "dev.tfplan"
    assert run(terraform_cli, terraform_cli.init_argv())[0] == 0
    code, output = run(terraform_cli, terraform_cli.plan_argv(plan_file, {"environment": "dev"}))
    assert code == 0, output
    shown = terraform_cli.run_json(Context(), terraform_cli.show_plan_json_argv(plan_file))
    assert shown["variables"]["environment"]["value"] == "dev"
    code, output = run(terraform_cli, terraform_cli.apply_plan_argv(plan_file))
    assert code == 0, output
    outputs = terraform_cli.run_json(Context(), terraform_cli.output_json_argv())
    assert outputs["greeting"]["value"] == "hello dev"


def test_python_terraform_destroy_is_broken_on_current_terraform(
    terraform: str, tmp_path: Path
) -> None:
    """Why ops/terraform_cli.py never calls python-terraform's destroy(): it passes -force.

    If this starts passing destroy, python-terraform was fixed and the wrapper can be revisited.
    """
    (tmp_path / "main.tf").write_text(NO_PROVIDER_CONFIG, encoding="utf-8")
    legacy = Terraform(working_dir=str(tmp_path), terraform_bin_path=terraform)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in terraform_env(use_mirror=True).items():
            patch.setenv(name, value)
        assert legacy.init()[0] == 0
        code, _out, err = legacy.destroy(var={"environment": "dev"})
    assert code != 0
    assert "flag provided but not defined: -force" in err


# `terraform providers lock` "creates or updates the current configuration's dependency lock file
# using information from upstream registries, regardless of the provider installation
# configuration" (hashicorp/terraform internal/command/providers_lock.go): the offline mirror
# cannot stand in for the registry, so here it fails, clearly, and writes no lock file.
def test_tf_lock_without_the_registry_fails_and_leaves_the_lock_file_as_it_was(
    terraform: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    infra = tmp_path / "infra"
    shutil.copytree(
        INFRA, infra, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfplan")
    )
    monkeypatch.setattr(tf, "WORK_DIR", tmp_path / "work")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(MIRROR_CLI_CONFIG))
    with pytest.raises(Exit, match=r"needs registry\.terraform\.io") as caught:
        tf.lock_providers(Context(), infra)
    assert caught.value.code == 1
    assert not (infra / ".terraform.lock.hcl").exists()
    committed = '# the committed lock file\nprovider "registry.terraform.io/hashicorp/azurerm" {}\n'
    (infra / ".terraform.lock.hcl").write_text(committed, encoding="utf-8")
    with pytest.raises(Exit):
        tf.lock_providers(Context(), infra)
    assert (infra / ".terraform.lock.hcl").read_text(encoding="utf-8") == committed


# --- the real provider's plan-time checks (CustomizeDiff), which a mocked provider never runs ----


class _ManagedIdentityStandIn(BaseHTTPRequestHandler):
    """Azure's managed identity endpoint on 127.0.0.1: azurerm configures itself by reading the
    claims of one token (internal/clients/auth.go, NewResourceManagerAccount), and a plan of new
    resources asks Azure nothing more. The token is unsigned: only its claims are read."""

    def do_GET(self) -> None:
        def part(value: dict[str, str]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        claims = {"appid": STAND_IN_ID, "oid": STAND_IN_ID, "tid": STAND_IN_ID}
        token = f"{part({'alg': 'none'})}.{part(claims)}.stand-in"
        body = json.dumps(
            {"access_token": token, "token_type": "Bearer", "expires_in": "3600"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


STAND_IN_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(scope="module")
def managed_identity_endpoint() -> Iterator[str]:
    with serving_on_loopback(_ManagedIdentityStandIn) as base:
        yield f"{base}/metadata/identity/oauth2/token"


def real_provider_plan(
    terraform: str, infra_copy: Path, endpoint: str, name: str, main_tf: str | None = None
) -> tuple[int, str]:
    """`terraform test` of the acr module planned by the real azurerm (no mock_provider), for
    the private registry (prod) and the one the dev runners push to over its public endpoint."""
    module = infra_copy.parent / name
    if module.exists():
        shutil.rmtree(module)
    shutil.copytree(
        infra_copy / "modules" / "acr", module, ignore=shutil.ignore_patterns(".terraform")
    )
    shutil.copytree(
        infra_copy / "modules" / "private_endpoint",
        module.parent / "private_endpoint",
        dirs_exist_ok=True,
    )
    if main_tf is not None:
        (module / "main.tf").write_text(main_tf, encoding="utf-8")
    setup = (module / "tests" / "acr.tftest.hcl").read_text(encoding="utf-8")
    variables = setup[setup.index("variables {") : setup.index('\nrun "')]
    shutil.rmtree(module / "tests")
    (module / "tests").mkdir()
    (module / "tests" / "real.tftest.hcl").write_text(
        'provider "azurerm" {\n  features {}\n  use_cli = false\n  use_msi = true\n'
        f'  msi_endpoint = "{endpoint}"\n  client_id = "{STAND_IN_ID}"\n'
        f'  tenant_id = "{STAND_IN_ID}"\n'
        '  subscription_id = "00000000-0000-0000-0000-000000000000"\n'
        '  resource_provider_registrations = "none"\n}\n'
        f"{variables}\n"
        'run "private_registry" {\n  command = plan\n}\n'
        'run "registry_the_runners_push_to" {\n  command = plan\n'
        '  variables {\n    pusher_ip_ranges = ["198.51.100.0/28"]\n  }\n}\n',
        encoding="utf-8",
    )
    terraform_cli = initialised(terraform, module)
    return run(terraform_cli, terraform_cli.test_argv())


# azurerm 5.2's CustomizeDiff: "to disable export of artifacts, `public_network_access_enabled`
# must also be `false`" (internal/services/containers/container_registry_resource.go).
def test_the_real_azurerm_plans_the_registry_with_exports_tied_to_public_access(
    terraform: str, infra_copy: Path, managed_identity_endpoint: str
) -> None:
    code, output = real_provider_plan(
        terraform, infra_copy, managed_identity_endpoint, "acr-real-provider"
    )
    assert code == 0, output
    assert "2 passed, 0 failed" in output, output
    # The same plan with exports off beside public access: the provider's own check refuses it,
    # so the passing plan above did run that check.
    main_tf = (infra_copy / "modules" / "acr" / "main.tf").read_text(encoding="utf-8")
    forced_off = re.sub(
        r"export_policy_enabled\s*=.*", "export_policy_enabled = false", main_tf, count=1
    )
    assert forced_off != main_tf
    code, output = real_provider_plan(
        terraform, infra_copy, managed_identity_endpoint, "acr-real-provider-refused", forced_off
    )
    assert code != 0
    assert "public_network_access_enabled` must also be `false`" in output, output


# --- an internal environment, planned from a copy of env.yaml -----------------------------------

INTERNAL_PLAN = Path(__file__).parent / "data" / "internal_dev.tftest.hcl"


def test_an_internal_environment_plans_a_private_gateway_zone_and_dns01_identity(
    terraform: str, infra_copy: Path
) -> None:
    """dev made internal in a copy of env.yaml: what the committed environments never plan."""
    root = infra_copy.parent / "internal"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(infra_copy, root, ignore=shutil.ignore_patterns(".terraform", "tests"))
    env_text = (INFRA / "env.yaml").read_text(encoding="utf-8")
    edits = {
        "      dns: {zone: dev.orderdesk.example.com}\n": (
            "      ingress: {exposure: internal, private_ip: 10.10.16.10}\n"
        ),
        # The self-hosted runner an internal environment deploys from (ops/envconfig.py).
        "          database: 10.10.18.0/24\n": "          runners: 10.10.19.0/24\n",
    }
    for anchor, addition in edits.items():
        assert env_text.count(anchor) == 1, anchor
        env_text = env_text.replace(anchor, anchor + addition)
    (root / "env.yaml").write_text(env_text, encoding="utf-8")
    setup = (INFRA / "tests" / "environments.tftest.hcl").read_text(encoding="utf-8")
    (root / "tests").mkdir()
    (root / "tests" / "internal.tftest.hcl").write_text(
        setup[: setup.index('\nrun "')] + "\n" + INTERNAL_PLAN.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    terraform_cli = initialised(terraform, root)
    code, output = run(terraform_cli, terraform_cli.test_argv())
    assert code == 0, output
    assert "1 passed, 0 failed" in output, output
