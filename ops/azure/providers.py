"""The resource providers and preview features the estate needs in its subscription:
`invoke tf.bootstrap` registers them (and waits), deploy's preflight lists what is missing.
"""

from __future__ import annotations

import json

from invoke.context import Context
from invoke.exceptions import Exit

from ops.core.azcli import CALL_TIMEOUT_S as AZ_TIMEOUT_S
from ops.core.azcli import program as az_program
from ops.core.run import Runner
from ops.core.wait import NotYet, wait_or_exit

# The resource providers the estate's resources belong to (infra/). azurerm 5 registers none by
# itself (resource_provider_registrations defaults to "none", 5.0 upgrade guide), and a call to
# an unregistered namespace fails with MissingSubscriptionRegistration, so `invoke tf.bootstrap`
# registers them once per subscription and preflight checks them.
RESOURCE_PROVIDERS = (
    "Microsoft.Compute",  # the node pool's scale set
    "Microsoft.ContainerRegistry",
    "Microsoft.ContainerService",
    "Microsoft.DBforPostgreSQL",
    "Microsoft.Insights",  # metric alerts, action groups, diagnostic settings, workbooks
    "Microsoft.KeyVault",
    "Microsoft.ManagedIdentity",
    "Microsoft.Network",
    "Microsoft.OperationalInsights",
    "Microsoft.OperationsManagement",  # Container insights (oms_agent)
    # The AKS Azure Policy add-on (azure_policy_enabled) reports compliance through it; Azure
    # Policy for Kubernetes lists its registration as a prerequisite of the add-on.
    "Microsoft.PolicyInsights",
    "Microsoft.Sql",  # database.kind mssql
    "Microsoft.Storage",  # the Terraform state
)
# Preview features the estate uses, as (namespace, feature): the node pool encrypts at host
# (host_encryption_enabled), which Azure refuses until the subscription has this feature.
FEATURES = (("Microsoft.Compute", "EncryptionAtHost"),)
REGISTRATION_TIMEOUT_S, REGISTRATION_INTERVAL_S = 900, 15


def _registration_states(c: Context, program: str, where: list[str]) -> dict[str, str]:
    """namespace -> registrationState of every resource provider, and feature -> state, keyed in
    lower case: Azure spells some namespaces its own way (`microsoft.insights`)."""
    runner = Runner(c)
    listed = runner.run(
        [
            *(program, "provider", "list", "--query", "[].[namespace, registrationState]"),
            *("--output", "json", *where),
        ],
        timeout=AZ_TIMEOUT_S,
        warn=True,
    )
    if not listed.ok:
        reason = listed.stderr.strip() or "no error message"
        raise Exit(f"cannot list the subscription's resource providers ({reason})", code=1)
    states = {str(name).lower(): str(state) for name, state in json.loads(listed.stdout or "[]")}
    for namespace, feature in FEATURES:
        shown = runner.run(
            [
                *(program, "feature", "show", "--namespace", namespace, "--name", feature),
                *("--query", "properties.state", "--output", "tsv", *where),
            ],
            timeout=AZ_TIMEOUT_S,
            warn=True,
        )
        states[f"{namespace}/{feature}".lower()] = (
            shown.stdout.strip() if shown.ok else "NotRegistered"
        )
    return states


def registration_problems(
    c: Context, *, where: list[str] | None = None, env: str = "<env>", features_only: bool = False
) -> list[str]:
    """The resource providers and features the estate needs that are not Registered; `where`
    the az words choosing the subscription (`--subscription ID`), none for az's current one."""
    states = _registration_states(c, az_program(), where or [])
    features = [f"{namespace}/{feature}" for namespace, feature in FEATURES]
    wanted = features if features_only else [*RESOURCE_PROVIDERS, *features]
    return [
        f"{name} is {states.get(name.lower()) or 'NotRegistered'} in this subscription; run "
        f"`invoke tf.bootstrap --env {env}` (it registers what the estate needs)"
        for name in wanted
        if states.get(name.lower()) != "Registered"
    ]


def _wait_for_registration(c: Context, where: list[str], *, features_only: bool = False) -> None:
    def registered() -> bool:
        missing = registration_problems(c, where=where, features_only=features_only)
        if missing:
            raise NotYet(f"{len(missing)} not Registered yet, e.g. {missing[0].split(' is ')[0]}")
        return True

    wait_or_exit(
        registered,
        what="resource provider and feature registration",
        timeout=REGISTRATION_TIMEOUT_S,
        interval=REGISTRATION_INTERVAL_S,
        label="registration",
        failure=lambda exc: (
            f"Azure has not finished registering after {REGISTRATION_TIMEOUT_S} s ({exc}); it "
            "goes on in the background: run `invoke tf.bootstrap` again later (it only waits "
            "for what is missing)"
        ),
    )


def register_providers_and_features(c: Context, subscription: str) -> None:
    """Register every resource provider and feature the estate needs, and wait (bounded) until
    Azure says Registered. Idempotent: what is registered already is left alone."""
    program, runner = az_program(), Runner(c)
    where = ["--subscription", subscription]
    states = _registration_states(c, program, where)
    new_features = [
        (namespace, feature)
        for namespace, feature in FEATURES
        if states.get(f"{namespace}/{feature}".lower()) != "Registered"
    ]
    for namespace, feature in new_features:
        runner.run(
            [
                *(program, "feature", "register", "--namespace", namespace, "--name", feature),
                *("--output", "none", *where),
            ],
            timeout=AZ_TIMEOUT_S,
            hide=False,
        )
    if new_features:
        _wait_for_registration(c, where, features_only=True)
    # A feature reaches its provider when the provider is registered again after the feature
    # is Registered (Azure's "Set up preview features": az provider register after az feature).
    refresh = {namespace for namespace, _feature in new_features}
    for namespace in RESOURCE_PROVIDERS:
        if states.get(namespace.lower()) != "Registered" or namespace in refresh:
            runner.run(
                [
                    *(program, "provider", "register", "--namespace", namespace),
                    *("--output", "none", *where),
                ],
                timeout=AZ_TIMEOUT_S,
                hide=False,
            )
    _wait_for_registration(c, where)
