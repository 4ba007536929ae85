"""One Kubernetes version: the build, the cluster code and env.yaml name the same one."""

from __future__ import annotations

import re

from ops import envconfig
from ops.sandbox import cluster, layout

BUILD_SCRIPT = envconfig.REPO_ROOT / "tools" / "build" / "kubernetes"


def _build_setting(name: str) -> str:
    match = re.search(rf"^{name}=(\S+)$", BUILD_SCRIPT.read_text(), re.MULTILINE)
    assert match, f"{BUILD_SCRIPT} sets no {name}"
    return match.group(1)


def test_the_build_and_the_cluster_pin_the_same_versions() -> None:
    assert _build_setting("KUBERNETES_VERSION") == cluster.KUBERNETES_VERSION
    assert _build_setting("PAUSE_VERSION") == layout.PAUSE_VERSION


def test_every_environment_runs_the_local_clusters_minor() -> None:
    """Same minor from a laptop to prod: only the overlay differs, never the API version."""
    environments = envconfig.load_all()
    assert set(environments) == {"local", "dev", "prod"}
    minor = ".".join(cluster.KUBERNETES_VERSION.lstrip("v").split(".")[:2])
    for name, environment in environments.items():
        assert environment.kubernetes.version == minor, name
        if environment.azure is not None:
            assert environment.azure.aks.kubernetes_version.startswith(minor), name


def test_the_addon_images_are_the_pinned_go_tools() -> None:
    addons = (envconfig.REPO_ROOT / "ops" / "sandbox" / "addons.yaml").read_text()
    tools = (envconfig.REPO_ROOT / "tools" / "go" / "cluster.txt").read_text()
    for name in ("coredns", "metrics-server"):
        [version] = re.findall(rf"^{name}\s+\S+@(v[\d.]+)$", tools, re.MULTILINE)
        assert f"localhost/orderdesk-cluster/{name}:{version}" in addons
        assert layout.ADDON_VERSIONS[name] == version
