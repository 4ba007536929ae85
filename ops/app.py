"""Run the app on a developer's machine: SQLite, gunicorn, the same process model as production."""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from invoke import Collection, Task, task
from invoke.context import Context
from invoke.exceptions import Exit

from ops.core.run import Runner
from ops.core.state import DEFAULT_ROOT
from ops.core.wait import WaitTimeout, wait_until
from ops.envconfig import REPO_ROOT

APP_DIR = REPO_ROOT / "app"
PYTHON = shlex.quote(sys.executable)
# A management command on the local SQLite database: migrate and seed take seconds.
MANAGE_TIMEOUT_S = 600
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ALL_INTERFACES = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104  # nosec B104 - named, not bound


def data_dir() -> Path:
    """The local database, secrets and metrics: the state root (.data/), or ORDERDESK_DATA_DIR
    (tests use that)."""
    return Path(os.environ.get("ORDERDESK_DATA_DIR") or DEFAULT_ROOT)


def local_env(**extra: str) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "orderdesk.settings.local",
        "ORDERDESK_DATA_DIR": str(data_dir()),
    }
    env.update(extra)
    return env


def manage(c: Context, *words: str, **env: str) -> None:
    """`manage.py WORDS` on the local database, its output shown (a token is printed once)."""
    Runner(c).run(
        [sys.executable, "manage.py", *words],
        timeout=MANAGE_TIMEOUT_S,
        cwd=APP_DIR,
        env=local_env(**env),
        hide=False,
    )


@task(help={"count": "how many orders", "if_empty": "only when there are no orders yet"})
def seed(c: Context, count: int = 200, if_empty: bool = False) -> None:
    """Insert fake orders into the local database."""
    if count < 1:
        raise Exit("--count must be at least 1")
    manage(c, "seed_orders", str(count), *(["--if-empty"] if if_empty else []))


@task
def migrate(c: Context) -> None:
    """Apply database migrations to the local database."""
    manage(c, "migrate", "--noinput")


ROLES = ("viewer", "clerk", "admin", "none")


@task(
    help={
        "name": "the account's user name",
        "role": "viewer, clerk, admin or none",
        # Help text, not a password.
        "password_stdin": "read the password from stdin (else it is asked, twice)",  # nosec B105  # pragma: allowlist secret
    }
)
def user(c: Context, name: str, role: str, password_stdin: bool = False) -> None:
    """Create or update a local account; the password is asked, never an argument."""
    if role not in ROLES:
        raise Exit(f"--role {role!r} is not a role; use one of {', '.join(ROLES)}")
    flags = f"{shlex.quote(name)} --role {role}" + (" --password-stdin" if password_stdin else "")
    with c.cd(str(APP_DIR)):
        # The prompt needs a terminal; a piped password needs the pipe. Not a Runner: its
        # program runs in a session of its own, without the controlling terminal getpass reads
        # (it would fall back to an echoing stdin), and a person typing has no timeout.
        c.run(f"{PYTHON} manage.py orderdesk_user {flags}", env=local_env(), pty=not password_stdin)


@task(
    help={
        "name": "the user the token acts as",
        "read_only": "the token may only read",
        "days": "days until it expires (1-366)",
    }
)
def token(c: Context, name: str, read_only: bool = False, days: int = 90) -> None:
    """Issue an API token for a local user; printed once, as the last word of the last line."""
    manage(c, "orderdesk_token", name, "--days", str(days), *(["--read-only"] if read_only else []))


def ensure_port_free(host: str, port: int) -> None:
    """Fail before migrating or seeding when another server already holds the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As gunicorn binds: a port left in TIME_WAIT by a stopped server is free to take.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Exit(f"port {port} is in use; try --port {port + 1}") from None
            if exc.errno == errno.EACCES:
                raise Exit(f"port {port} needs privileges; try --port 8000") from None
            raise Exit(f"cannot listen on {host}:{port} ({exc.strerror}); check --host") from None


def announce_when_listening(host: str, port: int, url: str, timeout: float = 120.0) -> None:
    """Print the URL once the server accepts connections, not before (nothing to click yet)."""
    target = ALL_INTERFACES.get(host, host)

    def accepts() -> bool:
        with socket.create_connection((target, port), timeout=1):
            return True

    try:
        wait_until(
            accepts, what=f"{url} listening", timeout=timeout, interval=0.2, errors=(OSError,)
        )
    except WaitTimeout:
        return  # gunicorn's own log says why it did not start
    print(f"Orderdesk: {url}  (Ctrl+C stops it)", flush=True)


class HostTask(Task):
    """A task whose --host takes -H, so that -h stays invoke's --help."""

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Any]:
        arguments = super().get_arguments(ignore_unknown_help)
        for argument in arguments:
            if argument.name == "host":
                argument.names = ("host", "H")
        return arguments


@task(
    klass=HostTask,
    help={
        "host": "address to bind (default 127.0.0.1: only this machine)",
        "port": "port to serve on",
        "workers": "gunicorn worker processes",
        "seed_count": "demo orders to create when the database is empty (0: none)",
        "debug": "Django's debug pages instead of the app's own 404/400/500 pages",
        "sso": "sign in through a local OpenID Connect provider shaped like Entra ID",
    },
)
def up(  # noqa: PLR0917 - invoke maps each parameter to a flag
    c: Context,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 2,
    seed_count: int = 200,
    debug: bool = False,
    sso: bool = False,
) -> None:
    """Migrate, seed a demo set when empty, make an admin on the first run, and serve the app
    with gunicorn on SQLite (--sso: signing in through a local Entra-shaped provider)."""
    if not 0 < port < 65536:
        raise Exit(f"--port {port} is not a TCP port; use 1-65535")
    if workers < 1:
        raise Exit("--workers must be at least 1")
    ensure_port_free(host, port)
    data_dir().mkdir(parents=True, exist_ok=True)
    migrate(c)
    if seed_count:
        seed(c, count=seed_count, if_empty=True)
    # Prints the admin's password once, on a database without users; says nothing after.
    manage(c, "orderdesk_user", "admin", "--role", "admin", "--first")
    # Several workers share one set of metrics through this directory; one per port, so a
    # second instance never touches the first one's files (gunicorn.conf.py also locks it).
    metrics_dir = data_dir() / "metrics" / str(port)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "GUNICORN_BIND": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "GUNICORN_WORKERS": str(workers),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "DJANGO_DEBUG": "true" if debug else "false",
    }
    if host not in LOOPBACK:
        # Reached by another name than localhost: all interfaces answer whatever they are called.
        env["DJANGO_ALLOWED_HOSTS"] = "*" if host in ALL_INTERFACES else host
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    threading.Thread(
        target=announce_when_listening, args=(host, port, url + "/"), daemon=True
    ).start()
    with contextlib.ExitStack() as stack:
        if sso:
            env |= start_sso(stack, url)
        # Not a Runner: the dev server runs in the foreground until Ctrl-C, so no timeout fits.
        with c.cd(str(APP_DIR)):
            c.run(
                f"{PYTHON} -m gunicorn -c gunicorn.conf.py orderdesk.wsgi:application",
                env=local_env(**env),
            )


def start_sso(stack: contextlib.ExitStack, app_url: str) -> dict[str, str]:
    """The local OpenID Connect provider for `up --sso`, kept in the data dir so the same users
    sign in across restarts; the app's settings that point at it."""
    from ops.sandbox import oidc

    try:
        idp = stack.enter_context(
            oidc.start(
                data_dir() / "idp",
                redirect_uris=[f"{app_url}/auth/oidc/callback"],
                post_logout_redirect_uris=[f"{app_url}/auth/signed-out"],
            )
        )
    except oidc.OidcError as exc:
        raise Exit(f"--sso: {exc}") from None
    print(idp.sign_in_help(), flush=True)
    return {
        "ORDERDESK_AUTH": "entra",
        "ORDERDESK_ENTRA_TENANT_ID": idp.tenant_id,
        "ORDERDESK_ENTRA_CLIENT_ID": idp.client_id,
        "ORDERDESK_ENTRA_CLIENT_SECRET": idp.client_secret or "",
        "ORDERDESK_OIDC_ISSUER": idp.issuer,
        # The admin made on the first run stays a way in (break-glass).
        "ORDERDESK_LOCAL_SIGN_IN": "true",
    }


ns = Collection("app", seed, migrate, user, token, up)
