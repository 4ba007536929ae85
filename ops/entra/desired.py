"""What env.yaml (and Terraform, for the cluster's issuer) says Entra ID should hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from invoke.exceptions import Exit

from ops import envconfig
from ops.core import environments
from ops.envconfig import Environment

GRAPH = "https://graph.microsoft.com/v1.0"
# The one audience Entra accepts in a workload identity token (federatedIdentityCredential);
# an audience, not a password, whatever its name suggests to a linter.
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # noqa: S105  # nosec B105


@dataclass(frozen=True)
class FederatedCredential:
    name: str
    issuer: str
    subject: str
    audiences: tuple[str, ...] = (TOKEN_EXCHANGE_AUDIENCE,)

    def body(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "issuer": self.issuer,
            "subject": self.subject,
            "audiences": list(self.audiences),
            "description": "The Orderdesk pods' service account (AKS workload identity)",
        }


@dataclass(frozen=True)
class Desired:
    """What env.yaml (and Terraform, for the issuer) says Entra should hold."""

    unique_name: str
    display_name: str
    sign_in_audience: str
    app_roles: tuple[dict[str, Any], ...]
    redirect_uris: tuple[str, ...]
    assignment_required: bool
    # (group object id, app role id)
    assignments: frozenset[tuple[str, str]]
    # None until the cluster exists: its OIDC issuer is a Terraform output.
    credential: FederatedCredential | None
    client_id: str


def service_account_subject(environment: Environment) -> str:
    """The `sub` of the pods' service account tokens: manifests/base/serviceaccount.yaml names the
    account after the app, as infra/locals.tf does for the Key Vault identity."""
    return f"system:serviceaccount:{environment.kubernetes.namespace}:{environment.app.name}"


def desired_state(environment: Environment, tf_outputs: dict[str, Any] | None) -> Desired:
    entra = environments.require_azure(environment).entra
    issuer = (tf_outputs or {}).get("aks_oidc_issuer_url")
    if tf_outputs is not None and not issuer:
        raise Exit(
            f"Terraform outputs for {environment.name} lack aks_oidc_issuer_url (the cluster's "
            f"OIDC issuer); run `invoke tf.apply --env {environment.name}` and `invoke tf.output "
            f"--env {environment.name} --save`",
            code=1,
        )
    namespace, account = environment.kubernetes.namespace, environment.app.name
    credential = (
        FederatedCredential(
            name=f"aks-{namespace}-{account}",
            issuer=str(issuer),
            subject=service_account_subject(environment),
        )
        if issuer
        else None
    )
    return Desired(
        unique_name=entra.unique_name,
        display_name=entra.display_name,
        sign_in_audience=entra.sign_in_audience,
        app_roles=tuple(
            {
                "allowedMemberTypes": ["User"],
                "description": role.description,
                "displayName": role.display_name,
                "id": role.id,
                "isEnabled": True,
                "value": role.value,
            }
            for role in entra.roles
        ),
        redirect_uris=tuple(envconfig.redirect_uris(environment.app.hosts)),
        assignment_required=entra.app_role_assignment_required,
        assignments=frozenset((group, role.id) for role in entra.roles for group in role.groups),
        credential=credential,
        client_id=entra.client_id,
    )


def placeholder_problems(environment: Environment) -> list[str]:
    """Group ids env.yaml still holds placeholders for: Graph would refuse to assign them."""
    entra = environments.require_azure(environment).entra
    return [
        f"azure.entra.roles {role.value}: group {group} is a placeholder; put the group's object "
        "id there (`az ad group show --group <name> --query id -o tsv`)"
        for role in entra.roles
        for group in role.groups
        if envconfig.is_placeholder(group)
    ]
