"""Run the app on a developer's machine: SQLite, gunicorn, the same process model as production."""

from __future__ import annotations

import shlex
import sys

from invoke import Collection, task
from invoke.context import Context
from invoke.exceptions import Exit

from ops.envconfig import REPO_ROOT

APP_DIR = REPO_ROOT / "app"
DATA_DIR = REPO_ROOT / ".data"
PYTHON = shlex.quote(sys.executable)


def local_env(**extra: str) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "orderdesk.settings.local",
        "ORDERDESK_DATA_DIR": str(DATA_DIR),
    }
    env.update(extra)
    return env


def manage(c: Context, command: str, **env: str) -> None:
    with c.cd(str(APP_DIR)):
        c.run(f"{PYTHON} manage.py {command}", env=local_env(**env))


@task(help={"count": "how many orders", "if_empty": "only when there are no orders yet"})
def seed(c: Context, count: int = 200, if_empty: bool = False) -> None:
    """Insert fake orders into the local database."""
    if count < 1:
        raise Exit("--count must be at least 1")
    manage(c, f"seed_orders {count}" + (" --if-empty" if if_empty else ""))


@task
def migrate(c: Context) -> None:
    """Apply database migrations to the local database."""
    manage(c, "migrate --noinput")


@task(
    help={
        "host": "address to bind (default 127.0.0.1: only this machine)",
        "port": "port to serve on",
        "workers": "gunicorn worker processes",
        "seed_count": "demo orders to create when the database is empty (0: none)",
    }
)
def up(
    c: Context, host: str = "127.0.0.1", port: int = 8000, workers: int = 2, seed_count: int = 200
) -> None:
    """Migrate, seed a demo set when empty, and serve the app with gunicorn on SQLite."""
    if not 0 < port < 65536:
        raise Exit(f"--port {port} is not a TCP port; use 1-65535")
    if workers < 1:
        raise Exit("--workers must be at least 1")
    DATA_DIR.mkdir(exist_ok=True)
    migrate(c)
    if seed_count:
        seed(c, count=seed_count, if_empty=True)
    # Several workers share one set of metrics through this directory (gunicorn empties it).
    metrics_dir = DATA_DIR / "metrics"
    metrics_dir.mkdir(exist_ok=True)
    print(f"Orderdesk: http://{host}:{port}/  (Ctrl+C stops it)")
    with c.cd(str(APP_DIR)):
        c.run(
            f"{PYTHON} -m gunicorn -c gunicorn.conf.py orderdesk.wsgi:application",
            env=local_env(
                GUNICORN_BIND=f"{host}:{port}",
                GUNICORN_WORKERS=str(workers),
                PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
            ),
        )


ns = Collection("app", seed, migrate, up)
