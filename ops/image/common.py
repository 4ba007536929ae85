"""What every image module shares: settings, names, the engine, the error type."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import docker
import docker.errors
from invoke import Context
from invoke.exceptions import Exit

from ops import envconfig, sandbox
from ops.core import git as core_git
from ops.core.settings import Settings

REPO_ROOT = envconfig.REPO_ROOT
DOCKERFILE = REPO_ROOT / "app" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
APP_UID = 10001
CONTAINER_PORT = 5000
# Issue 13's goal for the uncompressed image (`docker image inspect`'s Size, in 10^6 bytes): the
# local runtime stand-in is distroless' own package set, so its image stands for production's.
# 80 MB until sign-in (issue 20): verifying Entra ID's RS256 tokens brought authlib, joserfc and
# cryptography, whose wheel carries its own OpenSSL (the venv layer went from 8.6 to 25.3 MB,
# the image from 78.9 to 98.4 MB). Building cryptography against the base's OpenSSL, as psycopg
# is against its libpq, would win most of it back: until then the goal is 100 MB.
SIZE_GOAL_MB = 100.0
# Files in the context that decide what is in the image: a change there makes a tag "-dirty".
CONTEXT_PATHS = ("app", "pyproject.toml", "uv.lock", ".dockerignore")


class ImageError(Exception):
    """Something the person running the task can fix; the message says how."""


def setting(c: Context | None, key: str) -> Any:
    """invoke setting `image.<key>` (ops.core.settings.ImageSettings: invoke.yaml, INVOKE_IMAGE_*
    or tests, else its default), for code that has no Target."""
    return getattr(Settings.read(c.config if c is not None else None).image, key)


def git(*args: str) -> str:
    try:
        return core_git.git(*args)
    except core_git.GitError as exc:
        raise ImageError(str(exc)) from exc


def image_tag(environment: envconfig.Environment) -> str:
    """<12-char commit>-<env>, plus -dirty when the build context has uncommitted changes."""
    sha = git("rev-parse", "--short=12", "HEAD")
    dirty = git("status", "--porcelain", "--", *CONTEXT_PATHS)
    return f"{sha}-{environment.name}" + ("-dirty" if dirty else "")


def image_ref(environment: envconfig.Environment, tag: str | None = None) -> str:
    return f"{environment.app.image_repository}:{tag or image_tag(environment)}"


# Hosted runners serve Docker at this socket to their (non-root) user: the image enables
# docker.service with /run/docker.sock as root:docker 0770 (actions/runner-images
# images/ubuntu/scripts/build/install-docker.sh). The sandbox's private dockerd needs root.
RUNNER_DOCKER_SOCKET = Path("/var/run/docker.sock")


def engine_url(environment: envconfig.Environment) -> str:
    """The engine to build on: DOCKER_HOST when set; else the sandbox's own engine for the local
    environment, and the runner's Docker (its default socket) for an Azure one."""
    if os.environ.get("DOCKER_HOST") or environment.is_local:
        return sandbox.ensure_engine()
    if RUNNER_DOCKER_SOCKET.exists():
        return f"unix://{RUNNER_DOCKER_SOCKET}"
    raise ImageError(
        f"no Docker engine for {environment.name}: DOCKER_HOST is not set and "
        f"{RUNNER_DOCKER_SOCKET} does not exist; on a self-hosted runner install Docker Engine "
        "(https://docs.docker.com/engine/install/) and add the runner's user to the docker "
        "group, or point DOCKER_HOST at an engine"
    )


def client(environment: envconfig.Environment) -> docker.DockerClient:
    url = ""
    try:
        url = engine_url(environment)
        engine = sandbox.engine_client(url, timeout=600)
        engine.ping()
    except sandbox.SandboxError as exc:
        raise ImageError(str(exc)) from exc
    except docker.errors.DockerException as exc:
        raise ImageError(
            f"the Docker engine at {url} does not answer ({exc}); start it (or point "
            "DOCKER_HOST at one that runs)"
        ) from exc
    return engine


def fail(exc: ImageError) -> Exit:
    return Exit(f"image: {exc}", code=1)
