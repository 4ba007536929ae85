"""An internal environment rendered next to the public ones: what differs, and what must not.

dev made internal in a copy of env.yaml (azure.ingress.exposure: internal) renders through dev's own
overlay: k8s.render adds components/internal-ingress, so env.yaml alone chooses the exposure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke.exceptions import Exit

from ops import azure, envconfig, monitoring
from ops.core.run import RecordingRunner
from ops.core.target import Target
from ops.envconfig import ENV_FILE
from ops.k8s import cert_manager
from ops.k8s.render import Rendered, render
from ops.k8s.validate import validate
from ops.k8s.values import INTERNAL_TF_OUTPUT_KEYS, RenderValues, ValuesError, parse_image
from ops.monitoring.layout import Layout
from tests.manifests.conftest import DATA, sample_image

PRIVATE_IP_ANNOTATION = "appgw.ingress.kubernetes.io/use-private-ip"
INTERNAL_OUTPUTS = {
    "cert_manager_client_id": "44444444-5555-6666-7777-888888888888",
    "subscription_id": "99999999-0000-1111-2222-333333333333",
    "resource_group_name": "rg-orderdesk-dev",
}


def internal_dev(tmp_path: Path) -> envconfig.Environment:
    data = yaml.safe_load(ENV_FILE.read_text(encoding="utf-8"))
    azure = data["environments"]["dev"]["azure"]
    azure["ingress"] = {"exposure": "internal", "private_ip": "10.10.16.10"}
    # Where an internal environment deploys from: only the VNet reaches its hosts.
    azure["network"]["subnets"]["runners"] = "10.10.19.0/24"
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return envconfig.load_all(path)["dev"]


def dev_outputs() -> dict[str, Any]:
    raw = yaml.safe_load((DATA / "tf-outputs-dev.json").read_text(encoding="utf-8"))
    return {name: item["value"] for name, item in raw.items()}


def internal_values(tmp_path: Path) -> RenderValues:
    image = parse_image(sample_image("dev"))
    return RenderValues.gather(internal_dev(tmp_path), image, {**dev_outputs(), **INTERNAL_OUTPUTS})


@pytest.fixture(scope="module")
def internal(kustomize: str, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render(internal_values(tmp_path_factory.mktemp("internal")))


def _objects(rendered: Rendered, kind: str) -> list[dict[str, Any]]:
    found = [document for document in rendered.documents if document["kind"] == kind]
    assert found, f"no {kind} rendered"
    return found


def test_an_internal_render_is_valid_for_its_kubernetes_version(internal: Rendered) -> None:
    assert validate(internal, envconfig.load("dev").kubernetes.version) == []


# AGIC puts an Ingress's listeners on the gateway's private frontend only with this annotation
# (Azure/application-gateway-kubernetes-ingress docs/features/private-ip.md).
def test_agic_use_private_ip_puts_the_internal_ingress_on_the_private_frontend(
    internal: Rendered, rendered_overlays: dict[str, Rendered]
) -> None:
    [ingress] = _objects(internal, "Ingress")
    assert ingress["metadata"]["annotations"][PRIVATE_IP_ANNOTATION] == "true"
    for env in ("dev", "prod"):
        [public] = _objects(rendered_overlays[env], "Ingress")
        assert PRIVATE_IP_ANNOTATION not in public["metadata"].get("annotations", {}), env


# cert-manager's azureDNS solver with workload identity: managedIdentity.clientID and the public
# zone's subscription, group and name (cert-manager.io/docs/configuration/acme/dns01/azuredns).
def test_cert_manager_azuredns_solver_answers_dns01_as_the_terraform_identity(
    internal: Rendered, rendered_overlays: dict[str, Rendered]
) -> None:
    issuers = {issuer["metadata"]["name"]: issuer for issuer in _objects(internal, "ClusterIssuer")}
    public = {i["metadata"]["name"]: i for i in _objects(rendered_overlays["dev"], "ClusterIssuer")}
    assert set(issuers) == set(public) == {"letsencrypt-staging", "letsencrypt-production"}
    for name, issuer in issuers.items():
        # Same ACME server and account: only the way the challenge is answered changes.
        assert issuer["spec"]["acme"]["server"] == public[name]["spec"]["acme"]["server"]
        assert (
            issuer["spec"]["acme"]["privateKeySecretRef"]
            == (public[name]["spec"]["acme"]["privateKeySecretRef"])
        )
        [solver] = issuer["spec"]["acme"]["solvers"]
        assert set(solver) == {"dns01"}, "no HTTP-01: no listener faces the internet"
        assert solver["dns01"]["azureDNS"] == {
            "environment": "AzurePublicCloud",
            "hostedZoneName": "dev.orderdesk.example.com",
            "resourceGroupName": INTERNAL_OUTPUTS["resource_group_name"],
            "subscriptionID": INTERNAL_OUTPUTS["subscription_id"],
            "managedIdentity": {"clientID": INTERNAL_OUTPUTS["cert_manager_client_id"]},
        }
        assert "namespace" not in issuer["metadata"]
        [public_solver] = public[name]["spec"]["acme"]["solvers"]
        assert set(public_solver) == {"http01"}


def test_the_certificate_and_hosts_stay_those_of_env_yaml(internal: Rendered) -> None:
    hosts = list(envconfig.load("dev").app.hosts)
    [certificate] = _objects(internal, "Certificate")
    assert certificate["spec"]["dnsNames"] == hosts
    assert certificate["spec"]["issuerRef"]["name"] == "letsencrypt-staging"
    [ingress] = _objects(internal, "Ingress")
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == hosts


def test_no_http01_solver_policy_is_left_where_no_solver_runs(
    internal: Rendered, rendered_overlays: dict[str, Rendered]
) -> None:
    def names(rendered: Rendered) -> set[str]:
        return {policy["metadata"]["name"] for policy in _objects(rendered, "NetworkPolicy")}

    assert "allow-acme-http01-solver" in names(rendered_overlays["dev"])
    assert names(internal) == names(rendered_overlays["dev"]) - {"allow-acme-http01-solver"}


def test_an_internal_render_without_the_dns01_outputs_names_them(tmp_path: Path) -> None:
    image = parse_image(sample_image("dev"))
    with pytest.raises(ValuesError, match="cert_manager_client_id") as raised:
        RenderValues.gather(internal_dev(tmp_path), image, dev_outputs())
    for key in INTERNAL_TF_OUTPUT_KEYS:
        assert key in str(raised.value)
    assert "invoke tf.output --env dev" in str(raised.value)


def test_grafana_is_on_the_private_frontend_like_the_app(internal: Rendered, tmp_path) -> None:
    """Grafana's ingress (a helm value) gets the app Ingress's annotations, the private one too:
    else AGIC would give it a listener on the public IP."""
    [app_ingress] = _objects(internal, "Ingress")
    values = monitoring.install_values(internal_dev(tmp_path), Layout())
    annotations = values["grafana"]["ingress"]["annotations"]
    assert (
        annotations[PRIVATE_IP_ANNOTATION]
        == app_ingress["metadata"]["annotations"][PRIVATE_IP_ANNOTATION]
    )
    public = monitoring.install_values(envconfig.load("dev"), Layout())
    assert "annotations" not in public["grafana"]["ingress"]


# The workload identity webhook injects a token only into pods labelled azure.workload.identity/use
# (learn.microsoft.com/azure/aks/workload-identity-overview); in the VNet the zone is the private
# one, so the DNS-01 self-check must ask public resolvers only (cert-manager.io/docs/configuration/
# acme/dns01, "Setting Nameservers for DNS01 Self Check"; cert-manager/cert-manager#903).
def test_workload_identity_label_and_public_self_check_resolvers_only_when_internal(
    tmp_path: Path,
) -> None:
    internal_args = cert_manager.chart_values(internal_dev(tmp_path))
    public_args = cert_manager.chart_values(envconfig.load("dev"))
    assert public_args == ["--set", "crds.enabled=true"]
    assert internal_args[:2] == public_args
    pairs = list(zip(internal_args[::2], internal_args[1::2], strict=True))
    assert ("--set-string", r"podLabels.azure\.workload\.identity/use=true") in pairs
    assert ("--set", "dns01RecursiveNameserversOnly=true") in pairs
    [nameservers] = [
        value for flag, value in pairs if value.startswith("dns01RecursiveNameservers=")
    ]
    # Helm splits --set on unescaped commas: each resolver is host:port, escaped between them.
    resolvers = nameservers.removeprefix("dns01RecursiveNameservers=").split(r"\,")
    assert len(resolvers) >= 2
    assert all(resolver.endswith(":53") for resolver in resolvers)


def answering_records(address: str) -> RecordingRunner:
    """Answers every `az ... record-set a show` with `address`; records every command."""
    runner = RecordingRunner()
    runner.answer("record-set", "a", "show", stdout=address + "\n", times=None)
    return runner


# Private DNS record sets list their addresses as aRecords, public ones as ARecords
# (learn.microsoft.com/cli/azure/network/private-dns/record-set/a).
def test_the_deploys_dns_check_reads_an_internal_environments_private_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = internal_dev(tmp_path)
    monkeypatch.setattr("ops.core.azcli.find", lambda name: name)
    monkeypatch.setattr(azure, "ingress_address", lambda target: "10.10.16.10")
    monkeypatch.setattr(
        azure,
        "tf_outputs",
        lambda _target: {"ingress_public_ip": "203.0.113.9", "ingress_private_ip": "10.10.16.10"},
    )
    runner = answering_records("10.10.16.10")
    azure.check_dns_points_at_ingress(Target.of(runner.context, environment))
    assert runner.calls == [
        [
            *("az", "network", "private-dns", "record-set", "a", "show"),
            *("--resource-group", "rg-orderdesk-dev", "--zone-name", "dev.orderdesk.example.com"),
            *("--name", name, "--query", "aRecords[].ipv4Address", "--output", "tsv"),
        ]
        for name in ("@", "grafana")
    ]
    # The gateway answering on its public IP instead is refused, naming both addresses.
    monkeypatch.setattr(azure, "ingress_address", lambda target: "203.0.113.9")
    with pytest.raises(Exit, match=r"answers at 203\.0\.113\.9, but Terraform's gateway IP is "):
        azure.check_dns_points_at_ingress(
            Target.of(answering_records("10.10.16.10").context, environment)
        )
