"""Build, scan, push, inventory, sign, verify and run the app's container image (app/Dockerfile).

    invoke image.build  --env local    # tag <git sha>-<env>, on the env's base images (base.py)
    invoke image.scan   --env local    # hadolint, checkov; forbidden files and secrets inside
    invoke image.push   --env local    # to the env's registry; digest -> .data/<env>/image.json
    invoke image.sign   --env local    # SBOM (syft) + signature + SBOM attestation (cosign)
    invoke image.verify --env local    # what deploy checks before it applies anything
    invoke image.run    --env local    # the hardened `docker run` the tests use, on 127.0.0.1

Modules: common (settings, names, engine), base (base images and local stand-ins), builder (the
context; BuildKit through the docker CLI),
registry (push + the record), checks (scan), runner, inventory (SBOM), signing; tasks holds the
invoke collection, whose tasks and their functions of a Target (`build_for`, ...) are attributes
here too (deploy calls the functions in process).
The engine is $DOCKER_HOST when set, else the sandbox engine (`invoke sandbox.start`). The push
record is what the Kubernetes render reads to pin the image by digest; it is written only after
the registry confirms the digest.
"""

from ops.image.common import ImageError
from ops.image.runner import smoke_test
from ops.image.tasks import (
    build,
    build_for,
    ns,
    push,
    push_for,
    run,
    sbom,
    scan,
    scan_for,
    sign,
    sign_for,
    verify,
    verify_pushed,
)

__all__ = [
    "ImageError",
    "build",
    "build_for",
    "ns",
    "push",
    "push_for",
    "run",
    "sbom",
    "scan",
    "scan_for",
    "sign",
    "sign_for",
    "smoke_test",
    "verify",
    "verify_pushed",
]
