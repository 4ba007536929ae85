"""The exact command sequence of Azure deploys, with invoke's MockContext (no Azure here).

Deploy calls the other areas' tasks in this process, so the fake shell below sees every real
command they run: terraform, az, kubectl, helm. Only what does not go through the shell is
replaced: the image tasks (the Docker SDK; tests/image runs them for real) and the HTTPS smoke
test (test_smoke.py runs it against a real HTTPS server). The local deploy runs for real in
test_local.py.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from invoke import Config, MockContext, Result
from invoke.exceptions import Exit, UnexpectedExit

from ops import azure, deploy, envconfig, image, k8s, tf, toolchain
from ops.azure import providers
from ops.core import azcli, git
from ops.core.target import Target
from ops.deploy import checks
from ops.envconfig import Environment
from ops.image import signing
from ops.image.registry import PushRecord
from ops.k8s import cert_manager, watch
from testkit.support import (
    committed_lock_file,
    context_answering,
    free_port,
    need_tool,
    recorded_run,
)
from tests.kubeapi import FakeCluster, FakeDeployment, write_kubeconfig
from tests.manifests.conftest import DATA, write_image_record

DIGEST = "sha256:" + "a" * 64
INGRESS_IP = "203.0.113.10"
SUBSCRIPTION = "12345678-1234-1234-1234-123456789abc"
TENANT = "87654321-4321-4321-4321-cba987654321"
TEAMS_WEBHOOK_URL = "https://teams.example.invalid/workflows/alerts"
SECRETS = ["django-secret-key", "card-fingerprint-key", "database-password", "teams-webhook-url"]
ACTION_GROUP_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-orderdesk-prod/providers/"
    "microsoft.insights/actionGroups/ag-orderdesk-prod"
)
ACTION_GROUP_URL = f"https://management.azure.com{ACTION_GROUP_ID}?api-version=2023-01-01"
# The action group as Azure Resource Manager returns it, before its Teams receiver is set.
ACTION_GROUP = json.dumps(
    {
        "id": ACTION_GROUP_ID,
        "location": "Global",
        "tags": {"environment": "prod"},
        "properties": {"groupShortName": "od-prod", "enabled": True, "webhookReceivers": []},
    }
)
# What az prints for Key Vault's 404 (the error code SecretNotFound).
SECRET_NOT_FOUND = (
    "ERROR: (SecretNotFound) A secret with (name/id) card-fingerprint-key was not found in this "
    "key vault. If you recently deleted this secret you may be able to recover it using the "
    "correct recovery command."
)


# The subscription as `invoke tf.bootstrap` leaves it: every provider and feature Registered.
REGISTERED = json.dumps([[namespace, "Registered"] for namespace in providers.RESOURCE_PROVIDERS])


CERTIFICATE_READY = json.dumps(
    {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]}}
)


class FakeShell:
    """c.run for a MockContext: answers by regex, fails like invoke (UnexpectedExit unless warn),
    and does what the faked programs would leave behind (a plan file, a kubeconfig).

    The Deployment (`api`, read through the fake API) runs revision 1 (ReplicaSet orderdesk-1,
    ready) until an apply changes its pod template (`template_changes`), then revision 2;
    `rollout undo --to-revision=N` returns to N. `revision = None`: no Deployment yet (a first
    install).
    """

    def __init__(self, failing: str | None = None, stderr: str = "boom") -> None:
        self.failing = re.compile(failing) if failing else None
        self.stderr = stderr
        self.log: list[str] = []
        self.api = FakeDeployment(revision=1, images={1: "r/orderdesk:1", 2: "r/orderdesk:2"})
        self.template_changes = True
        # What `kubectl apply` reports for the objects it sent.
        self.applied = "deployment.apps/orderdesk configured\nservice/orderdesk unchanged\n"
        self.answers: list[tuple[re.Pattern[str], str]] = [
            (re.compile(r".*/az account show "), json.dumps(account())),
            (re.compile(r".*/az provider list "), REGISTERED),
            (re.compile(r".*/az feature show "), "Registered\n"),
            (
                re.compile(r".* show -json "),
                json.dumps({"variables": {"environment": {"value": "prod"}}}),
            ),
            (re.compile(r".* output -json"), json.dumps(tf_outputs())),
            (re.compile(r".* get ingress orderdesk "), INGRESS_IP),
            (re.compile(r".* get certificate orderdesk-tls "), CERTIFICATE_READY),
            (re.compile(r".*/az network dns record-set a show "), INGRESS_IP + "\n"),
            (re.compile(r".*/az keyvault secret show .* --query value "), TEAMS_WEBHOOK_URL),
            (re.compile(r".*/az rest --method get "), ACTION_GROUP),
        ]
        SHELLS.append(self)

    @property
    def revision(self) -> int | None:
        return self.api.revision

    @revision.setter
    def revision(self, number: int | None) -> None:
        self.api.revision = number

    def __call__(self, command: str, **kwargs: Any) -> Result:
        self.log.append(command)
        if self.failing and self.failing.search(command):
            result = Result(command=command, exited=1, stderr=self.stderr)
            if not kwargs.get("warn"):
                raise UnexpectedExit(result)
            return result
        for flag in ("-out", "--file"):
            written = re.search(rf" {flag}[= ](\S+)", command)
            if written and ("plan" in command or "get-credentials" in command):
                Path(written.group(1)).write_text("written by a faked program\n")
        stdout = next((text for pattern, text in self.answers if pattern.match(command)), None)
        if stdout is not None:
            return Result(command=command, stdout=stdout)
        return self.deployment(command)

    def deployment(self, command: str) -> Result:
        """The Deployment's side: apply moving it, undo returning it."""
        if " apply --filename=" in command:
            if self.template_changes:
                self.revision = 2
            return Result(command=command, stdout=self.applied)
        undo = re.search(r" rollout undo deployment/orderdesk --to-revision=(\d+)", command)
        if undo:
            self.api.undo_to(int(undo.group(1)))
        return Result(command=command, stdout="")


# The real client, for the tests that reach a real (unreachable) API server.
CONNECT = watch.connect
# The shells of the MockContexts made by context(), newest last: the fake API reads the newest.
SHELLS: list[FakeShell] = []


def tf_outputs() -> dict[str, Any]:
    outputs = json.loads((DATA / "tf-outputs-prod.json").read_text())
    outputs["key_vault_secret_names"] = {"value": SECRETS}
    outputs["alarms_action_group_id"] = {"value": ACTION_GROUP_ID}
    outputs["ingress_public_ip"] = {"value": INGRESS_IP}
    return outputs


def account(subscription: str = SUBSCRIPTION, user: dict[str, str] | None = None) -> dict[str, Any]:
    """What `az account show --output json` prints (the fields of azure-cli's profile
    module's subscription entry); after azure/login with OIDC the user is a servicePrincipal."""
    return {
        "environmentName": "AzureCloud",
        "homeTenantId": TENANT,
        "id": subscription,
        "isDefault": True,
        "managedByTenants": [],
        "name": "Orderdesk",
        "state": "Enabled",
        "tenantId": TENANT,
        "user": user or {"name": "ops", "type": "servicePrincipal"},
    }


# What az prints, exit status 1, when nobody is signed in (azure-cli-core's
# azure/cli/core/_profile.py, _AZ_LOGIN_MESSAGE).
SIGNED_OUT = "ERROR: Please run 'az login' to setup account."


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every tool present, a clean checkout, logged in; the image tasks replaced by fakes that
    leave what image.push leaves (image.json)."""
    real_find = toolchain.find
    kustomize = need_tool("kustomize", "k8s.apply renders the overlay for real")

    def find(tool: str) -> str | None:
        return kustomize if tool == "kustomize" else f"/usr/bin/{tool}"

    monkeypatch.setattr(toolchain, "find", find)
    monkeypatch.setattr(azcli, "find", find)
    monkeypatch.setattr("ops.terraform_cli.find", find)
    monkeypatch.setattr(git, "head", lambda *a, **k: "f" * 40)
    monkeypatch.setattr(git, "changes", lambda *a, **k: [])
    monkeypatch.setattr(tf, "WORK_DIR", tmp_path / "terraform")
    monkeypatch.setattr(tf, "LOCK_FILE", committed_lock_file(tmp_path / "checkout"))
    monkeypatch.setenv("ARM_SUBSCRIPTION_ID", SUBSCRIPTION)
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", TEAMS_WEBHOOK_URL)
    monkeypatch.setenv("ARM_TENANT_ID", TENANT)
    # env.yaml's Entra groups are placeholders, which azure.entra refuses; its Graph requests are
    # tested against a stand-in tenant in test_entra.py.
    monkeypatch.setattr(
        azure,
        "entra_for",
        lambda target: target.context.run(f"<azure.entra --env {target.name}: Graph through az>"),
    )
    monkeypatch.setattr(checks, "https_smoke_test", lambda c, environment: None)
    monkeypatch.setattr("ops.core.wait.time.sleep", lambda seconds: None)
    assert real_find is not find
    for name in ("build", "scan", "push", "sign"):
        monkeypatch.setattr(image, f"{name}_for", fake_image_task(name, tmp_path))
    monkeypatch.setattr(image, "verify_pushed", fake_verify(tmp_path))
    SHELLS.clear()
    monkeypatch.setattr(watch, "connect", lambda target: FakeCluster(target, SHELLS[-1].api))
    return tmp_path


def fake_verify(state_dir: Path) -> Callable[..., PushRecord]:
    """image.verify_pushed as cosign would answer for a signed digest: the record it checked."""

    def verify_pushed(c: MockContext, environment: Environment) -> PushRecord:
        c.run(f"<image.verify --env {environment.name}: cosign>")
        pushed = json.loads((state_dir / environment.name / "image.json").read_text())
        return PushRecord(
            environment=environment.name,
            repository=pushed["repository"],
            tag=pushed["tag"],
            digest=pushed["digest"],
            git_commit="f" * 40,
            image_id="",
            pushed_at="",
        )

    return verify_pushed


def fake_image_task(name: str, state_dir: Path) -> Callable[..., None]:
    tool = "cosign" if name in {"sign", "verify"} else "Docker SDK"

    def task(target: Target) -> None:
        target.context.run(f"<image.{name} --env {target.name}: {tool}>")
        if name == "push":
            write_image_record(state_dir, target.name, DIGEST, target.environment)

    return task


def context(state: Path, failing: str | None = None, stderr: str = "boom") -> MockContext:
    config = Config(overrides={"state_dir": str(state)})
    return context_answering(FakeShell(failing, stderr), config)


def commands(c: MockContext, state: Path) -> list[str]:
    """The commands run, shortened: program paths to names, the state dir to {state}."""
    shortened = []
    for call in recorded_run(c).call_args_list:
        command = call.args[0].replace(str(state), "{state}")
        command = re.sub(r"(^|\s)/usr/bin/(\w+)", r"\1\2", command)
        command = re.sub(r"^\S*/kustomize", "kustomize", command)
        shortened.append(command)
    return shortened


KUBECTL = re.escape(
    "kubectl --request-timeout=10s --kubeconfig={state}/prod/kubeconfig "
    "--context=aks-orderdesk-prod"
)
TERRAFORM = r"terraform -chdir=\S+/infra"
PLAN = re.escape("{state}/terraform/prod.tfplan")


def literal(command: str) -> str:
    return re.escape(command)


# Regular expressions, each matching one whole command, in order.
# Preflight's reads, before anything changes: the signed-in account, the subscription's
# registrations.
PREFLIGHT_READS = [
    literal("az account show --output json"),
    literal("az provider list --query '[].[namespace, registrationState]' --output json"),
    literal(
        "az feature show --namespace Microsoft.Compute --name EncryptionAtHost "
        "--query properties.state --output tsv"
    ),
]
# Then, before any change, the tokens the stages will need while the CI login is fresh.
TOKENS = [
    literal(f"az account get-access-token --resource {resource} --query expiresOn --output tsv")
    # Microsoft Graph's for the entra stage, which merged after the first-contact rules.
    for resource in (azure.KEY_VAULT_RESOURCE, azure.AKS_SERVER_APPLICATION, azure.GRAPH_RESOURCE)
]
EXPECTED_PROD = [
    *PREFLIGHT_READS,
    *TOKENS,
    # terraform: tf.plan, tf.apply
    literal("az account show --output json"),
    rf"{TERRAFORM} init .*-backend-config=key=prod.tfstate.*",
    rf"{TERRAFORM} plan .*-var=environment=prod -out={PLAN}",
    literal("az account show --output json"),
    rf"{TERRAFORM} init .*",
    rf"{TERRAFORM} show -json -no-color {PLAN}",
    rf"{TERRAFORM} apply .*{PLAN}",
    # image
    literal("<image.build --env prod: Docker SDK>"),
    literal("<image.scan --env prod: Docker SDK>"),
    literal("<image.push --env prod: Docker SDK>"),
    literal("<image.sign --env prod: cosign>"),
    # credentials
    literal("az account show --output json"),
    rf"{TERRAFORM} init .*",
    rf"{TERRAFORM} output -json -no-color",
    literal(
        "az aks get-credentials --resource-group rg-orderdesk-prod --name aks-orderdesk-prod "
        "--file {state}/prod/kubeconfig --overwrite-existing"
    ),
    literal("kubelogin convert-kubeconfig --login azurecli --kubeconfig {state}/prod/kubeconfig"),
    rf"{KUBECTL} version",
    # entra
    literal("<azure.entra --env prod: Graph through az>"),
    # secrets
    *[
        literal(
            f"az keyvault secret show --vault-name kv-orderdesk-prod --name {name} "
            "--query id --output tsv"
        )
        for name in SECRETS
    ],
    # the alarms' Teams receiver, from the vault, its URL through a file
    literal(
        "az keyvault secret show --vault-name kv-orderdesk-prod --name teams-webhook-url "
        "--query value --output tsv"
    ),
    literal(f"az rest --method get --url '{ACTION_GROUP_URL}'"),
    literal(f"az rest --method put --url '{ACTION_GROUP_URL}' --body @") + r"\S+ --output none",
    # addons: cert-manager's pinned chart, its CRDs included
    re.escape("helm --kubeconfig={state}/prod/kubeconfig --kube-context=aks-orderdesk-prod ")
    + r"upgrade --install cert-manager cert-manager --repo https://charts\.jetstack\.io "
    r"--version v\S+ --namespace cert-manager --create-namespace --set crds\.enabled=true "
    r"--wait=watcher --timeout 5m",
    # monitoring: the namespace, secrets, the chart, rules and dashboards
    rf"{KUBECTL} apply -f -",
    rf"{KUBECTL} apply -f -",
    rf"{KUBECTL} --namespace=monitoring get secret grafana-admin --output=name",
    re.escape("helm --kubeconfig={state}/prod/kubeconfig --kube-context=aks-orderdesk-prod ")
    + r"upgrade --install kube-prometheus-stack .* --wait=watcher --timeout 10m",
    rf"{KUBECTL} apply -f \S+/prometheusrule\.yaml",
    rf"{KUBECTL} delete --ignore-not-found -f \S+/prometheusrule-demo\.yaml",
    rf"{KUBECTL} apply -f \S+/grafana-dashboards\.yaml",
    # kubernetes: image.verify first, then k8s.apply of what it verified (the revision that
    # runs is read through the API and recorded first); k8s.rollout watches through the API
    # (the smoke test is faked)
    literal("<image.verify --env prod: cosign>"),
    rf"{KUBECTL} apply --filename={re.escape('{state}/prod/manifests.yaml')}",
    # the Certificate Ready before the HTTPS smoke test (faked) asks the gateway
    rf"{KUBECTL} --namespace=orderdesk get certificate orderdesk-tls --output=json",
    # dns
    rf"{KUBECTL} --namespace=orderdesk get ingress orderdesk "
    + literal("'--output=jsonpath={.status.loadBalancer.ingress[0].ip}'"),
    *[
        literal(
            "az network dns record-set a show --resource-group rg-orderdesk-prod "
            f"--zone-name orderdesk.example.com --name {name} --query 'ARecords[].ipv4Address' "
            "--output tsv"
        )
        for name in ("@", "grafana")
    ],
    # the record, on the Deployment
    rf"{KUBECTL} --namespace=orderdesk annotate deployment orderdesk --overwrite "
    r"'orderdesk\.dev/last-deploy=\{.*\}'",
]


def matches(expected: list[str], ran: list[str]) -> None:
    assert len(ran) == len(expected), "\n".join(ran)
    for pattern, command in zip(expected, ran, strict=True):
        assert re.fullmatch(pattern, command), f"{command!r} !~ {pattern!r}"


def test_prod_deploy_runs_every_stage_in_order(state: Path) -> None:
    c = context(state)
    deploy.deploy(c, env="prod")
    ran = commands(c, state)
    matches(EXPECTED_PROD, ran)
    record = json.loads((state / "prod" / "last-deploy.json").read_text())
    assert record["result"] == "succeeded"
    assert record["git_sha"] == "f" * 40
    assert record["image"] == f"acrorderdeskprod.azurecr.io/orderdesk@{DIGEST}"
    assert [s["name"] for s in record["stages"]] == list(deploy.STAGES)


def test_a_full_azure_deploy_reads_env_yaml_once(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Target for the whole deploy: every stage gets the environment it resolved."""
    reads: list[str] = []
    real_load_all, real_load = envconfig.load_all, envconfig.load

    def load_all(*args: Any, **kwargs: Any) -> dict[str, Environment]:
        reads.append("load_all")
        return real_load_all(*args, **kwargs)

    def load(*args: Any, **kwargs: Any) -> Environment:
        reads.append("load")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(envconfig, "load_all", load_all)
    monkeypatch.setattr(envconfig, "load", load)
    c = context(state)
    deploy.deploy(c, env="prod")
    matches(EXPECTED_PROD, commands(c, state))  # every stage ran
    assert reads == ["load_all"]


def test_crds_are_installed_before_the_objects_of_their_kinds_on_a_first_deploy(
    state: Path,
) -> None:
    # cert-manager's chart brings its CRDs only with crds.enabled=true, and its issuers come
    # after: https://cert-manager.io/docs/installation/helm/ (tests/deploy/test_addons.py shows
    # the API server refusing the other order).
    c = context(state)
    deploy.deploy(c, env="prod")
    ran = commands(c, state)

    def first(pattern: str) -> int:
        return next(i for i, command in enumerate(ran) if re.search(pattern, command))

    pin, _ = cert_manager.chart_pin()
    cert_manager_chart = first(
        rf"^helm .* upgrade --install cert-manager cert-manager .*--version "
        rf"{re.escape(pin.version)} .*--set crds\.enabled=true --wait=watcher"
    )
    operator = first(r"^helm .* upgrade --install kube-prometheus-stack .* --wait=watcher")
    manifests = first(r" apply --filename=\S+/manifests\.yaml$")
    assert cert_manager_chart < manifests
    assert operator < manifests


def test_every_cluster_command_names_the_environments_kubeconfig_and_context(state: Path) -> None:
    """kubectl and helm never act on whatever cluster is current on the machine."""
    write_image_record(state, "prod", DIGEST)
    c = context(state)
    deploy.deploy(c, env="prod", only="credentials,addons,monitoring,kubernetes,dns")
    cluster_calls = [cmd for cmd in commands(c, state) if cmd.startswith(("kubectl", "helm"))]
    assert len(cluster_calls) >= 10
    assert any(command.startswith("helm") for command in cluster_calls)
    for command in cluster_calls:
        assert "--kubeconfig={state}/prod/kubeconfig" in command, command
        assert re.search(r"--(kube-)?context=aks-orderdesk-prod ", command), command


def previous_deploy(state: Path) -> None:
    """What earlier stages left: the pushed image and the saved Terraform outputs."""
    write_image_record(state, "prod", DIGEST)
    outputs = {name: item["value"] for name, item in tf_outputs().items()}
    (state / "prod" / "tf-outputs.json").write_text(json.dumps(outputs))
    (state / "prod" / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")


def test_a_missing_django_key_is_created_from_a_file_never_the_command_line(
    state: Path,
) -> None:
    previous_deploy(state)
    c = context(
        state,
        failing=r".*az keyvault secret show(-deleted)? .*django-secret-key.*",
        stderr=SECRET_NOT_FOUND,
    )
    deploy.deploy(c, env="prod", only="secrets")
    created = [command for command in commands(c, state) if "secret set" in command]
    assert len(created) == 1
    assert re.fullmatch(
        r"az keyvault secret set --vault-name kv-orderdesk-prod --name django-secret-key "
        r"--file \S+ --encoding utf-8 --output none",
        created[0],
    )
    set_call = next(call for call in recorded_run(c).call_args_list if "secret set" in call.args[0])
    assert set_call.kwargs["hide"] is True


# Key Vault confirms "not found" for the secret and for its deleted copy: a fresh value would not
# match the database's password, nor the card fingerprints already stored.
@pytest.mark.parametrize(
    ("name", "rotation"),
    [
        ("database-password", "--only terraform,secrets,kubernetes"),
        ("card-fingerprint-key", "--only terraform,secrets,kubernetes"),
        ("teams-webhook-url", "--only terraform,secrets"),
    ],
)
def test_a_lost_secret_that_cannot_be_regenerated_is_refused_naming_the_rotation(
    state: Path, name: str, rotation: str
) -> None:
    previous_deploy(state)
    c = context(
        state, failing=rf".*az keyvault secret show(-deleted)? .*{name} ", stderr=SECRET_NOT_FOUND
    )
    with pytest.raises(Exit) as refused:
        deploy.deploy(c, env="prod", only="secrets")
    message = str(refused.value.message)
    assert f"secret {name} is not in Key Vault kv-orderdesk-prod, nor among its deleted" in message
    assert f"bump {name} in azure.key_vault.secret_versions in infra/env.yaml" in message
    assert f"invoke deploy --env prod {rotation}" in message
    ran = commands(c, state)
    assert any(
        f"secret show-deleted --vault-name kv-orderdesk-prod --name {name} " in r for r in ran
    )
    assert not any(" secret set " in command or " secret recover " in command for command in ran)


def test_the_alarms_teams_url_goes_from_the_vault_to_azure_through_a_file_only(
    state: Path,
) -> None:
    previous_deploy(state)
    c = context(state)
    bodies: list[dict[str, Any]] = []
    shell = recorded_run(c).side_effect

    def answer(command: str, **kwargs: Any) -> Result:
        body = re.search(r" --body @(\S+) ", command)
        if body:
            bodies.append(json.loads(Path(body.group(1)).read_text()))
        return shell(command, **kwargs)

    recorded_run(c).side_effect = answer
    deploy.deploy(c, env="prod", only="secrets")
    [body] = bodies
    assert body["properties"]["webhookReceivers"] == [
        {"name": "teams", "serviceUri": TEAMS_WEBHOOK_URL, "useCommonAlertSchema": True}
    ]
    assert body["properties"]["groupShortName"] == "od-prod"
    assert body["location"] == "Global"
    assert not any(TEAMS_WEBHOOK_URL in call.args[0] for call in recorded_run(c).call_args_list)
    for call in recorded_run(c).call_args_list:
        if "teams-webhook-url --query value" in call.args[0]:
            assert call.kwargs["hide"] is True

    # Set already: nothing is written again.
    group = json.loads(ACTION_GROUP)
    group["properties"]["webhookReceivers"] = body["properties"]["webhookReceivers"]
    again = context(state)
    recorded_run(again).side_effect.answers.insert(
        0, (re.compile(r".*/az rest --method get "), json.dumps(group))
    )
    deploy.deploy(again, env="prod", only="secrets")
    assert not any("--method put" in command for command in commands(again, state))


def test_a_soft_deleted_secret_is_recovered_not_replaced(state: Path) -> None:
    previous_deploy(state)
    c = context(
        state, failing=r".*az keyvault secret show .*database-password.*", stderr=SECRET_NOT_FOUND
    )
    deploy.deploy(c, env="prod", only="secrets")
    ran = commands(c, state)
    recover = (
        "az keyvault secret recover --vault-name kv-orderdesk-prod --name database-password "
        "--output none"
    )
    assert recover in ran
    assert not any("secret set" in command for command in ran)


# Key Vault's "not found" is HTTP 404 with error code SecretNotFound (seen in
# Azure/azure-sdk-for-js#25489); a firewall (403 ForbiddenByFirewall), a missing role (403) or
# throttling (429) says nothing about whether the secret exists.
@pytest.mark.parametrize(
    "stderr",
    [
        "ERROR: (Forbidden) Client address is not authorized and caller is not a trusted service."
        "\nCode: Forbidden\nInner error: {'code': 'ForbiddenByFirewall'}",
        "ERROR: (Forbidden) Caller is not authorized to perform action on resource.\n"
        "Code: Forbidden\nInner error: {'code': 'ForbiddenByRbac'}",
        "ERROR: (Throttled) Request was not allowed because of throttling.",
        "",
    ],
)
@pytest.mark.parametrize("read", ["show", "show-deleted"])
def test_only_secret_not_found_creates_a_key_vault_secret(
    state: Path, stderr: str, read: str
) -> None:
    previous_deploy(state)
    c = context(state)
    shell = recorded_run(c).side_effect
    failures = {"show": SECRET_NOT_FOUND if read == "show-deleted" else stderr, read: stderr}

    def answer(command: str, **kwargs: Any) -> Result:
        found = re.search(
            r"az keyvault secret (show|show-deleted) .*--name database-password ", command
        )
        if found and found.group(1) in failures:
            shell.log.append(command)
            return Result(command=command, exited=1, stderr=failures[found.group(1)])
        return shell(command, **kwargs)

    recorded_run(c).side_effect = answer
    with pytest.raises(
        Exit,
        match=r"cannot tell whether secret database-password exists in Key Vault "
        r"kv-orderdesk-prod .*nothing was created or changed",
    ) as caught:
        deploy.deploy(c, env="prod", only="secrets")
    ran = commands(c, state)
    assert any(f"secret {read} " in command for command in ran)
    assert not any(" secret set " in command or " secret recover " in command for command in ran)
    assert "stage secrets failed" in str(caught.value.message)


def test_dns_pointing_elsewhere_is_refused(state: Path) -> None:
    previous_deploy(state)
    c = context(state, failing=r".*az network dns record-set a show .*--name grafana ")
    with pytest.raises(
        Exit,
        match=r"grafana.orderdesk.example.com resolves to nothing, not the "
        r"ingress 203.0.113.10; Terraform manages the record",
    ):
        deploy.deploy(c, env="prod", only="dns")


def undo_count(c: MockContext, state: Path) -> int:
    return sum(" rollout undo " in command for command in commands(c, state))


def shell_of(c: MockContext) -> FakeShell:
    return recorded_run(c).side_effect


def failed_without_undo(c: MockContext, state: Path) -> str:
    """`deploy --only kubernetes` fails and runs no `rollout undo`: its message."""
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="prod", only="kubernetes")
    assert undo_count(c, state) == 0
    return str(caught.value.message)


def unhealthy(c: object, environment: object) -> None:
    raise Exit("smoke test: https://orderdesk.example.com/readyz answering 200: not after 120 s")


def test_failed_rollout_returns_to_the_recorded_revision_once_then_smoke_tests_it(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """k8s.rollout undoes a failed rollout itself, to the revision k8s.apply recorded; a second
    undo would return to the failed revision (and still report "rolled back")."""
    smoke_tests: list[str] = []
    monkeypatch.setattr(checks, "https_smoke_test", lambda c, env: smoke_tests.append(env.name))
    previous_deploy(state)
    c = context(state)
    shell_of(c).api.never_ready = {2}
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="prod", only="kubernetes,dns")
    ran = commands(c, state)
    assert undo_count(c, state) == 1
    undo = next(i for i, command in enumerate(ran) if " rollout undo " in command)
    assert ran[undo].endswith("rollout undo deployment/orderdesk --to-revision=1")
    # ...then it waits for that revision to be ready.
    reads = shell_of(c).api.reads
    assert "watch" in reads[reads.index("undo to 1") + 1 :], reads
    assert not any(" get ingress " in command for command in ran)  # dns never started
    message = str(caught.value.message)
    assert "stage kubernetes failed: `invoke k8s.rollout --env prod`" in message
    assert (
        "the rollout failed and was rolled back to revision 1 (r/orderdesk:1), the one that ran "
        "before, which is running now" in message
    )
    assert "the restored revision passed the smoke test" in message
    assert smoke_tests == ["prod"]
    assert "--only kubernetes,dns" in message
    record = json.loads((state / "prod" / "last-deploy.json").read_text())
    assert record["result"] == "failed at kubernetes"
    before = json.loads((state / "prod" / "before-apply.json").read_text())
    assert (before["revision"], before["replica_set"]) == (1, "orderdesk-1")
    assert before["changed"] == ["deployment.apps/orderdesk configured"]


def test_failed_smoke_test_returns_to_the_recorded_revision_and_smoke_tests_it(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def fails_then_passes(c: MockContext, environment: object) -> None:
        calls.append(shell_of(c).revision or 0)
        if len(calls) == 1:
            unhealthy(c, environment)

    monkeypatch.setattr(checks, "https_smoke_test", fails_then_passes)
    previous_deploy(state)
    c = context(state)
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="prod", only="kubernetes")
    message = str(caught.value.message)
    assert "not after 120 s; rolled back to revision 1 (r/orderdesk:1), the one that ran" in message
    assert "the restored revision passed the smoke test" in message
    # The new revision failed it, the restored one (revision 1) passed it.
    assert calls == [2, 1]
    [undo] = [command for command in commands(c, state) if " rollout undo " in command]
    assert undo.endswith("rollout undo deployment/orderdesk --to-revision=1")


def test_a_smoke_test_failing_after_a_change_outside_the_pod_template_undoes_nothing(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the Ingress changed: the Deployment still runs the revision from before, so an undo
    would bring back the previous deploy's image and leave the Ingress broken."""
    monkeypatch.setattr(checks, "https_smoke_test", unhealthy)
    previous_deploy(state)
    c = context(state)
    shell_of(c).template_changes = False
    shell_of(c).applied = (
        "deployment.apps/orderdesk unchanged\ningress.networking.k8s.io/orderdesk configured\n"
        "horizontalpodautoscaler.autoscaling/orderdesk configured\n"
    )
    message = failed_without_undo(c, state)
    assert (
        "not rolled back: deployment/orderdesk still runs revision 1 (r/orderdesk:1), the "
        "revision that ran before this deploy" in message
    )
    assert (
        "not undone (an undo restores only the Deployment's pod template): "
        "ingress.networking.k8s.io/orderdesk configured, "
        "horizontalpodautoscaler.autoscaling/orderdesk configured" in message
    )
    assert "migrations" not in message  # no new pod ran a migration


def test_a_failed_first_install_is_never_rolled_back(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks, "https_smoke_test", unhealthy)
    previous_deploy(state)
    c = context(state)
    shell_of(c).revision = None
    shell_of(c).applied = "namespace/orderdesk created\ndeployment.apps/orderdesk created\n"
    message = failed_without_undo(c, state)
    assert (
        "not rolled back: this was the first install of deployment/orderdesk, so there is no "
        "earlier revision to return to" in message
    )
    assert "namespace/orderdesk created, deployment.apps/orderdesk created" in message


def test_a_failed_rollout_with_an_unchanged_template_undoes_nothing(state: Path) -> None:
    """The same digest redeployed: the rollout can still time out (a pod that stopped being
    ready); the old roll_back_once then returned to the revision before the running one."""
    previous_deploy(state)
    c = context(state)
    shell_of(c).api.never_ready = {1}
    shell_of(c).template_changes = False
    shell_of(c).applied = "deployment.apps/orderdesk unchanged\nservice/orderdesk unchanged\n"
    message = failed_without_undo(c, state)
    assert "the rollout failed and was not rolled back: deployment/orderdesk still runs " in message
    assert "this apply changed nothing else" in message
    assert shell_of(c).revision == 1


def test_a_failed_apply_rolls_nothing_back(state: Path) -> None:
    """Nothing new was rolled out, so an undo would replace the healthy revision."""
    previous_deploy(state)
    c = context(state, failing=r".* apply --filename=")
    with pytest.raises(
        Exit, match=r"`invoke k8s.apply --env prod --image <the digest image.verify checked>`"
    ):
        deploy.deploy(c, env="prod", only="kubernetes")
    assert undo_count(c, state) == 0


def test_preflight_asks_only_for_the_tools_of_the_chosen_stages(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous_deploy(state)
    absent = {"terraform", "helm", "kubelogin"}
    present = toolchain.find
    monkeypatch.setattr(toolchain, "find", lambda tool: None if tool in absent else present(tool))
    deploy.deploy(context(state), env="prod", only="image,secrets")  # needs none of them
    with pytest.raises(Exit, match=r"helm is not installed") as caught:
        deploy.deploy(context(state), env="prod", only="monitoring")
    assert caught.value.code == 2


def test_failed_scan_pushes_nothing_and_applies_nothing(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def vulnerable(target: Target) -> None:
        target.context.run(f"<image.scan --env {target.name}: Docker SDK>")
        raise Exit("image: hadolint found DL3002")

    monkeypatch.setattr(image, "scan_for", vulnerable)
    c = context(state)
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="prod")
    ran = commands(c, state)
    assert ran[-1] == "<image.scan --env prod: Docker SDK>"
    assert not any("image.push" in command or "apply --filename" in command for command in ran)
    message = str(caught.value.message)
    assert "stage image failed: `invoke image.scan --env prod`: image: hadolint found DL3002" in (
        message
    )
    assert "--only image,credentials,entra,secrets,addons,monitoring,kubernetes,dns" in message


def test_a_digest_that_does_not_verify_is_refused_before_anything_is_applied(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous_deploy(state)

    def unsigned(c: MockContext, environment: Environment) -> PushRecord:
        c.run(f"<image.verify --env {environment.name}: cosign>")
        raise image.ImageError(f"{DIGEST} is not signed by azurekms://kv/image-signing: none")

    monkeypatch.setattr(image, "verify_pushed", unsigned)
    c = context(state)
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="prod", only="kubernetes")
    assert commands(c, state)[-1] == "<image.verify --env prod: cosign>"
    assert not any("apply" in command or "rollout" in command for command in commands(c, state))
    message = str(caught.value.message)
    assert f"stage kubernetes failed: `invoke image.verify --env prod`: image: {DIGEST}" in message
    assert "is not signed" in message


def test_apply_uses_the_reference_verify_checked_not_the_record_read_again(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push between verify and apply (another job, a person) rewrites image.json: apply still
    sends the digest that was verified."""
    previous_deploy(state)
    verified = fake_verify(state)
    other = "sha256:" + "b" * 64

    def verify_then_another_push(c: MockContext, environment: Environment) -> PushRecord:
        record = verified(c, environment)
        write_image_record(state, "prod", other)
        return record

    monkeypatch.setattr(image, "verify_pushed", verify_then_another_push)
    deploy.deploy(context(state), env="prod", only="kubernetes")
    sent = (state / "prod" / "manifests.yaml").read_text()
    assert f"acrorderdeskprod.azurecr.io/orderdesk:0.1.0@{DIGEST}" in sent
    assert other not in sent
    recorded = json.loads((state / "prod" / "before-apply.json").read_text())
    assert recorded["applying"] == f"acrorderdeskprod.azurecr.io/orderdesk:0.1.0@{DIGEST}"


def test_apply_of_a_named_image_verifies_it_first(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous_deploy(state)
    checked: list[tuple[str, str]] = []

    def refuse(c: object, environment: Environment, repository: str, digest: str) -> None:
        checked.append((repository, digest))
        raise image.ImageError(f"{digest} is not signed by azurekms://kv/image-signing: none")

    monkeypatch.setattr(signing, "verify_reference", refuse)
    c = context(state)
    with pytest.raises(Exit, match=r"k8s.apply --env prod: sha256:a+ is not signed .*nothing was"):
        k8s.apply(c, env="prod", image=f":1.2.3@{DIGEST}")
    assert checked == [("acrorderdeskprod.azurecr.io/orderdesk", DIGEST)]
    assert commands(c, state) == []  # not even the cluster's version was asked
    with pytest.raises(Exit, match=r"is not from acrorderdeskprod.azurecr.io/orderdesk"):
        k8s.apply(c, env="prod", image=f"evil.example.com/orderdesk@{DIGEST}")
    assert len(checked) == 1


def test_ingress_without_an_address_times_out_clearly(state: Path) -> None:
    previous_deploy(state)
    c = context(state)
    recorded_run(c).side_effect.answers.insert(0, (re.compile(r".* get ingress "), ""))
    with pytest.raises(Exit, match=r"the ingress has no address after 300 s"):
        deploy.deploy(c, env="prod", only="dns")
    polls = [command for command in commands(c, state) if "get ingress" in command]
    assert len(polls) == azure.INGRESS_TIMEOUT_S // azure.INGRESS_INTERVAL_S


def test_dry_run_runs_nothing_and_prints_every_command(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = context(state)
    deploy.deploy(c, env="prod", dry_run=True)
    assert recorded_run(c).call_args_list == []
    printed = capsys.readouterr().out
    for stage in deploy.STAGES:
        assert re.search(rf"^ \d\. {stage}: ", printed, re.M), stage
    for command in (
        "invoke tf.plan --env prod",
        "invoke image.push --env prod",
        "invoke k8s.rollout --env prod",
        "invoke monitoring.install --env prod",
        "invoke azure.dns --env prod",
    ):
        assert f"$ {command}" in printed
    # A check is not a command line: it is shown as what it checks.
    assert "check: HTTPS GET https://orderdesk.example.com/readyz until 200" in printed
    assert "$ GET" not in printed
    assert "dry run: nothing was run" in printed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"env": "qa"}, "unknown environment 'qa'; known environments: dev, local, prod"),
        ({}, "no environment chosen; pass --env NAME (known environments: dev, local, prod)"),
        ({"env": "prod", "only": "terraform,helm"}, "--only names unknown stage(s) helm"),
        ({"env": "prod", "only": "image", "skip": "dns"}, "use --only or --skip, not both"),
    ],
)
def test_bad_arguments(state: Path, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(Exit, match=re.escape(message)) as caught:
        deploy.deploy(MockContext(), **kwargs)
    assert caught.value.code == 2


def test_dirty_tree_missing_tool_and_login_are_named_before_anything_runs(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(git, "changes", lambda *a, **k: [" M app/orders/views.py"])
    present = toolchain.find
    monkeypatch.setattr(toolchain, "find", lambda tool: None if tool == "helm" else present(tool))
    c = context(state, failing=r"/az account show ", stderr=SIGNED_OUT)
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="prod")
    # Preflight stopped the deploy after its first read, before anything else ran.
    assert commands(c, state) == ["az account show --output json"]
    message = str(caught.value.message)
    assert "helm is not installed" in message
    assert "1 uncommitted change(s)" in message
    assert "--allow-dirty" in message
    assert "not logged in to Azure" in message
    assert "run `az login`" in message


# The webhook URL is a CI secret: GitHub exposes secrets to a step only through the secrets
# context, and Azure Pipelines maps secret variables into a step's env only explicitly
# (learn.microsoft.com/azure/devops/pipelines/process/variables#secret-variables).
def test_a_missing_teams_webhook_secret_fails_in_preflight_before_any_change(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEAMS_WEBHOOK_URL")
    c = context(state)
    with pytest.raises(
        Exit, match=r"preflight failed:\n  - TEAMS_WEBHOOK_URL is not set"
    ) as caught:
        deploy.deploy(c, env="prod")
    assert caught.value.code == 2
    matches(PREFLIGHT_READS, commands(c, state))
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", "$(TEAMS_WEBHOOK_URL)")
    with pytest.raises(Exit, match=r"TEAMS_WEBHOOK_URL is not set"):
        deploy.deploy(context(state), env="prod", preflight_only=True)
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", "http://teams.example.invalid/plain")
    with pytest.raises(Exit, match=r"TEAMS_WEBHOOK_URL does not start with https://"):
        deploy.deploy(context(state), env="prod", preflight_only=True)
    # The terraform stage needs it too (the action group's URL is a root variable).
    monkeypatch.delenv("TEAMS_WEBHOOK_URL")
    with pytest.raises(Exit, match=r"TEAMS_WEBHOOK_URL is not set"):
        deploy.deploy(context(state), env="prod", only="terraform", preflight_only=True)
    # A job that runs neither goes on without it.
    deploy.deploy(context(state), env="prod", only="image")


def test_preflight_only_changes_nothing(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = context(state)
    deploy.deploy(c, env="prod", preflight_only=True)
    matches(PREFLIGHT_READS, commands(c, state))
    assert "preflight: deploy --env prod can start" in capsys.readouterr().out


def test_outside_a_git_checkout_preflight_says_so(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_checkout(*args: object, **kwargs: object) -> str:
        raise git.GitError("`git rev-parse` failed; run from a git checkout of Orderdesk")

    monkeypatch.setattr(git, "head", no_checkout)
    with pytest.raises(Exit, match=r"preflight failed:\n  - `git rev-parse` failed; run from"):
        deploy.deploy(context(state), env="prod", only="secrets")


def test_status_shows_the_last_deploy_the_deployment_and_its_revisions(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous_deploy(state)
    record = {"result": "succeeded", "started": "s", "ended": "e", "git_sha": "f" * 40}
    (state / "prod" / "last-deploy.json").write_text(json.dumps({**record, "image": "img"}))
    c = context(state)
    shell_of(c).api.annotations = {"orderdesk.dev/last-deploy": '{"result":"succeeded"}'}
    deploy.status(c, env="prod")
    printed = capsys.readouterr().out.splitlines()
    assert printed[:6] == [
        f"last deploy: succeeded at e (git {'f' * 12}, image img)",
        "deployment orderdesk: image r/orderdesk:1; replicas 1/1 ready, 1 up to date "
        '(deployment "orderdesk" successfully rolled out)',
        'annotation orderdesk.dev/last-deploy: {"result":"succeeded"}',
        "revisions (newest first):",
        "  revision 2: orderdesk-2 r/orderdesk:2 (0/0 ready)",
        "  revision 1: orderdesk-1 r/orderdesk:1 (1/1 ready) <- the Deployment's revision",
    ]
    # All of it read through the API: no kubectl.
    assert commands(c, state) == []


def test_status_of_an_unreachable_cluster_names_the_fix(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real client, against a port nobody listens on: an Exit in seconds naming the fix."""
    monkeypatch.setattr(watch, "connect", CONNECT)
    write_kubeconfig(
        state / "prod" / "kubeconfig", f"https://127.0.0.1:{free_port()}", "aks-orderdesk-prod"
    )
    started = time.monotonic()
    with pytest.raises(Exit) as caught:
        deploy.status(context(state), env="prod")
    assert time.monotonic() - started < 10
    message = str(caught.value.message)
    assert "cannot reach the Kubernetes API server (context aks-orderdesk-prod of " in message
    assert "Connection refused" in message
    assert "`invoke deploy --env prod --only credentials`" in message


# Preflight reads the account as `az account show` reports it, the public surface of az's
# profile (azure-cli-core documents no Python API for it).
def test_preflight_checks_the_subscription_and_tenant_az_account_show_reports(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = "99999999-1234-1234-1234-123456789abc"
    c = signed_in_as(state, account(other))
    with pytest.raises(Exit, match=rf"signed in to subscription {other} .*ARM_SUBSCRIPTION_ID"):
        deploy.deploy(c, env="prod", preflight_only=True)
    assert commands(c, state) == ["az account show --output json"]
    monkeypatch.setenv("ARM_TENANT_ID", "11111111-2222-3333-4444-555555555555")
    with pytest.raises(Exit, match=r"signed in to tenant 87654321-.* not ARM_TENANT_ID"):
        deploy.deploy(context(state), env="prod", preflight_only=True)


def test_a_signed_out_az_stops_preflight_with_a_message_naming_az_login(state: Path) -> None:
    c = context(state, failing=r"/az account show ", stderr=SIGNED_OUT)
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="prod", only="image")
    assert caught.value.code == 2
    assert str(caught.value.message) == (
        "deploy --env prod: preflight failed:\n  - not logged in to Azure; run `az login` (in CI: "
        "azure/login with OIDC) and try again"
    )
    assert commands(c, state) == ["az account show --output json"]


# azurerm 5.0 registers no resource provider by default (its 5.0 upgrade guide: "no Resource
# Providers are registered by default"): a deploy that applies Terraform checks them first.
def test_preflight_names_an_unregistered_resource_provider_before_terraform_runs(
    state: Path,
) -> None:
    c = context(state)
    shell = recorded_run(c).side_effect
    partly = [
        [namespace, "NotRegistered" if namespace == "Microsoft.KeyVault" else "Registered"]
        for namespace in providers.RESOURCE_PROVIDERS
    ]
    shell.answers.insert(0, (re.compile(r".*/az provider list "), json.dumps(partly)))
    shell.answers.insert(0, (re.compile(r".*/az feature show "), "Pending\n"))
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="prod")
    message = str(caught.value.message)
    assert "Microsoft.KeyVault is NotRegistered in this subscription" in message
    assert "Microsoft.Compute/EncryptionAtHost is Pending" in message
    assert "run `invoke tf.bootstrap --env prod`" in message
    matches(PREFLIGHT_READS, commands(c, state))
    # A job that does not apply Terraform does not need them.
    deploy.deploy(context(state), env="prod", only="image")


# GitHub's OIDC token, az's client assertion after azure/login, lasts 5 minutes and az cannot
# renew it (AADSTS700024, Azure/login#180): every token a job needs is fetched right after login.
def test_a_deploy_fetches_its_stages_tokens_right_after_login_before_any_change(
    state: Path,
) -> None:
    c = context(state)
    deploy.deploy(c, env="prod", only="image")
    ran = commands(c, state)
    vault = TOKENS[0]
    assert ran[0] == "az account show --output json"
    assert re.fullmatch(vault, ran[1]), ran
    assert ran[2] == "<image.build --env prod: Docker SDK>"
    assert ran[-1] == "<image.sign --env prod: cosign>"
    # The image job needs no AKS token; the cluster job needs both, before its first command.
    assert not any(re.fullmatch(TOKENS[1], command) for command in ran)
    write_image_record(state, "prod", DIGEST)
    c = context(state)
    # The kubernetes job's stages, as the workflows name them.
    deploy.deploy(c, env="prod", only="credentials,entra,secrets,addons,monitoring,kubernetes,dns")
    ran = commands(c, state)
    matches(["az account show --output json", *TOKENS], ran[: len(TOKENS) + 1])
    # --preflight-only and --dry-run ask for none.
    for kwargs in ({"preflight_only": True}, {"dry_run": True}):
        c = context(state)
        deploy.deploy(c, env="prod", **kwargs)
        assert not any("get-access-token" in command for command in commands(c, state))


def test_a_token_az_cannot_issue_stops_the_deploy_before_any_change(state: Path) -> None:
    c = context(state, failing=r".* account get-access-token ", stderr="AADSTS700024: expired")
    with pytest.raises(
        Exit,
        match=r"could not get a token for https://vault\.azure\.net "
        r"\(AADSTS700024: expired\); sign in again",
    ) as caught:
        deploy.deploy(c, env="prod", only="image")
    assert caught.value.code == 1
    assert not any(command.startswith("<image.") for command in commands(c, state))


def signed_in_as(state: Path, signed_in: dict[str, Any]) -> MockContext:
    """A context whose `az account show` reports this account."""
    c = context(state)
    answer = (re.compile(r".*/az account show "), json.dumps(signed_in))
    recorded_run(c).side_effect.answers.insert(0, answer)
    return c


# Who deploys from where (README): the registry and the vault admit only the runners' ranges
# (env.yaml runners.ip_ranges) and the deploy identity's data-plane roles (infra/identity.tf).
# Source: ACR's NetworkRuleSet (Microsoft.ContainerRegistry REST spec): with defaultAction Deny,
# only the ipRules' ranges reach the registry's public endpoint.
def test_a_person_is_told_at_preflight_that_azure_deploys_run_from_the_runner(
    state: Path,
) -> None:
    person = account(user={"name": "ana@example.com", "type": "user"})
    c = signed_in_as(state, person)
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="dev", only="image")
    assert caught.value.code == 2
    message = str(caught.value.message)
    assert "signed in as ana@example.com, a person" in message
    assert "deploy identity on the runner orderdesk-dev" in message
    assert "`invoke deploy --env dev --dry-run` or `--preflight-only`" in message
    assert commands(c, state) == ["az account show --output json"]
    # What a person may run from a laptop still works.
    deploy.deploy(signed_in_as(state, person), env="dev", preflight_only=True)
    deploy.deploy(signed_in_as(state, person), env="dev", dry_run=True)


def test_a_first_deploy_waits_for_its_certificate_and_names_dns_delegation_when_it_never_comes(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # cert-manager reports issuance as the Certificate's Ready condition
    # (cert-manager.io/docs/usage/certificate: "Ready" True once the Secret holds a valid cert).
    write_image_record(state, "prod", DIGEST)
    issuing = json.dumps(
        {
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "message": "Issuing certificate as Secret does not exist",
                    }
                ]
            }
        }
    )
    c = context(state)
    shell = recorded_run(c).side_effect
    shell.answers.insert(0, (re.compile(r".* get certificate orderdesk-tls "), issuing))
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="prod", only="credentials,kubernetes")
    message = str(caught.value.message)
    assert "Certificate orderdesk-tls Ready: not after 900 s" in message
    assert "Issuing certificate as Secret does not exist" in message
    assert "dig +short NS orderdesk.example.com" in message
    assert "--only kubernetes,dns` again" in message
    polls = [cmd for cmd in commands(c, state) if " get certificate orderdesk-tls " in cmd]
    assert len(polls) == 900 // 15
    assert "certificate: Issuing certificate as Secret does not exist (1/60)" in (
        capsys.readouterr().out
    )


def test_each_deploy_profile_tool_missing_names_the_command_that_installs_it(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # image.scan runs hadolint and detect-secrets, image.sbom/sign syft and cosign: the deploy
    # profile installs them all, and preflight names that one command for each.
    present = toolchain.find
    profile = {"hadolint", "detect-secrets", "syft", "cosign", "kustomize"}
    monkeypatch.setattr(toolchain, "find", lambda tool: None if tool in profile else present(tool))
    c = context(state)
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="prod", preflight_only=True)
    message = str(caught.value.message)
    for tool in sorted(profile):
        assert f"{tool} is not installed (scripts/bootstrap --deploy)" in message, tool
    # Nothing but preflight's reads ran.
    matches(PREFLIGHT_READS, commands(c, state))
