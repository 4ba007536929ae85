"""Microsoft Graph through the Azure CLI: reads, writes (none in a dry run), and a 403 that
names the permission it lacked."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

from ops.core.azcli import program
from ops.core.run import Runner
from ops.core.wait import NotYet, wait_or_exit
from ops.entra.desired import GRAPH, Desired

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
REPLICATION_TIMEOUT_S, REPLICATION_INTERVAL_S = 120, 10

# One Microsoft Graph request through `az rest` (or az ad): a slow answer is retried by a rerun.
GRAPH_TIMEOUT_S = 120


@dataclass
class Current:
    """What Graph holds now (None: the object does not exist)."""

    app: dict[str, Any] | None = None
    service_principal: dict[str, Any] | None = None
    assignments: list[dict[str, Any]] = field(default_factory=list)
    credentials: list[dict[str, Any]] = field(default_factory=list)


class Graph:
    """Microsoft Graph through `az`: reads always run; writes only when not a dry run."""

    def __init__(self, c: Context, *, dry_run: bool) -> None:
        self.c, self.dry_run, self.program = c, dry_run, program()

    def _run(self, argv: list[str]) -> tuple[bool, str, str]:
        result = Runner(self.c).run([self.program, *argv], timeout=GRAPH_TIMEOUT_S, warn=True)
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
        print(f"  $ az {shlex.join(argv)}")
        if self.dry_run:
            return ""

        def attempt() -> str:
            ok, stdout, stderr = self._run(argv)
            if ok:
                return stdout or "{}"
            if any(message in stderr for message in retry_while):
                raise NotYet(stderr.splitlines()[0])
            raise self._refusal(argv, stderr, permission)

        return wait_or_exit(
            attempt,
            what="Entra ID replicating a new object",
            timeout=REPLICATION_TIMEOUT_S,
            interval=REPLICATION_INTERVAL_S,
            failure=lambda exc: f"`az {shlex.join(argv)}`: {exc}; run this again",
        )


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
