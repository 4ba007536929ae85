"""Real components for the image tests: the sandbox Docker engine, a registry, the built image.

Each fixture starts what is missing and stops only what it started, so a developer's running
sandbox (and the deploy tests that share it) is left as it was.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import certifi
import docker
import pytest

from ops import envconfig, sandbox
from ops.image import builder, common
from ops.sandbox.stand_ins import BUILD_STAND_IN, RUNTIME_STAND_IN
from testkit import support
from testkit.support import need_tool

REPO_ROOT = envconfig.REPO_ROOT


@dataclass(frozen=True)
class Built:
    ref: str
    image_id: str
    environment: envconfig.Environment
    # What image.build printed, and the CA bundle it added to the context.
    output: str
    ca_bundle: Path


def invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`invoke ...` with `env` over this process's environment, for as long as a build takes."""
    return support.invoke(*args, env={**os.environ, **(env or {})}, timeout=1800)


@pytest.fixture(scope="session")
def engine_url() -> Iterator[str]:
    if os.environ.get("DOCKER_HOST"):
        yield os.environ["DOCKER_HOST"]
        return
    for tool in ("dockerd", "containerd", "runc", "docker"):
        need_tool(tool, "the image tests build and run on a real Docker engine")
    with sandbox.left_as_found():
        yield sandbox.start_engine()


@pytest.fixture(scope="session")
def engine(engine_url: str) -> docker.DockerClient:
    return sandbox.engine_client(engine_url, timeout=600)


@pytest.fixture(scope="session")
def local_registry() -> Iterator[sandbox.Registry]:
    need_tool("docker-registry", "pushes go to Debian's registry on 127.0.0.1")
    registry = sandbox.local_registry()
    with sandbox.left_as_found(registry):
        yield sandbox.start_registry(registry)


@pytest.fixture(scope="session")
def built(engine: docker.DockerClient, engine_url: str) -> Built:
    """The app's image for `local`, built by the real task (`invoke image.build --env local`)."""
    if not all(stand_in.tarball.is_file() for stand_in in (BUILD_STAND_IN, RUNTIME_STAND_IN)):
        need_tool("debootstrap", "the local stand-in base images are made with debootstrap")
    # Always with a CA bundle in the context, so the image is known to have been built from one:
    # the host's own (PIP_CERT, ...) where it trusts one, else certifi's public CAs.
    ca_bundle = builder.build_ca_bundle(None) or Path(certifi.where())
    result = invoke(
        "image.build",
        "--env",
        "local",
        env={"DOCKER_HOST": engine_url, "INVOKE_IMAGE_CA_BUNDLE": str(ca_bundle)},
    )
    assert result.returncode == 0, f"image.build failed:\n{result.stdout[-3000:]}{result.stderr}"
    environment = envconfig.load("local")
    ref = common.image_ref(environment)
    return Built(
        ref=ref,
        image_id=str(engine.images.get(ref).id),
        environment=environment,
        output=result.stdout,
        ca_bundle=ca_bundle,
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """Where push records go during a test (never the developer's .data/)."""
    return tmp_path / "state"
