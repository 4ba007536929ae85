"""Shared fixtures: every overlay rendered once with realistic (but fake) values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops import envconfig
from ops.k8s.render import Rendered, render
from ops.k8s.values import RenderValues, load_tf_outputs, parse_image
from testkit.support import need_tool

DATA = Path(__file__).parent / "data"
ENVIRONMENTS = ("local", "dev", "prod")
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def sample_image(env: str, digest: str = DIGEST_A, tag: str = "0.1.0") -> str:
    return f"{envconfig.load(env).app.image_repository}:{tag}@{digest}"


def sample_tf_outputs_file(env: str) -> Path | None:
    path = DATA / f"tf-outputs-{env}.json"
    return path if path.exists() else None


def sample_values(env: str, digest: str = DIGEST_A) -> RenderValues:
    environment = envconfig.load(env)
    outputs_file = sample_tf_outputs_file(env)
    outputs = load_tf_outputs(outputs_file) if outputs_file else {}
    return RenderValues.gather(environment, parse_image(sample_image(env, digest)), outputs)


def write_image_record(
    state_dir: Path,
    env: str,
    digest: str = DIGEST_A,
    environment: envconfig.Environment | None = None,
) -> None:
    """What `invoke image.push` leaves behind (.data/<env>/image.json); `environment`: the one
    a Target already holds (else env.yaml's)."""
    environment = environment or envconfig.load(env)
    record = {
        "environment": env,
        "repository": environment.app.image_repository,
        "tag": "0.1.0",
        "digest": digest,
        "reference": f"{environment.app.image_repository}@{digest}",
    }
    (state_dir / env).mkdir(parents=True, exist_ok=True)
    (state_dir / env / "image.json").write_text(json.dumps(record), encoding="utf-8")


@pytest.fixture(scope="session")
def kustomize() -> str:
    return need_tool("kustomize", "renders the overlays")


@pytest.fixture(scope="session")
def rendered_overlays(kustomize: str) -> dict[str, Rendered]:
    return {env: render(sample_values(env)) for env in ENVIRONMENTS}


def pod_templates(rendered: Rendered) -> list[tuple[str, dict]]:
    """(object, pod spec) of every workload: Deployments, Jobs, CronJobs, bare Pods."""
    found = []
    for document in rendered.documents:
        kind, name = document["kind"], document["metadata"]["name"]
        spec = document.get("spec", {})
        if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
            found.append((f"{kind}/{name}", spec["template"]["spec"]))
        elif kind == "CronJob":
            found.append((f"{kind}/{name}", spec["jobTemplate"]["spec"]["template"]["spec"]))
        elif kind == "Pod":
            found.append((f"{kind}/{name}", spec))
    return found


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory):
    """etcd + kube-apiserver + kube-controller-manager on 127.0.0.1, for the whole session."""
    from ops.sandbox.controlplane import ControlPlane

    binaries = {
        name: need_tool(name, "the real API server tests (tools/build/kubernetes)")
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
    }
    plane = ControlPlane(binaries, tmp_path_factory.mktemp("control-plane"))
    try:
        yield plane.start()
    finally:
        plane.stop()
