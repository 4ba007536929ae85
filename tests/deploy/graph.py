"""A stand-in tenant behind `az`: answers the az commands ops/entra.py runs, the way Microsoft
Graph does, and refuses what Graph refuses (each rule noted with its source), so a recorded run
shows both the requests and that Graph would take them in that order.

Nothing here reaches Azure: no real Graph runs on our machines (the azuread and msgraph Terraform
providers are not served here either; README, "Entra ID with Terraform").
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from invoke import Result

TENANT = "7e4a7e4a-0000-4000-8000-00000000a11c"
ACCOUNT = {"id": "12345678-1234-1234-1234-123456789abc", "tenantId": TENANT, "name": "Orderdesk"}
GRAPH = "https://graph.microsoft.com/v1.0"
# What az prints for a 403 from Graph (code Authorization_RequestDenied).
FORBIDDEN = (
    'ERROR: Forbidden({"error":{"code":"Authorization_RequestDenied","message":"Insufficient '
    'privileges to complete the operation."}})'
)


class Refused(Exception):
    """Graph's error answer: az exits 1 and prints it."""


@dataclass
class Tenant:
    """The directory objects the fake Graph holds."""

    groups: set[str] = field(default_factory=set)
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    principals: dict[str, dict[str, Any]] = field(default_factory=dict)
    counter: int = 0

    def new_id(self, kind: str) -> str:
        self.counter += 1
        prefix = {"app": "a0", "client": "c1", "sp": "5e", "fic": "f1"}.get(kind, "ee")
        return f"{prefix}{self.counter:06d}-0000-4000-8000-{self.counter:012d}"


class FakeGraph:
    """c.run for a MockContext: parses each az command line into its arguments, records them and
    answers from (or changes) the Tenant."""

    def __init__(self, tenant: Tenant, *, forbidden: str = "", replicating: int = 0) -> None:
        self.tenant = tenant
        self.log: list[list[str]] = []
        # A regex over "METHOD url" (or "ad app list"): requests Graph answers with 403.
        self.forbidden = re.compile(forbidden) if forbidden else None
        # How many times a new service principal is refused while its app replicates.
        self.replicating = replicating
        self.on_first_write: list[Any] = []

    # -- recording ---------------------------------------------------------------------------
    def __call__(self, command: str, **kwargs: Any) -> Result:
        argv = shlex.split(command)[1:]
        self.log.append(argv)
        if self.is_write(argv) and self.on_first_write:
            self.on_first_write.pop()(argv)
        try:
            answer = self.answer(argv)
        except Refused as exc:
            return Result(command=command, exited=1, stderr=str(exc))
        return Result(command=command, stdout=json.dumps(answer) if answer is not None else "")

    @staticmethod
    def is_write(argv: list[str]) -> bool:
        return argv[:1] == ["rest"] and option(argv, "--method") != "GET"

    def writes(self) -> list[list[str]]:
        return [argv for argv in self.log if self.is_write(argv)]

    # -- dispatch ----------------------------------------------------------------------------
    def answer(self, argv: list[str]) -> Any:
        if argv[:2] == ["account", "show"]:
            return ACCOUNT
        request = " ".join(argv[:3]) if argv[0] == "ad" else f"{option(argv, '--method')} "
        request += option(argv, "--url") if argv[0] == "rest" else ""
        if self.forbidden and self.forbidden.search(request):
            raise Refused(FORBIDDEN)
        if argv[:3] == ["ad", "app", "list"]:
            unique = re.fullmatch(r"uniqueName eq '(.+)'", option(argv, "--filter"))
            assert unique, argv
            return [
                copy.deepcopy(a) for a in self.tenant.apps.values() if a["uniqueName"] == unique[1]
            ]
        if argv[:3] == ["ad", "sp", "list"]:
            app_id = re.fullmatch(r"appId eq '(.+)'", option(argv, "--filter"))
            assert app_id, argv
            return [
                self.principal_view(sp)
                for sp in self.tenant.principals.values()
                if sp["appId"] == app_id[1]
            ]
        assert argv[0] == "rest", argv
        method, url = option(argv, "--method"), option(argv, "--url")
        body = json.loads(option(argv, "--body")) if "--body" in argv else None
        return self.rest(method, url.removeprefix(GRAPH), body, headers(argv))

    def principal_view(self, sp: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in sp.items() if key != "assignments"}

    def rest(self, method: str, path: str, body: Any, sent: dict[str, str]) -> Any:
        if body is not None:
            assert sent.get("Content-Type") == "application/json", sent
        # Each handler takes the route's groups after (method, body, sent): one or two of them.
        routes: list[tuple[str, Callable[..., Any]]] = [
            (r"/applications\(uniqueName=%27([^%]+)%27\)", self.upsert_app),
            (r"/applications/([^/]+)", self.application),
            (r"/applications/([^/]+)/federatedIdentityCredentials", self.credentials),
            (r"/applications/([^/]+)/federatedIdentityCredentials/([^/]+)", self.credential),
            (r"/servicePrincipals", self.create_principal),
            (r"/servicePrincipals/([^/]+)", self.principal),
            (r"/servicePrincipals/([^/]+)/appRoleAssignedTo", self.assignments),
            (r"/servicePrincipals/([^/]+)/appRoleAssignedTo/([^/]+)", self.assignment),
        ]
        for pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match:
                return handler(method, body, sent, *match.groups())
        raise AssertionError(f"no such Graph route: {method} {path}")

    # -- applications ------------------------------------------------------------------------
    def upsert_app(self, method: str, body: Any, sent: dict[str, str], unique: str) -> Any:
        # learn.microsoft.com/graph/api/application-upsert: with Prefer: create-if-missing a
        # missing uniqueName is created (201 + the object), an existing one updated (204).
        assert method == "PATCH"
        existing = [app for app in self.tenant.apps.values() if app["uniqueName"] == unique]
        if existing:
            self.update_app(existing[0], body)
            return None
        if sent.get("Prefer") != "create-if-missing":
            raise Refused(f"Request_ResourceNotFound: Resource '{unique}' does not exist")
        assert body.get("displayName"), "Graph requires displayName to create an application"
        app: dict[str, Any] = {
            "id": self.tenant.new_id("app"),
            "appId": self.tenant.new_id("client"),
            "uniqueName": unique,
            "signInAudience": "AzureADandPersonalMicrosoftAccount",
            "appRoles": [],
            "web": {"redirectUris": [], "implicitGrantSettings": {"enableIdTokenIssuance": False}},
            "credentials": [],
        }
        self.update_app(app, body)
        self.tenant.apps[app["id"]] = app
        return self.app_view(app)

    def app_view(self, app: dict[str, Any]) -> dict[str, Any]:
        view = copy.deepcopy({key: value for key, value in app.items() if key != "credentials"})
        for role in view["appRoles"]:
            role["origin"] = "Application"
        return view

    def application(self, method: str, body: Any, sent: dict[str, str], app_id: str) -> Any:
        app = self.tenant.apps.get(app_id)
        if app is None:
            raise Refused(f"Request_ResourceNotFound: Resource '{app_id}' does not exist")
        assert method in {"PATCH", "GET"}
        if method == "GET":
            return self.app_view(app)
        self.update_app(app, body)
        return None

    def update_app(self, app: dict[str, Any], body: dict[str, Any]) -> None:
        unknown = set(body) - {"displayName", "signInAudience", "appRoles", "web"}
        if unknown:
            # appRoleAssignmentRequired is a servicePrincipal property, not an application's
            # (learn.microsoft.com/graph/api/resources/serviceprincipal).
            raise Refused(
                f"Request_BadRequest: Property '{sorted(unknown)[0]}' does not exist as a "
                "declared property or extension property."
            )
        if "appRoles" in body:
            self.replace_roles(app, body["appRoles"])
        if "web" in body:
            uris = body["web"]["redirectUris"]
            for uri in uris:
                # learn.microsoft.com/entra/identity-platform/reply-url: https, or localhost.
                if not uri.startswith("https://") and not re.match(r"http://localhost[:/]", uri):
                    raise Refused(
                        f"Request_BadRequest: Invalid value specified for property "
                        f"'redirectUris' of resource 'Application': {uri}"
                    )
            # A collection property is set to exactly what is sent (application-update).
            app["web"] = {**app["web"], "redirectUris": list(uris)}
        for key in ("displayName", "signInAudience"):
            if key in body:
                app[key] = body[key]

    def replace_roles(self, app: dict[str, Any], roles: list[dict[str, Any]]) -> None:
        for role in roles:
            assert "origin" not in role, "appRole.origin is read-only: never in a PATCH"
        new = {role["id"]: role for role in roles}
        for old in app["appRoles"]:
            changed = new.get(old["id"])
            # appRole.isEnabled (learn.microsoft.com/graph/api/resources/approle): a role is
            # deleted only once disabled; the azuread client names the error for an update too
            # (hashicorp/go-azure-sdk sdk/odata/errors.go, CannotDeleteOrUpdateEnabledEntitlement).
            if old["isEnabled"] and (changed is None or changed["value"] != old["value"]):
                raise Refused(
                    "CannotDeleteOrUpdateEnabledEntitlement: Permission (scope or role) cannot "
                    "be deleted or updated unless disabled first"
                )
        app["appRoles"] = copy.deepcopy(roles)

    # -- federated identity credentials ------------------------------------------------------
    def credentials(self, method: str, body: Any, sent: dict[str, str], app_id: str) -> Any:
        app = self.tenant.apps[app_id]
        if method == "GET":
            return {"value": copy.deepcopy(app["credentials"])}
        assert method == "POST"
        # learn.microsoft.com/graph/api/application-post-federatedidentitycredentials: "Maximum of
        # 20 objects can be added to an application"; resources/federatedidentitycredential:
        # issuer + subject unique within the app, audiences a single value.
        if len(app["credentials"]) >= 20:
            raise Refused(
                "Request_BadRequest: the application already has 20 federated identity credentials"
            )
        self.check_credential(app, body)
        if any(item["name"] == body["name"] for item in app["credentials"]):
            raise Refused(f"Request_BadRequest: name {body['name']} is taken")
        created = {"id": self.tenant.new_id("fic"), **body}
        app["credentials"].append(created)
        return created

    def check_credential(self, app: dict[str, Any], body: dict[str, Any], own: str = "") -> None:
        if len(body.get("audiences", [])) != 1:
            raise Refused("Request_BadRequest: audiences accepts a single value")
        for item in app["credentials"]:
            if item["id"] != own and (item["issuer"], item["subject"]) == (
                body.get("issuer", ""),
                body.get("subject", ""),
            ):
                raise Refused(
                    "Request_BadRequest: a federated identity credential with this "
                    "issuer and subject already exists in the application"
                )

    def credential(
        self, method: str, body: Any, sent: dict[str, str], app_id: str, fic: str
    ) -> Any:
        app = self.tenant.apps[app_id]
        [item] = [item for item in app["credentials"] if item["id"] == fic]
        if method == "DELETE":
            app["credentials"].remove(item)
            return None
        assert method == "PATCH"
        assert "name" not in body, "the name is immutable"
        self.check_credential(app, {**item, **body}, own=fic)
        item.update(body)
        return None

    # -- service principals and assignments ----------------------------------------------------
    def create_principal(self, method: str, body: Any, sent: dict[str, str]) -> Any:
        assert method == "POST"
        if self.replicating:
            self.replicating -= 1
            raise Refused(
                f"Request_BadRequest: The appId '{body['appId']}' of the service "
                "principal does not reference a valid application object."
            )
        if not any(app["appId"] == body["appId"] for app in self.tenant.apps.values()):
            raise Refused(
                f"Request_BadRequest: The appId '{body['appId']}' of the service "
                "principal does not reference a valid application object."
            )
        sp = {
            "id": self.tenant.new_id("sp"),
            "appId": body["appId"],
            "appRoleAssignmentRequired": body.get("appRoleAssignmentRequired", False),
            "assignments": [],
        }
        self.tenant.principals[sp["id"]] = sp
        return self.principal_view(sp)

    def principal(self, method: str, body: Any, sent: dict[str, str], sp_id: str) -> Any:
        assert method == "PATCH"
        assert set(body) == {"appRoleAssignmentRequired"}, body
        self.tenant.principals[sp_id]["appRoleAssignmentRequired"] = body[
            "appRoleAssignmentRequired"
        ]
        return None

    def assignments(self, method: str, body: Any, sent: dict[str, str], sp_id: str) -> Any:
        sp = self.tenant.principals.get(sp_id)
        if sp is None:
            raise Refused(
                f"Request_ResourceNotFound: Resource '{sp_id}' does not exist or one of "
                "its queried reference-property objects are not present."
            )
        if method == "GET":
            return {"value": copy.deepcopy(sp["assignments"])}
        assert method == "POST"
        # learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto: principalId,
        # resourceId (this service principal) and appRoleId (a role of its app).
        assert set(body) == {"principalId", "resourceId", "appRoleId"}, body
        if body["resourceId"] != sp_id:
            raise Refused("Request_BadRequest: resourceId must be the service principal's id")
        [app] = [app for app in self.tenant.apps.values() if app["appId"] == sp["appId"]]
        if not any(r["id"] == body["appRoleId"] and r["isEnabled"] for r in app["appRoles"]):
            raise Refused(
                "Request_BadRequest: Permission being assigned was not found on application"
            )
        if body["principalId"] not in self.tenant.groups:
            raise Refused(
                f"Request_ResourceNotFound: Resource '{body['principalId']}' does not "
                "exist or one of its queried reference-property objects are not present."
            )
        if any(
            (a["principalId"], a["appRoleId"]) == (body["principalId"], body["appRoleId"])
            for a in sp["assignments"]
        ):
            raise Refused(
                "Request_BadRequest: Permission being assigned already exists on the object"
            )
        created = {"id": self.tenant.new_id("assignment"), "principalType": "Group", **body}
        sp["assignments"].append(created)
        return created

    def assignment(
        self, method: str, body: Any, sent: dict[str, str], sp_id: str, item: str
    ) -> Any:
        assert method == "DELETE"
        sp = self.tenant.principals[sp_id]
        sp["assignments"] = [a for a in sp["assignments"] if a["id"] != item]
        return None


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else ""


def headers(argv: list[str]) -> dict[str, str]:
    """az rest --headers KEY=VALUE ...: the values up to the next option."""
    if "--headers" not in argv:
        return {}
    found = {}
    for item in argv[argv.index("--headers") + 1 :]:
        if item.startswith("--"):
            break
        key, _, value = item.partition("=")
        found[key] = value
    return found
