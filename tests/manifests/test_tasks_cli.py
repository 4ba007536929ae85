"""`invoke k8s.render` and `k8s.lint` as a person runs them: output, files and error messages."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ops import toolchain
from ops.k8s.render import MANIFESTS_DIR
from testkit.support import invoke
from tests.manifests.conftest import DATA, DIGEST_B, sample_image, write_image_record


def run_invoke(*args: str, state_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return invoke(*args, env={**os.environ, "INVOKE_STATE_DIR": str(state_dir), **env})


def test_render_reads_the_image_record_and_terraform_outputs(kustomize, tmp_path):
    write_image_record(tmp_path, "prod", DIGEST_B)
    shutil.copy(DATA / "tf-outputs-prod.json", tmp_path / "prod" / "tf-outputs.json")
    result = run_invoke("k8s.render", "--env", "prod", state_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "prod" / "manifests.yaml"
    assert f"into {written}" in result.stdout
    documents = list(yaml.safe_load_all(written.read_text()))
    [deployment] = [d for d in documents if d["kind"] == "Deployment"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == sample_image("prod", DIGEST_B)
    assert "config.kubernetes.io/origin" not in written.read_text()


def test_render_to_stdout(kustomize, tmp_path):
    result = run_invoke(
        "k8s.render",
        "--env",
        "local",
        "--image",
        sample_image("local"),
        "--output",
        "-",
        state_dir=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout)]
    assert kinds == ["Namespace", "ServiceAccount", "ConfigMap", "Service", "Deployment"]


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (
            ["--env", "staging"],
            "unknown environment 'staging'; known environments: dev, local, prod",
            2,
        ),
        (["--env", "local"], "no image record at", 1),
        (["--env", "prod", "--image", "x"], "is not <repository>[:<tag>]@sha256:<64 hex>", 1),
        (
            ["--env", "prod", "--image", sample_image("prod")],
            "no Terraform outputs at",
            1,
        ),
    ],
)
def test_render_errors_name_the_fix(tmp_path, args, message, code):
    result = run_invoke("k8s.render", *args, state_dir=tmp_path)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_lint_finds_a_weakened_pod(kustomize, tmp_path):
    runner = toolchain.checkov_command()[0]
    assert Path(runner).exists() or shutil.which(runner), "uv runs the pinned checkov"
    manifests = tmp_path / "manifests"
    shutil.copytree(MANIFESTS_DIR, manifests)
    deployment = manifests / "base" / "deployment.yaml"
    deployment.write_text(
        deployment.read_text().replace(
            "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"
        )
    )
    result = run_invoke(
        "k8s.lint",
        "--env",
        "local",
        "--image",
        sample_image("local"),
        state_dir=tmp_path,
        INVOKE_K8S_MANIFESTS_DIR=str(manifests),
    )
    assert result.returncode == 1, result.stdout
    assert "checkov CKV_K8S_22" in result.stderr
    assert "kube-score [CRITICAL]" in result.stderr
    assert "readOnlyRootFilesystem" in result.stderr or "read-only" in result.stderr.lower()
