"""Bad env.yaml files fail in ops/envconfig.py, naming the key, before any cloud call."""

from __future__ import annotations

import datetime
import re
from typing import get_args

import pytest

from ops import envconfig
from ops.envconfig import EnvConfigError


def test_the_committed_env_yaml_is_valid() -> None:
    environments = envconfig.load_all()
    assert {"local", "dev", "prod"} <= set(environments)
    assert environments["prod"].azure is not None
    assert environments["prod"].azure.aks.private_cluster is True


def test_malformed_yaml_names_the_file(write_env) -> None:
    path = write_env("environments:\n  dev: [unclosed\n")
    with pytest.raises(EnvConfigError, match="is not valid YAML"):
        envconfig.load_all(path)


def test_a_file_that_is_not_a_mapping_is_refused(write_env) -> None:
    path = write_env("- just\n- a list\n")
    with pytest.raises(EnvConfigError, match="must be a mapping with an 'environments' key"):
        envconfig.load_all(path)


def test_unknown_environment_lists_the_known_ones(write_env, env_data) -> None:
    path = write_env(env_data)
    with pytest.raises(
        EnvConfigError, match=r"unknown environment 'staging'; known environments: dev, local, prod"
    ):
        envconfig.load("staging", path)


def test_overlapping_subnets_are_named(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["network"]["subnets"]["database"] = "10.10.15.0/24"
    with pytest.raises(
        EnvConfigError,
        match=r"subnets aks \(10\.10\.0\.0/20\) and database \(10\.10\.15\.0/24\) overlap",
    ):
        envconfig.load_all(write_env(env_data))


def test_subnet_outside_the_vnet_is_refused(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["network"]["subnets"]["appgw"] = "10.99.0.0/24"
    with pytest.raises(
        EnvConfigError, match=r"subnet appgw \(10\.99\.0\.0/24\) is outside vnet_cidr"
    ):
        envconfig.load_all(write_env(env_data))


def test_application_gateway_subnet_smaller_than_a_26_is_refused(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["network"]["subnets"]["appgw"] = "10.10.16.0/27"
    with pytest.raises(
        EnvConfigError, match=r"subnet appgw \(10\.10\.16\.0/27\) must be a /26 or larger"
    ):
        envconfig.load_all(write_env(env_data))


# The AKS release calendar: standard support for 1.34 ends in Nov 2026 (the month's last day), for
# 1.36 in Jun 2027; https://learn.microsoft.com/azure/aks/supported-kubernetes-versions
@pytest.mark.parametrize(
    ("version", "day", "newest"),
    [
        ("1.34", datetime.date(2026, 12, 1), "1.37"),
        ("1.34.9", datetime.date(2026, 12, 1), "1.37"),
        ("1.33", datetime.date(2026, 8, 1), "1.37"),
        ("1.36", datetime.date(2027, 7, 1), "1.37"),
    ],
)
def test_aks_refuses_a_minor_past_its_end_of_standard_support(
    write_env, env_data, version, day, newest
) -> None:
    env_data["environments"]["prod"]["azure"]["aks"]["kubernetes_version"] = version
    with pytest.raises(EnvConfigError) as excinfo:
        envconfig.load_all(write_env(env_data), on=day)
    message = str(excinfo.value)
    assert "environments.prod.azure.aks.kubernetes_version" in message
    minor = ".".join(version.split(".")[:2])
    ends = envconfig.AKS_STANDARD_SUPPORT_ENDS[minor].isoformat()
    assert f"AKS standard support for Kubernetes {minor} ended on {ends}" in message
    assert f"use {newest}, the newest minor in standard support" in message


def test_aks_accepts_a_minor_on_the_last_day_of_its_standard_support(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["aks"]["kubernetes_version"] = "1.34"
    env_data["environments"]["prod"]["azure"]["aks"]["kubernetes_version"] = "1.36.2"
    environments = envconfig.load_all(write_env(env_data), on=datetime.date(2026, 11, 30))
    assert environments["prod"].azure is not None
    assert environments["prod"].azure.aks.kubernetes_version == "1.36.2"


@pytest.mark.parametrize("version", ["1.30.4", "1.40"])
def test_aks_refuses_a_minor_outside_the_support_table(write_env, env_data, version) -> None:
    env_data["environments"]["prod"]["azure"]["aks"]["kubernetes_version"] = version
    with pytest.raises(EnvConfigError, match=r"is not in the AKS support table .*use 1\.37"):
        envconfig.load_all(write_env(env_data), on=datetime.date(2026, 11, 29))


def test_aks_runs_the_local_clusters_minor_by_default(env_data, write_env) -> None:
    environments = envconfig.load_all(write_env(env_data), on=datetime.date(2026, 11, 29))
    for name in ("dev", "prod"):
        azure = environments[name].azure
        assert azure is not None
        assert "kubernetes_version" not in env_data["environments"][name]["azure"]["aks"]
        assert azure.aks.kubernetes_version == environments["local"].kubernetes.version == "1.36"


def test_no_minor_left_in_support_says_to_update_the_table(write_env, env_data) -> None:
    with pytest.raises(EnvConfigError, match="add the current minors to AKS_STANDARD_SUPPORT_ENDS"):
        envconfig.load_all(write_env(env_data), on=datetime.date(2028, 1, 1))


def test_authorized_ranges_on_a_private_cluster_are_refused(write_env, env_data) -> None:
    env_data["environments"]["prod"]["azure"]["aks"]["authorized_ip_ranges"] = ["203.0.113.0/24"]
    with pytest.raises(
        EnvConfigError, match=re.escape("authorized_ip_ranges only apply to a public API server")
    ):
        envconfig.load_all(write_env(env_data))


def test_a_public_cluster_needs_authorized_ranges(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["aks"]["authorized_ip_ranges"] = []
    with pytest.raises(
        EnvConfigError, match=r"private_cluster: false\) needs authorized_ip_ranges"
    ):
        envconfig.load_all(write_env(env_data))


def test_the_whole_internet_is_not_an_authorized_range(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["aks"]["authorized_ip_ranges"] = ["0.0.0.0/0"]
    with pytest.raises(EnvConfigError, match=re.escape("0.0.0.0/0 lets the whole internet in")):
        envconfig.load_all(write_env(env_data))


def test_the_whole_internet_is_not_a_deployer_range(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["key_vault"]["deployer_ip_ranges"] = ["0.0.0.0/0"]
    with pytest.raises(EnvConfigError, match=re.escape("key_vault.deployer_ip_ranges")):
        envconfig.load_all(write_env(env_data))


def test_service_cidr_inside_the_vnet_is_refused(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["aks"]["service_cidr"] = "10.10.128.0/17"
    with pytest.raises(
        EnvConfigError, match=r"aks.service_cidr \(10\.10\.128\.0/17\) overlaps network.vnet_cidr"
    ):
        envconfig.load_all(write_env(env_data))


def test_a_registry_without_private_endpoints_is_refused(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["acr"]["sku"] = "Standard"
    with pytest.raises(EnvConfigError, match="sku Standard cannot disable public access"):
        envconfig.load_all(write_env(env_data))


def test_a_host_outside_the_dns_zone_is_refused(write_env, env_data) -> None:
    env_data["environments"]["dev"]["monitoring"]["grafana_host"] = "grafana.example.org"
    with pytest.raises(
        EnvConfigError,
        match=re.escape("grafana.example.org are outside azure.dns.zone dev.orderdesk.example.com"),
    ):
        envconfig.load_all(write_env(env_data))


def test_a_key_vault_name_with_a_double_dash_is_refused(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["key_vault"]["name"] = "kv--orderdesk"
    with pytest.raises(EnvConfigError, match="may not contain '--'"):
        envconfig.load_all(write_env(env_data))


def test_rotation_version_must_be_positive(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["key_vault"]["secret_versions"][
        "database-password"
    ] = 0
    with pytest.raises(
        EnvConfigError, match=re.escape("key_vault.secret_versions.database-password")
    ):
        envconfig.load_all(write_env(env_data))


def test_each_secret_has_a_version_of_its_own(write_env, env_data) -> None:
    versions = env_data["environments"]["dev"]["azure"]["key_vault"]["secret_versions"]
    assert sorted(versions) == sorted(envconfig.KEY_VAULT_SECRETS)
    del versions["card-fingerprint-key"]
    versions["card-key"] = 2
    with pytest.raises(EnvConfigError) as refused:
        envconfig.load_all(write_env(env_data))
    message = str(refused.value)
    assert "key_vault.secret_versions" in message
    assert "missing: card-fingerprint-key" in message
    assert "unknown: card-key" in message


def test_the_old_single_secrets_version_is_refused(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["key_vault"]["secrets_version"] = 1
    with pytest.raises(EnvConfigError, match=re.escape("key_vault.secrets_version")):
        envconfig.load_all(write_env(env_data))


def test_a_typo_in_a_key_is_named_with_its_path(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["aks"]["privat_cluster"] = True
    with pytest.raises(
        EnvConfigError,
        match=r"environments.dev.azure.aks.privat_cluster: Extra inputs are not permitted",
    ):
        envconfig.load_all(write_env(env_data))


# --- azure.alerts: the Azure Monitor alarms (defaults live in infra/modules/alerts) --------------


def test_alerts_left_out_keep_the_modules_defaults() -> None:
    environments = envconfig.load_all()
    dev, prod = environments["dev"].azure, environments["prod"].azure
    assert dev is not None
    assert prod is not None
    # None means "the module's default"; the values themselves are written only in the module.
    assert dev.alerts.node_cpu.threshold is None
    assert dev.alerts.node_cpu.window is None
    assert prod.alerts.node_memory.severity == 1


# window_size values: azurerm internal/services/monitor/monitor_metric_alert_resource.go (no PT10M).
def test_an_alert_window_azure_does_not_offer_is_refused(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["alerts"] = {
        "pods_failed_or_pending": {"window": "PT10M"}
    }
    with pytest.raises(EnvConfigError, match=r"alerts\.pods_failed_or_pending\.window"):
        envconfig.load_all(write_env(env_data))


# Metric alert severities 0-4: azurerm docs r/monitor_metric_alert.
def test_an_alert_severity_outside_0_to_4_is_refused(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["alerts"] = {"node_cpu": {"severity": 5}}
    with pytest.raises(EnvConfigError, match=r"alerts\.node_cpu\.severity"):
        envconfig.load_all(write_env(env_data))


def test_a_node_threshold_above_100_percent_is_refused(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["alerts"] = {"node_memory": {"threshold": 120}}
    with pytest.raises(EnvConfigError, match=r"node_memory\.threshold is a percentage"):
        envconfig.load_all(write_env(env_data))


def test_a_misspelt_alert_is_refused(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["alerts"] = {"node_cpus": {"threshold": 70}}
    with pytest.raises(EnvConfigError, match=r"alerts\.node_cpus: Extra inputs are not permitted"):
        envconfig.load_all(write_env(env_data))


def test_alert_windows_match_the_terraform_module() -> None:
    """ops/envconfig.py and infra/modules/alerts must accept the same windows."""
    variables = (envconfig.REPO_ROOT / "infra/modules/alerts/variables.tf").read_text("utf-8")
    rule = re.search(r"contains\(\[([^\]]+)\], alert\.window\)", variables)
    assert rule, "the window rule in modules/alerts/variables.tf changed shape"
    windows = re.findall(r'"([^"]+)"', rule.group(1))
    assert windows == list(get_args(envconfig.AlertWindow))


def test_private_cluster_must_be_stated(write_env, env_data) -> None:
    # No second default beside the aks module's: env.yaml says whether the API server is private.
    del env_data["environments"]["prod"]["azure"]["aks"]["private_cluster"]
    with pytest.raises(EnvConfigError, match=r"prod\.azure\.aks\.private_cluster: Field required"):
        envconfig.load_all(write_env(env_data))


def test_a_left_out_service_cidr_is_the_network_modules_to_choose() -> None:
    dev = envconfig.load("dev").azure
    assert dev is not None
    assert dev.aks.service_cidr is None


# A private cluster's API server "has no public IP address"; it is managed from inside the VNet
# (learn.microsoft.com/azure/aks/private-clusters).
def test_a_private_cluster_needs_a_runner_subnet_inside_the_vnet(write_env, env_data) -> None:
    del env_data["environments"]["prod"]["azure"]["network"]["subnets"]["runners"]
    with pytest.raises(EnvConfigError, match=r"add network\.subnets\.runners for the self-hosted"):
        envconfig.load_all(write_env(env_data))


def test_the_runner_subnet_may_not_overlap_another(write_env, env_data) -> None:
    env_data["environments"]["prod"]["azure"]["network"]["subnets"]["runners"] = "10.20.18.0/25"
    with pytest.raises(EnvConfigError, match=r"subnets database .* and runners .* overlap"):
        envconfig.load_all(write_env(env_data))


def test_the_whole_internet_is_not_a_runner_range(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["runners"]["ip_ranges"] = ["0.0.0.0/0"]
    with pytest.raises(EnvConfigError, match=re.escape("0.0.0.0/0 lets the whole internet in")):
        envconfig.load_all(write_env(env_data))


# "Each registry supports a maximum of 100 IP access rules"
# (learn.microsoft.com/azure/container-registry/container-registry-access-selected-networks).
def test_more_runner_ranges_than_acr_takes_are_refused(write_env, env_data) -> None:
    ranges = [f"198.51.{third}.0/24" for third in range(101)]
    env_data["environments"]["dev"]["azure"]["runners"]["ip_ranges"] = ranges
    with pytest.raises(EnvConfigError, match=r"runners\.ip_ranges"):
        envconfig.load_all(write_env(env_data))


def test_the_workflow_identities_are_object_ids(write_env, env_data) -> None:
    env_data["environments"]["dev"]["azure"]["identities"]["deploy_object_id"] = "deployer"
    with pytest.raises(EnvConfigError, match=r"identities\.deploy_object_id"):
        envconfig.load_all(write_env(env_data))
