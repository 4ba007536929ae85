"""The base images app/Dockerfile builds on: pinned public images, or their local stand-ins.

Production builds on the Dockerfile's defaults: BUILD_IMAGE (debian:13-slim, where uv resolves the
venv) and BASE_IMAGE (gcr.io/distroless/python3-debian13, what runs), both pinned by digest. No
public image can be pulled on our machines, so `local` builds on stand-ins of the same shape made
from Debian's packages by tools/build/image and imported here (docs/image.md says how
they differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from ops.core.run import RunFailed, Runner
from ops.envconfig import REPO_ROOT
from ops.toolchain import CACHE_DIR

STAND_IN_SCRIPT = REPO_ROOT / "tools" / "build" / "image"
STAMP_LABEL = "io.orderdesk.stand-in-tarball"
# debootstrap of two Debian trees and their tarballs; slow on a cold apt cache.
BUILD_TIMEOUT_S = 1800


class StandInError(Exception):
    """A stand-in tarball could not be built; the message says where to look."""


@dataclass(frozen=True)
class StandIn:
    image: str
    tarball: Path
    # What `docker import` cannot carry over from a tarball: the config of the image it stands for.
    changes: tuple[str, ...]
    # What builds the tarball when it is missing (tests/cleanroom has stand-ins of its own).
    script: Path = STAND_IN_SCRIPT


BUILD_STAND_IN = StandIn(
    image="orderdesk-build:trixie",
    tarball=CACHE_DIR / "image" / "build-trixie.tar",
    changes=(
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["bash"]',
    ),
)
# gcr.io/distroless/python3-debian13's config: python as the entrypoint, UTF-8, the CA bundle.
RUNTIME_STAND_IN = StandIn(
    image="orderdesk-runtime:trixie",
    tarball=CACHE_DIR / "image" / "runtime-trixie.tar",
    changes=(
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
        'ENTRYPOINT ["/usr/bin/python3.13"]',
    ),
)


def _stamp(tarball: Path) -> str:
    """Identifies one build of a tarball, so a rebuilt one is imported again."""
    stat = tarball.stat()
    return f"{stat.st_size}-{stat.st_mtime_ns}"


def ensure_built(stand_in: StandIn) -> None:
    if stand_in.tarball.is_file():
        return
    try:
        Runner().run([str(stand_in.script)], timeout=BUILD_TIMEOUT_S, hide=False)
    except RunFailed as exc:
        raise StandInError(
            f"building the local stand-in images failed ({exc}); see its output above"
        ) from exc


def import_stand_in(engine: docker.DockerClient, stand_in: StandIn) -> str:
    """Import a stand-in's tarball unless the engine has this very build of it; return its name."""
    ensure_built(stand_in)
    stamp = _stamp(stand_in.tarball)
    try:
        labels = engine.images.get(stand_in.image).labels or {}
        if labels.get(STAMP_LABEL) == stamp:
            return stand_in.image
    except docker.errors.ImageNotFound:
        pass
    repository, tag = stand_in.image.split(":")
    # From the file path: docker-py then sends a Content-Length; its stream variant claims a
    # chunked body it does not chunk, and the daemon answers "header line too long".
    engine.api.import_image_from_file(
        str(stand_in.tarball),
        repository=repository,
        tag=tag,
        changes=[f"LABEL {STAMP_LABEL}={stamp}", *stand_in.changes],
    )
    engine.images.get(stand_in.image)
    return stand_in.image
