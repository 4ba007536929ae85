"""The image's inventory: an SPDX SBOM made by syft from the pushed digest, kept with the record."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from ops import envconfig, toolchain
from ops.core.run import Runner
from ops.core.state import write_json
from ops.image.common import ImageError
from ops.image.registry import PushRecord, write_record

SBOM_FILE = "sbom.spdx.json"
# cosign's predicate type for an SPDX JSON document (`cosign attest --type spdxjson`).
SBOM_TYPE = "spdxjson"


def tool(name: str) -> str:
    try:
        return toolchain.require(name)
    except toolchain.ToolMissing as exc:
        raise ImageError(str(exc)) from exc


def registry_env(environment: envconfig.Environment) -> dict[str, str]:
    """syft and cosign talk to the registry themselves: plain HTTP only for the loopback one."""
    env = dict(os.environ)
    # Offline by design: no update check, no calls home.
    env["SYFT_CHECK_FOR_APP_UPDATE"] = "false"
    if environment.registry.kind == "local":
        env["SYFT_REGISTRY_INSECURE_USE_HTTP"] = "true"
    return env


def generate(environment: envconfig.Environment, record: PushRecord, path: Path) -> PushRecord:
    """syft over the pushed digest (what will run, not the local tag); returns the new record."""
    done = Runner().run(
        [
            tool("syft"),
            "scan",
            f"registry:{record.reference}",
            "--output",
            f"spdx-json={path}.partial",
            "--quiet",
        ],
        env=registry_env(environment),
        timeout=900,
        warn=True,
    )
    partial = Path(f"{path}.partial")
    if done.exited != 0:
        partial.unlink(missing_ok=True)
        raise ImageError(
            f"syft could not inventory {record.digest}: {done.stderr.strip()[-800:]}; "
            "check that the registry serves it (`invoke image.push` again)"
        )
    document = json.loads(partial.read_text(encoding="utf-8"))
    partial.unlink()
    if not describes(document, record.digest):
        raise ImageError(f"syft's SBOM does not name {record.digest}; nothing was recorded")
    write_json(path, document)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    updated = replace(record, sbom=path.name, sbom_sha256=digest)
    write_record(path.parent / "image.json", updated)
    return updated


def describes(document: dict[str, Any], digest: str) -> bool:
    """Whether an SPDX document is the inventory of this image digest.

    syft names the image it scanned in the document and in the root package's version and purl
    (pkg:oci/...@sha256%3A...), so the digest must appear there.
    """
    names = [str(document.get("name", ""))]
    for package in document.get("packages") or []:
        if package.get("primaryPackagePurpose") == "CONTAINER":
            names.append(str(package.get("versionInfo", "")))
            names += [
                str(ref.get("referenceLocator", "")) for ref in package.get("externalRefs") or []
            ]
    encoded = digest.replace(":", "%3A")
    return any(digest in name or encoded in name for name in names)


def package_count(document: dict[str, Any]) -> int:
    return len(document.get("packages") or [])
