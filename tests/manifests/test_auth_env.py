"""The sign-in settings each overlay gives the pod: local accounts on a laptop, Microsoft Entra ID
(with the workload identity token as the client's assertion) on Azure."""

from __future__ import annotations

import ipaddress

import pytest

from ops import envconfig
from ops.k8s.render import Rendered
from tests.manifests.conftest import pod_templates, sample_values

ENTRA_SETTINGS = {
    "ORDERDESK_ENTRA_TENANT_ID",
    "ORDERDESK_ENTRA_CLIENT_ID",
    "ORDERDESK_TRUSTED_PROXIES",
    "ORDERDESK_ACCESS_CONTACT",
}
# Addresses Entra's token endpoint answers from (the AzureActiveDirectory service tag includes
# 20.190.128.0/18 and 40.126.0.0/18), and addresses the pods must not reach on 443 through it.
ENTRA_ADDRESSES = ("20.190.160.1", "40.126.32.1")
PRIVATE_ADDRESSES = ("10.10.18.4", "172.16.0.1", "192.168.1.1", "169.254.169.254")


def config(rendered: Rendered) -> dict[str, str]:
    [config_map] = [d for d in rendered.documents if d["kind"] == "ConfigMap"]
    return config_map["data"]


def test_local_signs_in_with_local_accounts_only(rendered_overlays: dict[str, Rendered]) -> None:
    data = config(rendered_overlays["local"])
    assert data["ORDERDESK_AUTH"] == "local"
    assert ENTRA_SETTINGS.isdisjoint(data)
    assert pod_templates(rendered_overlays["local"])
    deployment = rendered_overlays["local"].find("Deployment", "orderdesk")
    assert deployment is not None
    assert "azure.workload.identity/use" not in deployment["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_azure_signs_in_with_entra_from_env_yaml_and_terraform(
    rendered_overlays: dict[str, Rendered], env: str
) -> None:
    azure = envconfig.load(env).azure
    assert azure is not None
    outputs = sample_values(env).tf_outputs
    data = config(rendered_overlays[env])
    assert data["ORDERDESK_AUTH"] == "entra"
    assert data["ORDERDESK_ENTRA_TENANT_ID"] == outputs["tenant_id"]
    assert data["ORDERDESK_ENTRA_CLIENT_ID"] == azure.entra.client_id
    assert data["ORDERDESK_TRUSTED_PROXIES"] == "1"
    assert data["ORDERDESK_ACCESS_CONTACT"] == azure.entra.access_contact
    # No client secret: the workload identity token is the assertion.
    assert not any("SECRET" in key and "ENTRA" in key for key in data)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_azure_pods_get_the_workload_identity_token_for_the_web_container_only(
    rendered_overlays: dict[str, Rendered], env: str
) -> None:
    rendered = rendered_overlays[env]
    deployment = rendered.find("Deployment", "orderdesk")
    assert deployment is not None
    template = deployment["spec"]["template"]
    # The webhook injects AZURE_FEDERATED_TOKEN_FILE only into labelled pods, for the service
    # account's annotated identity (azure.github.io/azure-workload-identity).
    assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert template["metadata"]["annotations"]["azure.workload.identity/skip-containers"] == (
        "migrate"
    )
    account = rendered.find("ServiceAccount", template["spec"]["serviceAccountName"])
    assert account is not None
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"]
    names = [c["name"] for c in template["spec"]["initContainers"]]
    assert names == ["migrate"]


def reaches(rendered: Rendered, address: str, port: int) -> bool:
    """Whether some egress rule of the app's NetworkPolicies admits address:port/TCP."""
    target = ipaddress.ip_address(address)
    for policy in (d for d in rendered.documents if d["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("egress") or []:
            if not any(p.get("port") == port for p in rule.get("ports") or []):
                continue
            for peer in rule.get("to") or []:
                block = peer.get("ipBlock")
                if (
                    block
                    and target in ipaddress.ip_network(block["cidr"])
                    and not any(
                        target in ipaddress.ip_network(cidr) for cidr in block.get("except") or []
                    )
                ):
                    return True
    return False


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_azure_pods_reach_entra_over_https_and_nothing_private(
    rendered_overlays: dict[str, Rendered], env: str
) -> None:
    rendered = rendered_overlays[env]
    assert rendered.find("NetworkPolicy", "default-deny-all") is not None
    for address in ENTRA_ADDRESSES:
        assert reaches(rendered, address, 443), address
        assert not reaches(rendered, address, 80), address
    for address in PRIVATE_ADDRESSES:
        assert not reaches(rendered, address, 443), address
