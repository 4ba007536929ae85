"""The values a render fills into the manifests, gathered from their sources of truth.

env.yaml gives names, hosts, sizes and subnets; Terraform outputs give what only exists once the
cloud resources do (vault, identity, database host); the image record gives the pushed digest.
Nothing here is typed by hand into the manifests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops import envconfig

# The keys `invoke tf.output` writes to .data/<env>/tf-outputs.json (terraform output -json, or a
# flat {name: value} map). Local environments need none of them.
TF_OUTPUT_KEYS = {
    "registry_login_server": "the container registry's login server (must match env.yaml registry)",
    "key_vault_name": "the Key Vault holding the app's secrets",
    "tenant_id": "the Entra ID tenant of the workload identity",
    "workload_identity_client_id": "client id of the identity federated with the app's account",
    "database_host": "the PostgreSQL server's host name",
}
# What an internal environment's DNS-01 ClusterIssuers need besides (components/internal-ingress).
INTERNAL_TF_OUTPUT_KEYS = {
    "cert_manager_client_id": "client id of the identity cert-manager answers DNS-01 as",
    "subscription_id": "the subscription of the environment's public DNS zone",
    "resource_group_name": "the resource group of the environment's public DNS zone",
}
# Optional outputs, with the defaults the Terraform module uses.
TF_OPTIONAL_KEYS = {"database_name": "orderdesk", "database_user": "orderdesk"}

IMAGE_REFERENCE = re.compile(
    r"^(?P<repository>[a-z0-9.:-]+(?:/[a-z0-9._-]+)+)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"@(?P<digest>sha256:[0-9a-f]{64})$"
)


class ValuesError(Exception):
    """A value the render needs is missing or does not fit env.yaml; the message names the fix."""


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str | None
    digest: str

    @property
    def reference(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        return f"{self.repository}{tag}@{self.digest}"


def parse_image(reference: str) -> Image:
    match = IMAGE_REFERENCE.match(reference)
    if match is None:
        raise ValuesError(
            f"image {reference!r} is not <repository>[:<tag>]@sha256:<64 hex>; "
            "pass the reference `invoke image.push` printed (pinned by digest)"
        )
    return Image(match["repository"], match["tag"], match["digest"])


def image_from_record(path: Path) -> Image:
    """The image `invoke image.push` recorded (repository, tag, digest)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValuesError(
            f"no image record at {path}; run `invoke image.push --env <env>` or pass --image"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ValuesError(f"{path} is not valid JSON ({exc}); push the image again") from exc
    try:
        tag = record.get("tag")
        reference = f"{record['repository']}{':' + tag if tag else ''}@{record['digest']}"
    except (KeyError, AttributeError, TypeError) as exc:
        raise ValuesError(
            f"{path} lacks repository/digest; push the image again to rewrite it"
        ) from exc
    return parse_image(reference)


def load_tf_outputs(path: Path) -> dict[str, Any]:
    """Terraform outputs as {name: value}, from `terraform output -json` or a flat map."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValuesError(
            f"no Terraform outputs at {path}; run `invoke tf.output --env <env>` "
            "or pass --tf-outputs FILE"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ValuesError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ValuesError(f"{path} must hold a JSON object of Terraform outputs")
    return {
        name: item["value"] if isinstance(item, dict) and "value" in item else item
        for name, item in raw.items()
    }


@dataclass(frozen=True)
class RenderValues:
    """Everything env-specific in a rendered overlay."""

    environment: envconfig.Environment
    image: Image
    tf_outputs: dict[str, Any]

    @classmethod
    def gather(
        cls, environment: envconfig.Environment, image: Image, tf_outputs: dict[str, Any]
    ) -> RenderValues:
        if image.repository != environment.app.image_repository:
            raise ValuesError(
                f"image {image.reference} is not from {environment.app.image_repository} "
                f"(env.yaml {environment.name}.app.image_repository); push the image to that "
                "repository or fix env.yaml"
            )
        if not environment.is_local:
            needed = dict(TF_OUTPUT_KEYS)
            if environment.azure is not None and environment.azure.ingress.internal:
                needed |= INTERNAL_TF_OUTPUT_KEYS
            missing = [key for key in needed if not tf_outputs.get(key)]
            if missing:
                wanted = "; ".join(f"{key}: {needed[key]}" for key in missing)
                raise ValuesError(
                    f"Terraform outputs for {environment.name} lack {', '.join(missing)} "
                    f"({wanted}); run `invoke tf.apply` and `invoke tf.output --env "
                    f"{environment.name}`"
                )
            login_server = tf_outputs["registry_login_server"]
            if login_server != environment.registry.login_server:
                raise ValuesError(
                    f"Terraform's registry {login_server} is not env.yaml's "
                    f"{environment.registry.login_server}; the outputs belong to another "
                    "environment or env.yaml is out of date"
                )
        return cls(environment, image, tf_outputs)

    def output(self, key: str) -> str:
        value = self.tf_outputs.get(key, TF_OPTIONAL_KEYS.get(key))
        if value is None:
            meaning = {**TF_OUTPUT_KEYS, **INTERNAL_TF_OUTPUT_KEYS}.get(key, "")
            raise ValuesError(f"Terraform output {key} is missing ({meaning})")
        return str(value)

    @property
    def internal(self) -> bool:
        """Whether the environment is reachable only inside its VNet (env.yaml azure.ingress)."""
        azure = self.environment.azure
        return azure is not None and azure.ingress.internal

    @property
    def hosts(self) -> list[str]:
        return list(self.environment.app.hosts)

    def config_literals(self) -> dict[str, str]:
        """Settings merged into the app's ConfigMap (a changed value renames it: a rollout)."""
        app = self.environment.app
        scheme = "http" if self.environment.is_local else "https"
        literals = {
            "DJANGO_ALLOWED_HOSTS": ",".join(self.hosts),
            "DJANGO_CSRF_TRUSTED_ORIGINS": ",".join(f"{scheme}://{host}" for host in self.hosts),
            "GUNICORN_WORKERS": str(app.gunicorn.workers),
            "GUNICORN_THREADS": str(app.gunicorn.threads),
        }
        azure = self.environment.azure
        if azure is not None:
            # Sign-in (components/entra-signin): the app registration `invoke azure.entra` keeps
            # in step with env.yaml, in the tenant the cluster's identity belongs to.
            literals["ORDERDESK_ENTRA_TENANT_ID"] = self.output("tenant_id")
            literals["ORDERDESK_ENTRA_CLIENT_ID"] = azure.entra.client_id
            if azure.entra.access_contact:
                literals["ORDERDESK_ACCESS_CONTACT"] = azure.entra.access_contact
        if app.database.engine == "postgresql":
            literals["DATABASE_URL"] = (
                f"postgresql://{self.output('database_user')}@{self.output('database_host')}"
                f":5432/{self.output('database_name')}"
            )
        return literals
