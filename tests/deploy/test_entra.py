"""invoke azure.entra: env.yaml's app registration applied through az, against a stand-in tenant
(tests/deploy/graph.py) that answers and refuses as Microsoft Graph does.

Each test of a Graph rule is named after the rule and cites its source in one line. The requests
are read back as argument lists (the fake parses every command line with shlex).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke import Config, MockContext
from invoke.exceptions import Exit

from ops import azure, deploy, entra, envconfig
from ops.core.target import Target
from ops.envconfig import EnvConfigError, Environment
from testkit.support import context_answering
from tests.deploy.graph import GRAPH, TENANT, FakeGraph, Tenant, option
from tests.terraform import conftest as terraform_fixtures

# env.yaml variants to break one key at a time.
env_data = terraform_fixtures.env_data
write_env = terraform_fixtures.write_env

ISSUER = "https://westeurope.oic.prod-aks.azure.com/7e4a7e4a/0b1d0b1d/"
GROUPS = {
    "Orderdesk.Viewer": "9a000001-0000-4000-8000-000000000001",
    "Orderdesk.Clerk": "9a000002-0000-4000-8000-000000000002",
    "Orderdesk.Admin": "9a000003-0000-4000-8000-000000000003",
}
# What the fake tenant's first application gets as appId (Tenant.new_id: its second id).
FIRST_CLIENT_ID = "c1000002-0000-4000-8000-000000000002"


def environment(name: str = "dev", **changes: Any) -> Environment:
    """The committed environment with real-looking group ids (env.yaml holds placeholders) and
    the client id the fake tenant gives its first app; `changes` replace entra fields."""
    base = envconfig.load(name)
    assert base.azure is not None
    roles = [
        role.model_copy(update={"groups": [GROUPS[role.value]]}) for role in base.azure.entra.roles
    ]
    update = {"roles": roles, "client_id": FIRST_CLIENT_ID, **changes}
    entra_block = base.azure.entra.model_copy(update=update)
    return base.model_copy(update={"azure": base.azure.model_copy(update={"entra": entra_block})})


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("ops.core.azcli.find", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr("ops.core.wait.time.sleep", lambda seconds: None)
    return tmp_path


def save_outputs(state_dir: Path, env: str = "dev", **outputs: Any) -> None:
    values = {"aks_oidc_issuer_url": ISSUER, "tenant_id": TENANT, **outputs}
    (state_dir / env).mkdir(parents=True, exist_ok=True)
    (state_dir / env / "tf-outputs.json").write_text(json.dumps(values))


def tenant() -> Tenant:
    return Tenant(groups=set(GROUPS.values()))


def context(state_dir: Path, graph: FakeGraph) -> MockContext:
    return context_answering(graph, Config(overrides={"state_dir": str(state_dir)}))


def sync(state_dir: Path, graph: FakeGraph, env: Environment | None = None, **kw: Any) -> Any:
    return entra.sync(Target.of(context(state_dir, graph), env or environment()), **kw)


def requests(graph: FakeGraph) -> list[tuple[str, str, Any]]:
    """Every write as (method, path below the Graph root, body)."""
    return [
        (
            option(argv, "--method"),
            option(argv, "--url").removeprefix(GRAPH),
            json.loads(option(argv, "--body")) if "--body" in argv else None,
        )
        for argv in graph.writes()
    ]


def applied(state_dir: Path) -> tuple[Tenant, FakeGraph]:
    """A tenant after one full run: what a second run starts from."""
    save_outputs(state_dir)
    held = tenant()
    sync(state_dir, FakeGraph(held))
    return held, FakeGraph(held)


# --- the whole run ------------------------------------------------------------------------------


def test_a_first_run_creates_the_registration_and_prints_the_ids_the_app_needs(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_outputs(state_dir)
    held = tenant()
    graph = FakeGraph(held)
    ids = sync(state_dir, graph)
    assert ids == {"tenant_id": TENANT, "client_id": FIRST_CLIENT_ID}
    [app] = held.apps.values()
    assert app["uniqueName"] == "orderdesk-dev"
    assert app["signInAudience"] == "AzureADMyOrg"
    assert {role["value"] for role in app["appRoles"]} == set(GROUPS)
    assert app["web"]["redirectUris"] == [
        "https://dev.orderdesk.example.com/auth/oidc/callback",
        "https://dev.orderdesk.example.com/auth/signed-out",
    ]
    [sp] = held.principals.values()
    assert sp["appRoleAssignmentRequired"] is True
    roles = {role["id"]: role["value"] for role in app["appRoles"]}
    assert {(a["principalId"], roles[a["appRoleId"]]) for a in sp["assignments"]} == {
        (group, value) for value, group in GROUPS.items()
    }
    [credential] = app["credentials"]
    assert (credential["issuer"], credential["subject"], credential["audiences"]) == (
        ISSUER,
        "system:serviceaccount:orderdesk:orderdesk",
        ["api://AzureADTokenExchange"],
    )
    printed = capsys.readouterr().out
    assert f"tenant id: {TENANT}" in printed
    assert f"client id: {FIRST_CLIENT_ID}" in printed


def test_a_second_run_changes_nothing_and_says_so(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    held, graph = applied(state_dir)
    before = json.dumps([held.apps, held.principals], sort_keys=True)
    capsys.readouterr()
    sync(state_dir, graph)
    assert graph.writes() == []
    assert len(graph.log) == 5  # account, app, service principal, assignments, credentials
    assert "no changes: Entra ID matches env.yaml" in capsys.readouterr().out
    assert json.dumps([held.apps, held.principals], sort_keys=True) == before


def test_the_difference_is_shown_before_anything_changes(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    held, graph = applied(state_dir)
    renamed = environment(display_name="Orderdesk (dev, renamed)")
    seen: list[str] = []
    graph.on_first_write.append(lambda argv: seen.append(capsys.readouterr().out))
    sync(state_dir, graph, renamed)
    assert seen, "nothing was written"
    assert "~ displayName: 'Orderdesk (dev)' -> 'Orderdesk (dev, renamed)'" in seen[0]
    assert requests(graph) == [
        (
            "PATCH",
            f"/applications/{next(iter(held.apps))}",
            {"displayName": "Orderdesk (dev, renamed)"},
        )
    ]


def test_dry_run_prints_the_difference_and_the_requests_and_writes_nothing(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_outputs(state_dir)
    graph = FakeGraph(tenant())
    ids = sync(state_dir, graph, dry_run=True)
    assert graph.writes() == []
    assert [argv[:3] for argv in graph.log] == [
        ["account", "show", "--output"],
        ["ad", "app", "list"],
    ]
    printed = capsys.readouterr().out
    assert "+ create orderdesk-dev: Orderdesk (dev), AzureADMyOrg" in printed
    assert "+ redirect URI https://dev.orderdesk.example.com/auth/signed-out" in printed
    assert "+ group 9a000003-0000-4000-8000-000000000003 -> Orderdesk.Admin" in printed
    assert (
        "$ az rest --method PATCH --url "
        "'https://graph.microsoft.com/v1.0/applications(uniqueName=%27orderdesk-dev%27)'"
    ) in printed
    # Ids Graph assigns on creation appear as stand-ins.
    assert f"--url {GRAPH}/servicePrincipals/NEW_SERVICE_PRINCIPAL_ID/appRoleAssignedTo" in printed
    assert "client id: chosen by Entra when the app is created" in printed
    assert "dry run: these requests would run, none did" in printed
    assert ids["client_id"] == entra.CLIENT


def test_without_terraform_outputs_the_federated_credential_waits_for_the_cluster(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    held = tenant()
    sync(state_dir, FakeGraph(held))
    [app] = held.apps.values()
    assert app["credentials"] == []
    assert "federated credential: waits for the cluster" in capsys.readouterr().out
    save_outputs(state_dir)
    graph = FakeGraph(held)
    sync(state_dir, graph)
    assert [(method, path) for method, path, _ in requests(graph)] == [
        ("POST", f"/applications/{app['id']}/federatedIdentityCredentials")
    ]


def test_the_client_id_entra_chose_must_be_written_into_env_yaml(state_dir: Path) -> None:
    save_outputs(state_dir)
    placeholder = "00000000-0000-0000-0000-000000000003"
    with pytest.raises(
        Exit,
        match=rf"client id is {FIRST_CLIENT_ID}, but infra/env.yaml says "
        rf"{placeholder}: write `client_id: {FIRST_CLIENT_ID}` under "
        r"dev.azure.entra and commit it",
    ) as caught:
        sync(state_dir, FakeGraph(tenant()), environment(client_id=placeholder))
    assert caught.value.code == 1


def test_placeholder_groups_stop_before_any_graph_call(state_dir: Path) -> None:
    graph = FakeGraph(tenant())
    with pytest.raises(
        Exit,
        match=r"Orderdesk.Viewer: group 00000000-0000-0000-0000-000000000011 "
        r"is a placeholder; put the group's object id there",
    ) as caught:
        sync(state_dir, graph, envconfig.load("dev"))
    assert graph.log == []
    assert caught.value.code == 2


def test_a_tenant_other_than_the_clusters_is_refused_before_any_write(state_dir: Path) -> None:
    save_outputs(state_dir, tenant_id="99999999-0000-4000-8000-000000000000")
    graph = FakeGraph(tenant())
    with pytest.raises(Exit, match=r"signed in to tenant .* but dev's cluster trusts tenant 9999"):
        sync(state_dir, graph)
    assert graph.writes() == []


def test_terraform_outputs_without_the_oidc_issuer_name_the_fix(state_dir: Path) -> None:
    (state_dir / "dev").mkdir()
    (state_dir / "dev" / "tf-outputs.json").write_text(json.dumps({"tenant_id": TENANT}))
    with pytest.raises(
        Exit, match=r"lack aks_oidc_issuer_url .*`invoke tf.output --env dev --save`"
    ):
        sync(state_dir, FakeGraph(tenant()))


# --- Graph's rules --------------------------------------------------------------------------------


def with_roles(held: Tenant, change: Any) -> Environment:
    """The environment with its roles changed by `change(list of AppRole)`."""
    azure = environment().azure
    assert azure is not None, "dev is an Azure environment"
    roles = list(azure.entra.roles)
    return environment(roles=change(roles))


# learn.microsoft.com/graph/api/resources/approle (isEnabled): "To delete a role, this must
# first be set to false. At that point, in a subsequent call, this role may be removed."
def test_an_enabled_app_role_is_disabled_in_one_patch_before_a_second_removes_it(
    state_dir: Path,
) -> None:
    held, graph = applied(state_dir)
    [app] = held.apps.values()
    admin = next(r for r in app["appRoles"] if r["value"] == "Orderdesk.Admin")
    sync(state_dir, graph, with_roles(held, lambda roles: roles[:2]))
    patches = [
        body["appRoles"] for method, _, body in requests(graph) if body and "appRoles" in body
    ]
    assert len(patches) == 2
    first, second = ({r["id"]: r for r in patch} for patch in patches)
    assert first[admin["id"]]["isEnabled"] is False
    assert all(role["isEnabled"] for key, role in first.items() if key != admin["id"])
    assert admin["id"] not in second
    assert [r["value"] for r in app["appRoles"]] == ["Orderdesk.Viewer", "Orderdesk.Clerk"]


# hashicorp/go-azure-sdk sdk/odata/errors.go, ErrorCannotDeleteOrUpdateEnabledEntitlement:
# "Permission (scope or role) cannot be deleted or updated unless disabled first".
def test_an_app_roles_value_changes_only_after_the_role_is_disabled(state_dir: Path) -> None:
    held, graph = applied(state_dir)
    renamed = with_roles(
        held,
        lambda roles: [roles[0].model_copy(update={"value": "Orderdesk.Reader"}), *roles[1:]],
    )
    sync(state_dir, graph, renamed)
    patches = [body["appRoles"] for _, _, body in requests(graph) if body and "appRoles" in body]
    assert [[r["value"] for r in patch if not r["isEnabled"]] for patch in patches] == [
        ["Orderdesk.Viewer"],
        [],
    ]
    [app] = held.apps.values()
    assert "Orderdesk.Reader" in {r["value"] for r in app["appRoles"]}
    # The group keeps its assignment: it holds the role by id, which did not change.
    assert len(next(iter(held.principals.values()))["assignments"]) == 3


# learn.microsoft.com/graph/api/application-update: a property sent is set to what is sent, so
# appRoles and web.redirectUris go whole (a partial list would delete the rest).
def test_app_roles_and_redirect_uris_are_sent_as_full_lists(state_dir: Path) -> None:
    held, graph = applied(state_dir)
    more_hosts = environment()
    more_hosts = more_hosts.model_copy(
        update={
            "app": more_hosts.app.model_copy(
                update={"hosts": [*more_hosts.app.hosts, "orders.dev.orderdesk.example.com"]}
            )
        }
    )
    sync(state_dir, graph, more_hosts)
    [(_, _, body)] = requests(graph)
    assert body == {"web": {"redirectUris": envconfig.redirect_uris(more_hosts.app.hosts)}}
    assert len(body["web"]["redirectUris"]) == 4
    [app] = held.apps.values()
    assert len(app["web"]["redirectUris"]) == 4


# learn.microsoft.com/entra/identity-platform/reply-url: "Redirect URIs must begin with the scheme
# https. There are some exceptions for localhost redirect URIs." (also: 256 characters at most)
def test_web_redirect_uris_must_be_https_except_localhost() -> None:
    assert (
        envconfig.redirect_uri_problem("https://dev.orderdesk.example.com/auth/oidc/callback") == ""
    )
    assert envconfig.redirect_uri_problem("http://localhost:8000/auth/oidc/callback") == ""
    assert envconfig.redirect_uri_problem("http://127.0.0.1:8000/auth/oidc/callback") == ""
    assert "must use https" in envconfig.redirect_uri_problem("http://dev.orderdesk.example.com/x")
    assert "longer than 256" in envconfig.redirect_uri_problem("https://" + "a" * 250 + ".com/x")
    assert "refuses the characters ( )" in envconfig.redirect_uri_problem("https://a.com/(x)")
    for env in ("dev", "prod"):
        uris = envconfig.redirect_uris(envconfig.load(env).app.hosts)
        assert uris
        assert all(uri.startswith("https://") for uri in uris)


# learn.microsoft.com/graph/api/application-post-federatedidentitycredentials: "Maximum of 20
# objects can be added to an application".
def test_an_app_holds_at_most_twenty_federated_credentials_so_undeclared_ones_go_first(
    state_dir: Path,
) -> None:
    save_outputs(state_dir)
    held = tenant()
    sync(state_dir, FakeGraph(held), environment())
    [app] = held.apps.values()
    app["credentials"] = [
        {
            "id": f"f{n:07d}-0000-4000-8000-000000000000",
            "name": f"stray-{n}",
            "issuer": ISSUER,
            "subject": f"system:serviceaccount:other:app-{n}",
            "audiences": ["api://AzureADTokenExchange"],
        }
        for n in range(20)
    ]
    graph = FakeGraph(held)
    sync(state_dir, graph)
    methods = [
        method for method, path, _ in requests(graph) if "federatedIdentityCredentials" in path
    ]
    assert methods == ["DELETE"] * 20 + ["POST"]
    assert [item["name"] for item in app["credentials"]] == ["aks-orderdesk-orderdesk"]


# learn.microsoft.com/graph/api/resources/federatedidentitycredential: "The combination of the
# values of issuer and subject must be unique within the app."
def test_issuer_and_subject_are_unique_so_a_copy_under_another_name_goes_before_ours_is_made(
    state_dir: Path,
) -> None:
    save_outputs(state_dir)
    held = tenant()
    sync(state_dir, FakeGraph(held))
    [app] = held.apps.values()
    app["credentials"][0]["name"] = "made-by-hand"
    graph = FakeGraph(held)
    sync(state_dir, graph)
    assert [method for method, _, _ in requests(graph)] == ["DELETE", "POST"]
    assert [item["name"] for item in app["credentials"]] == ["aks-orderdesk-orderdesk"]


# learn.microsoft.com/graph/api/resources/federatedidentitycredential (audiences): "should be set
# to api://AzureADTokenExchange for Microsoft Entra ID ... can only accept a single value".
def test_the_federated_credential_audience_is_exactly_the_token_exchange(state_dir: Path) -> None:
    held, graph = applied(state_dir)
    [app] = held.apps.values()
    app["credentials"][0]["audiences"] = ["api://SomethingElse"]
    new_issuer = "https://westeurope.oic.prod-aks.azure.com/7e4a7e4a/c1a55e55/"
    save_outputs(state_dir, aks_oidc_issuer_url=new_issuer)
    sync(state_dir, graph)
    [(method, path, body)] = requests(graph)
    assert method == "PATCH"
    assert path.endswith(f"/federatedIdentityCredentials/{app['credentials'][0]['id']}")
    assert body == {"issuer": new_issuer, "audiences": ["api://AzureADTokenExchange"]}


# learn.microsoft.com/graph/api/resources/serviceprincipal (appRoleAssignmentRequired): a property
# of the service principal, the app in this tenant; the application has no such property.
def test_assignment_required_lives_on_the_service_principal_not_the_application(
    state_dir: Path,
) -> None:
    held, graph = applied(state_dir)
    [sp] = held.principals.values()
    sp["appRoleAssignmentRequired"] = False
    sync(state_dir, graph)
    assert requests(graph) == [
        ("PATCH", f"/servicePrincipals/{sp['id']}", {"appRoleAssignmentRequired": True})
    ]
    first_run = FakeGraph(tenant())
    save_outputs(state_dir)
    sync(state_dir, first_run)
    for method, path, body in requests(first_run):
        if path.startswith("/applications"):
            assert "appRoleAssignmentRequired" not in (body or {}), (method, path)


# learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto: POST
# /servicePrincipals/{id}/appRoleAssignedTo with principalId, resourceId and appRoleId.
def test_groups_get_roles_through_app_role_assigned_to_on_the_service_principal(
    state_dir: Path,
) -> None:
    held, graph = applied(state_dir)
    [sp] = held.principals.values()
    [app] = held.apps.values()
    removed = sp["assignments"][0]
    moved = with_roles(
        held,
        lambda roles: [
            roles[0].model_copy(update={"groups": []}),
            roles[1].model_copy(
                update={"groups": [GROUPS["Orderdesk.Clerk"], GROUPS["Orderdesk.Viewer"]]}
            ),
            roles[2],
        ],
    )
    sync(state_dir, graph, moved)
    clerk = next(r["id"] for r in app["appRoles"] if r["value"] == "Orderdesk.Clerk")
    assert requests(graph) == [
        ("DELETE", f"/servicePrincipals/{sp['id']}/appRoleAssignedTo/{removed['id']}", None),
        (
            "POST",
            f"/servicePrincipals/{sp['id']}/appRoleAssignedTo",
            {"principalId": GROUPS["Orderdesk.Viewer"], "resourceId": sp["id"], "appRoleId": clerk},
        ),
    ]


# learn.microsoft.com/graph/api/resources/application (signInAudience): AzureADMyOrg is "my
# organization's tenant (single tenant)".
def test_single_tenant_is_sign_in_audience_azureadmyorg(
    state_dir: Path, env_data, write_env
) -> None:
    held, graph = applied(state_dir)
    [app] = held.apps.values()
    app["signInAudience"] = "AzureADMultipleOrgs"
    sync(state_dir, graph)
    assert [body for _, _, body in requests(graph)] == [{"signInAudience": "AzureADMyOrg"}]
    env_data["environments"]["dev"]["azure"]["entra"]["sign_in_audience"] = "AzureADMultipleOrgs"
    with pytest.raises(EnvConfigError, match=r"azure.entra.sign_in_audience: .*use AzureADMyOrg"):
        envconfig.load_all(write_env(env_data))


# learn.microsoft.com/entra/identity-platform/howto-add-app-roles-in-apps: Entra "emits a roles
# claim for each role that the user or service principal was granted" (no optional claim needed).
def test_the_roles_claim_needs_only_user_assignable_app_roles(state_dir: Path) -> None:
    save_outputs(state_dir)
    graph = FakeGraph(tenant())
    sync(state_dir, graph)
    [(_, _, created)] = [r for r in requests(graph) if "uniqueName=" in r[1]]
    assert set(created) == {"displayName", "signInAudience", "appRoles", "web"}
    assert created["appRoles"]
    for role in created["appRoles"]:
        assert role["allowedMemberTypes"] == ["User"]
        assert role["isEnabled"] is True


# Entra replicates a new application before a service principal can name it (the azuread client
# retries: manicminer/hamilton msgraph/serviceprincipals.go appNotReplicated).
def test_a_service_principal_refused_while_its_app_replicates_is_retried(state_dir: Path) -> None:
    save_outputs(state_dir)
    held = tenant()
    graph = FakeGraph(held, replicating=2)
    sync(state_dir, graph)
    posts = [path for method, path, _ in requests(graph) if method == "POST"]
    assert posts.count("/servicePrincipals") == 3
    assert len(held.principals) == 1


@pytest.mark.parametrize(
    ("forbidden", "permission"),
    [
        (r"^ad app list", "Application.ReadWrite.OwnedBy"),
        (r"^PATCH .*applications\(uniqueName=", "Application.ReadWrite.OwnedBy"),
        (r"^POST .*/appRoleAssignedTo$", "AppRoleAssignment.ReadWrite.All"),
    ],
)
def test_a_403_from_graph_names_the_missing_permission(
    state_dir: Path, forbidden: str, permission: str
) -> None:
    save_outputs(state_dir)
    graph = FakeGraph(tenant(), forbidden=forbidden)
    with pytest.raises(
        Exit,
        match=rf"Microsoft Graph refused .*\(403: .*Insufficient privileges"
        rf".*needs .*{re.escape(permission)}",
    ) as caught:
        sync(state_dir, graph)
    assert caught.value.code == 1


# --- env.yaml and the app agree --------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_env_yaml_declares_exactly_the_role_values_the_app_knows(env: str) -> None:
    from accounts.roles import ENTRA_ROLE_VALUES  # app/ is on pytest's pythonpath

    azure_env = envconfig.load(env).azure
    assert azure_env is not None
    declared = [role.value for role in azure_env.entra.roles]
    assert sorted(declared) == sorted(ENTRA_ROLE_VALUES)
    names = {role.value: role.display_name for role in azure_env.entra.roles}
    assert names == {
        "Orderdesk.Viewer": "Viewer",
        "Orderdesk.Clerk": "Clerk",
        "Orderdesk.Admin": "Admin",
    }


def test_the_redirect_uris_are_the_apps_own_callback_and_signed_out_routes() -> None:
    from django.urls import reverse  # the app's URLconf (app/ is on pytest's pythonpath)

    # The app sends these as redirect_uri and post_logout_redirect_uri (accounts/views.py).
    assert (reverse("oidc-callback"), reverse("signed-out")) == envconfig.REDIRECT_PATHS


def test_the_credential_subject_is_the_service_account_the_pods_run_as() -> None:
    manifests = envconfig.REPO_ROOT / "manifests" / "base"
    account = yaml.safe_load((manifests / "serviceaccount.yaml").read_text())
    deployment = yaml.safe_load((manifests / "deployment.yaml").read_text())
    assert (
        deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    )
    for env in ("dev", "prod"):
        environment_ = envconfig.load(env)
        subject = entra.service_account_subject(environment_)
        namespace = environment_.kubernetes.namespace
        assert subject == f"system:serviceaccount:{namespace}:{account['metadata']['name']}"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("app_role_assignment_required",), False, "lets every account in the tenant sign in"),
        (("roles", 1, "id"), "00ad6a79-c8ca-4531-80c5-da6a26be1256", "roles repeat the id"),
        (("roles", 1, "value"), "Orderdesk.Viewer", "roles repeat the value Orderdesk.Viewer"),
        (("roles", 0, "value"), "Orderdesk Viewer", "roles.0.value"),
        (("roles",), [], "roles: List should have at least 1 item"),
    ],
)
def test_a_bad_entra_block_is_named_with_its_fix(env_data, write_env, path, value, message) -> None:
    target = env_data["environments"]["dev"]["azure"]["entra"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(EnvConfigError, match=re.escape(message)):
        envconfig.load_all(write_env(env_data))


def test_environments_sharing_a_tenant_need_distinct_unique_names(env_data, write_env) -> None:
    env_data["environments"]["prod"]["azure"]["entra"]["unique_name"] = "orderdesk-dev"
    with pytest.raises(EnvConfigError, match=r"dev and prod share azure.entra.unique_name"):
        envconfig.load_all(write_env(env_data))


def test_a_host_too_long_for_a_redirect_uri_is_refused(env_data, write_env) -> None:
    host = ".".join(["a" * 55] * 4) + ".dev.orderdesk.example.com"  # 249 of DNS's 253
    env_data["environments"]["dev"]["app"]["hosts"] = [host]
    with pytest.raises(EnvConfigError, match=r"app.hosts: https://a+.*longer than 256 characters"):
        envconfig.load_all(write_env(env_data))


# --- the deploy stage --------------------------------------------------


def test_deploy_dry_run_shows_the_entra_stage_after_credentials(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ops.deploy.preflight.toolchain.find", lambda tool: f"/usr/bin/{tool}")
    deploy.deploy(MockContext(), env="dev", dry_run=True, allow_dirty=True)
    printed = capsys.readouterr().out
    stages = re.findall(r"^ \d\. (\w+):", printed, re.M)
    assert stages[stages.index("credentials") + 1] == "entra"
    assert "$ invoke azure.entra --env dev" in printed
    deploy.deploy(MockContext(), env="local", dry_run=True, allow_dirty=True)
    assert re.search(
        r"^ \d\. entra: skipped \(local: local accounts", capsys.readouterr().out, re.M
    )


def test_the_task_loads_the_environment_and_says_which_one_is_unknown() -> None:
    with pytest.raises(Exit, match=r"unknown environment 'qa'") as caught:
        azure.entra(MockContext(), env="qa")
    assert caught.value.code == 2
    with pytest.raises(Exit, match=r"has no azure block") as caught:
        azure.entra(MockContext(), env="local")
    assert caught.value.code == 2
    assert sys.modules["ops.entra"] is entra
