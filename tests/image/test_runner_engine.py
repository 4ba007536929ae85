"""Which Docker engine the image tasks use, and what a job that did not push does before cosign."""

from __future__ import annotations

from pathlib import Path

import pytest
from invoke import Result

from ops import envconfig
from ops.image import common, registry, tasks
from tests.support import context_answering


@pytest.fixture
def no_sandbox(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sandbox's own dockerd (root only) is never started; calls to it are recorded."""
    started: list[str] = []

    def ensure_engine() -> str:
        started.append("sandbox")
        return "unix:///sandbox/docker.sock"

    monkeypatch.setattr("ops.sandbox.ensure_engine", ensure_engine)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return started


# Hosted runners run jobs as a non-root user and serve Docker at /run/docker.sock (root:docker
# 0770): actions/runner-images images/ubuntu/scripts/build/install-docker.sh.
def test_azure_images_build_on_the_runners_docker_never_a_private_dockerd(
    no_sandbox: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    socket = tmp_path / "docker.sock"
    socket.touch()
    monkeypatch.setattr(common, "RUNNER_DOCKER_SOCKET", socket)
    for env in ("dev", "prod"):
        assert common.engine_url(envconfig.load(env)) == f"unix://{socket}"
    assert no_sandbox == []
    # DOCKER_HOST, when a job sets it, wins; the local environment keeps the sandbox's engine.
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    monkeypatch.setattr("ops.sandbox.ensure_engine", lambda: "tcp://127.0.0.1:2375")
    assert common.engine_url(envconfig.load("dev")) == "tcp://127.0.0.1:2375"
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setattr("ops.sandbox.ensure_engine", lambda: "unix:///sandbox/docker.sock")
    assert common.engine_url(envconfig.load("local")) == "unix:///sandbox/docker.sock"


def test_a_runner_without_docker_is_told_to_install_it(
    no_sandbox: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(common, "RUNNER_DOCKER_SOCKET", tmp_path / "absent.sock")
    with pytest.raises(common.ImageError) as caught:
        common.engine_url(envconfig.load("prod"))
    message = str(caught.value)
    assert "install Docker Engine" in message
    assert "add the runner's user to the docker group" in message
    assert "DOCKER_HOST" in message
    assert no_sandbox == []


# cosign finds registry credentials through go-containerregistry's authn.DefaultKeychain, which
# reads Docker's config.json (pkg/authn/keychain.go); only image.push ran `az acr login`.
def test_image_verify_logs_in_to_acr_before_cosign_reads_the_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    happened: list[str] = []
    monkeypatch.setattr(registry.shutil, "which", lambda name: f"/usr/bin/{name}")

    def verify_pushed(c: object, environment: object, digest: str = "") -> registry.PushRecord:
        happened.append("cosign verify")
        return registry.PushRecord(
            environment="dev",
            repository="acrorderdeskdev.azurecr.io/orderdesk",
            tag="t",
            digest="sha256:" + "a" * 64,
            git_commit="f" * 40,
            image_id="sha256:" + "b" * 64,
            pushed_at="2026-12-06T00:00:00+00:00",
        )

    monkeypatch.setattr(tasks, "verify_pushed", verify_pushed)

    def run(command: str, **kwargs: object) -> Result:
        happened.append(command)
        return Result(command=command)

    c = context_answering(run)
    tasks.verify(c, env="dev")
    acr = envconfig.load("dev").azure
    assert acr is not None
    assert happened == [f"az acr login --name {acr.acr.name}", "cosign verify"]
