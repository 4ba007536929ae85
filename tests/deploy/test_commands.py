"""The exact command sequence of Azure deploys, with invoke's MockContext (no Azure here).

The local deploy runs for real in test_local.py; these pin what an Azure deploy would run, in
which order, and what happens when a stage fails midway.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from invoke import MockContext, Result
from invoke.exceptions import Exit

from ops import deploy

DIGEST = "sha256:" + "a" * 64
INGRESS_IP = "203.0.113.10"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean tree, every tool present, logged in, and the image record the push would write."""
    monkeypatch.setattr(deploy, "STATE_DIR", tmp_path)
    monkeypatch.setattr(deploy, "find", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(deploy.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(deploy, "git", lambda *args: "" if args[0] == "status" else "f" * 40)
    monkeypatch.setattr(deploy, "https_smoke_test", lambda c, e: None)
    monkeypatch.setattr(deploy.time, "sleep", lambda seconds: None)
    from ops import tf

    monkeypatch.setattr(tf, "require_az_login", lambda c: {"id": "sub", "name": "Orderdesk"})
    image_json = tmp_path / "prod" / "image.json"
    image_json.parent.mkdir(parents=True)
    reference = f"acrorderdeskprod.azurecr.io/orderdesk@{DIGEST}"
    image_json.write_text(json.dumps({"digest": DIGEST, "reference": reference}))
    # What `invoke tf.output --env prod --save` writes (mocked here, so written by the fixture).
    (tmp_path / "prod" / "tf-outputs.json").write_text(
        json.dumps(
            {
                "key_vault_secret_names": [
                    "django-secret-key",
                    "card-fingerprint-key",
                    "database-password",
                ],
                "ingress_public_ip": INGRESS_IP,
            }
        )
    )
    return tmp_path


def context(failing: str | None = None) -> MockContext:
    """Every command succeeds, except the ones matching `failing` (exit 1)."""
    results: dict[Any, Result] = {}
    if failing:
        results[re.compile(failing)] = Result(exited=1, stderr="boom")
    results[re.compile(r".* get ingress .*")] = Result(stdout=INGRESS_IP)
    results[re.compile(r"az network dns record-set a show .*")] = Result(stdout=INGRESS_IP + "\n")
    results[re.compile(r".*")] = Result()
    return MockContext(run=results, repeat=True)


def commands(c: MockContext) -> list[str]:
    """The commands run, with the interpreter's invoke path shortened to `invoke`."""
    shortened = []
    for call in c.run.call_args_list:
        command = re.sub(r"^\S*/invoke ", "invoke ", call.args[0])
        shortened.append(
            re.sub(
                r"^/usr/bin/kubectl --kubeconfig=\S+ --namespace=orderdesk "
                r"--request-timeout=15s",
                "kubectl",
                command,
            )
        )
    return shortened


EXPECTED_PROD = [
    "invoke tf.plan --env prod",
    "invoke tf.apply --env prod",
    "invoke image.build --env prod",
    "invoke image.scan --env prod",
    "invoke image.push --env prod",
    "invoke tf.output --env prod --save",
    "az aks get-credentials --resource-group rg-orderdesk-prod --name aks-orderdesk-prod "
    "--file {state}/prod/kubeconfig --overwrite-existing",
    "kubelogin convert-kubeconfig --login azurecli --kubeconfig {state}/prod/kubeconfig",
    "kubectl version",
    *[
        f"az keyvault secret show --vault-name kv-orderdesk-prod --name {name} "
        "--query id --output tsv"
        for name in ("django-secret-key", "card-fingerprint-key", "database-password")
    ],
    "invoke k8s.apply --env prod",
    "invoke k8s.rollout --env prod",
    "invoke monitoring.install --env prod",
    "kubectl get ingress orderdesk --output=jsonpath='{{.status.loadBalancer.ingress[0].ip}}'",
    *[
        "az network dns record-set a show --resource-group rg-orderdesk-prod "
        f"--zone-name orderdesk.example.com --name {name} --query 'ARecords[].ipv4Address' "
        "--output tsv"
        for name in ("@", "grafana", "prometheus")
    ],
]


def test_prod_deploy_runs_every_stage_in_order(state: Path) -> None:
    c = context()
    deploy.deploy(c, env="prod")
    expected = [line.format(state=state) for line in EXPECTED_PROD]
    ran = commands(c)
    # The record annotation comes last, after everything else succeeded.
    assert ran[:-1] == expected
    assert ran[-1].startswith(
        "kubectl annotate deployment orderdesk --overwrite orderdesk.dev/last-deploy="
    )
    record = json.loads((state / "prod" / "last-deploy.json").read_text())
    assert record["result"] == "succeeded"
    assert record["git_sha"] == "f" * 40
    assert record["image"] == f"acrorderdeskprod.azurecr.io/orderdesk@{DIGEST}"
    assert [s["name"] for s in record["stages"]] == list(deploy.STAGES)


def test_missing_key_vault_secrets_are_created_from_a_file_never_the_command_line(
    state: Path,
) -> None:
    c = context(failing=r"az keyvault secret show(-deleted)? .*card-fingerprint-key.*")
    deploy.deploy(c, env="prod", only="secrets")
    ran = commands(c)
    created = [command for command in ran if "secret set" in command]
    assert len(created) == 1
    assert re.fullmatch(
        r"az keyvault secret set --vault-name kv-orderdesk-prod --name card-fingerprint-key "
        r"--file \S+ --encoding utf-8 --output none",
        created[0],
    )
    set_call = next(call for call in c.run.call_args_list if "secret set" in call.args[0])
    assert set_call.kwargs["hide"] is True


def test_a_soft_deleted_secret_is_recovered_not_replaced(state: Path) -> None:
    c = context(failing=r"az keyvault secret show .*database-password.*")
    deploy.deploy(c, env="prod", only="secrets")
    ran = commands(c)
    recover = (
        "az keyvault secret recover --vault-name kv-orderdesk-prod --name database-password "
        "--output none"
    )
    assert recover in ran
    assert not any("secret set" in command for command in ran)


def test_dns_pointing_elsewhere_is_refused(state: Path) -> None:
    c = context(failing=r"az network dns record-set a show .*--name grafana .*")
    with pytest.raises(
        Exit,
        match=r"grafana.orderdesk.example.com resolves to nothing, not the "
        r"ingress 203.0.113.10; Terraform manages the record",
    ):
        deploy.deploy(c, env="prod", only="dns")


def test_failed_rollout_is_rolled_back_once_and_stops(state: Path) -> None:
    """k8s.rollout undoes its own failure; a second undo would flip back to the failed revision."""
    c = context(failing=r".*invoke k8s\.rollout --env prod$")
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="prod")
    ran = commands(c)
    assert ran[-1] == "invoke k8s.rollout --env prod"
    assert "invoke k8s.rollback --env prod" not in ran
    assert "invoke monitoring.install --env prod" not in ran
    message = str(caught.value.message)
    assert "stage kubernetes failed: `invoke k8s.rollout --env prod` exited 1" in message
    assert "--only kubernetes,monitoring,dns" in message
    record = json.loads((state / "prod" / "last-deploy.json").read_text())
    assert record["result"] == "failed at kubernetes"


def test_failed_smoke_test_rolls_back(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unhealthy(c: object, environment: object) -> None:
        raise deploy.StageFailed("https://orderdesk.example.com/readyz answered 503")

    monkeypatch.setattr(deploy, "https_smoke_test", unhealthy)
    # The plan captured the function when built, so rebuild it after the patch.
    c = context()
    with pytest.raises(Exit, match="answered 503"):
        deploy.deploy(c, env="prod", only="kubernetes")
    assert commands(c)[-1] == "invoke k8s.rollback --env prod"


def test_the_kubernetes_stage_alone_rolls_back_too(state: Path, monkeypatch) -> None:
    """CI runs stages as jobs: the rollback must not depend on the full deploy running them."""

    def unhealthy(c: object, environment: object) -> None:
        raise deploy.StageFailed("https://orderdesk.example.com/readyz answered 503")

    monkeypatch.setattr(deploy, "https_smoke_test", unhealthy)
    c = context()
    with pytest.raises(Exit, match=r"deploy\.kubernetes --env prod: .*; rolled back"):
        deploy.kubernetes(c, env="prod")
    assert commands(c)[-1] == "invoke k8s.rollback --env prod"
    assert sum("k8s.rollback" in command for command in commands(c)) == 1


def test_preflight_asks_only_for_the_tools_of_the_chosen_stages(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = {"terraform", "helm", "kubelogin"}
    monkeypatch.setattr(deploy, "find", lambda tool: None if tool in absent else f"/bin/{tool}")
    deploy.deploy(context(), env="prod", only="image,secrets")  # needs none of them
    with pytest.raises(Exit, match=r"helm is not installed"):
        deploy.deploy(context(), env="prod", only="monitoring")


def test_failed_scan_pushes_nothing_and_applies_nothing(state: Path) -> None:
    c = context(failing=r".*invoke image\.scan --env prod$")
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="prod")
    ran = commands(c)
    assert ran[-1] == "invoke image.scan --env prod"
    assert not any("image.push" in command or "k8s.apply" in command for command in ran)
    assert "stage image failed" in str(caught.value.message)
    assert "--only image,credentials,secrets,kubernetes,monitoring,dns" in str(caught.value.message)


def test_ingress_without_an_address_times_out_clearly(state: Path) -> None:
    c = MockContext(run={re.compile(r".*"): Result()}, repeat=True)
    with pytest.raises(Exit, match=r"the ingress has no address after 300 s"):
        deploy.deploy(c, env="prod", only="dns")
    polls = [command for command in commands(c) if "get ingress" in command]
    assert len(polls) == deploy.INGRESS_WAIT_TRIES


def test_dry_run_runs_nothing_and_prints_every_command(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = MockContext()  # any c.run would raise NotImplementedError
    deploy.deploy(c, env="prod", dry_run=True)
    printed = capsys.readouterr().out
    for stage in deploy.STAGES:
        assert re.search(rf"^ \d\. {stage}: ", printed, re.M), stage
    for command in (
        "invoke tf.plan --env prod",
        "invoke image.push --env prod",
        "invoke k8s.rollout --env prod",
        "invoke monitoring.install --env prod",
    ):
        assert f"$ {command}" in printed
    assert "dry run: nothing was run" in printed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"env": "qa"}, "unknown environment 'qa'; known environments: dev, local, prod"),
        ({"env": "prod", "only": "terraform,helm"}, "--only names unknown stage(s) helm"),
        ({"env": "prod", "only": "image", "skip": "dns"}, "use --only or --skip, not both"),
    ],
)
def test_bad_arguments(state: Path, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(Exit, match=re.escape(message)):
        deploy.deploy(MockContext(), **kwargs)


def test_dirty_tree_missing_tool_and_login_are_named_before_anything_runs(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ops import tf

    monkeypatch.setattr(
        deploy, "git", lambda *a: " M app/orders/views.py" if a[0] == "status" else "f" * 40
    )
    monkeypatch.setattr(deploy, "find", lambda tool: None if tool == "helm" else f"/bin/{tool}")

    def logged_out(c: object) -> None:
        raise Exit("tf: not logged in to Azure; run `az login` (in CI: azure/login with OIDC)")

    monkeypatch.setattr(tf, "require_az_login", logged_out)
    # A bare MockContext raises NotImplementedError on any command: getting Exit proves that
    # preflight stopped the deploy before anything ran.
    with pytest.raises(Exit) as caught:
        deploy.deploy(MockContext(), env="prod")
    message = str(caught.value.message)
    assert "helm is not installed" in message
    assert "1 uncommitted change(s)" in message
    assert "--allow-dirty" in message
    assert "run `az login`" in message
