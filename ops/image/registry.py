"""Pushing to the environment's registry and the push record (`<state_dir>/<env>/image.json`)."""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors

from ops import sandbox
from ops.core.state import StateMissing, read_json, write_json
from ops.core.target import Target
from ops.image.common import ImageError

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# `az acr login` fetches a token for the registry and hands it to docker.
ACR_LOGIN_TIMEOUT_S = 120


@dataclass(frozen=True)
class PushRecord:
    environment: str
    repository: str
    tag: str
    digest: str
    git_commit: str
    image_id: str
    pushed_at: str
    # Filled in by `image.sbom`: the SBOM's file (beside the record) and its SHA-256.
    sbom: str = ""
    sbom_sha256: str = ""

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"

    def as_dict(self) -> dict[str, Any]:
        return dict(asdict(self), reference=self.reference)


def registry_login(target: Target) -> None:
    """Make sure the engine may push: ACR through `az acr login`, the local registry answering."""
    environment = target.environment
    registry = environment.registry
    if registry.kind == "local":
        local = sandbox.Registry(address=registry.login_server)
        if not sandbox.registry_running(local):
            raise ImageError(
                f"the registry {registry.login_server} does not answer at {local.url}; "
                "start it with `invoke sandbox.start` and push again (nothing was pushed)"
            )
        return
    if environment.azure is None:  # envconfig refuses this; here for the type checker
        raise ImageError(f"environment {environment.name} has an ACR registry but no azure block")
    if shutil.which("az") is None:
        raise ImageError(
            "az not found; install the Azure CLI and `az login` (CI logs in with OIDC), "
            f"then push again: ACR {registry.login_server} needs `az acr login`"
        )
    result = target.runner.run(
        ["az", "acr", "login", "--name", environment.azure.acr.name],
        timeout=ACR_LOGIN_TIMEOUT_S,
        hide=False,
        warn=True,
    )
    if not result.ok:
        raise ImageError(
            f"`az acr login --name {environment.azure.acr.name}` failed; run `az login` "
            "(or check the CI identity's AcrPush role) and push again"
        )


def registry_digest(engine: docker.DockerClient, ref: str) -> str:
    """The digest the registry serves for ref (a tag or a digest reference)."""
    try:
        return str(engine.images.get_registry_data(ref).id)
    except docker.errors.APIError as exc:
        raise ImageError(f"the registry does not show {ref}: {exc.explanation or exc}") from exc


def push_image(engine: docker.DockerClient, ref: str, log: IO[str] = sys.stdout) -> str:
    """Push ref and return the digest the registry reports; any error in the stream fails."""
    repository, tag = ref.rsplit(":", 1)
    digest = ""
    try:
        for chunk in engine.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                raise ImageError(f"pushing {ref} failed: {detail.strip()}; nothing was recorded")
            if chunk.get("status") and not chunk.get("progressDetail"):
                layer = chunk.get("id", "")
                log.write(f"  {layer + ': ' if layer else ''}{chunk['status']}\n")
            digest = (chunk.get("aux") or {}).get("Digest", digest)
    except docker.errors.APIError as exc:
        raise ImageError(f"pushing {ref} failed: {exc.explanation or exc}") from exc
    if not DIGEST.fullmatch(digest):
        raise ImageError(f"pushing {ref} ended without a digest from the registry; push again")
    # Trust the registry, not the push stream: its manifest for the tag must have that digest.
    remote = registry_digest(engine, ref)
    if remote != digest:
        raise ImageError(f"the registry has {remote} for {ref}, the push said {digest}")
    return digest


def write_record(path: Path, record: PushRecord) -> None:
    """Atomically: a reader (deploy, the render) never sees half a record."""
    write_json(path, record.as_dict())


def read_record(path: Path, env: str) -> PushRecord:
    """The push record, or an error naming the task that writes it."""
    try:
        data = read_json(path, f"invoke image.push --env {env}")
    except StateMissing as exc:
        raise ImageError(f"no push record: {exc}") from exc
    known = {field.name for field in fields(PushRecord)}
    try:
        record = PushRecord(**{key: value for key, value in data.items() if key in known})
    except TypeError as exc:
        raise ImageError(
            f"{path} lacks fields ({exc}); run `invoke image.push --env {env}` again"
        ) from exc
    if not DIGEST.fullmatch(record.digest):
        raise ImageError(f"{path} has no valid digest; run `invoke image.push --env {env}` again")
    return record
