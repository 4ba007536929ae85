"""The k8s tasks against a real kube-apiserver (the local cluster's binaries, without a node).

`invoke k8s.*` runs as a subprocess, exactly as a person or CI runs it, with KUBECONFIG pointing at
the test control plane. The tests run in order: apply, re-apply, diff, dry run, a failed rollout
and its rollback, then the bad-input cases.
"""

from __future__ import annotations

import base64
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from ops.k8s.render import MANIFESTS_DIR, display_path, render
from ops.sandbox.controlplane import ControlPlane
from testkit import support
from testkit.support import free_port
from tests.manifests.conftest import (
    DIGEST_A,
    DIGEST_B,
    sample_image,
    sample_values,
    write_image_record,
)

pytestmark = pytest.mark.slow
NAMESPACE = "orderdesk"
# The prod overlay's built-in kinds; its custom resources (no CRDs installed) are left out of its
# dry run.
CORE_KINDS = {"Namespace", "ServiceAccount", "ConfigMap", "Service", "Deployment", "NetworkPolicy"}
CORE_KINDS |= {"Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget"}


def run_invoke(
    plane: ControlPlane, state_dir: Path, *args: str, timeout: int = 180, **env: str
) -> subprocess.CompletedProcess[str]:
    return support.invoke(
        *args, env=plane.environ(INVOKE_STATE_DIR=str(state_dir), **env), timeout=timeout
    )


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("state")
    write_image_record(directory, "local", DIGEST_A)
    return directory


@pytest.fixture(scope="module")
def api(control_plane: ControlPlane) -> Iterator[k8s_client.ApiClient]:
    api_client = k8s_config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    yield api_client
    api_client.close()


@pytest.fixture(scope="module")
def first_apply(control_plane, state_dir) -> subprocess.CompletedProcess[str]:
    result = run_invoke(control_plane, state_dir, "k8s.apply", "--env", "local")
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def resource_versions(api: k8s_client.ApiClient) -> dict[str, str]:
    core, apps = k8s_client.CoreV1Api(api), k8s_client.AppsV1Api(api)
    metadata = {
        "namespace": core.read_namespace(NAMESPACE).metadata,
        "serviceaccount": core.read_namespaced_service_account("orderdesk", NAMESPACE).metadata,
        "service": core.read_namespaced_service("orderdesk", NAMESPACE).metadata,
        "deployment": apps.read_namespaced_deployment("orderdesk", NAMESPACE).metadata,
        "secret": core.read_namespaced_secret("orderdesk-secrets", NAMESPACE).metadata,
    }
    for config_map in core.list_namespaced_config_map(NAMESPACE).items:
        assert config_map.metadata is not None, "the API server returns each ConfigMap's metadata"
        metadata[f"configmap/{config_map.metadata.name}"] = config_map.metadata
    versions = {}
    for name, meta in metadata.items():
        assert meta is not None, f"the API server returns {name}'s metadata"
        assert meta.resource_version, f"{name} has a resourceVersion"
        versions[name] = meta.resource_version
    return versions


def deployed_image(apps: k8s_client.AppsV1Api) -> str:
    deployment = apps.read_namespaced_deployment("orderdesk", NAMESPACE)
    assert deployment.spec is not None, "the Deployment has a spec"
    pod = deployment.spec.template.spec
    assert pod is not None, "the Deployment has a pod template"
    image = pod.containers[0].image
    assert image is not None, "the web container names its image"
    return image


def test_apply_creates_the_local_overlay(first_apply, api):
    apps, core = k8s_client.AppsV1Api(api), k8s_client.CoreV1Api(api)
    deployment = apps.read_namespaced_deployment("orderdesk", NAMESPACE)
    assert deployment.spec is not None, "the Deployment has a spec"
    pod = deployment.spec.template.spec
    assert pod is not None, "the Deployment has a pod template"
    [web] = pod.containers
    assert pod.init_containers is not None, "the pod has the migrate init container"
    [migrate] = pod.init_containers
    assert web.image == migrate.image == sample_image("local", DIGEST_A)
    assert migrate.command == ["python", "manage.py", "migrate", "--noinput"]
    assert web.ports is not None, "the web container declares its port"
    assert web.ports[0].container_port == 5000
    probes = {
        "readiness": web.readiness_probe,
        "startup": web.startup_probe,
        "liveness": web.liveness_probe,
    }
    http_probes = {}
    for kind, probe in probes.items():
        assert probe is not None, f"the web container has a {kind} probe"
        assert probe.http_get is not None, f"the {kind} probe is an HTTP GET"
        http_probes[kind] = (probe.http_get.path, probe.http_get.port)
    assert http_probes == {
        "readiness": ("/readyz", "http"),
        "startup": ("/readyz", "http"),
        "liveness": ("/healthz", "http"),
    }
    assert web.lifecycle is not None, "the web container has a preStop hook"
    assert web.lifecycle.pre_stop is not None, "the web container has a preStop hook"
    assert web.lifecycle.pre_stop.sleep is not None, "preStop is a sleep action"
    assert web.lifecycle.pre_stop.sleep.seconds == 10
    assert web.lifecycle.pre_stop._exec is None
    for container in (web, migrate):
        context = container.security_context
        assert context is not None, f"{container.name} has a securityContext"
        assert context.run_as_user == 10001
        assert context.run_as_non_root is True
        assert context.read_only_root_filesystem is True
        assert context.allow_privilege_escalation is False
        assert context.capabilities is not None, f"{container.name} drops capabilities"
        assert context.capabilities.drop == ["ALL"]
        assert context.seccomp_profile is not None, f"{container.name} sets a seccomp profile"
        assert context.seccomp_profile.type == "RuntimeDefault"
    assert pod.security_context is not None, "the pod has a securityContext"
    assert pod.security_context.run_as_user == 10001
    assert pod.automount_service_account_token is False
    strategy = deployment.spec.strategy
    assert strategy is not None, "the Deployment names its update strategy"
    assert strategy.rolling_update is not None, "the Deployment updates by RollingUpdate"
    assert strategy.rolling_update.max_unavailable == 0
    assert web.volume_mounts is not None, "the web container mounts its volumes"
    mounts = {mount.name: mount.mount_path for mount in web.volume_mounts}
    assert mounts == {
        "tmp": "/tmp",  # noqa: S108 - the path inside the container
        "metrics": "/var/run/orderdesk/metrics",
        "secrets": "/mnt/secrets",
        "data": "/var/lib/orderdesk",
    }
    namespace = core.read_namespace(NAMESPACE).metadata
    assert namespace is not None, "the API server returns the namespace's metadata"
    assert namespace.labels is not None, "the namespace carries the pod-security labels"
    assert namespace.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    # The local Secret holds generated values that never appear in the output.
    secret = core.read_namespaced_secret("orderdesk-secrets", NAMESPACE)
    assert secret.data is not None, "the local Secret holds generated values"
    assert set(secret.data) == {"django-secret-key", "card-fingerprint-key"}
    for value in secret.data.values():
        decoded = base64.b64decode(value).decode()
        assert len(decoded) >= 48
        assert decoded not in first_apply.stdout + first_apply.stderr
    # The controller manager took over: a ReplicaSet for revision 1, its pod Pending (no node).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sets = apps.list_namespaced_replica_set(NAMESPACE).items
        if sets:
            break
        time.sleep(0.5)
    assert sets
    replica_set = sets[0].metadata
    assert replica_set is not None, "the API server returns the ReplicaSet's metadata"
    assert replica_set.annotations is not None, "the ReplicaSet carries its revision annotation"
    assert replica_set.annotations["deployment.kubernetes.io/revision"] == "1"


def test_a_second_apply_changes_nothing(first_apply, control_plane, state_dir, api):
    before = resource_versions(api)
    again = run_invoke(control_plane, state_dir, "k8s.apply", "--env", "local")
    assert again.returncode == 0, again.stderr
    assert resource_versions(api) == before
    applied = re.findall(r"^[a-z.]+/\S+ (\w+)$", again.stdout, flags=re.MULTILINE)
    assert applied == ["unchanged"] * 5, again.stdout


def test_diff_shows_a_changed_replica_count(first_apply, control_plane, state_dir, api):
    same = run_invoke(control_plane, state_dir, "k8s.diff", "--env", "local")
    assert same.returncode == 0, same.stderr
    assert "the cluster matches the manifests" in same.stdout
    apps = k8s_client.AppsV1Api(api)
    apps.patch_namespaced_deployment_scale("orderdesk", NAMESPACE, {"spec": {"replicas": 3}})
    changed = run_invoke(control_plane, state_dir, "k8s.diff", "--env", "local")
    assert changed.returncode == 0, changed.stderr
    lines = changed.stdout.splitlines()
    assert "-  replicas: 3" in lines, changed.stdout
    assert "+  replicas: 1" in lines, changed.stdout
    assert "apply would make the changes above" in changed.stdout
    # Diff is a dry run: the cluster keeps its 3 until apply.
    assert apps.read_namespaced_deployment("orderdesk", NAMESPACE).spec.replicas == 3
    restored = run_invoke(control_plane, state_dir, "k8s.apply", "--env", "local")
    assert restored.returncode == 0, restored.stderr
    assert apps.read_namespaced_deployment("orderdesk", NAMESPACE).spec.replicas == 1


def test_the_prod_overlay_core_objects_pass_a_server_side_dry_run(
    first_apply, control_plane, api, tmp_path
):
    rendered = render(sample_values("prod"))
    core = [d for d in rendered.documents if d["kind"] in CORE_KINDS]
    assert {d["kind"] for d in core} == CORE_KINDS
    manifest = tmp_path / "prod-core.yaml"
    manifest.write_text(yaml.safe_dump_all(core, sort_keys=False))
    result = control_plane.kubectl("apply", "--dry-run=server", f"--filename={manifest}")
    assert result.exited == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len(core), result.stdout
    # Nothing was stored.
    networking = k8s_client.NetworkingV1Api(api)
    assert networking.list_namespaced_network_policy(NAMESPACE).items == []


def test_a_rollout_that_never_gets_ready_reports_and_rolls_back(
    first_apply, control_plane, state_dir, api
):
    apps = k8s_client.AppsV1Api(api)
    write_image_record(state_dir, "local", DIGEST_B)
    try:
        applied = run_invoke(control_plane, state_dir, "k8s.apply", "--env", "local")
        assert applied.returncode == 0, applied.stderr
        assert deployed_image(apps).endswith(DIGEST_B)
        started = time.monotonic()
        rollout = run_invoke(
            control_plane, state_dir, "k8s.rollout", "--env", "local", "--timeout", "5"
        )
        elapsed = time.monotonic() - started
    finally:
        write_image_record(state_dir, "local", DIGEST_A)
    output = rollout.stdout + rollout.stderr
    assert rollout.returncode == 1, output
    assert elapsed < 60
    assert "did not finish in 5 s" in output
    # Progress, as the watch saw it: the new pod never becomes available (no node runs it).
    # (maxUnavailable 0: the old pod stays until the new one is available; kubectl's wording).
    assert "k8s.rollout --env local: 1 old replicas are pending termination" in output
    assert re.search(rf"revision 2: orderdesk-\w+ \S+@{DIGEST_B} \(0/1 ready\)", output), output
    assert "--- pods" in output
    assert "Pending" in output
    assert "--- events" in output
    assert "ScalingReplicaSet" in output
    assert "--- logs" in output
    assert "no logs: no container has started (the pod is Pending" in output
    # Revision 1 never had a ready pod either (no node): the previous revision is all there is.
    assert "rolled back to revision 1" in output
    assert deployed_image(apps) == sample_image("local", DIGEST_A)


def test_rollback_and_status(first_apply, control_plane, state_dir, api):
    apps = k8s_client.AppsV1Api(api)
    back = run_invoke(control_plane, state_dir, "k8s.rollback", "--env", "local")
    assert back.returncode == 0, back.stderr
    assert deployed_image(apps).endswith(DIGEST_B)
    status = run_invoke(control_plane, state_dir, "status", "--env", "local")
    assert status.returncode == 0, status.stderr
    # Read through the API: revision 1 (A), 2 (B), the failed rollout's undo made A revision 3,
    # and this rollback made B revision 4; the Deployment runs 4. No pod is ever ready (no
    # node), so the old revision keeps its pod (maxUnavailable 0).
    lines = status.stdout.splitlines()
    assert f"deployment orderdesk: image {sample_image('local', DIGEST_B)}; replicas 0/1 ready" in (
        status.stdout
    )
    listed = lines.index("revisions (newest first):")
    assert re.fullmatch(
        rf"  revision 4: orderdesk-\w+ \S+@{DIGEST_B} \(0/1 ready\) <- the Deployment's revision",
        lines[listed + 1],
    ), status.stdout
    assert re.fullmatch(
        rf"  revision 3: orderdesk-\w+ \S+@{DIGEST_A} \(0/1 ready\)", lines[listed + 2]
    )
    assert len([line for line in lines if line.startswith("  revision ")]) == 2
    assert re.search(r"service orderdesk: ClusterIP 10\.96\.0\.\d+ \(80->http\)", status.stdout)
    missing = run_invoke(
        control_plane, state_dir, "k8s.rollback", "--env", "local", "--revision", "99"
    )
    assert missing.returncode == 1
    assert "k8s.rollback --env local:" in missing.stderr


def test_a_broken_overlay_stops_before_the_cluster(
    first_apply, control_plane, state_dir, api, tmp_path
):
    manifests = tmp_path / "manifests"
    shutil.copytree(MANIFESTS_DIR, manifests)
    deployment_file = manifests / "base" / "deployment.yaml"
    deployment_file.write_text(
        deployment_file.read_text().replace("periodSeconds: 5", "periodSeconds: soon")
    )
    before = resource_versions(api)
    result = run_invoke(
        control_plane,
        state_dir,
        "k8s.apply",
        "--env",
        "local",
        INVOKE_K8S_MANIFESTS_DIR=str(manifests),
    )
    assert result.returncode == 1
    assert f"{display_path(deployment_file)}: Deployment/orderdesk: " in result.stderr
    assert "spec.template.spec.containers[0].startupProbe.periodSeconds" in result.stderr
    assert "nothing was sent to a cluster" in result.stderr
    assert "kubectl" not in result.stdout, "no kubectl command may run"
    assert resource_versions(api) == before


def _kubeconfig_for(plane: ControlPlane, server: str, directory: Path) -> Path:
    config = yaml.safe_load(plane.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = server
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_refused_connection_fails_fast(control_plane, state_dir, tmp_path):
    kubeconfig = _kubeconfig_for(control_plane, f"https://127.0.0.1:{free_port()}", tmp_path)
    started = time.monotonic()
    result = run_invoke(
        control_plane, state_dir, "k8s.apply", "--env", "local", KUBECONFIG=str(kubeconfig)
    )
    assert result.returncode == 1
    assert time.monotonic() - started < 30
    assert "cannot reach the Kubernetes API server" in result.stderr
    assert "refused" in result.stderr


def test_a_server_that_never_answers_times_out_in_seconds(control_plane, state_dir, tmp_path):
    # A socket that completes TCP handshakes (the kernel's backlog) but never answers TLS.
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        port = silent.getsockname()[1]
        kubeconfig = _kubeconfig_for(control_plane, f"https://127.0.0.1:{port}", tmp_path)
        started = time.monotonic()
        result = run_invoke(
            control_plane,
            state_dir,
            "status",
            "--env",
            "local",
            KUBECONFIG=str(kubeconfig),
            INVOKE_K8S_REQUEST_TIMEOUT="3",
        )
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert result.returncode == 1
    assert elapsed < 20, f"took {elapsed:.1f} s"
    assert "cannot reach the Kubernetes API server" in result.stderr
    assert "within 3 s" in result.stderr
