"""A real OpenID Connect provider on 127.0.0.1, shaped like Microsoft Entra ID's v2.0 endpoint,
for the tests and `invoke up --sso` (tools/oidc-provider, built by tools/build/oidc-provider).

    from ops.sandbox import oidc

    with oidc.start(directory, redirect_uris=["http://127.0.0.1:8000/auth/callback"]) as idp:
        idp.issuer, idp.client_id, idp.client_secret      # what the app's settings need
        idp.users["clerk"].password                      # users viewer, clerk, admin, norole
        idp.set_roles("clerk", ["Orderdesk.Viewer"])     # the next sign-in carries these roles

The provider reads its config file (written here, mode 0600) at every sign-in and client look-up,
so changes made through the handle take effect at once, without a restart. Passwords and the
client secret are never logged; `sign_in_help()` lists them for a developer who asks.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from ops.core import processes, web
from ops.core.ports import free_port
from ops.core.run import RunFailed, Runner
from ops.core.wait import NotYet
from ops.envconfig import REPO_ROOT
from ops.toolchain import BIN_DIR, CACHE_DIR, go_env

SOURCE_DIR = REPO_ROOT / "tools" / "oidc-provider"
BINARY_NAME = "orderdesk-oidc"
CONFIG_NAME = "idp.json"
LOG_NAME = "idp.log"
READY_TIMEOUT_S = 30.0
# A cold build of the provider downloads its modules and compiles them.
BUILD_TIMEOUT_S = 1800.0
STOP_TIMEOUT_S = 10.0

# Orderdesk's app roles, as the app registration declares them (issue 20).
ROLE_VIEWER = "Orderdesk.Viewer"
ROLE_CLERK = "Orderdesk.Clerk"
ROLE_ADMIN = "Orderdesk.Admin"
# One user per role, and one without any (Entra then sends no `roles` claim at all).
DEFAULT_USERS: dict[str, tuple[str, ...]] = {
    "viewer": (ROLE_VIEWER,),
    "clerk": (ROLE_CLERK,),
    "admin": (ROLE_ADMIN,),
    "norole": (),
}
# The audience Entra expects in a workload identity token (federated identity credential).
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # noqa: S105  # nosec B105 - not a secret


class OidcError(Exception):
    """The provider cannot be built, started or used; the message says what to do."""


# --- build ------------------------------------------------------------------------------------


def _source_files() -> list[Path]:
    files = [path for path in SOURCE_DIR.rglob("*") if path.is_file()]
    return sorted(p for p in files if p.suffix == ".go" or p.name in {"go.mod", "go.sum"})


def source_hash() -> str:
    """A short hash of tools/oidc-provider: the binary for this source is named after it."""
    digest = hashlib.sha256()
    for path in _source_files():
        digest.update(path.relative_to(SOURCE_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def binary_path() -> Path:
    return BIN_DIR / f"{BINARY_NAME}-{source_hash()}"


def find_binary() -> Path | None:
    """The binary built from the current source, or None (a stale build does not count)."""
    path = binary_path()
    return path if path.is_file() and os.access(path, os.X_OK) else None


def require_binary() -> Path:
    path = find_binary()
    if path is None:
        raise OidcError(
            f"{binary_path().name} (the local identity provider, built from {SOURCE_DIR}) is not "
            "built for this source; run tools/build/oidc-provider (scripts/bootstrap --system)"
        )
    return path


def build(*, force: bool = False, progress: Callable[[str], None] = print) -> Path:
    """Build the provider into the tool cache unless this source's binary is there already.

    The Go build cache of this build (~260 MB) goes to a temporary directory that is removed
    afterwards: a rebuild happens only when the source changes, and then mostly cold anyway.
    """
    target = binary_path()
    if target.is_file() and not force:
        return target
    go = shutil.which("go")
    if go is None:
        raise OidcError(
            "go not found; install Go (Debian: golang-go) to build the identity provider"
        )
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="oidc-gocache-", dir=CACHE_DIR) as build_cache:
        env = go_env()
        # GOTOOLCHAIN=local: never try to download another Go; go.mod asks for 1.26.0.
        env.update(GOCACHE=build_cache, GOTOOLCHAIN="local")
        partial = target.with_name(target.name + ".partial")
        command = [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."]
        Runner().run(
            command,
            cwd=SOURCE_DIR,
            env=env,
            timeout=BUILD_TIMEOUT_S,
            hide=False,
            fix="check GOPROXY reaches the Go module proxy; the go output is above",
        )
        cache_bytes = sum(p.stat().st_size for p in Path(build_cache).rglob("*") if p.is_file())
    partial.replace(target)
    for stale in BIN_DIR.glob(f"{BINARY_NAME}-*"):
        if stale != target:
            stale.unlink()
    # A stable name for a developer's shell; the tests use the hashed one.
    link = BIN_DIR / BINARY_NAME
    link.unlink(missing_ok=True)
    link.symlink_to(target.name)
    megabytes = target.stat().st_size / 1e6
    progress(
        f"oidc-provider: built {target} in {time.monotonic() - started:.0f} s ({megabytes:.1f} MB; "
        f"a {cache_bytes / 1e6:.0f} MB Go build cache removed)"
    )
    return target


# --- the running provider ---------------------------------------------------------------------


@dataclass(frozen=True)
class IdpUser:
    username: str
    password: str = field(repr=False)
    oid: str
    name: str
    roles: tuple[str, ...]


@dataclass
class OidcProvider:
    """A running provider. Its fields are what an app registration in Entra would give."""

    issuer: str
    tenant_id: str
    client_id: str
    client_secret: str | None = field(repr=False)
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    users: dict[str, IdpUser]
    directory: Path
    process: processes.Process | None = field(default=None, repr=False)
    certificate_keys_file: str | None = None
    federated_credentials: list[dict[str, Any]] = field(default_factory=list)

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    @property
    def config_path(self) -> Path:
        return self.directory / CONFIG_NAME

    @property
    def log_path(self) -> Path:
        return self.directory / LOG_NAME

    def user(self, username: str) -> IdpUser:
        try:
            return self.users[username]
        except KeyError:
            known = ", ".join(sorted(self.users))
            raise OidcError(
                f"no user {username!r} at the identity provider; users: {known}"
            ) from None

    def set_roles(self, username: str, roles: Iterable[str]) -> IdpUser:
        """Assign app roles to a user, as an Entra admin would; the next sign-in carries them."""
        user = replace(self.user(username), roles=tuple(roles))
        self.users[username] = user
        self.write_config()
        return user

    def allow_redirects(
        self, redirect_uris: Iterable[str] = (), post_logout_redirect_uris: Iterable[str] = ()
    ) -> None:
        """Register more redirect URIs for the client (an app whose port is known only now)."""
        self.redirect_uris += [uri for uri in redirect_uris if uri not in self.redirect_uris]
        self.post_logout_redirect_uris += [
            uri for uri in post_logout_redirect_uris if uri not in self.post_logout_redirect_uris
        ]
        self.write_config()

    def trust_certificate(self, jwks: dict[str, Any]) -> None:
        """Accept client assertions signed with these keys, as Entra does for an app's
        certificate credential: iss = sub = client_id, aud = the token endpoint."""
        path = self.directory / "certificate-keys.json"
        path.write_text(json.dumps(jwks), encoding="utf-8")
        self.certificate_keys_file = str(path)
        self.write_config()

    def trust_federated_credential(
        self,
        *,
        issuer: str,
        subject: str,
        jwks: dict[str, Any],
        audiences: Iterable[str] = (TOKEN_EXCHANGE_AUDIENCE,),
    ) -> None:
        """Accept another issuer's tokens as the client assertion, as an Entra federated
        identity credential does (a pod's workload identity token, no secret)."""
        path = self.directory / f"federated-keys-{len(self.federated_credentials)}.json"
        path.write_text(json.dumps(jwks), encoding="utf-8")
        self.federated_credentials.append(
            {
                "issuer": issuer,
                "subject": subject,
                "audiences": list(audiences),
                "keys_file": str(path),
            }
        )
        self.write_config()

    def write_config(self) -> None:
        _write_private(self.config_path, json.dumps(self._config(), indent=2) + "\n")

    def _config(self) -> dict[str, Any]:
        client: dict[str, Any] = {
            "client_id": self.client_id,
            "redirect_uris": self.redirect_uris,
            "post_logout_redirect_uris": self.post_logout_redirect_uris,
        }
        if self.client_secret:
            client["client_secret"] = self.client_secret
        if self.certificate_keys_file:
            client["certificate_keys_file"] = self.certificate_keys_file
        if self.federated_credentials:
            client["federated_credentials"] = self.federated_credentials
        users = [
            {
                "username": u.username,
                "password": u.password,
                "oid": u.oid,
                "name": u.name,
                "roles": list(u.roles),
            }
            for u in self.users.values()
        ]
        return {"tenant_id": self.tenant_id, "clients": [client], "users": users}

    def sign_in_help(self) -> str:
        """Usernames and passwords, for a developer who asked to see them (never logged)."""
        lines = [f"Sign in at the identity provider ({self.issuer}) as:"]
        for user in self.users.values():
            roles = ", ".join(user.roles) or "no role"
            lines.append(f"  {user.username:<8} password {user.password}  ({roles})")
        return "\n".join(lines)

    def log_tail(self, lines: int = 30) -> str:
        return processes.tail(self.log_path, lines)

    def launch(self, binary: Path, port: int) -> None:
        """Write the config and start the process (start() calls this, then waits)."""
        self.write_config()
        argv = [str(binary), "--config", str(self.config_path), "--tenant", self.tenant_id]
        argv += ["--port", str(port), "--exit-with-parent"]
        self.process = processes.spawn("the identity provider", argv, log=self.log_path)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; the exit code (0: a clean stop)."""
        if self.process is None:
            return None
        processes.stop([self.process], grace=STOP_TIMEOUT_S)
        return self.process.returncode

    def __enter__(self) -> OidcProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _write_private(path: Path, text: str) -> None:
    """Write a file only this user can read, atomically: the provider may read it any time."""
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    partial.replace(path)


def _new_users() -> dict[str, IdpUser]:
    return {
        username: IdpUser(
            username=username,
            password=_secret(),
            oid=str(uuid.uuid4()),
            name=f"{username.capitalize()} (local identity provider)",
            roles=roles,
        )
        for username, roles in DEFAULT_USERS.items()
    }


def _secret() -> str:
    return secrets.token_urlsafe(18)


def _kept_identity(config_path: Path) -> tuple[str, str, str | None, dict[str, IdpUser]] | None:
    """Tenant, client and users of an earlier run in the same directory, so `invoke up --sso`
    signs the same people in (same oid) across restarts."""
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        client = config["clients"][0]
        users = {
            u["username"]: IdpUser(
                u["username"], u["password"], u["oid"], u["name"], tuple(u["roles"])
            )
            for u in config["users"]
        }
        return config["tenant_id"], client["client_id"], client.get("client_secret"), users
    except (FileNotFoundError, ValueError, KeyError, IndexError, TypeError):
        return None


def start(
    directory: Path,
    *,
    redirect_uris: Iterable[str],
    post_logout_redirect_uris: Iterable[str] = (),
    with_client_secret: bool = True,
    port: int | None = None,
    binary: Path | None = None,
    timeout: float = READY_TIMEOUT_S,
) -> OidcProvider:
    """Start the provider on 127.0.0.1 and return once its discovery document answers.

    `directory` holds its config (0600) and log; the tenant, client and users of an earlier run
    there are kept. Without `with_client_secret` the client has no secret (assertions only).
    """
    binary = binary or require_binary()
    directory.mkdir(parents=True, exist_ok=True)
    kept = _kept_identity(directory / CONFIG_NAME)
    tenant_id, client_id, kept_secret, users = kept or (
        str(uuid.uuid4()),
        str(uuid.uuid4()),
        None,
        _new_users(),
    )
    client_secret = kept_secret or _secret()
    port = port or free_port()
    provider = OidcProvider(
        issuer=f"http://127.0.0.1:{port}/{tenant_id}/v2.0",
        tenant_id=tenant_id,
        client_id=client_id,
        client_secret=client_secret if with_client_secret else None,
        redirect_uris=list(redirect_uris),
        post_logout_redirect_uris=list(post_logout_redirect_uris),
        users=users,
        directory=directory,
    )
    try:
        provider.launch(binary, port)
        _wait_ready(provider, timeout)
    except BaseException:
        provider.stop()
        raise
    return provider


def _wait_ready(provider: OidcProvider, timeout: float) -> None:
    process = provider.process
    assert process is not None  # noqa: S101 - launch() ran  # nosec B101

    def answered() -> bool:
        try:
            response = web.get(provider.discovery_url, timeout=2)
        except requests.RequestException as exc:
            raise NotYet(str(exc)) from exc
        if response.status_code != 200:
            raise NotYet(f"HTTP {response.status_code}")
        issuer = response.json().get("issuer")
        if issuer != provider.issuer:
            raise OidcError(
                f"the provider names its issuer {issuer!r}, expected {provider.issuer!r}"
            )
        return True

    try:
        processes.wait_ready(
            process,
            answered,
            what="the identity provider's discovery document",
            timeout=timeout,
            interval=0.1,
        )
    except processes.ProcessError as exc:
        raise OidcError(str(exc)) from None


def main(argv: list[str]) -> int:
    """`python -m ops.sandbox.oidc build [--force]`: what tools/build/oidc-provider runs."""
    if not argv or argv[0] != "build" or set(argv[1:]) - {"--force"}:
        print("usage: python -m ops.sandbox.oidc build [--force]")
        return 2
    try:
        path = build(force="--force" in argv[1:])
    except (OidcError, RunFailed) as exc:
        print(f"error: {exc}")
        return 1
    print(f"oidc-provider: {path}")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
