"""Run the real app under gunicorn for a test: its own data dir, port and metrics directory."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from ops.core import processes
from testkit.support import free_port, wait_for_http

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_DIR = REPO_ROOT / "app"
# gunicorn's own graceful stop is GUNICORN_GRACEFUL_TIMEOUT (5 s here), then its workers are killed.
STOP_GRACE_S = 15


@dataclass
class AppServer:
    url: str
    process: processes.Process
    log_path: Path
    data_dir: Path
    metrics_dir: Path
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def user(self, name: str, role: str, password: str) -> None:
        """A local account in this server's database, made by the app's own command."""
        manage(
            self.env,
            "orderdesk_user",
            name,
            "--role",
            role,
            "--password-stdin",
            stdin=password + "\n",
        )

    def token(self, role: str = "clerk", *, read_only: bool = False) -> str:
        """An API token of a new user with `role`, issued by the app's own command."""
        name = f"{role}-{secrets.token_hex(4)}"
        self.user(name, role, secrets.token_urlsafe(16))
        flags = ["--read-only"] if read_only else []
        issued = manage(self.env, "orderdesk_token", name, *flags)
        return issued.strip().splitlines()[-1].split()[-1]

    def bearer(self, role: str = "clerk") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def signed_in(self, role: str = "clerk") -> requests.Session:
        """A browser-like session of a new user with `role`, signed in through the form."""
        name, password = f"{role}-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
        self.user(name, role, password)
        return sign_in(self.url, name, password)


def sign_in(url: str, username: str, password: str) -> requests.Session:
    """Through the sign-in page, with its CSRF token, as a browser would. The session's Cookie
    header is set by hand: production's cookies are Secure, which a cookie jar keeps from plain
    HTTP on the loopback."""
    page = requests.get(f"{url}/auth/sign-in", timeout=10)
    cookies = {cookie.name: cookie.value for cookie in page.cookies}
    csrf = page.text.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    answer = requests.post(
        f"{url}/auth/sign-in",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
        headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text[:500]
    cookies |= {cookie.name: cookie.value for cookie in answer.cookies}
    session = requests.Session()
    session.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return session


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run a management command with the app's environment; its standard output."""
    # A command is no gunicorn worker: its metrics files (written at import for the pre-declared
    # counters) would pass for another worker's in the workers' directory.
    command_env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=APP_DIR,
        env=command_env,
        check=False,
        capture_output=True,
        text=True,
        input=stdin,
    )
    if done.returncode != 0:
        raise AssertionError(f"manage.py {args[0]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@contextlib.contextmanager
def run_app(
    tmp_path: Path,
    *,
    workers: int = 2,
    settings: str = "orderdesk.settings.production",
    extra_env: dict[str, str] | None = None,
    wait_ready: bool = True,
    migrate: bool = True,
) -> Iterator[AppServer]:
    """gunicorn with production settings (plain HTTP allowed) on a fresh SQLite file by default."""
    port = free_port()
    data_dir = tmp_path / "data"
    metrics_dir = tmp_path / "metrics"
    data_dir.mkdir(exist_ok=True)
    metrics_dir.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DJANGO_SETTINGS_MODULE": settings,
        "DJANGO_SECRET_KEY": "test-" + "k" * 60,  # pragma: allowlist secret
        "ORDERDESK_CARD_KEY": "test-card-key",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "ORDERDESK_AUTH": "local",
        "ORDERDESK_DATA_DIR": str(data_dir),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": "2",
        "GUNICORN_GRACEFUL_TIMEOUT": "5",
    }
    env.update(extra_env or {})
    if settings.endswith("production"):
        env.setdefault("STATIC_ROOT", str(tmp_path / "static"))
        manage(env, "collectstatic", "--noinput")
    if migrate:
        manage(env, "migrate", "--noinput")
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    log_path = tmp_path / "gunicorn.log"
    process = processes.spawn(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "orderdesk.wsgi"],
        log=log_path,
        cwd=APP_DIR,
        env=env,
        replace_env=True,
    )
    url = f"http://127.0.0.1:{port}"
    server = AppServer(url, process, log_path, data_dir, metrics_dir, env)
    try:
        if wait_ready:
            wait_for_http(f"{url}/readyz", process)
        yield server
    finally:
        processes.stop([process], grace=STOP_GRACE_S)
