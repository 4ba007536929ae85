"""The image tasks end to end: push and pull back by digest, scan, and their bad-input paths."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
import requests
import yaml
from invoke import MockContext

from ops import envconfig, sandbox
from ops.core import environments
from ops.core.run import RecordingRunner, Runner
from ops.core.target import Target
from ops.image import builder, checks, common, registry
from testkit.support import free_port, need_tool
from tests.image.conftest import Built, invoke

MANIFEST_TYPES = ",".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)


def env_file_with_registry(tmp_path: Path, address: str) -> Path:
    """A copy of env.yaml whose `local` environment pushes to another registry address."""
    raw = yaml.safe_load(envconfig.ENV_FILE.read_text())
    local = raw["environments"]["local"]
    local["registry"]["login_server"] = address
    local["app"]["image_repository"] = f"{address}/orderdesk"
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def readonly_registry(tmp_path: Path) -> Iterator[sandbox.Registry]:
    """A real docker-registry that answers /v2/ but refuses every upload (maintenance mode)."""
    need_tool("docker-registry", "pushes go to Debian's registry on 127.0.0.1")
    registry = sandbox.Registry(address=f"127.0.0.1:{free_port()}", root=tmp_path / "registry")
    registry.root.mkdir()
    config = json.loads(sandbox.registry_config(registry))
    config["storage"]["maintenance"] = {"readonly": {"enabled": True}}
    registry.config.write_text(json.dumps(config))
    binary = need_tool("docker-registry")
    process = subprocess.Popen(
        [binary, "serve", str(registry.config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not sandbox.registry_running(registry):
            assert process.poll() is None, "the read-only registry did not start"
            assert time.monotonic() < deadline, "the read-only registry did not answer"
            time.sleep(0.1)
        yield registry
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_unknown_environment_is_refused_listing_the_known_ones() -> None:
    tasks = ("build", "scan", "push", "sbom", "sign", "verify", "run")
    for task in tasks:
        result = invoke(f"image.{task}", "--env", "staging")
        # ops.core.environments: one exit code for bad input from every task.
        assert result.returncode == environments.BAD_INPUT, result.stdout + result.stderr
        assert "unknown environment 'staging'; known environments: dev, local, prod" in (
            result.stderr
        )
        assert "Traceback" not in result.stderr


def test_build_context_holds_the_app_and_lock_but_no_local_state(tmp_path: Path) -> None:
    files = builder.context_files()
    assert {"pyproject.toml", "uv.lock", "app/manage.py", "app/gunicorn.conf.py"} <= set(files)
    for forbidden in (".git", ".venv", ".data", ".nox", "tests", "infra", "ops"):
        assert not [f for f in files if f == forbidden or f.startswith(forbidden + "/")]
    assert not [f for f in files if "/tests/" in f or f.endswith((".pyc", ".sqlite3", ".env"))]
    assert "app/orderdesk/settings/test.py" not in files
    assert "app/orderdesk/settings/production.py" in files

    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    with builder.build_context(bundle) as context, tarfile.open(fileobj=context) as archive:
        names = archive.getnames()
        assert "build-ca.pem" in names
        assert "app/Dockerfile" in names
    with builder.build_context(None) as context, tarfile.open(fileobj=context) as archive:
        assert "build-ca.pem" not in archive.getnames()


def test_push_records_the_digest_and_the_registry_serves_it(
    built: Built,
    engine: docker.DockerClient,
    engine_url: str,
    local_registry: sandbox.Registry,
    state_dir: Path,
) -> None:
    result = invoke(
        "image.push",
        "--env",
        "local",
        env={"DOCKER_HOST": engine_url, "INVOKE_STATE_DIR": str(state_dir)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((state_dir / "local" / "image.json").read_text())
    digest = record["digest"]
    assert f"digest {digest}" in result.stdout
    assert record["reference"] == f"{built.environment.app.image_repository}@{digest}"
    assert record["image_id"] == built.image_id
    assert built.ref.endswith(":" + record["tag"])

    # The registry's manifest for that digest hashes to the digest, and every blob it names is
    # there with the bytes its digest promises: the push is complete, not just reported.
    base = f"http://{local_registry.address}/v2/orderdesk"
    manifest = requests.get(
        f"{base}/manifests/{digest}", headers={"Accept": MANIFEST_TYPES}, timeout=30
    )
    assert manifest.status_code == 200
    assert "sha256:" + hashlib.sha256(manifest.content).hexdigest() == digest
    body = manifest.json()
    for blob in [body["config"], *body["layers"]]:
        content = requests.get(f"{base}/blobs/{blob['digest']}", timeout=120).content
        assert len(content) == blob["size"]
        assert "sha256:" + hashlib.sha256(content).hexdigest() == blob["digest"]

    pulled = engine.images.pull(record["reference"])
    assert pulled.id == built.image_id


def test_push_to_a_registry_that_is_down_fails_and_records_nothing(
    built: Built, engine: docker.DockerClient, engine_url: str, tmp_path: Path, state_dir: Path
) -> None:
    address = f"127.0.0.1:{free_port()}"
    env_file = env_file_with_registry(tmp_path, address)
    tag = built.ref.rsplit(":", 1)[1]
    engine.images.get(built.ref).tag(f"{address}/orderdesk", tag)
    previous = state_dir / "local" / "image.json"
    previous.parent.mkdir(parents=True)
    previous.write_text('{"digest": "sha256:previous"}\n')
    try:
        result = invoke(
            "image.push",
            "--env",
            "local",
            env={
                "DOCKER_HOST": engine_url,
                "INVOKE_ENV_FILE": str(env_file),
                "INVOKE_STATE_DIR": str(state_dir),
            },
        )
    finally:
        engine.images.remove(f"{address}/orderdesk:{tag}")
    assert result.returncode == 1
    assert f"the registry {address} does not answer" in result.stderr
    assert "invoke sandbox.start" in result.stderr
    assert "digest" not in result.stdout
    assert previous.read_text() == '{"digest": "sha256:previous"}\n'


def test_push_refused_midway_is_not_reported_as_done(  # noqa: PLR0917
    built: Built,
    engine: docker.DockerClient,
    engine_url: str,
    tmp_path: Path,
    state_dir: Path,
    readonly_registry: sandbox.Registry,
) -> None:
    env_file = env_file_with_registry(tmp_path, readonly_registry.address)
    tag = built.ref.rsplit(":", 1)[1]
    engine.images.get(built.ref).tag(f"{readonly_registry.address}/orderdesk", tag)
    try:
        result = invoke(
            "image.push",
            "--env",
            "local",
            env={
                "DOCKER_HOST": engine_url,
                "INVOKE_ENV_FILE": str(env_file),
                "INVOKE_STATE_DIR": str(state_dir),
            },
        )
    finally:
        engine.images.remove(f"{readonly_registry.address}/orderdesk:{tag}")
    assert result.returncode == 1, result.stdout
    assert "pushing" in result.stderr
    assert "failed" in result.stderr
    assert "nothing was recorded" in result.stderr
    assert not (state_dir / "local" / "image.json").exists()


def test_image_build_builds_with_buildkit_labels_the_image_and_reports_its_id(
    built: Built, engine: docker.DockerClient
) -> None:
    image = engine.images.get(built.ref)
    # BuildKit's Dockerfile frontend marks each step it adds to the history; the classic
    # builder leaves the comment empty (moby/buildkit frontend/dockerfile/dockerfile2llb).
    comments = {entry.get("Comment", "") for entry in image.history()}
    assert "buildkit.dockerfile.v0" in comments
    assert image.labels["org.opencontainers.image.revision"] == common.git("rev-parse", "HEAD")
    assert image.labels["org.opencontainers.image.title"] == built.environment.app.name
    assert image.labels["io.orderdesk.environment"] == "local"
    # The id image.build reports is the id of what it tagged (from --iidfile).
    assert f"built {built.ref} ({built.image_id[:19]}, " in built.output


def test_the_ca_bundle_in_the_build_context_never_reaches_the_image(
    built: Built, engine: docker.DockerClient
) -> None:
    assert built.ca_bundle.is_file()
    container = engine.containers.create(built.ref, command=["never-run"], network_mode="none")
    try:
        with tempfile.TemporaryFile() as exported:
            for chunk in container.export():
                exported.write(chunk)
            exported.seek(0)
            with tarfile.open(fileobj=exported) as archive:
                names = archive.getnames()
    finally:
        container.remove(force=True)
    assert "opt/venv/bin/python" in names or "./opt/venv/bin/python" in names
    assert not [name for name in names if name.endswith("build-ca.pem")]


def test_a_failing_build_step_fails_with_the_end_of_the_build_output(
    engine: docker.DockerClient, engine_url: str
) -> None:
    """A real BuildKit build that fails at its first RUN: the build stage on the runtime
    stand-in, which has no shell (distroless' shape)."""
    buildargs = builder.base_images_for(engine, envconfig.load("local"))
    buildargs["BUILD_IMAGE"] = buildargs["BASE_IMAGE"]
    ref = "orderdesk-failing-build:test"
    with pytest.raises(common.ImageError) as caught:
        builder.build_image(
            Runner(),
            engine_url,
            ref,
            buildargs=buildargs,
            ca_bundle=None,
            network="host",
            show_output=False,
        )
    message = str(caught.value)
    assert message.startswith("docker build failed (exit 1, BuildKit through ")
    assert "last build output:" in message
    # The step that failed and BuildKit's own error line are in the quoted tail.
    tail = message.split("last build output:", 1)[1]
    assert "apt-get update" in tail
    assert "error" in tail.lower()
    assert "fix the step it names (app/Dockerfile" in message
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(ref)


def test_scan_passes_on_the_built_image(built: Built, engine_url: str) -> None:
    result = invoke("image.scan", "--env", "local", env={"DOCKER_HOST": engine_url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "clean" in result.stdout


def test_scan_catches_root_shell_form_and_every_kind_of_forbidden_file(
    built: Built, engine: docker.DockerClient
) -> None:
    """A deliberately bad image derived from the good one: every check must fire."""
    container = engine.containers.create(built.ref, command=["never-run"], network_mode="none")
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w") as archive:
        for name, text in (
            ("app/.env", "DJANGO_SECRET_KEY=not-a-real-one\n"),
            ("root/.cache/pip/http/blob", "cached wheel\n"),
            ("opt/venv/bin/pip", "#!/bin/sh\n"),
            ("usr/bin/dash", "not really a shell\n"),
            ("usr/bin/apt-get", "not really apt\n"),
            ("usr/bin/gcc-14", "not really a compiler\n"),
            ("usr/bin/ls", "not really ls\n"),
            ("app/orderdesk/settings/__pycache__/test.cpython-313.pyc", "bytecode\n"),
            ("app/signing.key", "not a real key\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text.encode()))
    container.put_archive("/", payload.getvalue())
    bad_ref = "orderdesk-scan-negative:test"
    container.commit(
        repository=bad_ref.split(":", maxsplit=1)[0],
        tag="test",
        changes=[
            "USER root",
            'CMD ["/bin/sh", "-c", "gunicorn orderdesk.wsgi"]',
            "ENV DATABASE_PASSWORD=hunter2",
        ],
    )
    container.remove(force=True)
    try:
        failures = "\n".join(checks.inspect_image(engine, bad_ref))
    finally:
        engine.images.remove(bad_ref, force=True)
    assert "runs as user 'root'" in failures
    assert "starts through a shell" in failures
    assert "DATABASE_PASSWORD" in failures
    for expected in (
        "an env file: /app/.env",
        "a package cache or build leftover: /root/.cache/pip/http/blob",
        "a package manager: /opt/venv/bin/pip",
        "a shell: /usr/bin/dash",
        "a package manager: /usr/bin/apt-get",
        "a compiler or linker: /usr/bin/gcc-14",
        "coreutils: /usr/bin/ls",
        "test settings (a fixed, test-only key): "
        "/app/orderdesk/settings/__pycache__/test.cpython-313.pyc",
        "a key or credential file: /app/signing.key",
    ):
        assert f"carries {expected}" in failures, failures


def test_scan_of_an_image_not_built_says_how_to_build(engine_url: str, tmp_path: Path) -> None:
    env_file = env_file_with_registry(tmp_path, "127.0.0.1:5999")
    result = invoke(
        "image.scan",
        "--env",
        "local",
        env={"DOCKER_HOST": engine_url, "INVOKE_ENV_FILE": str(env_file)},
    )
    assert result.returncode == 1
    assert "is not built; run `invoke image.build` first" in result.stderr


def test_acr_push_logs_in_with_az_first(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = envconfig.load("dev")
    monkeypatch.setattr(registry.shutil, "which", lambda name: f"/usr/bin/{name}")
    runner = RecordingRunner()
    registry.registry_login(Target.of(runner.context, environment))
    assert runner.calls == [["az", "acr", "login", "--name", "acrorderdeskdev"]]

    failing = RecordingRunner()
    failing.answer("acr", "login", exited=1)
    with pytest.raises(common.ImageError, match="az login"):
        registry.registry_login(Target.of(failing.context, environment))
    assert failing.calls == runner.calls


def test_acr_push_without_az_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry.shutil, "which", lambda name: None)
    with pytest.raises(common.ImageError, match="install the Azure CLI"):
        registry.registry_login(Target.of(MockContext(), envconfig.load("prod")))


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("bin/sh", "a shell"),
        ("usr/bin/bash", "a shell"),
        ("usr/bin/busybox", "a shell"),
        ("usr/bin/dpkg", "a package manager"),
        ("opt/venv/bin/pip3.13", "a package manager"),
        ("usr/bin/x86_64-linux-gnu-gcc-14", "a compiler or linker"),
        ("usr/bin/cat", "coreutils"),
        ("app/orderdesk/settings/test.py", "test settings (a fixed, test-only key)"),
        ("app/.env.production", "an env file"),
        ("root/.ssh/id_ed25519", "a key or credential file"),
        ("app/tls.key", "a key or credential file"),
        ("app/.git/config", "local state or VCS data"),
        ("var/lib/orderdesk/db.sqlite3", "local state or VCS data"),
        # What the runtime needs stays allowed.
        ("usr/bin/python3.13", None),
        ("opt/venv/bin/gunicorn", None),
        ("etc/ssl/certs/ca-certificates.crt", None),
        ("app/orderdesk/settings/production.py", None),
        ("opt/venv/lib/python3.13/site-packages/django/core/management/base.py", None),
    ],
)
def test_forbidden_files_are_named_by_what_they_are(path: str, what: str | None) -> None:
    assert checks.forbidden_file(path) == what
