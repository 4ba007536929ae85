"""env.yaml's azure.ingress: public (the default) or internal, refused with the fix when wrong.

The Terraform plans of both shapes are in infra/tests/environments.tftest.hcl (public, from the
committed env.yaml) and test_terraform_real.py (internal, from a copy of it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops import envconfig
from ops.envconfig import REPO_ROOT, EnvConfigError

INTERNAL = {"exposure": "internal", "private_ip": "10.10.16.10"}
RUNNERS = "10.10.19.0/24"


def internal_dev(env_data: dict[str, Any], **ingress: str) -> dict[str, Any]:
    """dev made internal, with the runner subnet an internal environment deploys from."""
    azure = env_data["environments"]["dev"]["azure"]
    azure["ingress"] = {**INTERNAL, **ingress}
    azure["network"]["subnets"]["runners"] = RUNNERS
    return env_data


def test_environments_without_an_ingress_block_are_public() -> None:
    environments = envconfig.load_all()
    for name in ("dev", "prod"):
        azure = environments[name].azure
        assert azure is not None
        assert azure.ingress.exposure == "public"
        assert azure.ingress.private_ip is None


def test_an_internal_environment_loads_with_its_private_address(write_env, env_data) -> None:
    dev = envconfig.load_all(write_env(internal_dev(env_data)))["dev"]
    assert dev.azure is not None
    assert dev.azure.ingress.internal
    assert str(dev.azure.ingress.private_ip) == "10.10.16.10"


def test_an_unknown_exposure_names_the_two_choices(write_env, env_data) -> None:
    internal_dev(env_data, exposure="private")
    with pytest.raises(
        EnvConfigError,
        match=r"dev\.azure\.ingress\.exposure: exposure 'private' is neither public .* nor "
        r"internal .*; write one of those",
    ):
        envconfig.load_all(write_env(env_data))


def test_internal_without_a_private_address_says_where_to_take_one(write_env, env_data) -> None:
    internal_dev(env_data)
    del env_data["environments"]["dev"]["azure"]["ingress"]["private_ip"]
    with pytest.raises(
        EnvConfigError,
        match=r"needs ingress\.private_ip.*add one from network\.subnets\.appgw "
        r"\(10\.10\.16\.0/24\)",
    ):
        envconfig.load_all(write_env(env_data))


def test_a_private_address_on_a_public_environment_is_refused(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["ingress"] = {"private_ip": "10.10.16.10"}
    with pytest.raises(EnvConfigError, match=r"remove it, or set exposure: internal"):
        envconfig.load_all(write_env(env_data))


# The gateway's private frontend takes an address of its own subnet
# (learn.microsoft.com/azure/application-gateway/configuration-frontend-ip).
def test_application_gateway_private_frontend_is_in_the_gateway_subnet(write_env, env_data) -> None:
    internal_dev(env_data, private_ip="10.10.0.10")
    with pytest.raises(
        EnvConfigError,
        match=r"10\.10\.0\.10 is outside network\.subnets\.appgw \(10\.10\.16\.0/24\)",
    ):
        envconfig.load_all(write_env(env_data))


# Azure keeps x.x.x.0-3 and the broadcast address of every subnet
# (learn.microsoft.com/azure/virtual-network/virtual-networks-faq).
@pytest.mark.parametrize("address", ["10.10.16.0", "10.10.16.1", "10.10.16.3", "10.10.16.255"])
def test_azure_reserves_the_first_four_and_last_address_of_a_subnet(
    write_env, env_data, address
) -> None:
    internal_dev(env_data, private_ip=address)
    with pytest.raises(
        EnvConfigError,
        match=rf"{re.escape(address)} is one of the five addresses Azure reserves in "
        r"10\.10\.16\.0/24; pick one from 10\.10\.16\.4 up",
    ):
        envconfig.load_all(write_env(env_data))


def test_the_first_address_azure_leaves_free_is_accepted(write_env, env_data) -> None:
    dev = envconfig.load_all(write_env(internal_dev(env_data, private_ip="10.10.16.4")))["dev"]
    assert dev.azure is not None
    assert str(dev.azure.ingress.private_ip) == "10.10.16.4"


def test_terraform_federates_the_service_account_cert_manager_is_installed_as() -> None:
    """The federated credential's subject (infra/locals.tf) is the chart's service account: the
    release name in its namespace (manifests/addons/cert-manager.yaml)."""
    pin = yaml.safe_load((REPO_ROOT / "manifests/addons/cert-manager.yaml").read_text("utf-8"))
    locals_tf = Path(REPO_ROOT / "infra/locals.tf").read_text(encoding="utf-8")
    namespace = re.search(r'cert_manager_namespace\s*=\s*"([^"]+)"', locals_tf)
    account = re.search(r'cert_manager_service_account\s*=\s*"([^"]+)"', locals_tf)
    assert namespace, "infra/locals.tf must name cert-manager's namespace"
    assert account, "infra/locals.tf must name cert-manager's service account"
    assert (namespace[1], account[1]) == (pin["namespace"], pin["release"])


def test_an_internal_environment_deploys_from_a_runner_inside_the_vnet(write_env, env_data) -> None:
    """dev's runners are hosted ones outside the VNet: its smoke test could not reach the app."""
    internal_dev(env_data)
    del env_data["environments"]["dev"]["azure"]["network"]["subnets"]["runners"]
    with pytest.raises(
        EnvConfigError,
        match=r"ingress\.exposure internal: the hosts answer only inside the VNet, where the "
        r"deploy's HTTPS smoke test must run too; add network\.subnets\.runners",
    ):
        envconfig.load_all(write_env(env_data))
