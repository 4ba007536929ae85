"""Entra ID as code: the app registration people sign in through, from env.yaml to Microsoft Graph.

    invoke azure.entra --env dev [--dry-run]

What env.yaml's `azure.entra` declares, per Azure environment:
  application           uniqueName (how a rerun finds it), displayName, signInAudience
                        AzureADMyOrg, the app roles, and the web redirect URIs derived from
                        app.hosts (https://<host>/auth/oidc/callback and /auth/signed-out)
  service principal     appRoleAssignmentRequired: only assigned groups get a token
  role assignments      each role's groups (appRoleAssignedTo on the service principal)
  federated credential  the pods' service account token (issuer: the cluster's OIDC issuer,
                        Terraform output aks_oidc_issuer_url) is the client's assertion: no secret

It reads Graph first (`az ad app list`, `az ad sp list`, `az rest --method GET`), prints the
difference per object, then writes only what differs (`az rest --method PATCH/POST/DELETE`), so a
second run finds nothing to do. --dry-run prints the difference and the commands and writes
nothing. Graph is reached through the locked Azure CLI (pyproject's azure group); the azuread
Terraform provider is not served here (README, "Entra ID with Terraform").
"""

from __future__ import annotations

from typing import Any

from invoke.exceptions import Exit

from ops.core import environments, state
from ops.core.azcli import require_login
from ops.core.target import Target
from ops.entra.changes import CLIENT, apply_changes, plan_changes, show_difference
from ops.entra.desired import desired_state, placeholder_problems, service_account_subject
from ops.entra.graph import Graph, read_current

__all__ = ["CLIENT", "service_account_subject", "sync"]


def load_outputs(target: Target) -> dict[str, Any] | None:
    """Terraform's saved outputs, or None before the first apply (the credential then waits)."""
    try:
        return state.read_json(
            target.state.tf_outputs, f"invoke tf.output --env {target.name} --save"
        )
    except state.StateMissing:
        return None


def sync(target: Target, *, dry_run: bool = False) -> dict[str, str]:
    """Make Entra match env.yaml: show the difference, then write it (unless a dry run).

    Returns the tenant id and client id the app needs.
    """
    c, environment = target.context, target.environment
    problems = placeholder_problems(environment)
    if problems:
        raise Exit(
            f"azure.entra --env {environment.name}: nothing was read or changed:\n"
            + "\n".join(f"  - {problem}" for problem in problems),
            code=environments.BAD_INPUT,
        )
    account = require_login(c)
    tenant = str(account.get("tenantId", ""))
    outputs = load_outputs(target)
    if outputs and outputs.get("tenant_id") and outputs["tenant_id"] != tenant:
        raise Exit(
            f"az is signed in to tenant {tenant}, but {environment.name}'s cluster trusts tenant "
            f"{outputs['tenant_id']} (Terraform output tenant_id); `az login --tenant "
            f"{outputs['tenant_id']}` and run this again",
            code=1,
        )
    desired = desired_state(environment, outputs)
    graph = Graph(c, dry_run=dry_run)
    current = read_current(graph, desired)
    changes = plan_changes(desired, current)
    notes = []
    if desired.credential is None:
        notes.append(
            "federated credential: waits for the cluster (its OIDC issuer): after the first "
            f"`invoke tf.apply --env {environment.name}`, run `invoke tf.output --env "
            f"{environment.name} --save` and this again (deploy's entra stage does)"
        )
    print(f"azure.entra --env {environment.name}: app registration {desired.unique_name}")
    show_difference(changes, notes)
    if not changes:
        print("  no changes: Entra ID matches env.yaml")
    else:
        print("  dry run: these requests would run, none did" if dry_run else "  applying")
    ids = apply_changes(graph, changes, current)
    client_id = ids[CLIENT]
    shown = "chosen by Entra when the app is created" if client_id == CLIENT else client_id
    print(f"  tenant id: {tenant}\n  client id: {shown}")
    if client_id not in {desired.client_id, CLIENT}:
        mismatch = (
            f"the app registration's client id is {client_id}, but infra/env.yaml says "
            f"{desired.client_id}: write `client_id: {client_id}` under "
            f"{environment.name}.azure.entra and commit it (the pods read it as "
            "ORDERDESK_ENTRA_CLIENT_ID)"
        )
        if dry_run:
            print(f"  note: {mismatch}")
        else:
            raise Exit(
                f"azure.entra --env {environment.name}: {mismatch}, then deploy again", code=1
            )
    return {"tenant_id": tenant, "client_id": client_id}
