"""`invoke azure.*`: what deploy asks of Azure outside Terraform, through the az CLI.

    invoke azure.account --env dev     who az is logged in as, in which subscription
    invoke azure.secrets --env dev     every secret present in Key Vault, the alarms' Teams receiver
                                       set from it (values never shown)
    invoke azure.dns --env dev         the DNS records answer with the ingress's address
    invoke azure.entra --env dev       the sign-in app registration matches env.yaml (ops/entra.py)

Terraform creates the estate (infra/); these check it and repair what can go missing between
applies, and azure.entra applies the sign-in app registration, which Terraform cannot here (the
azuread provider is not served: README, "Entra ID with Terraform"). Every command is
`az ... --output ...` through ops/core/run.py's Runner, so a recording test reads each one.
The resource providers and features the subscription needs are ops/azure/providers.py's.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets as token
import tempfile
from collections.abc import Iterator
from typing import Any

from invoke import Collection, task
from invoke.context import Context
from invoke.exceptions import Exit

from ops import entra as registration
from ops.core import environments, state
from ops.core.azcli import CALL_TIMEOUT_S as AZ_TIMEOUT_S
from ops.core.azcli import program as az_program
from ops.core.azcli import require_login
from ops.core.environments import ENV_HELP
from ops.core.kube import KUBECTL_CALL_TIMEOUT_S
from ops.core.run import Runner
from ops.core.target import Target
from ops.core.wait import NotYet, wait_or_exit
from ops.envconfig import (
    IRREPLACEABLE_SECRETS,
    KEY_VAULT_SECRETS,
    TEAMS_WEBHOOK_SECRET,
    Environment,
)
from ops.monitoring.layout import Layout

INGRESS = "orderdesk"
INGRESS_TIMEOUT_S, INGRESS_INTERVAL_S = 300, 10


def account_problem(account: dict[str, Any]) -> str:
    """Why the signed-in account (`require_login`) is the wrong one for a deploy, or "": the
    subscription and tenant the ARM_* variables name, when they are set (preflight lists it)."""
    for variable, key, what in (
        ("ARM_SUBSCRIPTION_ID", "id", "subscription"),
        ("ARM_TENANT_ID", "tenantId", "tenant"),
    ):
        expected = os.environ.get(variable)
        if expected and account.get(key) != expected:
            return (
                f"az is signed in to {what} {account.get(key)} ({account.get('name')!r}), not "
                f"{variable}={expected}; sign in to the environment's {what} (`az login "
                "--tenant ...`, then `az account set --subscription ...`)"
            )
    return ""


# GitHub's OIDC token, which az keeps as its client assertion after azure/login, is valid for 5
# minutes and az cannot renew it: a first token asked for later fails with AADSTS700024 "Client
# assertion is not within its valid time range" (Azure/login#180). A token az has been issued is
# cached for its own lifetime (about an hour), so deploy asks for every one it will need while
# the login is fresh.
KEY_VAULT_RESOURCE = "https://vault.azure.net"
# The "Azure Kubernetes Service AAD Server" application: kubelogin's --server-id for AKS.
AKS_SERVER_APPLICATION = "6dae42f8-4368-4678-94ff-3960e28e3630"
GRAPH_RESOURCE = "https://graph.microsoft.com"


def fetch_tokens(c: Context, resources: list[str]) -> None:
    """Have az issue (and cache) a token for each resource now; an Exit naming a fresh login."""
    program, runner = az_program(), Runner(c)
    for resource in resources:
        result = runner.run(
            [
                *(program, "account", "get-access-token", "--resource", resource),
                *("--query", "expiresOn", "--output", "tsv"),
            ],
            timeout=AZ_TIMEOUT_S,
            warn=True,
        )
        if not result.ok:
            reason = (result.stderr.strip().splitlines() or ["no answer"])[-1]
            raise Exit(
                f"az could not get a token for {resource} ({reason}); sign in again "
                "(`az login`; in CI the azure/login step right before this one) and retry",
                code=1,
            )


def tf_outputs(target: Target) -> dict[str, Any]:
    """What `invoke tf.output --save` wrote; an Exit naming that command if it has not run."""
    try:
        return state.read_json(
            target.state.tf_outputs, f"invoke tf.output --env {target.name} --save"
        )
    except state.StateMissing as exc:
        raise Exit(str(exc), code=1) from exc


# Key Vault answers a missing secret (and a missing deleted one) with 404 and error code
# SecretNotFound, which az prints as "(SecretNotFound) ..."; any other failure (firewall,
# permission, throttling) says nothing about whether the secret exists.
NOT_FOUND_CODE = "(SecretNotFound)"


def secret_exists(target: Target, command: list[str], name: str) -> bool:
    """Whether `az keyvault secret show[-deleted]` found the secret: True, or False only on a
    confirmed "not found"; any other failure is an Exit, so nothing is created over a secret
    that may exist (a regenerated database password would no longer match PostgreSQL)."""
    vault = target.require_azure().key_vault.name
    result = target.runner.run(command, timeout=AZ_TIMEOUT_S, warn=True)
    if result.ok:
        return True
    stderr = result.stderr.strip()
    if NOT_FOUND_CODE in stderr:
        return False
    reason = stderr.splitlines()[0] if stderr else "no error message"
    raise Exit(
        f"cannot tell whether secret {name} exists in Key Vault {vault} ({reason}); nothing was "
        "created or changed. Check the vault's firewall admits this machine and that the "
        "identity may read secrets, then run "
        f"`invoke azure.secrets --env {target.name}` again",
        code=1,
    )


def _refuse_to_regenerate(environment: Environment, name: str) -> Exit:
    """Why a secret Key Vault confirmed missing (live and soft-deleted) is not written anew."""
    vault = environments.require_azure(environment).key_vault.name
    if name == TEAMS_WEBHOOK_SECRET:
        how = (
            "it cannot be generated: export TEAMS_WEBHOOK_URL (the Teams workflow's URL), bump "
            f"{name} in azure.key_vault.secret_versions in infra/env.yaml and run "
            f"`invoke deploy --env {environment.name} --only terraform,secrets`"
        )
    else:
        lost = {
            # pragma: allowlist nextline secret
            "database-password": "the database server keeps its administrator password",
            "card-fingerprint-key": "every stored card fingerprint was keyed with the old key",
        }[name]
        how = (
            f"a new value cannot stand in for the lost one ({lost}). Rotate it: bump {name} in "
            "azure.key_vault.secret_versions in infra/env.yaml and run `invoke deploy --env "
            f"{environment.name} --only terraform,secrets,kubernetes` (infra/README.md, "
            '"Rotating a secret")'
        )
    return Exit(f"secret {name} is not in Key Vault {vault}, nor among its deleted ones; {how}")


def ensure_key_vault_secrets(target: Target) -> None:
    """Every secret exists in Key Vault: Terraform writes them; this puts back one that went
    missing by recovering it from soft delete (which keeps its value). Only a secret whose loss
    costs nothing (the Django key: sessions end) is generated anew; the others are refused with
    the rotation step. Values are never printed."""
    vault = target.require_azure().key_vault.name
    names = tf_outputs(target).get("key_vault_secret_names") or list(KEY_VAULT_SECRETS)
    where = ["--vault-name", vault]
    program, runner = az_program(), target.runner
    for name in names:
        shown = [program, "keyvault", "secret", "show", *where, "--name", name]
        if secret_exists(target, [*shown, "--query", "id", "--output", "tsv"], name):
            print(f"  secret {name}: present in {vault}")
            continue
        # Purge protection keeps deleted secrets recoverable, and their names taken.
        deleted = [program, "keyvault", "secret", "show-deleted", *where, "--name", name]
        if secret_exists(target, [*deleted, "--query", "id", "--output", "tsv"], name):
            runner.run(
                [
                    *(program, "keyvault", "secret", "recover", *where, "--name", name),
                    *("--output", "none"),
                ],
                timeout=AZ_TIMEOUT_S,
            )
            print(f"  secret {name}: recovered from soft delete in {vault}")
            continue
        if name in IRREPLACEABLE_SECRETS or name == TEAMS_WEBHOOK_SECRET:
            raise _refuse_to_regenerate(target.environment, name)
        # The value goes through a 0600 file, never the command line (ps would show it).
        with _private_file(token.token_urlsafe(50)) as path:
            runner.run(
                [
                    *(program, "keyvault", "secret", "set", *where, "--name", name, "--file", path),
                    *("--encoding", "utf-8", "--output", "none"),
                ],
                timeout=AZ_TIMEOUT_S,
            )
        print(f"  secret {name}: created in {vault} (value not shown)")


@contextlib.contextmanager
def _private_file(text: str) -> Iterator[str]:
    """A 0600 temporary file holding text, removed on exit: secrets reach az through files,
    never its command line (ps would show it) or the log."""
    with tempfile.NamedTemporaryFile("w", prefix="orderdesk-", delete=True) as handle:
        handle.write(text)
        handle.flush()
        yield handle.name


# Microsoft.Insights/actionGroups, the version azurerm's action group resource uses.
ACTION_GROUP_API = "2023-01-01"


def connect_alarms_to_teams(target: Target) -> None:
    """Point the Azure Monitor action group's Teams receiver at Key Vault's teams-webhook-url.

    An action group's service URI is no write-only argument, so Terraform never holds the URL (it
    would sit in the saved plan and the state); Terraform ignores this receiver. The URL travels
    from the vault to Azure Resource Manager through a 0600 file, never printed.
    """
    vault = target.require_azure().key_vault.name
    group_id = tf_outputs(target).get("alarms_action_group_id")
    if not group_id:
        raise Exit(
            "the Terraform outputs name no alarms_action_group_id; run `invoke tf.output --env "
            f"{target.name} --save` after an apply of this version of infra/",
            code=1,
        )
    program, runner = az_program(), target.runner
    url = runner.run(
        [
            *(program, "keyvault", "secret", "show", "--vault-name", vault),
            *("--name", TEAMS_WEBHOOK_SECRET, "--query", "value", "--output", "tsv"),
        ],
        timeout=AZ_TIMEOUT_S,
    ).stdout.strip()
    resource = f"https://management.azure.com{group_id}?api-version={ACTION_GROUP_API}"
    group = json.loads(
        runner.run(
            [program, "rest", "--method", "get", "--url", resource], timeout=AZ_TIMEOUT_S
        ).stdout
    )
    properties = group["properties"]
    teams = {"name": "teams", "serviceUri": url, "useCommonAlertSchema": True}
    others = [r for r in properties.get("webhookReceivers") or [] if r.get("name") != "teams"]
    current = [r for r in properties.get("webhookReceivers") or [] if r.get("name") == "teams"]
    if current and all(current[0].get(key) == value for key, value in teams.items()):
        print(f"  alarms: action group's Teams receiver already posts to {TEAMS_WEBHOOK_SECRET}")
        return
    properties["webhookReceivers"] = [*others, teams]
    body = {
        "location": group["location"],
        "tags": group.get("tags") or {},
        "properties": properties,
    }
    with _private_file(json.dumps(body)) as path:
        runner.run(
            [
                *(program, "rest", "--method", "put", "--url", resource, "--body", f"@{path}"),
                *("--output", "none"),
            ],
            timeout=AZ_TIMEOUT_S,
        )
    print(f"  alarms: action group's Teams receiver set from {TEAMS_WEBHOOK_SECRET} (not shown)")


def dns_record_names(environment: Environment) -> list[str]:
    """Relative names in the zone for the app's hosts and each monitoring host that has an
    ingress (Prometheus has none on Azure: no authentication of its own)."""
    zone = environments.require_azure(environment).dns.zone
    layout = Layout()
    hosts = [*environment.app.hosts]
    for component, host in (
        ("grafana", environment.monitoring.grafana_host),
        ("prometheus", environment.monitoring.prometheus_host),
    ):
        if layout.ingress_enabled(environment.name, component):
            hosts.append(host)
    return ["@" if host == zone else host.removesuffix("." + zone) for host in hosts]


def ingress_address(target: Target) -> str:
    """The ingress's public address, waiting (bounded) for the gateway to assign it."""
    jsonpath = "{.status.loadBalancer.ingress[0].ip}"
    command = target.kube().kubectl_argv("get", "ingress", INGRESS, f"--output=jsonpath={jsonpath}")
    runner = target.runner

    def assigned() -> str:
        result = runner.run(command, timeout=KUBECTL_CALL_TIMEOUT_S, warn=True)
        address = result.stdout.strip() if result.ok else ""
        if not address:
            raise NotYet("no address yet")
        return address

    return wait_or_exit(
        assigned,
        what="the ingress address",
        timeout=INGRESS_TIMEOUT_S,
        interval=INGRESS_INTERVAL_S,
        label="ingress address",
        failure=lambda exc: (
            f"the ingress has no address after {INGRESS_TIMEOUT_S} s ({exc}); check the "
            f"application gateway (`kubectl describe ingress {INGRESS}`), then run `invoke "
            f"azure.dns --env {target.name}`"
        ),
    )


def check_dns_points_at_ingress(target: Target) -> None:
    """Terraform owns the records (infra/modules/dns) and the gateway's public IP; this waits for
    the ingress to get that address, then checks every record answers with it."""
    environment, azure = target.environment, target.require_azure()
    address = ingress_address(target)
    # An internal environment's records are in the private zone of the same name (split horizon),
    # pointing at the gateway's private frontend; that API spells the list aRecords, the public
    # zone's ARecords (learn.microsoft.com/cli/azure/network/private-dns/record-set/a).
    internal = azure.ingress.internal
    record_set = ["private-dns", "record-set", "a"] if internal else ["dns", "record-set", "a"]
    records = "aRecords" if internal else "ARecords"
    output = "ingress_private_ip" if internal else "ingress_public_ip"
    expected = tf_outputs(target).get(output)
    if expected and address != expected:
        raise Exit(
            f"the ingress answers at {address}, but Terraform's gateway IP is {expected}; "
            "check the application gateway ingress controller's configuration",
            code=1,
        )
    group, zone = azure.resource_group, azure.dns.zone
    program, runner = az_program(), target.runner
    for name in dns_record_names(environment):
        result = runner.run(
            [
                *(program, "network", *record_set, "show", "--resource-group", group),
                *("--zone-name", zone, "--name", name, "--query", f"{records}[].ipv4Address"),
                *("--output", "tsv"),
            ],
            timeout=AZ_TIMEOUT_S,
            warn=True,
        )
        addresses = result.stdout.split() if result.ok else []
        if address not in addresses:
            raise Exit(
                f"{name}.{zone} resolves to {', '.join(addresses) or 'nothing'}, not the ingress "
                f"{address}; Terraform manages the record: run `invoke deploy --env "
                f"{environment.name} --only terraform,dns`",
                code=1,
            )
        print(f"  dns: {name}.{zone} -> {address}")


@task(help={"env": ENV_HELP})
def account(c: Context, env: str = "") -> None:
    """Show the Azure account az is logged in to, and whether it is the environment's."""
    target = Target.resolve(c, env)
    subscription = target.require_azure().subscription_id
    signed_in = require_login(c)
    print(f"az: {signed_in.get('user', {}).get('name')} in {signed_in.get('name')!r}")
    expected = os.environ.get("ARM_SUBSCRIPTION_ID") or subscription
    if signed_in.get("id") != expected:
        raise Exit(
            f"az uses subscription {signed_in.get('id')}, not {env}'s {expected}; "
            f"run `az account set --subscription {expected}`",
            code=1,
        )


@task(help={"env": ENV_HELP})
def secrets(c: Context, env: str = "") -> None:
    """Every secret present in Key Vault (recovered, or refused with the rotation step), and the
    alarms' Teams receiver set from the vault; no value is ever printed."""
    secrets_for(Target.resolve(c, env))


def secrets_for(target: Target) -> None:
    """azure.secrets for one environment."""
    ensure_key_vault_secrets(target)
    connect_alarms_to_teams(target)


@task(help={"env": ENV_HELP})
def dns(c: Context, env: str = "") -> None:
    """Check the app's and exposed monitoring hosts' DNS records answer with the ingress's IP."""
    dns_for(Target.resolve(c, env))


def dns_for(target: Target) -> None:
    """azure.dns for one environment."""
    check_dns_points_at_ingress(target)


@task(
    help={
        "env": ENV_HELP,
        "dry_run": "show the difference and the Graph requests; change nothing",
    }
)
def entra(c: Context, env: str = "", dry_run: bool = False) -> None:
    """Make the Entra ID app registration match env.yaml (shows the difference first)."""
    entra_for(Target.resolve(c, env), dry_run=dry_run)


def entra_for(target: Target, *, dry_run: bool = False) -> None:
    """azure.entra for one environment."""
    registration.sync(target, dry_run=dry_run)


ns = Collection("azure", account, secrets, dns, entra)
