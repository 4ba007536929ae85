"""Building app/Dockerfile with the classic builder: the context, the CA bundle, the build."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import IO

import docker
import docker.errors
from docker.utils.build import create_archive, exclude_paths
from invoke import Context

from ops import envconfig
from ops.image.common import DOCKERFILE, DOCKERIGNORE, REPO_ROOT, ImageError, setting
from ops.sandbox.stand_ins import (
    BUILD_STAND_IN,
    RUNTIME_STAND_IN,
    StandInError,
    import_stand_in,
)


def build_ca_bundle(c: Context | None) -> Path | None:
    """The CA bundle the build should trust to reach PyPI: configured, else the host pip's own.

    On networks that inspect TLS the host trusts an extra CA through PIP_CERT, SSL_CERT_FILE or
    REQUESTS_CA_BUNDLE; the build stage needs the same trust, and never the final image.
    """
    configured = setting(c, "ca_bundle")
    candidates = [configured] if configured else []
    candidates += [os.environ.get(name, "") for name in ("PIP_CERT", "SSL_CERT_FILE")]
    candidates.append(os.environ.get("REQUESTS_CA_BUNDLE", ""))
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if path.is_file():
            return path
        if candidate == configured:
            raise ImageError(f"image.ca_bundle {candidate} is not a file; fix or unset it")
    return None


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def context_files() -> list[str]:
    """Relative paths the build context holds, after .dockerignore (as `docker build` sends)."""
    dockerfile = DOCKERFILE.relative_to(REPO_ROOT).as_posix()
    return sorted(exclude_paths(str(REPO_ROOT), dockerignore_patterns(), dockerfile=dockerfile))


def build_context(ca_bundle: Path | None) -> IO[bytes]:
    """The context as a tar, with the CA bundle added in memory (never written into the tree)."""
    extra = []
    if ca_bundle is not None:
        extra.append(("build-ca.pem", ca_bundle.read_text(encoding="utf-8")))
    archive: IO[bytes] = create_archive(
        root=str(REPO_ROOT), files=context_files(), extra_files=extra
    )
    return archive


# The classic builder colours a step's stderr; logs and error messages want plain text.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def base_images_for(
    engine: docker.DockerClient, environment: envconfig.Environment
) -> dict[str, str]:
    """Build args naming the bases: the sandbox's stand-ins (ops/sandbox/stand_ins.py) for
    `local`; none (the Dockerfile's pinned defaults) elsewhere."""
    if environment.registry.kind != "local":
        return {}
    try:
        return {
            "BUILD_IMAGE": import_stand_in(engine, BUILD_STAND_IN),
            "BASE_IMAGE": import_stand_in(engine, RUNTIME_STAND_IN),
        }
    except StandInError as exc:
        raise ImageError(str(exc)) from exc


def build_image(
    engine: docker.DockerClient,
    ref: str,
    *,
    buildargs: dict[str, str],
    ca_bundle: Path | None,
    network: str,
    labels: dict[str, str] | None = None,
    log: IO[str] = sys.stdout,
) -> str:
    """Build app/Dockerfile with the classic builder; return the image id."""
    context = build_context(ca_bundle)
    tail: list[str] = []
    image_id = ""
    try:
        stream = engine.api.build(
            fileobj=context,
            custom_context=True,
            dockerfile=DOCKERFILE.relative_to(REPO_ROOT).as_posix(),
            tag=ref,
            buildargs=buildargs,
            labels=labels or {},
            network_mode=network,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                raise ImageError(
                    f"docker build failed: {detail.strip()}\n  last build output:\n"
                    + "\n".join("    " + line for line in tail[-15:])
                )
            text = ANSI_ESCAPE.sub("", chunk.get("stream", ""))
            if text:
                log.write(text)
                tail.extend(text.rstrip("\n").splitlines())
            aux = chunk.get("aux") or {}
            image_id = aux.get("ID", image_id)
    except docker.errors.APIError as exc:
        raise ImageError(f"docker build failed: {exc.explanation or exc}") from exc
    finally:
        context.close()
    if not image_id:
        image_id = str(engine.images.get(ref).id)
    return image_id
