"""kubectl and helm act on the environment's cluster only, never on whatever KUBECONFIG names.

A decoy API server (a listener that counts connections) sits in KUBECONFIG and ~/.kube/config, as a
developer's other cluster would; `invoke monitoring.install --env local --no-chart` and helm, both
through ops.core.kube, must reach the local cluster and never the decoy.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
import yaml
from invoke import Config, Context

from ops import toolchain
from ops.core.run import Runner
from ops.core.target import Target
from ops.monitoring.layout import MONITORING_NAMESPACE, TEAMS_SECRET, TEAMS_SECRET_KEYS
from testkit import support
from testkit.cluster import kubectl_json
from testkit.support import need_tool

pytestmark = pytest.mark.slow


class Decoy:
    """Another cluster's API server address: it only counts who connects."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._count, daemon=True).start()

    def _count(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            client.close()

    def kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "other",
                    "cluster": {
                        "server": f"https://127.0.0.1:{self.port}",
                        "insecure-skip-tls-verify": True,
                    },
                }
            ],
            "users": [{"name": "other", "user": {"token": "not-a-real-token"}}],
            "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other"}}],
            "current-context": "other",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config))
        return path


def test_monitoring_install_and_helm_never_reach_another_cluster(local_cluster, tmp_path) -> None:
    helm = need_tool("helm", "helm from tools/go/cluster.txt")
    need_tool("go", "the operator's CRDs come from its Go module")
    decoy = Decoy()
    home = tmp_path / "home"
    environ = {
        **os.environ,
        "KUBECONFIG": str(decoy.kubeconfig(tmp_path / "decoy-kubeconfig")),
        "HOME": str(home),
        # The cache stays where the tools are; only ~/.kube moves to the decoy.
        "ORDERDESK_CACHE": str(toolchain.CACHE_DIR),
        "TEAMS_WEBHOOK_URL": "https://example.invalid/workflows/test",
        "NO_COLOR": "1",
    }
    decoy.kubeconfig(home / ".kube" / "config")

    installed = support.invoke(
        "monitoring.install", "--env", "local", "--no-chart", env=environ, timeout=600
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    assert "kube-prometheus-stack not installed (--no-chart)" in installed.stdout
    rules = kubectl_json("--namespace", MONITORING_NAMESPACE, "get", "prometheusrules")["items"]
    assert [rule["metadata"]["name"] for rule in rules]
    secret = kubectl_json("--namespace", MONITORING_NAMESPACE, "get", "secret", TEAMS_SECRET)
    assert set(secret["data"]) == set(TEAMS_SECRET_KEYS)
    dashboards = kubectl_json(
        "--namespace", MONITORING_NAMESPACE, "get", "configmaps", "--selector=grafana_dashboard"
    )["items"]
    assert dashboards

    context = Context(Config(overrides={"state_dir": "", "k8s": {"helm": helm}}))
    target = Target.resolve(context, "local").kube()
    listed = Runner().run(
        target.helm_argv("list", "--all-namespaces", "--output=json"),
        env=environ,
        timeout=120,
        warn=True,
    )
    assert listed.exited == 0, listed.stderr
    assert listed.stdout.strip().startswith("[")
    assert decoy.connections == 0
