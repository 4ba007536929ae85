"""The difference between Entra ID and env.yaml, as the Graph requests that remove it, in the
order Graph accepts them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ops.entra.desired import GRAPH, Desired
from ops.entra.graph import APP_PERMISSION, ASSIGNMENT_PERMISSION, Current, Graph, app_lookup

# Stand-ins in a planned command for ids Graph assigns when the object is created.
APP, CLIENT, SP = "NEW_APPLICATION_ID", "NEW_CLIENT_ID", "NEW_SERVICE_PRINCIPAL_ID"
# Entra replicates a new object for a few seconds and meanwhile refuses what needs it: a service
# principal for an application just created (400, or 403 "...must in the local tenant"; the
# azuread provider's client retries both: manicminer/hamilton msgraph/serviceprincipals.go,
# appNotReplicated), or an assignment on a service principal just created (404 on the resource).
APP_NOT_REPLICATED = (
    "does not reference a valid application object",
    "the backing application of the service principal being created must in the local tenant",
)
SP_NOT_REPLICATED = (f"Resource '{SP}' does not exist",)


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
            lines.append(f"~ {role['value']} -> {target['value']} (id {role_id}): a new value")
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
                " ".join(
                    part
                    for part in (
                        "-",
                        item.get("principalType") or "principal",
                        item.get("principalDisplayName") or "",
                        f"{principal} -> {names.get(role_id, role_id)}",
                    )
                    if part
                ),
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


def shown(value: Any) -> str:
    """A value as the difference shows it: lists comma-separated."""
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


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
        lines = tuple(
            f"+ {key}: {shown(body[key])}" for key in ("name", "issuer", "subject", "audiences")
        )
        changes.append(Change("federated credential", lines, "POST", url, APP_PERMISSION, body))
        return changes
    differs = {
        key: body[key] for key in ("issuer", "subject", "audiences") if ours.get(key) != body[key]
    }
    if differs:
        # The name is immutable (its alternate key); the rest is updated in place.
        lines = tuple(
            f"~ {key}: {shown(ours.get(key))} -> {shown(value)}" for key, value in differs.items()
        )
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
