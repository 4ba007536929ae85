"""The Azure CLI: where it is, and who is signed in to it.

Every area that talks to Azure (azure, entra, tf) runs `az` through these two, so a missing CLI
or a missing `az login` gets the same message and exit code everywhere.
"""

from __future__ import annotations

import json
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

from ops.core.environments import BAD_INPUT
from ops.core.run import Runner
from ops.toolchain import find

AZ_INSTALL = "https://learn.microsoft.com/cli/azure/install-azure-cli"


# `az account show` answers from the local token cache; a slow answer is a broken install.
ACCOUNT_SHOW_TIMEOUT_S = 60
# One az call against Azure Resource Manager or Key Vault (a show, a list, a register, a token):
# each answers in seconds; minutes mean a network or a login that hangs.
CALL_TIMEOUT_S = 120


def program() -> str:
    """The az program's path, or an Exit saying how to install it."""
    found = find("az")
    if found is None:
        raise Exit(
            f"the Azure CLI (az) is not installed; install it ({AZ_INSTALL}), then run `az login`",
            code=BAD_INPUT,
        )
    return found


def require_login(c: Context) -> dict[str, Any]:
    """The signed-in account (`az account show`), or an Exit naming `az login`."""
    result = Runner(c).run(
        [program(), "account", "show", "--output", "json"],
        timeout=ACCOUNT_SHOW_TIMEOUT_S,
        warn=True,
    )
    if result.exited != 0:
        raise Exit(
            "not logged in to Azure; run `az login` (in CI: azure/login with OIDC) and try again",
            code=BAD_INPUT,
        )
    account: dict[str, Any] = json.loads(result.stdout)
    return account
