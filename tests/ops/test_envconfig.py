"""infra/env.yaml: the real file validates, and each kind of mistake is named by its path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from ops.envconfig import ENV_FILE, EnvConfigError, load, load_all


@pytest.fixture
def env_data() -> dict:
    return yaml.safe_load(ENV_FILE.read_text())


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_the_real_file_is_valid() -> None:
    environments = load_all()
    assert set(environments) == {"local", "dev", "prod"}
    assert environments["local"].is_local
    prod = load("prod")
    assert prod.name == "prod"
    assert prod.azure is not None
    assert prod.app.replicas == 4


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(
        EnvConfigError, match="unknown environment 'qa'; known environments: dev, local, prod"
    ):
        load("qa")


def test_malformed_yaml(tmp_path: Path) -> None:
    with pytest.raises(EnvConfigError, match="is not valid YAML"):
        load_all(write(tmp_path, "environments: [unclosed"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EnvConfigError, match="not found"):
        load_all(tmp_path / "absent.yaml")


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(EnvConfigError, match="must be a mapping"):
        load_all(write(tmp_path, "- a\n- b\n"))


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            lambda d: d["environments"]["dev"]["app"].update(replicas=0),
            "environments.dev.app.replicas",
            "greater than or equal to 1",
        ),
        (
            lambda d: d["environments"]["prod"]["app"].update(replicaz=3),
            "environments.prod.app.replicaz",
            "Extra inputs are not permitted",
        ),
        (
            lambda d: d["environments"]["dev"]["azure"]["network"]["subnets"].update(
                appgw="10.10.0.0/24"
            ),
            "environments.dev.azure.network",
            "overlap",
        ),
        (
            lambda d: d["environments"]["dev"]["azure"]["network"]["subnets"].update(
                database="10.99.0.0/24"
            ),
            "environments.dev.azure.network",
            "outside vnet_cidr",
        ),
        (
            lambda d: d["environments"]["prod"]["azure"]["aks"].update(kubernetes_version="1.20"),
            "environments.prod.azure.aks.kubernetes_version",
            "not in the AKS support table",
        ),
        (
            lambda d: d["environments"]["prod"]["azure"]["aks"]["node_pool"].update(min_count=20),
            "environments.prod.azure.aks.node_pool",
            "min_count 20 is above max_count 10",
        ),
        (
            lambda d: d["environments"]["dev"]["azure"]["state"].update(
                storage_account="Has-Dashes"
            ),
            "environments.dev.azure.state.storage_account",
            "should match pattern",
        ),
        (
            lambda d: d["environments"]["dev"]["registry"].update(login_server="other.azurecr.io"),
            "environments.dev",
            "registry.login_server should be acrorderdeskdev.azurecr.io",
        ),
        (
            lambda d: d["environments"]["local"]["app"].update(hosts=["not a host"]),
            "environments.local.app.hosts.0",
            "should match pattern",
        ),
        (lambda d: d["environments"].update(QA={}), "environments.QA", "should match pattern"),
    ],
)
def test_mistakes_are_named_by_path(
    tmp_path: Path, env_data: dict, change: Callable[[dict], object], path: str, message: str
) -> None:
    change(env_data)
    with pytest.raises(EnvConfigError) as caught:
        load_all(write(tmp_path, env_data))
    text = str(caught.value)
    assert f"  {path}" in text, text
    assert message in text, text
    assert "Fix these keys in env.yaml" in text
