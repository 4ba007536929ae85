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

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

from ops import envconfig
from ops.azure import az, require_login
from ops.core import environments, state
from ops.core.wait import NotYet, WaitTimeout, wait_until
from ops.envconfig import Environment

GRAPH = "https://graph.microsoft.com/v1.0"
# The one audience Entra accepts in a workload identity token (federatedIdentityCredential).
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # noqa: S105  # nosec B105 - not a secret

# What the deploy identity needs, named in the error when Graph answers 403.
APP_PERMISSION = (
    "the Microsoft Graph application permission Application.ReadWrite.OwnedBy (it creates the "
    "app and then manages only what it owns) or the Entra role Cloud Application Administrator"
)
ASSIGNMENT_PERMISSION = (
    "the Microsoft Graph application permissions AppRoleAssignment.ReadWrite.All and "
    "Application.Read.All, or the Entra role Cloud Application Administrator"
)
FORBIDDEN = re.compile(r"Authorization_RequestDenied|Insufficient privileges|Forbidden|\b403\b")
# Entra replicates a new object for a few seconds and meanwhile refuses what needs it: a service
# principal for an application just created (400, or 403 "...must in the local tenant"; the
# azuread provider's client retries both: manicminer/hamilton msgraph/serviceprincipals.go,
# appNotReplicated), or an assignment on a service principal just created (404 on the resource).
APP_NOT_REPLICATED = (
    "does not reference a valid application object",
    "the backing application of the service principal being created must in the local tenant",
)
SP_NOT_REPLICATED = ("Resource 'NEW_SERVICE_PRINCIPAL_ID' does not exist",)
REPLICATION_TIMEOUT_S, REPLICATION_INTERVAL_S = 120, 10

# Stand-ins in a planned command for ids Graph assigns when the object is created.
APP, CLIENT, SP = "NEW_APPLICATION_ID", "NEW_CLIENT_ID", "NEW_SERVICE_PRINCIPAL_ID"


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


@dataclass
class Current:
    """What Graph holds now (None: the object does not exist)."""

    app: dict[str, Any] | None = None
    service_principal: dict[str, Any] | None = None
    assignments: list[dict[str, Any]] = field(default_factory=list)
    credentials: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Change:
    """One write: what differs (for people) and the Graph request that fixes it."""

    subject: str
    lines: tuple[str, ...]
    method: str
    url: str
    permission: str
    body: dict[str, Any] | None = None
    headers: tuple[str, ...] = ()
    # The response names a new object whose ids later requests use ("app" or "sp").
    creates: str = ""
    # How to read the object when the response has no body (204: it existed after all).
    lookup: tuple[str, ...] = ()
    # Parts of the errors Graph answers while it replicates an object this request needs: retried.
    retry_while: tuple[str, ...] = ()


class Graph:
    """Microsoft Graph through `az`: reads always run; writes only when not a dry run."""

    def __init__(self, c: Context, *, dry_run: bool) -> None:
        self.c, self.dry_run, self.program = c, dry_run, az()

    def _run(self, argv: list[str]) -> tuple[bool, str, str]:
        result = self.c.run(shlex.join([self.program, *argv]), hide=True, warn=True)
        if result is None:
            return False, "", "no answer"
        return result.ok, str(result.stdout), (result.stderr or "").strip() or "no error message"

    @staticmethod
    def _refusal(argv: list[str], stderr: str, permission: str) -> Exit:
        first = stderr.splitlines()[0]
        if FORBIDDEN.search(stderr):
            request = f"{argv[2]} {argv[4]}" if argv[0] == "rest" else f"az {' '.join(argv[:3])}"
            return Exit(
                f"Microsoft Graph refused {request} (403: {first}); the signed-in identity needs "
                f"{permission}. Grant it (README, 'Before your first real deploy'), then run "
                "this again",
                code=1,
            )
        return Exit(f"`az {shlex.join(argv)}` failed: {stderr}", code=1)

    def read(self, argv: list[str], permission: str = APP_PERMISSION) -> Any:
        ok, stdout, stderr = self._run(argv)
        if not ok:
            raise self._refusal(argv, stderr, permission)
        return json.loads(stdout or "null")

    def collection(self, url: str, permission: str = APP_PERMISSION) -> list[dict[str, Any]]:
        """Every item of a Graph collection, following @odata.nextLink."""
        items: list[dict[str, Any]] = []
        next_url: str | None = url
        while next_url:
            page = self.read(["rest", "--method", "GET", "--url", next_url], permission) or {}
            items.extend(page.get("value") or [])
            next_url = page.get("@odata.nextLink")
        return items

    def write(self, argv: list[str], permission: str, retry_while: tuple[str, ...] = ()) -> str:
        """Run a write, waiting (bounded) while Entra replicates an object it needs."""
        if self.dry_run:
            print(f"  $ az {shlex.join(argv)}")
            return ""

        def attempt() -> str:
            ok, stdout, stderr = self._run(argv)
            if ok:
                return stdout or "{}"
            if any(message in stderr for message in retry_while):
                raise NotYet(stderr.splitlines()[0])
            raise self._refusal(argv, stderr, permission)

        try:
            return wait_until(
                attempt,
                what="Entra ID replicating a new object",
                timeout=REPLICATION_TIMEOUT_S,
                interval=REPLICATION_INTERVAL_S,
            )
        except WaitTimeout as exc:
            raise Exit(f"`az {shlex.join(argv)}`: {exc}; run this again", code=1) from exc


def app_lookup(desired: Desired) -> list[str]:
    unique = f"uniqueName eq '{desired.unique_name}'"
    return ["ad", "app", "list", "--filter", unique, "--output", "json"]


def read_current(graph: Graph, desired: Desired) -> Current:
    apps = graph.read(app_lookup(desired))
    if not apps:
        return Current()
    app = apps[0]
    principals = graph.read(
        ["ad", "sp", "list", "--filter", f"appId eq '{app['appId']}'", "--output", "json"]
    )
    principal = principals[0] if principals else None
    assignments = (
        graph.collection(f"{GRAPH}/servicePrincipals/{principal['id']}/appRoleAssignedTo")
        if principal
        else []
    )
    credentials = graph.collection(f"{GRAPH}/applications/{app['id']}/federatedIdentityCredentials")
    return Current(app, principal, assignments, credentials)


ROLE_FIELDS = ("allowedMemberTypes", "description", "displayName", "id", "isEnabled", "value")


def _role(role: dict[str, Any]) -> dict[str, Any]:
    """An app role as PATCH takes it: `origin` is read-only and must not be sent."""
    return {key: role.get(key) for key in ROLE_FIELDS}


def _role_label(role: dict[str, Any]) -> str:
    return f"{role.get('value')} ({role.get('displayName')}, id {role.get('id')})"


def role_changes(
    current: list[dict[str, Any]], desired: tuple[dict[str, Any], ...]
) -> list[Change]:
    """appRoles is replaced whole by a PATCH, and Graph refuses to remove a role, or change its
    value, while it is enabled: such roles are disabled in a first PATCH, then the second sends
    the full desired list."""
    url = f"{GRAPH}/applications/{APP}"
    now = {role["id"]: _role(role) for role in current}
    wanted = {role["id"]: role for role in desired}
    lines, disable = [], set()
    for role_id, role in now.items():
        target = wanted.get(role_id)
        if target is None:
            lines.append(f"- {_role_label(role)}")
            disable.add(role_id)
        elif target["value"] != role["value"]:
            lines.append(f"~ {role_id}: value {role['value']} -> {target['value']}")
            disable.add(role_id)
    for role_id, role in wanted.items():
        if role_id not in now:
            lines.append(f"+ {_role_label(role)}")
            continue
        lines.extend(
            f"~ {role['value']}: {key} {now[role_id][key]!r} -> {role[key]!r}"
            for key in ROLE_FIELDS
            if key != "value" and now[role_id][key] != role[key]
        )
    if not lines:
        return []
    changes = []
    enabled = sorted(role_id for role_id in disable if now[role_id]["isEnabled"] is not False)
    if enabled:
        first = [
            {**role, "isEnabled": False} if role_id in enabled else role
            for role_id, role in now.items()
        ]
        disabled = tuple(f"~ {now[role_id]['value']}: disabled first" for role_id in enabled)
        changes.append(
            Change("app roles", disabled, "PATCH", url, APP_PERMISSION, {"appRoles": first})
        )
    body = {"appRoles": list(desired)}
    changes.append(Change("app roles", tuple(lines), "PATCH", url, APP_PERMISSION, body))
    return changes


def application_changes(desired: Desired, app: dict[str, Any] | None) -> list[Change]:
    if app is None:
        created = {
            "displayName": desired.display_name,
            "signInAudience": desired.sign_in_audience,
            "appRoles": list(desired.app_roles),
            "web": {"redirectUris": list(desired.redirect_uris)},
        }
        lines = (
            f"+ create {desired.unique_name}: {desired.display_name}, {desired.sign_in_audience}",
            *(f"+ app role {_role_label(role)}" for role in desired.app_roles),
            *(f"+ redirect URI {uri}" for uri in desired.redirect_uris),
        )
        # Upsert on the alternate key: a rerun after a failure finds the app instead of adding one.
        # The key's quotes URL-encoded: the same request, and a command line people can read.
        url = f"{GRAPH}/applications(uniqueName=%27{desired.unique_name}%27)"
        return [
            Change(
                "application",
                lines,
                "PATCH",
                url,
                APP_PERMISSION,
                created,
                headers=("Prefer=create-if-missing",),
                creates="app",
                lookup=tuple(app_lookup(desired)),
            )
        ]
    body: dict[str, Any] = {}
    changed: list[str] = []
    for key, value in (
        ("displayName", desired.display_name),
        ("signInAudience", desired.sign_in_audience),
    ):
        if app.get(key) != value:
            body[key] = value
            changed.append(f"~ {key}: {app.get(key)!r} -> {value!r}")
    uris = list((app.get("web") or {}).get("redirectUris") or [])
    if sorted(uris) != sorted(desired.redirect_uris):
        # The collection is replaced whole: send every URI, not only the new ones.
        body["web"] = {"redirectUris": list(desired.redirect_uris)}
        changed += [f"- redirect URI {uri}" for uri in uris if uri not in desired.redirect_uris]
        changed += [f"+ redirect URI {uri}" for uri in desired.redirect_uris if uri not in uris]
    if not body:
        return []
    url = f"{GRAPH}/applications/{APP}"
    return [Change("application", tuple(changed), "PATCH", url, APP_PERMISSION, body)]


def service_principal_changes(desired: Desired, principal: dict[str, Any] | None) -> list[Change]:
    # appRoleAssignmentRequired is the service principal's (the app in this tenant), not the
    # application's.
    if principal is None:
        body = {"appId": CLIENT, "appRoleAssignmentRequired": desired.assignment_required}
        lines = (
            "+ create",
            f"+ appRoleAssignmentRequired {str(desired.assignment_required).lower()}",
        )
        return [
            Change(
                "service principal",
                lines,
                "POST",
                f"{GRAPH}/servicePrincipals",
                APP_PERMISSION,
                body,
                creates="sp",
                retry_while=APP_NOT_REPLICATED,
            )
        ]
    if principal.get("appRoleAssignmentRequired") == desired.assignment_required:
        return []
    line = (
        f"~ appRoleAssignmentRequired {str(principal.get('appRoleAssignmentRequired')).lower()} "
        f"-> {str(desired.assignment_required).lower()}"
    )
    body = {"appRoleAssignmentRequired": desired.assignment_required}
    url = f"{GRAPH}/servicePrincipals/{SP}"
    return [Change("service principal", (line,), "PATCH", url, APP_PERMISSION, body)]


def assignment_changes(desired: Desired, current: Current) -> tuple[list[Change], list[Change]]:
    """(removals, additions): undeclared assignments go before their roles may be removed."""
    names = {role["id"]: role["value"] for role in (current.app or {}).get("appRoles") or []}
    names.update({role["id"]: role["value"] for role in desired.app_roles})
    held = {(item["principalId"], item["appRoleId"]): item for item in current.assignments}
    url = f"{GRAPH}/servicePrincipals/{SP}/appRoleAssignedTo"
    removals = [
        Change(
            "role assignments",
            (
                f"- {item.get('principalType', 'principal')} "
                f"{item.get('principalDisplayName') or ''} ({principal}) -> "
                f"{names.get(role_id, role_id)}",
            ),
            "DELETE",
            f"{url}/{item['id']}",
            ASSIGNMENT_PERMISSION,
        )
        for (principal, role_id), item in sorted(held.items())
        if (principal, role_id) not in desired.assignments
    ]
    additions = [
        Change(
            "role assignments",
            (f"+ group {group} -> {names[role_id]}",),
            "POST",
            url,
            ASSIGNMENT_PERMISSION,
            {"principalId": group, "resourceId": SP, "appRoleId": role_id},
            retry_while=SP_NOT_REPLICATED,
        )
        for group, role_id in sorted(desired.assignments)
        if (group, role_id) not in held
    ]
    return removals, additions


def credential_changes(desired: Desired, credentials: list[dict[str, Any]]) -> list[Change]:
    wanted = desired.credential
    if wanted is None:
        return []
    url = f"{GRAPH}/applications/{APP}/federatedIdentityCredentials"
    # Issuer + subject are unique in an app, and an app holds at most 20 credentials: whatever
    # env.yaml does not declare goes first, so ours always fits.
    changes = [
        Change(
            "federated credential",
            (f"- {item.get('name')} ({item.get('issuer')}, {item.get('subject')})",),
            "DELETE",
            f"{url}/{item['id']}",
            APP_PERMISSION,
        )
        for item in credentials
        if item.get("name") != wanted.name
    ]
    ours = next((item for item in credentials if item.get("name") == wanted.name), None)
    body = wanted.body()
    if ours is None:
        lines = tuple(f"+ {key}: {body[key]}" for key in ("name", "issuer", "subject", "audiences"))
        changes.append(Change("federated credential", lines, "POST", url, APP_PERMISSION, body))
        return changes
    differs = {
        key: body[key] for key in ("issuer", "subject", "audiences") if ours.get(key) != body[key]
    }
    if differs:
        # The name is immutable (its alternate key); the rest is updated in place.
        lines = tuple(f"~ {key}: {ours.get(key)} -> {value}" for key, value in differs.items())
        changes.append(
            Change(
                "federated credential",
                (f"  {wanted.name}", *lines),
                "PATCH",
                f"{url}/{ours['id']}",
                APP_PERMISSION,
                differs,
            )
        )
    return changes


def plan_changes(desired: Desired, current: Current) -> list[Change]:
    """Every write, in the order Graph accepts them."""
    removals, additions = assignment_changes(desired, current)
    roles = role_changes(current.app["appRoles"] or [], desired.app_roles) if current.app else []
    return [
        *application_changes(desired, current.app),
        # Undeclared assignments go before a role they hold can be disabled and removed.
        *removals,
        *roles,
        *service_principal_changes(desired, current.service_principal),
        *additions,
        *credential_changes(desired, current.credentials),
    ]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for stand_in, real in ids.items():
            value = value.replace(stand_in, real)
        return value
    if isinstance(value, list):
        return [_fill(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    return value


def request_argv(change: Change, ids: dict[str, str]) -> list[str]:
    argv = ["rest", "--method", change.method, "--url", _fill(change.url, ids)]
    if change.body is not None:
        argv += ["--headers", "Content-Type=application/json", *change.headers]
        argv += ["--body", json.dumps(_fill(change.body, ids), separators=(",", ":"))]
    return argv


def show_difference(changes: list[Change], notes: list[str]) -> None:
    subject = ""
    for change in changes:
        if not change.lines:
            continue
        if change.subject != subject:
            subject = change.subject
            print(f"  {subject}:")
        for line in change.lines:
            print(f"    {line}")
    for note in notes:
        print(f"  {note}")


def apply_changes(graph: Graph, changes: list[Change], current: Current) -> dict[str, str]:
    """Run the writes in order; returns the ids of the app and its service principal."""
    ids = {
        APP: (current.app or {}).get("id", APP),
        CLIENT: (current.app or {}).get("appId", CLIENT),
        SP: (current.service_principal or {}).get("id", SP),
    }
    for change in changes:
        retry = tuple(_fill(message, ids) for message in change.retry_while)
        answer = graph.write(request_argv(change, ids), change.permission, retry)
        if not change.creates or graph.dry_run:
            continue
        created = json.loads(answer) if answer.strip().startswith("{") else {}
        if not created.get("id") and change.lookup:
            created = (graph.read(list(change.lookup)) or [{}])[0]
        if change.creates == "app":
            ids[APP], ids[CLIENT] = created["id"], created["appId"]
        else:
            ids[SP] = created["id"]
    return ids


def load_outputs(c: Context, environment: Environment) -> dict[str, Any] | None:
    """Terraform's saved outputs, or None before the first apply (the credential then waits)."""
    try:
        return state.read_json(
            state.EnvState.of(environment.name, c).tf_outputs,
            f"invoke tf.output --env {environment.name} --save",
        )
    except state.StateMissing:
        return None


def sync(c: Context, environment: Environment, *, dry_run: bool = False) -> dict[str, str]:
    """Make Entra match env.yaml: show the difference, then write it (unless a dry run).

    Returns the tenant id and client id the app needs.
    """
    problems = placeholder_problems(environment)
    if problems:
        raise Exit(
            f"azure.entra --env {environment.name}: nothing was read or changed:\n"
            + "\n".join(f"  - {problem}" for problem in problems),
            code=environments.BAD_INPUT,
        )
    account = require_login(c)
    tenant = str(account.get("tenantId", ""))
    outputs = load_outputs(c, environment)
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
