"""Strict, offline schema validation of rendered manifests for one Kubernetes version.

- Built-in kinds, Kubernetes 1.25 and later: the strict schemas kubernetes-validate bundles.
- Built-in kinds, older versions (the 1.20 test API server): the OpenAPI document of the very source
  tree the API server is built from, saved by tools/build/manifests and made strict here the same
  way (unknown fields refused).
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
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema
from packaging.version import Version

from ops import toolchain
from ops.k8s.render import MANIFESTS_DIR, Document, Rendered, describe, field_path

CRD_SCHEMA_DIR = MANIFESTS_DIR / "schemas"
# Saved by tools/build/manifests from the kubernetes source package it builds.
OPENAPI_CACHE = toolchain.CACHE_DIR / "kubernetes" / "openapi"
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


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A Swagger 2 schema -> JSON Schema that refuses unknown fields, as the API server does."""
    converted = {
        key: value
        for key, value in schema.items()
        if not key.startswith("x-") and key not in {"description", "format"}
    }
    if isinstance(converted.get("$ref"), str):
        converted["$ref"] = converted["$ref"].replace("#/definitions/", "#/$defs/")
    if isinstance(converted.get("properties"), dict):
        converted["properties"] = {
            name: _strict(sub) for name, sub in converted["properties"].items()
        }
        converted.setdefault("additionalProperties", False)
    for keyword in ("items", "additionalProperties"):
        if isinstance(converted.get(keyword), dict):
            converted[keyword] = _strict(converted[keyword])
    for keyword in ("allOf", "anyOf", "oneOf"):
        if isinstance(converted.get(keyword), list):
            converted[keyword] = [_strict(sub) for sub in converted[keyword]]
    return converted


@cache
def _openapi_validator(path: Path) -> Callable[[str, str], Validator | None]:
    swagger = json.loads(path.read_text(encoding="utf-8"))
    definitions = {name: _strict(schema) for name, schema in swagger["definitions"].items()}
    # Both accept a number or a string in YAML (port: 5000 or port: http; cpu: 1 or cpu: 500m).
    definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
    definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {
        "type": ["string", "integer", "number"]
    }
    by_kind: dict[tuple[str, str], str] = {}
    for name, schema in swagger["definitions"].items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            group, version = gvk.get("group", ""), gvk["version"]
            api_version = f"{group}/{version}" if group else version
            by_kind[(api_version, gvk["kind"])] = name

    def for_kind(api_version: str, kind: str) -> Validator | None:
        name = by_kind.get((api_version, kind))
        if name is None:
            return None
        schema = {"$defs": definitions, "$ref": f"#/$defs/{name}"}
        return jsonschema.Draft202012Validator(schema).iter_errors

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
    openapi = OPENAPI_CACHE / kubernetes_version / "swagger.json"
    if openapi.is_file():
        return _openapi_validator(openapi)
    low, high = min(bundled, key=Version), max(bundled, key=Version)
    raise SchemaError(
        f"no schemas for Kubernetes {kubernetes_version}: kubernetes-validate bundles "
        f"{low} to {high}, and {openapi} does not exist. For the 1.20 test API server run "
        "tools/build/manifests; otherwise set kubernetes.version in env.yaml to a supported one"
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
