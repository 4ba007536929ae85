"""Which Docker engine the image tasks use, and what a job that did not push does before cosign."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from invoke import Context, Result

from ops import envconfig, k8s
from ops.core.target import Target
from ops.deploy import plan
from ops.image import common, registry, signing, tasks
from testkit.support import context_answering


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
DIGEST = "sha256:" + "a" * 64


def _verify_by_task(c: Context, environment: envconfig.Environment) -> None:
    tasks.verify(c, env=environment.name)


def _verify_in_deploy(c: Context, environment: envconfig.Environment) -> None:
    verify, _apply = plan.verified_apply_steps(Target.of(c, environment))
    verify.call(c)


def _verify_named_by_hand(c: Context, environment: envconfig.Environment) -> None:
    k8s.verify_signed(
        Target.of(c, environment), f"@{DIGEST}", f"k8s.apply --env {environment.name}"
    )


@pytest.mark.parametrize(
    "verify_image",
    [_verify_by_task, _verify_in_deploy, _verify_named_by_hand],
    ids=["image.verify", "deploy's kubernetes stage", "k8s.apply --image"],
)
def test_every_cosign_check_against_acr_logs_in_first(
    monkeypatch: pytest.MonkeyPatch,
    verify_image: Callable[[Context, envconfig.Environment], None],
) -> None:
    """The kubernetes job never pushed: whichever way it verifies, `az acr login` comes first."""
    environment = envconfig.load("dev")
    happened: list[str] = []
    monkeypatch.setattr(registry.shutil, "which", lambda name: f"/usr/bin/{name}")
    record = registry.PushRecord(
        environment="dev",
        repository=environment.app.image_repository,
        tag="t",
        digest=DIGEST,
        git_commit="f" * 40,
        image_id="sha256:" + "b" * 64,
        pushed_at="2026-12-06T00:00:00+00:00",
    )
    monkeypatch.setattr(registry, "read_record", lambda path, env: record)
    monkeypatch.setattr(signing, "signing_key", lambda target, create=True: None)

    def served_digest(environment: object, key: object, ref: str) -> str:
        happened.append("cosign triangulate")
        return DIGEST

    def verify(
        environment: object, key: object, ref: str, digest: str, sbom: object = None
    ) -> dict[str, str]:
        happened.append("cosign verify")
        return {}

    monkeypatch.setattr(signing, "served_digest", served_digest)
    monkeypatch.setattr(signing, "verify", verify)

    def run(command: str, **kwargs: object) -> Result:
        happened.append(command)
        return Result(command=command)

    verify_image(context_answering(run), environment)
    assert environment.azure is not None
    login = f"az acr login --name {environment.azure.acr.name}"
    assert happened[0] == login, happened
    assert "cosign verify" in happened, happened
