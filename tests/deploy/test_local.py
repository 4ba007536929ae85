"""`invoke deploy --env local` for real: the local Docker engine and registry, the local API server.

Run twice: the second deploy must change nothing in the cluster (same digest, same generation,
one ReplicaSet). Each run writes a deploy record and annotates the Deployment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ops.core.wait import wait_until
from ops.envconfig import REPO_ROOT
from tests.support import need_tool

pytestmark = pytest.mark.slow

INVOKE = str(Path(sys.executable).with_name("invoke"))
STATE = REPO_ROOT / ".data" / "local"


def invoke(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INVOKE, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )


def kubectl(*args: str) -> str:
    binary = need_tool("kubectl")
    done = subprocess.run(
        [
            binary,
            f"--kubeconfig={STATE / 'kubeconfig'}",
            "--namespace=orderdesk",
            "--request-timeout=15s",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def tools() -> None:
    for tool in (
        "dockerd",
        "docker-registry",
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kubectl",
        "kustomize",
    ):
        need_tool(tool, "invoke deploy --env local runs on the local stand-ins")


def deployment() -> dict:
    return json.loads(kubectl("get", "deployment", "orderdesk", "--output=json"))


def test_local_deploy_end_to_end_then_again_without_changes(tools: None) -> None:
    # Start from nothing in the cluster: the guarded destroy, confirmed by --yes.
    start = invoke("sandbox.cluster-start")
    assert start.returncode == 0, start.stdout + start.stderr
    destroyed = invoke("destroy", "--env", "local", "--yes")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    wait_until(
        lambda: "orderdesk" not in kubectl("get", "namespaces", "--output=name"),
        what="namespace orderdesk deleted",
        timeout=60,
        interval=1,
    )

    first = invoke("deploy", "--env", "local", "--allow-dirty")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    assert "terraform: skipped (local runs on this machine)" in first.stdout
    pushed = json.loads((STATE / "image.json").read_text())
    assert pushed["reference"].startswith("127.0.0.1:5000/orderdesk@sha256:")
    before = deployment()
    container = before["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith(pushed["digest"])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    record = json.loads((STATE / "last-deploy.json").read_text())
    assert record["result"] == "succeeded"
    assert record["image"] == pushed["reference"]
    assert [s["name"] for s in record["stages"]] == ["image", "credentials", "kubernetes"]
    annotation = json.loads(before["metadata"]["annotations"]["orderdesk.dev/last-deploy"])
    assert annotation["started"] == record["started"]

    second = invoke("deploy", "--env", "local", "--allow-dirty")
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    assert "deployment.apps/orderdesk unchanged" in second.stdout
    after = deployment()
    assert json.loads((STATE / "image.json").read_text())["digest"] == pushed["digest"]
    # Same spec, and still one ReplicaSet: nothing would roll. (The generation does move: a
    # Deployment counts annotation changes, and the new deploy record is one.)
    assert after["spec"] == before["spec"]
    replica_sets = json.loads(kubectl("get", "replicasets", "--output=json"))["items"]
    assert len(replica_sets) == 1
    assert replica_sets[0]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        pushed["digest"]
    )
    status = invoke("status", "--env", "local")
    assert "last deploy: succeeded" in status.stdout
    assert pushed["digest"] in status.stdout


def test_prod_dry_run_needs_no_azure(tools: None, tmp_path: Path) -> None:
    # An empty Azure config dir: whatever az is installed here, no login can be found.
    env = {**os.environ, "AZURE_CONFIG_DIR": str(tmp_path), "NO_COLOR": "1"}
    done = subprocess.run(
        [INVOKE, "deploy", "--env", "prod", "--dry-run", "--allow-dirty"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for stage in (
        "terraform",
        "image",
        "credentials",
        "secrets",
        "kubernetes",
        "monitoring",
        "dns",
    ):
        assert f". {stage}: " in done.stdout
    assert "$ invoke tf.plan --env prod" in done.stdout
    assert "dry run: nothing was run" in done.stdout
