"""Strict, offline schema validation of rendered manifests for one Kubernetes version.

- Built-in kinds: the strict schemas kubernetes-validate bundles (1.25 and later; every
  environment, the local cluster included, runs a version inside that range).
- Custom resources (cert-manager, Secrets Store CSI, Prometheus operator): the schemas in
  manifests/schemas/<group>/<kind>_<version>.json.

A kind with no schema for that version is an error: the cluster would refuse it too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema
from packaging.version import Version

from ops.k8s.render import MANIFESTS_DIR, Document, Rendered, describe, field_path

CRD_SCHEMA_DIR = MANIFESTS_DIR / "schemas"
MAX_ERRORS_PER_OBJECT = 10

Validator = Callable[[Document], Iterator[jsonschema.ValidationError]]


class SchemaError(Exception):
    """No schema is available for a kind or Kubernetes version; the message names the fix."""


@dataclass(frozen=True)
class Problem:
    origin: str
    object: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.object}: {self.path}: {self.message}"


def _bundled_versions() -> dict[str, str]:
    """major.minor -> directory name of kubernetes-validate's strict schemas."""
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    found = {}
    for entry in root.iterdir():
        match = re.fullmatch(r"v(\d+\.\d+)\.\d+-local-strict", entry.name)
        if match:
            found[match.group(1)] = entry.name
    return found


@cache
def _bundled_validator(directory: str) -> Callable[[str, str], Validator | None]:
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", directory)
    definitions = json.loads(root.joinpath("_definitions.json").read_text(encoding="utf-8"))
    registry: referencing.Registry[Any] = referencing.Resource.from_contents(definitions) @ (
        referencing.Registry()
    )

    def for_kind(api_version: str, kind: str) -> Validator | None:
        # kubernetes-validate's file names: rbac.authorization.k8s.io/v1 -> rbac-v1.
        suffix = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        schema_file = root.joinpath(f"{kind.lower()}-{suffix}.json")
        if not schema_file.is_file():
            return None
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        return validator.iter_errors

    return for_kind


@cache
def _crd_validator(api_version: str, kind: str) -> Validator | None:
    group, _, version = api_version.rpartition("/")
    path = CRD_SCHEMA_DIR / group / f"{kind.lower()}_{version}.json"
    if not group or not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema).iter_errors


def builtin_schemas(kubernetes_version: str) -> Callable[[str, str], Validator | None]:
    """Schemas of the built-in kinds for a major.minor version."""
    bundled = _bundled_versions()
    if kubernetes_version in bundled:
        return _bundled_validator(bundled[kubernetes_version])
    low, high = min(bundled, key=Version), max(bundled, key=Version)
    raise SchemaError(
        f"no schemas for Kubernetes {kubernetes_version}: kubernetes-validate bundles "
        f"{low} to {high}; set kubernetes.version in env.yaml to one of those"
    )


def validate(rendered: Rendered, kubernetes_version: str) -> list[Problem]:
    """Every schema problem in the rendered objects, each naming its source file and field."""
    schemas = builtin_schemas(kubernetes_version)
    problems: list[Problem] = []
    for document in rendered.documents:
        origin, name = rendered.origin(document), describe(document)
        api_version, kind = str(document.get("apiVersion")), str(document.get("kind"))
        validator = schemas(api_version, kind) or _crd_validator(api_version, kind)
        if validator is None:
            problems.append(
                Problem(
                    origin,
                    name,
                    "apiVersion",
                    f"Kubernetes {kubernetes_version} has no {api_version} {kind} (and "
                    f"manifests/schemas has no schema for it); use a version that cluster "
                    "serves, or add the custom resource's schema",
                )
            )
            continue
        errors = sorted(validator(document), key=lambda error: list(error.absolute_path))
        for error in errors[:MAX_ERRORS_PER_OBJECT]:
            problems.append(
                Problem(origin, name, field_path(list(error.absolute_path)), error.message)
            )
    return problems
