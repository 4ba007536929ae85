"""A first deploy to an empty cluster: the add-ons' CRDs before the objects of their kinds.

On the real local cluster, with the CRDs of the pinned versions (cert-manager's and the Prometheus
Operator's, from their Go modules: the charts cannot be fetched here) and the custom resources the
dev overlay renders (ClusterIssuers, Certificate, ServiceMonitor):

- in the wrong order the API server refuses every one of them (unknown kind) and creates nothing;
- in the deploy flow's order (addons, monitoring, then kubernetes) they are all accepted.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from invoke.runners import Result

from ops.deploy import plan
from ops.k8s import cert_manager
from ops.k8s.render import render
from ops.monitoring import crds
from testkit.cluster import kubectl
from testkit.support import need_tool
from tests.deploy.local import invoke
from tests.manifests.conftest import sample_values

pytestmark = pytest.mark.slow

NAMESPACE = "addons-order-test"
ADDON_GROUPS = {"cert-manager.io", "monitoring.coreos.com"}
CRDS = [
    *cert_manager.crd_names(cert_manager.CERT_MANAGER_CRDS),
    *(f"{name}.monitoring.coreos.com" for name in crds.CRDS),
]


def apply(documents: list[dict[str, Any]]) -> Result:
    """kubectl apply as a fresh deploy job runs it: no discovery cache from an earlier run (a
    cached kind whose CRD is gone would be POSTed and refused with NotFound instead)."""
    with tempfile.TemporaryDirectory(prefix="kubectl-cache-") as cache:
        return _apply(documents, cache)


def _apply(documents: list[dict[str, Any]], cache: str) -> Result:
    return kubectl(
        f"--cache-dir={cache}",
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump_all(documents),
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def custom_resources(local_cluster: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """The dev overlay's cert-manager and monitoring objects, in a namespace of the test's own,
    on a cluster that does not have their CRDs (removed if an earlier run left them)."""
    need_tool("kustomize", "renders the dev overlay")
    need_tool("go", "fetches the pinned CRDs from the Go module proxy")
    documents = [
        document
        for document in render(sample_values("dev")).documents
        if document["apiVersion"].split("/")[0] in ADDON_GROUPS
    ]
    kinds = sorted({document["kind"] for document in documents})
    assert kinds == ["Certificate", "ClusterIssuer", "ServiceMonitor"], kinds
    for document in documents:
        if "namespace" in document["metadata"]:
            document["metadata"]["namespace"] = NAMESPACE
    kubectl("create", "namespace", NAMESPACE, check=False)
    kubectl("delete", "customresourcedefinition", "--ignore-not-found", "--wait=true", *CRDS,
            timeout=120)  # fmt: skip
    try:
        yield documents
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
        for issuer in (d for d in documents if d["kind"] == "ClusterIssuer"):
            kubectl("delete", "clusterissuer", issuer["metadata"]["name"], check=False)


def test_objects_of_an_add_ons_kinds_are_refused_before_its_crds_exist(
    custom_resources: list[dict[str, Any]],
) -> None:
    # The API server serves only the kinds its CRDs define; kubectl reports any other kind as
    # "no matches for kind ... ensure CRDs are installed first" (e.g. kubeflow/kfp-tekton#375).
    refused = apply(custom_resources)
    assert refused.exited != 0
    for document in custom_resources:
        expected = f'no matches for kind "{document["kind"]}" in version "{document["apiVersion"]}"'
        assert expected in refused.stderr, refused.stderr
    assert "ensure CRDs are installed first" in refused.stderr
    assert "created" not in refused.stdout


def test_the_deploy_flows_order_installs_the_crds_first_and_every_object_is_accepted(
    custom_resources: list[dict[str, Any]],
) -> None:
    # The order comes from the flow itself: the stages that bring CRDs run before kubernetes.
    stages = list(plan.STAGES)
    assert stages.index("addons") < stages.index("kubernetes")
    assert stages.index("monitoring") < stages.index("kubernetes")
    # Each stage as the offline cluster can run it: the pinned versions' CRDs without the charts.
    added = invoke("k8s.addons", "--env", "local", "--no-chart")
    assert added.returncode == 0, added.stdout[-3000:] + added.stderr[-3000:]
    monitored = invoke(
        "monitoring.install",
        "--env",
        "local",
        "--no-chart",
        env={"TEAMS_WEBHOOK_URL": "https://teams.invalid/orderdesk-addons-test"},
    )
    assert monitored.returncode == 0, monitored.stdout[-3000:] + monitored.stderr[-3000:]
    pin, module = cert_manager.chart_pin()
    assert module.endswith(f"@{pin.version}")

    accepted = apply(custom_resources)
    assert accepted.exited == 0, accepted.stderr
    for document in custom_resources:
        name = document["metadata"]["name"]
        where = ["--namespace", NAMESPACE] if "namespace" in document["metadata"] else []
        group = document["apiVersion"].split("/")[0]
        found = kubectl(*where, "get", f"{document['kind'].lower()}.{group}", name, "-o", "json")
        assert json.loads(found.stdout)["metadata"]["name"] == name
