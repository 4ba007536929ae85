"""The exact command sequence of Azure deploys, read as argument lists (no Azure here).

Deploy calls the other areas' tasks in this process, and every external program they start goes
through the Runner (ops/core/run.py): given a RecordingRunner's context, each call is recorded as
its argument list and answered by the fake programs below (terraform, az, kubelogin, kubectl,
helm). Only the engine's work is replaced: the image tasks (BuildKit through the docker CLI, the
Docker SDK; tests/image runs them for real) and the HTTPS smoke test (test_smoke.py runs it
against a real HTTPS server); they leave a one-word stand-in among the calls. The local deploy
runs for real in test_local.py.
"""

from __future__ import annotations

import json
import re
import stat
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from invoke import Result
from invoke.exceptions import Exit

from ops import azure, deploy, envconfig, image, k8s, tf, toolchain
from ops.azure import providers
from ops.core import azcli, git
from ops.core.charts import read_chart_pin
from ops.core.run import Call, RecordingContext, RecordingRunner
from ops.core.target import Target
from ops.deploy import checks
from ops.envconfig import Environment
from ops.image import signing
from ops.image.registry import PushRecord
from ops.k8s import cert_manager, watch
from testkit.support import committed_lock_file, free_port, need_tool
from tests.kubeapi import FakeCluster, FakeDeployment, write_kubeconfig
from tests.manifests.conftest import DATA, write_image_record

DIGEST = "sha256:" + "a" * 64
INGRESS_IP = "203.0.113.10"
SUBSCRIPTION = "12345678-1234-1234-1234-123456789abc"
TENANT = "87654321-4321-4321-4321-cba987654321"
TEAMS_WEBHOOK_URL = "https://teams.example.invalid/workflows/alerts"
SECRETS = ["django-secret-key", "card-fingerprint-key", "database-password", "teams-webhook-url"]
VAULT = "kv-orderdesk-prod"
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
# What a failing fake program writes when a test names no message.
BOOM = "boom"


# The subscription as `invoke tf.bootstrap` leaves it: every provider and feature Registered.
REGISTERED = json.dumps([[namespace, "Registered"] for namespace in providers.RESOURCE_PROVIDERS])


CERTIFICATE_READY = json.dumps(
    {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]}}
)

# Words that appear in a row in a call (the program as its base name): what an answer is for.
Words = tuple[str, ...]


def vault_read(verb: str, name: str) -> Words:
    """`az keyvault secret show` (or show-deleted) of one secret in prod's vault."""
    return ("keyvault", "secret", verb, "--vault-name", VAULT, "--name", name)


def dns_read(name: str) -> Words:
    """`az network dns record-set a show` of one name in prod's zone."""
    return (
        *("network", "dns", "record-set", "a", "show", "--resource-group", "rg-orderdesk-prod"),
        *("--zone-name", "orderdesk.example.com", "--name", name),
    )


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


# What the fake programs print, unless a test puts another answer first.
PRINTS: dict[Words, str] = {
    ("az", "account", "show"): json.dumps(account()),
    ("az", "provider", "list"): REGISTERED,
    ("az", "feature", "show"): "Registered\n",
    ("show", "-json", "-no-color"): json.dumps({"variables": {"environment": {"value": "prod"}}}),
    ("output", "-json", "-no-color"): json.dumps(tf_outputs()),
    ("get", "ingress", "orderdesk"): INGRESS_IP,
    ("get", "certificate", "orderdesk-tls"): CERTIFICATE_READY,
    ("az", "network", "dns", "record-set", "a", "show"): INGRESS_IP + "\n",
    (*vault_read("show", "teams-webhook-url"), "--query", "value"): TEAMS_WEBHOOK_URL,
    ("az", "rest", "--method", "get"): ACTION_GROUP,
}


def flag_value(call: Call, name: str) -> str:
    """The value of `name` in a call: the word after it, or what follows `name=`."""
    for index, word in enumerate(call.argv):
        if word == name:
            return call.argv[index + 1]
        if word.startswith(f"{name}="):
            return word.removeprefix(f"{name}=")
    raise AssertionError(f"{name} not in {call.argv}")


class FakePrograms:
    """The programs a deploy runs, answering a RecordingRunner's calls from their arguments.

    What they print is scripted by the words of a call (PRINTS; `prints` comes first, and `fail`
    before both: an exit 1 with that stderr, which the Runner raises unless the caller warns).
    What they leave behind is done here: terraform plan writes its -out file, az aks
    get-credentials its --file; az reads the files it is given (--file, --body @file), kept in
    `files_read` with their modes.

    The Deployment (`api`, read through the fake API) runs revision 1 (ReplicaSet orderdesk-1,
    ready) until `kubectl apply --filename=` changes its pod template (`template_changes`), then
    revision 2; `kubectl rollout undo --to-revision=N` returns to N. `revision = None`: no
    Deployment yet (a first install).
    """

    def __init__(
        self,
        state: Path,
        *,
        fail: Mapping[Words, str] | None = None,
        prints: Mapping[Words, str] | None = None,
    ) -> None:
        self.runner = RecordingRunner(config_overrides={"state_dir": str(state)})
        self.api = FakeDeployment(revision=1, images={1: "r/orderdesk:1", 2: "r/orderdesk:2"})
        self.template_changes = True
        # What `kubectl apply` reports for the objects it sent.
        self.applied = "deployment.apps/orderdesk configured\nservice/orderdesk unchanged\n"
        # (the call, the file's text, its permission bits) for each file az read.
        self.files_read: list[tuple[Call, str, int]] = []
        for words, stderr in (fail or {}).items():
            self.runner.answer(*words, exited=1, stderr=stderr, times=None)
        for words, stdout in [*(prints or {}).items(), *PRINTS.items()]:
            self.runner.answer(*words, stdout=stdout, times=None)
        self.runner.answer_by("terraform", respond=self.terraform)
        self.runner.answer_by("az", respond=self.az)
        self.runner.answer_by("rollout", "undo", respond=self.undo)
        self.runner.answer_by("kubectl", respond=self.kubectl)
        FAKES.append(self)

    @property
    def context(self) -> RecordingContext:
        """The Context to hand to a task: its programs run here."""
        return self.runner.context

    @property
    def revision(self) -> int | None:
        return self.api.revision

    @revision.setter
    def revision(self, number: int | None) -> None:
        self.api.revision = number

    def ran(self) -> list[list[str]]:
        """The calls, in order, each program as its base name."""
        return self.runner.named()

    def terraform(self, call: Call) -> Result:
        if "plan" in call.argv:
            Path(flag_value(call, "-out")).write_text("written by a faked terraform plan\n")
        return Result()

    def az(self, call: Call) -> Result:
        if "get-credentials" in call.argv:
            Path(flag_value(call, "--file")).write_text("written by a faked az\n")
        elif "--file" in call.argv:
            self._read(call, flag_value(call, "--file"))
        elif "--body" in call.argv:
            self._read(call, flag_value(call, "--body").removeprefix("@"))
        return Result()

    def _read(self, call: Call, path: str) -> None:
        mode = stat.S_IMODE(Path(path).stat().st_mode)
        self.files_read.append((call, Path(path).read_text(), mode))

    def kubectl(self, call: Call) -> Result:
        """The Deployment's side: an apply moving it (undo returns it)."""
        argv = call.argv
        if "apply" in argv and any(word.startswith("--filename=") for word in argv):
            if self.template_changes:
                self.revision = 2
            return Result(stdout=self.applied)
        return Result()

    def undo(self, call: Call) -> Result:
        self.api.undo_to(int(flag_value(call, "--to-revision")))
        return Result()


# The real client, for the tests that reach a real (unreachable) API server.
CONNECT = watch.connect
# The fakes made by FakePrograms, newest last: the fake API reads the newest.
FAKES: list[FakePrograms] = []


# What az prints, exit status 1, when nobody is signed in (azure-cli-core's
# azure/cli/core/_profile.py, _AZ_LOGIN_MESSAGE).
SIGNED_OUT = "ERROR: Please run 'az login' to setup account."


def stand_in(task: str, env: str, tool: str) -> list[str]:
    """How a faked task shows among the calls: one word naming it, never a program."""
    return [f"<{task} --env {env}: {tool}>"]


# A stand-in is recorded like a program, and a Runner needs a timeout.
STAND_IN_TIMEOUT_S = 1


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
        lambda target: target.runner.run(
            stand_in("azure.entra", target.name, "Graph through az"), timeout=STAND_IN_TIMEOUT_S
        ),
    )
    monkeypatch.setattr(checks, "https_smoke_test", lambda target: None)
    monkeypatch.setattr("ops.core.wait.time.sleep", lambda seconds: None)
    assert real_find is not find
    for name in ("build", "scan", "push", "sign"):
        monkeypatch.setattr(image, f"{name}_for", fake_image_task(name, tmp_path))
    monkeypatch.setattr(image, "verify_pushed", fake_verify(tmp_path))
    FAKES.clear()
    monkeypatch.setattr(watch, "connect", lambda target: FakeCluster(target, FAKES[-1].api))
    return tmp_path


def fake_verify(state_dir: Path) -> Callable[..., PushRecord]:
    """image.verify_pushed as cosign would answer for a signed digest: the record it checked."""

    def verify_pushed(target: Target) -> PushRecord:
        target.runner.run(
            stand_in("image.verify", target.name, "cosign"), timeout=STAND_IN_TIMEOUT_S
        )
        pushed = json.loads((state_dir / target.name / "image.json").read_text())
        return PushRecord(
            environment=target.name,
            repository=pushed["repository"],
            tag=pushed["tag"],
            digest=pushed["digest"],
            git_commit="f" * 40,
            image_id="",
            pushed_at="",
        )

    return verify_pushed


IMAGE_TASK_TOOLS = {"build": "BuildKit", "sign": "cosign", "verify": "cosign"}


def fake_image_task(name: str, state_dir: Path) -> Callable[..., None]:
    tool = IMAGE_TASK_TOOLS.get(name, "Docker SDK")

    def task(target: Target) -> None:
        target.runner.run(stand_in(f"image.{name}", target.name, tool), timeout=STAND_IN_TIMEOUT_S)
        if name == "push":
            write_image_record(state_dir, target.name, DIGEST, target.environment)

    return task


class Varying:
    """One argument that differs from run to run (a temporary file's name, the time in a
    record): equal to every word `accepts` takes, shown as <what> when a comparison fails."""

    def __init__(self, what: str, accepts: Callable[[str], bool]) -> None:
        self.what = what
        self.accepts = accepts

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.accepts(other)

    __hash__ = None  # type: ignore[assignment]  # equal to many words: no hash fits them all

    def __repr__(self) -> str:
        return f"<{self.what}>"


def temporary_file(pattern: str, *, prefix: str = "") -> Varying:
    """`prefix` and then a file in the temp dir whose path there matches the glob `pattern`."""
    root = Path(tempfile.gettempdir())

    def accepts(word: str) -> bool:
        path = Path(word.removeprefix(prefix))
        return (
            word.startswith(prefix)
            and path.is_relative_to(root)
            and fnmatch(str(path.relative_to(root)), pattern)
        )

    return Varying(f"{prefix}{root}/{pattern}", accepts)


def deploy_record_annotation(state: Path) -> Varying:
    """`orderdesk.dev/last-deploy=` and the summary of the record last-deploy.json holds."""
    key = "orderdesk.dev/last-deploy"

    def accepts(word: str) -> bool:
        record = json.loads((state / "prod" / "last-deploy.json").read_text())
        summary = {k: record[k] for k in ("git_sha", "image", "started", "ended", "result")}
        name, _, value = word.partition("=")
        try:
            return name == key and json.loads(value) == summary
        except ValueError:
            return False

    return Varying(f"{key}=<the record's summary as JSON>", accepts)


Argv = Sequence[str | Varying]


def kubectl(state: Path, *args: str | Varying) -> Argv:
    """kubectl on prod's cluster, named by its kubeconfig and context, never the current one."""
    return [
        *("kubectl", "--request-timeout=10s", f"--kubeconfig={state}/prod/kubeconfig"),
        *("--context=aks-orderdesk-prod", *args),
    ]


def helm(state: Path, *args: str | Varying) -> Argv:
    """helm on prod's cluster, named as kubectl names it."""
    return [
        *("helm", f"--kubeconfig={state}/prod/kubeconfig", "--kube-context=aks-orderdesk-prod"),
        *args,
    ]


def terraform(*args: str) -> Argv:
    return ["terraform", f"-chdir={envconfig.REPO_ROOT / 'infra'}", *args]


# terraform init of prod's state in the storage tf.bootstrap made.
TF_INIT = terraform(
    *("init", "-input=false", "-no-color", "-reconfigure", "-lockfile=readonly"),
    "-backend-config=resource_group_name=rg-orderdesk-tfstate",
    "-backend-config=storage_account_name=storderdesktfprod",
    "-backend-config=container_name=tfstate",
    "-backend-config=key=prod.tfstate",
    f"-backend-config=subscription_id={SUBSCRIPTION}",
)
AZ_ACCOUNT_SHOW: Argv = ["az", "account", "show", "--output", "json"]
# Preflight's reads, before anything changes: the signed-in account, the subscription's
# registrations.
PREFLIGHT_READS: list[Argv] = [
    AZ_ACCOUNT_SHOW,
    ["az", "provider", "list", "--query", "[].[namespace, registrationState]", "--output", "json"],
    [
        *("az", "feature", "show", "--namespace", "Microsoft.Compute", "--name"),
        *("EncryptionAtHost", "--query", "properties.state", "--output", "tsv"),
    ],
]
# Then, before any change, the tokens the stages will need while the CI login is fresh.
TOKENS: list[Argv] = [
    [
        *("az", "account", "get-access-token", "--resource", resource),
        *("--query", "expiresOn", "--output", "tsv"),
    ]
    # Microsoft Graph's for the entra stage, which merged after the first-contact rules.
    for resource in (azure.KEY_VAULT_RESOURCE, azure.AKS_SERVER_APPLICATION, azure.GRAPH_RESOURCE)
]
MONITORING = envconfig.REPO_ROOT / "monitoring"


def cert_manager_install(state: Path) -> Argv:
    """cert-manager's pinned chart, its CRDs included."""
    pin, _ = cert_manager.chart_pin()
    return helm(
        state,
        *("upgrade", "--install", "cert-manager", "cert-manager"),
        *("--repo", "https://charts.jetstack.io", "--version", pin.version),
        *("--namespace", "cert-manager", "--create-namespace", "--set", "crds.enabled=true"),
        *("--wait=watcher", "--timeout", "5m"),
    )


def monitoring_install(state: Path) -> Argv:
    """kube-prometheus-stack's pinned chart, with our values and the generated ones."""
    chart = MONITORING / "kube-prometheus-stack"
    pin = read_chart_pin(chart / "chart.yaml")
    return helm(
        state,
        *("upgrade", "--install", "kube-prometheus-stack", "kube-prometheus-stack"),
        *("--repo", "https://prometheus-community.github.io/helm-charts"),
        *("--version", pin.version, "--namespace", "monitoring", "--create-namespace"),
        *("-f", str(chart / "values.yaml"), "-f", str(chart / "values-prod.yaml")),
        "-f",
        temporary_file("orderdesk-monitoring-*/values-generated.yaml"),
        *("--wait=watcher", "--timeout", "10m"),
    )


def expected_prod(state: Path) -> list[Argv]:
    """Every call of a prod deploy, in order."""
    plan = str(state / "terraform" / "prod.tfplan")
    kubeconfig = str(state / "prod" / "kubeconfig")
    generated = MONITORING / "generated"
    return [
        *PREFLIGHT_READS,
        *TOKENS,
        # terraform: tf.plan, tf.apply
        AZ_ACCOUNT_SHOW,
        TF_INIT,
        terraform(
            *("plan", "-input=false", "-no-color", "-lock-timeout=5m"),
            *("-var=environment=prod", f"-out={plan}"),
        ),
        AZ_ACCOUNT_SHOW,
        TF_INIT,
        terraform("show", "-json", "-no-color", plan),
        terraform("apply", "-input=false", "-no-color", "-lock-timeout=5m", plan),
        # image
        stand_in("image.build", "prod", "BuildKit"),
        stand_in("image.scan", "prod", "Docker SDK"),
        stand_in("image.push", "prod", "Docker SDK"),
        stand_in("image.sign", "prod", "cosign"),
        # credentials
        AZ_ACCOUNT_SHOW,
        TF_INIT,
        terraform("output", "-json", "-no-color"),
        [
            *("az", "aks", "get-credentials", "--resource-group", "rg-orderdesk-prod"),
            *("--name", "aks-orderdesk-prod", "--file", kubeconfig, "--overwrite-existing"),
        ],
        ["kubelogin", "convert-kubeconfig", "--login", "azurecli", "--kubeconfig", kubeconfig],
        kubectl(state, "version"),
        # entra
        stand_in("azure.entra", "prod", "Graph through az"),
        # secrets
        *[
            ["az", *vault_read("show", name), "--query", "id", "--output", "tsv"]
            for name in SECRETS
        ],
        # the alarms' Teams receiver, from the vault, its URL through a file
        ["az", *vault_read("show", "teams-webhook-url"), "--query", "value", "--output", "tsv"],
        ["az", "rest", "--method", "get", "--url", ACTION_GROUP_URL],
        [
            *("az", "rest", "--method", "put", "--url", ACTION_GROUP_URL),
            *("--body", temporary_file("orderdesk-*", prefix="@"), "--output", "none"),
        ],
        # addons: cert-manager's pinned chart, its CRDs included
        cert_manager_install(state),
        # monitoring: the namespace, secrets, the chart, rules and dashboards
        kubectl(state, "apply", "-f", "-"),
        kubectl(state, "apply", "-f", "-"),
        kubectl(state, "--namespace=monitoring", "get", "secret", "grafana-admin", "--output=name"),
        monitoring_install(state),
        kubectl(state, "apply", "-f", str(generated / "prometheusrule.yaml")),
        kubectl(
            state, "delete", "--ignore-not-found", "-f", str(generated / "prometheusrule-demo.yaml")
        ),
        kubectl(state, "apply", "-f", str(generated / "grafana-dashboards.yaml")),
        # kubernetes: image.verify first, then k8s.apply of what it verified (the revision that
        # runs is read through the API and recorded first); k8s.rollout watches through the API
        # (the smoke test is faked)
        stand_in("image.verify", "prod", "cosign"),
        kubectl(state, "apply", f"--filename={state}/prod/manifests.yaml"),
        # the Certificate Ready before the HTTPS smoke test (faked) asks the gateway
        kubectl(
            state, "--namespace=orderdesk", "get", "certificate", "orderdesk-tls", "--output=json"
        ),
        # dns
        kubectl(
            state,
            *("--namespace=orderdesk", "get", "ingress", "orderdesk"),
            "--output=jsonpath={.status.loadBalancer.ingress[0].ip}",
        ),
        *[
            ["az", *dns_read(name), "--query", "ARecords[].ipv4Address", "--output", "tsv"]
            for name in ("@", "grafana")
        ],
        # the record, on the Deployment
        kubectl(
            state,
            *("--namespace=orderdesk", "annotate", "deployment", "orderdesk", "--overwrite"),
            deploy_record_annotation(state),
        ),
    ]


def test_prod_deploy_runs_every_stage_in_order(state: Path) -> None:
    fake = FakePrograms(state)
    deploy.deploy(fake.context, env="prod")
    assert fake.ran() == expected_prod(state)
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
    fake = FakePrograms(state)
    deploy.deploy(fake.context, env="prod")
    assert fake.ran() == expected_prod(state)  # every stage ran
    assert reads == ["load_all"]


def position(fake: FakePrograms, *words: str) -> int:
    """Where the one call containing `words` in a row ran."""
    return fake.runner.records.index(fake.runner.find(*words))


def test_crds_are_installed_before_the_objects_of_their_kinds_on_a_first_deploy(
    state: Path,
) -> None:
    # cert-manager's chart brings its CRDs only with crds.enabled=true, and its issuers come
    # after: https://cert-manager.io/docs/installation/helm/ (tests/deploy/test_addons.py shows
    # the API server refusing the other order).
    fake = FakePrograms(state)
    deploy.deploy(fake.context, env="prod")
    cert_manager_chart = position(fake, "upgrade", "--install", "cert-manager")
    operator = position(fake, "upgrade", "--install", "kube-prometheus-stack")
    manifests = position(fake, "apply", f"--filename={state}/prod/manifests.yaml")
    assert fake.ran()[cert_manager_chart] == cert_manager_install(state)
    assert fake.ran()[operator] == monitoring_install(state)
    assert cert_manager_chart < manifests
    assert operator < manifests


def test_every_cluster_command_names_the_environments_kubeconfig_and_context(state: Path) -> None:
    """kubectl and helm never act on whatever cluster is current on the machine."""
    write_image_record(state, "prod", DIGEST)
    fake = FakePrograms(state)
    deploy.deploy(fake.context, env="prod", only="credentials,addons,monitoring,kubernetes,dns")
    cluster_calls = [argv for argv in fake.ran() if argv[0] in {"kubectl", "helm"}]
    assert len(cluster_calls) >= 10
    assert any(argv[0] == "helm" for argv in cluster_calls)
    for argv in cluster_calls:
        assert f"--kubeconfig={state}/prod/kubeconfig" in argv, argv
        context_flag = "--kube-context" if argv[0] == "helm" else "--context"
        assert f"{context_flag}=aks-orderdesk-prod" in argv, argv


def previous_deploy(state: Path) -> None:
    """What earlier stages left: the pushed image and the saved Terraform outputs."""
    write_image_record(state, "prod", DIGEST)
    outputs = {name: item["value"] for name, item in tf_outputs().items()}
    (state / "prod" / "tf-outputs.json").write_text(json.dumps(outputs))
    (state / "prod" / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")


def not_found(name: str) -> dict[Words, str]:
    """Key Vault knows no secret `name`, nor a deleted one."""
    return {vault_read(verb, name): SECRET_NOT_FOUND for verb in ("show", "show-deleted")}


def test_a_missing_django_key_is_created_from_a_file_never_the_command_line(
    state: Path,
) -> None:
    previous_deploy(state)
    fake = FakePrograms(state, fail=not_found("django-secret-key"))
    deploy.deploy(fake.context, env="prod", only="secrets")
    [created] = fake.runner.matching("secret", "set")
    assert created.hide is True
    assert fake.runner.named()[fake.runner.records.index(created)] == [
        *("az", "keyvault", "secret", "set", "--vault-name", VAULT, "--name", "django-secret-key"),
        *("--file", temporary_file("orderdesk-*"), "--encoding", "utf-8", "--output", "none"),
    ]
    # az read the value from a file only this user can read; it is on no command line.
    [(value, mode)] = [(text, mode) for call, text, mode in fake.files_read if call is created]
    assert mode == 0o600
    size = len(value)  # a failed assert shows this, never the value
    assert size >= 50
    assert not any(value in word for argv in fake.runner.calls for word in argv)


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
    fake = FakePrograms(state, fail=not_found(name))
    with pytest.raises(Exit) as refused:
        deploy.deploy(fake.context, env="prod", only="secrets")
    message = str(refused.value.message)
    assert f"secret {name} is not in Key Vault kv-orderdesk-prod, nor among its deleted" in message
    assert f"bump {name} in azure.key_vault.secret_versions in infra/env.yaml" in message
    assert f"invoke deploy --env prod {rotation}" in message
    assert fake.runner.matching(*vault_read("show-deleted", name))
    assert not fake.runner.matching("secret", "set")
    assert not fake.runner.matching("secret", "recover")


def test_the_alarms_teams_url_goes_from_the_vault_to_azure_through_a_file_only(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous_deploy(state)
    fake = FakePrograms(state)
    deploy.deploy(fake.context, env="prod", only="secrets")
    put = fake.runner.find("rest", "--method", "put")
    [text] = [text for call, text, _ in fake.files_read if call is put]
    body = json.loads(text)
    assert body["properties"]["webhookReceivers"] == [
        {"name": "teams", "serviceUri": TEAMS_WEBHOOK_URL, "useCommonAlertSchema": True}
    ]
    assert body["properties"]["groupShortName"] == "od-prod"
    assert body["location"] == "Global"
    assert not any(TEAMS_WEBHOOK_URL in word for argv in fake.runner.calls for word in argv)
    reads = fake.runner.matching("--name", "teams-webhook-url", "--query", "value")
    assert reads
    assert all(read.hide is True for read in reads)
    printed = capsys.readouterr()
    assert TEAMS_WEBHOOK_URL not in printed.out + printed.err

    # Set already: nothing is written again.
    group = json.loads(ACTION_GROUP)
    group["properties"]["webhookReceivers"] = body["properties"]["webhookReceivers"]
    again = FakePrograms(state, prints={("az", "rest", "--method", "get"): json.dumps(group)})
    deploy.deploy(again.context, env="prod", only="secrets")
    assert again.runner.matching("rest", "--method", "get")
    assert not again.runner.matching("--method", "put")


def test_a_soft_deleted_secret_is_recovered_not_replaced(state: Path) -> None:
    previous_deploy(state)
    fake = FakePrograms(state, fail={vault_read("show", "database-password"): SECRET_NOT_FOUND})
    deploy.deploy(fake.context, env="prod", only="secrets")
    recover = [
        *("az", "keyvault", "secret", "recover", "--vault-name", VAULT),
        *("--name", "database-password", "--output", "none"),
    ]
    assert recover in fake.ran()
    assert not fake.runner.matching("secret", "set")


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
    failures = {"show": SECRET_NOT_FOUND if read == "show-deleted" else stderr, read: stderr}
    fake = FakePrograms(
        state,
        fail={vault_read(verb, "database-password"): text for verb, text in failures.items()},
    )
    with pytest.raises(
        Exit,
        match=r"cannot tell whether secret database-password exists in Key Vault "
        r"kv-orderdesk-prod .*nothing was created or changed",
    ) as caught:
        deploy.deploy(fake.context, env="prod", only="secrets")
    assert fake.runner.matching(*vault_read(read, "database-password"))
    assert not fake.runner.matching("secret", "set")
    assert not fake.runner.matching("secret", "recover")
    assert "stage secrets failed" in str(caught.value.message)


def test_dns_pointing_elsewhere_is_refused(state: Path) -> None:
    previous_deploy(state)
    fake = FakePrograms(state, fail={dns_read("grafana"): BOOM})
    with pytest.raises(
        Exit,
        match=r"grafana.orderdesk.example.com resolves to nothing, not the "
        r"ingress 203.0.113.10; Terraform manages the record",
    ):
        deploy.deploy(fake.context, env="prod", only="dns")


def undo_count(fake: FakePrograms) -> int:
    return len(fake.runner.matching("rollout", "undo"))


def failed_without_undo(fake: FakePrograms) -> str:
    """`deploy --only kubernetes` fails and runs no `rollout undo`: its message."""
    with pytest.raises(Exit) as caught:
        deploy.deploy(fake.context, env="prod", only="kubernetes")
    assert undo_count(fake) == 0
    return str(caught.value.message)


def unhealthy(target: object) -> None:
    raise Exit("smoke test: https://orderdesk.example.com/readyz answering 200: not after 120 s")


def undo_to_revision_1(state: Path) -> Argv:
    return kubectl(
        state, "--namespace=orderdesk", "rollout", "undo", "deployment/orderdesk", "--to-revision=1"
    )


def test_failed_rollout_returns_to_the_recorded_revision_once_then_smoke_tests_it(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """k8s.rollout undoes a failed rollout itself, to the revision k8s.apply recorded; a second
    undo would return to the failed revision (and still report "rolled back")."""
    smoke_tests: list[str] = []
    monkeypatch.setattr(checks, "https_smoke_test", lambda target: smoke_tests.append(target.name))
    previous_deploy(state)
    fake = FakePrograms(state)
    fake.api.never_ready = {2}
    with pytest.raises(Exit) as caught:
        deploy.deploy(fake.context, env="prod", only="kubernetes,dns")
    assert undo_count(fake) == 1
    assert fake.ran()[position(fake, "rollout", "undo")] == undo_to_revision_1(state)
    # ...then it waits for that revision to be ready.
    reads = fake.api.reads
    assert "watch" in reads[reads.index("undo to 1") + 1 :], reads
    assert not fake.runner.matching("get", "ingress")  # dns never started
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
    previous_deploy(state)
    fake = FakePrograms(state)
    calls: list[int] = []

    def fails_then_passes(target: object) -> None:
        calls.append(fake.revision or 0)
        if len(calls) == 1:
            unhealthy(target)

    monkeypatch.setattr(checks, "https_smoke_test", fails_then_passes)
    with pytest.raises(Exit) as caught:
        deploy.deploy(fake.context, env="prod", only="kubernetes")
    message = str(caught.value.message)
    assert "not after 120 s; rolled back to revision 1 (r/orderdesk:1), the one that ran" in message
    assert "the restored revision passed the smoke test" in message
    # The new revision failed it, the restored one (revision 1) passed it.
    assert calls == [2, 1]
    assert undo_count(fake) == 1
    assert fake.ran()[position(fake, "rollout", "undo")] == undo_to_revision_1(state)


def test_a_smoke_test_failing_after_a_change_outside_the_pod_template_undoes_nothing(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the Ingress changed: the Deployment still runs the revision from before, so an undo
    would bring back the previous deploy's image and leave the Ingress broken."""
    monkeypatch.setattr(checks, "https_smoke_test", unhealthy)
    previous_deploy(state)
    fake = FakePrograms(state)
    fake.template_changes = False
    fake.applied = (
        "deployment.apps/orderdesk unchanged\ningress.networking.k8s.io/orderdesk configured\n"
        "horizontalpodautoscaler.autoscaling/orderdesk configured\n"
    )
    message = failed_without_undo(fake)
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
    fake = FakePrograms(state)
    fake.revision = None
    fake.applied = "namespace/orderdesk created\ndeployment.apps/orderdesk created\n"
    message = failed_without_undo(fake)
    assert (
        "not rolled back: this was the first install of deployment/orderdesk, so there is no "
        "earlier revision to return to" in message
    )
    assert "namespace/orderdesk created, deployment.apps/orderdesk created" in message


def test_a_failed_rollout_with_an_unchanged_template_undoes_nothing(state: Path) -> None:
    """The same digest redeployed: the rollout can still time out (a pod that stopped being
    ready); the old roll_back_once then returned to the revision before the running one."""
    previous_deploy(state)
    fake = FakePrograms(state)
    fake.api.never_ready = {1}
    fake.template_changes = False
    fake.applied = "deployment.apps/orderdesk unchanged\nservice/orderdesk unchanged\n"
    message = failed_without_undo(fake)
    assert "the rollout failed and was not rolled back: deployment/orderdesk still runs " in message
    assert "this apply changed nothing else" in message
    assert fake.revision == 1


def test_a_failed_apply_rolls_nothing_back(state: Path) -> None:
    """Nothing new was rolled out, so an undo would replace the healthy revision."""
    previous_deploy(state)
    fake = FakePrograms(state, fail={("apply", f"--filename={state}/prod/manifests.yaml"): BOOM})
    with pytest.raises(
        Exit, match=r"`invoke k8s.apply --env prod --image <the digest image.verify checked>`"
    ):
        deploy.deploy(fake.context, env="prod", only="kubernetes")
    fake.runner.find("apply", f"--filename={state}/prod/manifests.yaml")  # it ran, once
    assert undo_count(fake) == 0


def test_preflight_asks_only_for_the_tools_of_the_chosen_stages(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous_deploy(state)
    absent = {"terraform", "helm", "kubelogin"}
    present = toolchain.find
    monkeypatch.setattr(toolchain, "find", lambda tool: None if tool in absent else present(tool))
    # needs none of them
    deploy.deploy(FakePrograms(state).context, env="prod", only="image,secrets")
    with pytest.raises(Exit, match=r"helm is not installed") as caught:
        deploy.deploy(FakePrograms(state).context, env="prod", only="monitoring")
    assert caught.value.code == 2


def test_failed_scan_pushes_nothing_and_applies_nothing(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def vulnerable(target: Target) -> None:
        target.runner.run(
            stand_in("image.scan", target.name, "Docker SDK"), timeout=STAND_IN_TIMEOUT_S
        )
        raise Exit("image: hadolint found DL3002")

    monkeypatch.setattr(image, "scan_for", vulnerable)
    fake = FakePrograms(state)
    with pytest.raises(Exit) as caught:
        deploy.deploy(fake.context, env="prod")
    # Every call up to the scan, and none after it.
    scan = stand_in("image.scan", "prod", "Docker SDK")
    expected = expected_prod(state)
    assert fake.ran() == expected[: expected.index(scan) + 1]
    message = str(caught.value.message)
    assert "stage image failed: `invoke image.scan --env prod`: image: hadolint found DL3002" in (
        message
    )
    assert "--only image,credentials,entra,secrets,addons,monitoring,kubernetes,dns" in message


def test_a_digest_that_does_not_verify_is_refused_before_anything_is_applied(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous_deploy(state)

    def unsigned(target: Target) -> PushRecord:
        target.runner.run(
            stand_in("image.verify", target.name, "cosign"), timeout=STAND_IN_TIMEOUT_S
        )
        raise image.ImageError(f"{DIGEST} is not signed by azurekms://kv/image-signing: none")

    monkeypatch.setattr(image, "verify_pushed", unsigned)
    fake = FakePrograms(state)
    with pytest.raises(Exit) as caught:
        deploy.deploy(fake.context, env="prod", only="kubernetes")
    assert fake.ran()[-1] == stand_in("image.verify", "prod", "cosign")
    assert not any(
        "apply" in word or "rollout" in word for argv in fake.runner.calls for word in argv
    )
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

    def verify_then_another_push(target: Target) -> PushRecord:
        record = verified(target)
        write_image_record(state, "prod", other)
        return record

    monkeypatch.setattr(image, "verify_pushed", verify_then_another_push)
    fake = FakePrograms(state)
    deploy.deploy(fake.context, env="prod", only="kubernetes")
    sent = (state / "prod" / "manifests.yaml").read_text()
    assert f"acrorderdeskprod.azurecr.io/orderdesk:0.1.0@{DIGEST}" in sent
    assert other not in sent
    fake.runner.find("apply", f"--filename={state}/prod/manifests.yaml")  # what was sent
    recorded = json.loads((state / "prod" / "before-apply.json").read_text())
    assert recorded["applying"] == f"acrorderdeskprod.azurecr.io/orderdesk:0.1.0@{DIGEST}"


def test_apply_of_a_named_image_verifies_it_first(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous_deploy(state)
    checked: list[tuple[str, str]] = []

    def refuse(_target: Target, repository: str, digest: str) -> None:
        checked.append((repository, digest))
        raise image.ImageError(f"{digest} is not signed by azurekms://kv/image-signing: none")

    monkeypatch.setattr(signing, "verify_reference", refuse)
    fake = FakePrograms(state)
    with pytest.raises(Exit, match=r"k8s.apply --env prod: sha256:a+ is not signed .*nothing was"):
        k8s.apply(fake.context, env="prod", image=f":1.2.3@{DIGEST}")
    assert checked == [("acrorderdeskprod.azurecr.io/orderdesk", DIGEST)]
    assert fake.runner.calls == []  # not even the cluster's version was asked
    with pytest.raises(Exit, match=r"is not from acrorderdeskprod.azurecr.io/orderdesk"):
        k8s.apply(fake.context, env="prod", image=f"evil.example.com/orderdesk@{DIGEST}")
    assert len(checked) == 1


def test_ingress_without_an_address_times_out_clearly(state: Path) -> None:
    previous_deploy(state)
    fake = FakePrograms(state, prints={("get", "ingress"): ""})
    with pytest.raises(Exit, match=r"the ingress has no address after 300 s"):
        deploy.deploy(fake.context, env="prod", only="dns")
    polls = fake.runner.matching("get", "ingress", "orderdesk")
    # One poll at the start and one after each pause, up to the timeout (ops.core.wait).
    assert len(polls) == azure.INGRESS_TIMEOUT_S // azure.INGRESS_INTERVAL_S + 1


def test_dry_run_runs_nothing_and_prints_every_command(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakePrograms(state)
    deploy.deploy(fake.context, env="prod", dry_run=True)
    assert fake.runner.calls == []
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
    fake = FakePrograms(state)
    with pytest.raises(Exit, match=re.escape(message)) as caught:
        deploy.deploy(fake.context, **kwargs)
    assert caught.value.code == 2
    assert fake.runner.calls == []


def test_dirty_tree_missing_tool_and_login_are_named_before_anything_runs(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(git, "changes", lambda *a, **k: [" M app/orders/views.py"])
    present = toolchain.find
    monkeypatch.setattr(toolchain, "find", lambda tool: None if tool == "helm" else present(tool))
    fake = FakePrograms(state, fail={("az", "account", "show"): SIGNED_OUT})
    with pytest.raises(Exit) as caught:
        deploy.deploy(fake.context, env="prod")
    # Preflight stopped the deploy after its first read, before anything else ran.
    assert fake.ran() == [AZ_ACCOUNT_SHOW]
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
    fake = FakePrograms(state)
    with pytest.raises(
        Exit, match=r"preflight failed:\n  - TEAMS_WEBHOOK_URL is not set"
    ) as caught:
        deploy.deploy(fake.context, env="prod")
    assert caught.value.code == 2
    assert fake.ran() == PREFLIGHT_READS
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", "$(TEAMS_WEBHOOK_URL)")
    with pytest.raises(Exit, match=r"TEAMS_WEBHOOK_URL is not set"):
        deploy.deploy(FakePrograms(state).context, env="prod", preflight_only=True)
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", "http://teams.example.invalid/plain")
    with pytest.raises(Exit, match=r"TEAMS_WEBHOOK_URL does not start with https://"):
        deploy.deploy(FakePrograms(state).context, env="prod", preflight_only=True)
    # The terraform stage needs it too (the action group's URL is a root variable).
    monkeypatch.delenv("TEAMS_WEBHOOK_URL")
    with pytest.raises(Exit, match=r"TEAMS_WEBHOOK_URL is not set"):
        deploy.deploy(
            FakePrograms(state).context, env="prod", only="terraform", preflight_only=True
        )
    # A job that runs neither goes on without it.
    deploy.deploy(FakePrograms(state).context, env="prod", only="image")


def test_preflight_only_changes_nothing(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakePrograms(state)
    deploy.deploy(fake.context, env="prod", preflight_only=True)
    assert fake.ran() == PREFLIGHT_READS
    assert "preflight: deploy --env prod can start" in capsys.readouterr().out


def test_outside_a_git_checkout_preflight_says_so(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_checkout(*args: object, **kwargs: object) -> str:
        raise git.GitError("`git rev-parse` failed; run from a git checkout of Orderdesk")

    monkeypatch.setattr(git, "head", no_checkout)
    with pytest.raises(Exit, match=r"preflight failed:\n  - `git rev-parse` failed; run from"):
        deploy.deploy(FakePrograms(state).context, env="prod", only="secrets")


def test_status_shows_the_last_deploy_the_deployment_and_its_revisions(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous_deploy(state)
    record = {"result": "succeeded", "started": "s", "ended": "e", "git_sha": "f" * 40}
    (state / "prod" / "last-deploy.json").write_text(json.dumps({**record, "image": "img"}))
    fake = FakePrograms(state)
    fake.api.annotations = {"orderdesk.dev/last-deploy": '{"result":"succeeded"}'}
    deploy.status(fake.context, env="prod")
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
    assert fake.runner.calls == []


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
        deploy.status(FakePrograms(state).context, env="prod")
    assert time.monotonic() - started < 10
    message = str(caught.value.message)
    assert "cannot reach the Kubernetes API server (context aks-orderdesk-prod of " in message
    assert "Connection refused" in message
    assert "`invoke deploy --env prod --only credentials`" in message


def signed_in_as(state: Path, signed_in: dict[str, Any]) -> FakePrograms:
    """Fake programs whose `az account show` reports this account."""
    return FakePrograms(state, prints={("az", "account", "show"): json.dumps(signed_in)})


# Preflight reads the account as `az account show` reports it, the public surface of az's
# profile (azure-cli-core documents no Python API for it).
def test_preflight_checks_the_subscription_and_tenant_az_account_show_reports(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = "99999999-1234-1234-1234-123456789abc"
    fake = signed_in_as(state, account(other))
    with pytest.raises(Exit, match=rf"signed in to subscription {other} .*ARM_SUBSCRIPTION_ID"):
        deploy.deploy(fake.context, env="prod", preflight_only=True)
    assert fake.ran() == [AZ_ACCOUNT_SHOW]
    monkeypatch.setenv("ARM_TENANT_ID", "11111111-2222-3333-4444-555555555555")
    with pytest.raises(Exit, match=r"signed in to tenant 87654321-.* not ARM_TENANT_ID"):
        deploy.deploy(FakePrograms(state).context, env="prod", preflight_only=True)


def test_a_signed_out_az_stops_preflight_with_a_message_naming_az_login(state: Path) -> None:
    fake = FakePrograms(state, fail={("az", "account", "show"): SIGNED_OUT})
    with pytest.raises(Exit) as caught:
        deploy.deploy(fake.context, env="prod", only="image")
    assert caught.value.code == 2
    assert str(caught.value.message) == (
        "deploy --env prod: preflight failed:\n  - not logged in to Azure; run `az login` (in CI: "
        "azure/login with OIDC) and try again"
    )
    assert fake.ran() == [AZ_ACCOUNT_SHOW]


# azurerm 5.0 registers no resource provider by default (its 5.0 upgrade guide: "no Resource
# Providers are registered by default"): a deploy that applies Terraform checks them first.
def test_preflight_names_an_unregistered_resource_provider_before_terraform_runs(
    state: Path,
) -> None:
    partly = [
        [namespace, "NotRegistered" if namespace == "Microsoft.KeyVault" else "Registered"]
        for namespace in providers.RESOURCE_PROVIDERS
    ]
    fake = FakePrograms(
        state,
        prints={
            ("az", "provider", "list"): json.dumps(partly),
            ("az", "feature", "show"): "Pending\n",
        },
    )
    with pytest.raises(Exit) as caught:
        deploy.deploy(fake.context, env="prod")
    message = str(caught.value.message)
    assert "Microsoft.KeyVault is NotRegistered in this subscription" in message
    assert "Microsoft.Compute/EncryptionAtHost is Pending" in message
    assert "run `invoke tf.bootstrap --env prod`" in message
    assert fake.ran() == PREFLIGHT_READS
    # A job that does not apply Terraform does not need them.
    deploy.deploy(FakePrograms(state).context, env="prod", only="image")


# GitHub's OIDC token, az's client assertion after azure/login, lasts 5 minutes and az cannot
# renew it (AADSTS700024, Azure/login#180): every token a job needs is fetched right after login.
def test_a_deploy_fetches_its_stages_tokens_right_after_login_before_any_change(
    state: Path,
) -> None:
    fake = FakePrograms(state)
    deploy.deploy(fake.context, env="prod", only="image")
    ran = fake.ran()
    vault = TOKENS[0]
    assert ran[0] == AZ_ACCOUNT_SHOW
    assert ran[1] == vault
    assert ran[2] == stand_in("image.build", "prod", "BuildKit")
    assert ran[-1] == stand_in("image.sign", "prod", "cosign")
    # The image job needs no AKS token; the cluster job needs both, before its first command.
    assert TOKENS[1] not in ran
    write_image_record(state, "prod", DIGEST)
    fake = FakePrograms(state)
    # The kubernetes job's stages, as the workflows name them.
    deploy.deploy(
        fake.context, env="prod", only="credentials,entra,secrets,addons,monitoring,kubernetes,dns"
    )
    assert fake.ran()[: len(TOKENS) + 1] == [AZ_ACCOUNT_SHOW, *TOKENS]
    # --preflight-only and --dry-run ask for none.
    for kwargs in ({"preflight_only": True}, {"dry_run": True}):
        fake = FakePrograms(state)
        deploy.deploy(fake.context, env="prod", **kwargs)
        assert not fake.runner.matching("get-access-token")


def test_a_token_az_cannot_issue_stops_the_deploy_before_any_change(state: Path) -> None:
    fake = FakePrograms(state, fail={("account", "get-access-token"): "AADSTS700024: expired"})
    with pytest.raises(
        Exit,
        match=r"could not get a token for https://vault\.azure\.net "
        r"\(AADSTS700024: expired\); sign in again",
    ) as caught:
        deploy.deploy(fake.context, env="prod", only="image")
    assert caught.value.code == 1
    assert fake.runner.matching("get-access-token")
    assert not any(argv[0].startswith("<image.") for argv in fake.ran())


# Who deploys from where (README): the registry and the vault admit only the runners' ranges
# (env.yaml runners.ip_ranges) and the deploy identity's data-plane roles (infra/identity.tf).
# Source: ACR's NetworkRuleSet (Microsoft.ContainerRegistry REST spec): with defaultAction Deny,
# only the ipRules' ranges reach the registry's public endpoint.
def test_a_person_is_told_at_preflight_that_azure_deploys_run_from_the_runner(
    state: Path,
) -> None:
    person = account(user={"name": "ana@example.com", "type": "user"})
    fake = signed_in_as(state, person)
    with pytest.raises(Exit) as caught:
        deploy.deploy(fake.context, env="dev", only="image")
    assert caught.value.code == 2
    message = str(caught.value.message)
    assert "signed in as ana@example.com, a person" in message
    assert "deploy identity on the runner orderdesk-dev" in message
    assert "`invoke deploy --env dev --dry-run` or `--preflight-only`" in message
    assert fake.ran() == [AZ_ACCOUNT_SHOW]
    # What a person may run from a laptop still works.
    deploy.deploy(signed_in_as(state, person).context, env="dev", preflight_only=True)
    deploy.deploy(signed_in_as(state, person).context, env="dev", dry_run=True)


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
    fake = FakePrograms(state, prints={("get", "certificate", "orderdesk-tls"): issuing})
    with pytest.raises(Exit) as caught:
        deploy.deploy(fake.context, env="prod", only="credentials,kubernetes")
    message = str(caught.value.message)
    assert "Certificate orderdesk-tls Ready: not after 900 s" in message
    assert "Issuing certificate as Secret does not exist" in message
    assert "dig +short NS orderdesk.example.com" in message
    assert "--only kubernetes,dns` again" in message
    polls = fake.runner.matching("get", "certificate", "orderdesk-tls")
    assert len(polls) == 900 // 15 + 1
    assert "certificate: Issuing certificate as Secret does not exist (1/61)" in (
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
    fake = FakePrograms(state)
    with pytest.raises(Exit) as caught:
        deploy.deploy(fake.context, env="prod", preflight_only=True)
    message = str(caught.value.message)
    for tool in sorted(profile):
        assert f"{tool} is not installed (scripts/bootstrap --deploy)" in message, tool
    # Nothing but preflight's reads ran.
    assert fake.ran() == PREFLIGHT_READS
