"""`invoke up` as a developer runs it, twice: the second never harms the first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from ops.toolchain import CACHE_DIR
from testkit import support
from testkit.support import free_port, invoke_argv
from tests.appserver import APP_DIR, REPO_ROOT, sign_in

pytestmark = pytest.mark.gunicorn


def up_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    # HOME is where gunicorn would put its control socket (~/.gunicorn/gunicorn.ctl).
    # The tools' cache stays the real one (it is found through HOME otherwise).
    return env | {
        "ORDERDESK_DATA_DIR": str(tmp_path / "data"),
        "HOME": str(home),
        "ORDERDESK_CACHE": str(CACHE_DIR),
    }


@contextmanager
def invoke_up(tmp_path: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        invoke_argv("up", "--seed-count", "3", "--workers", "1", *args),
        cwd=REPO_ROOT,
        env=up_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def read_until(process: subprocess.Popen[str], text: str, timeout: float = 90) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"invoke up ended before printing {text!r}:\n{''.join(lines)}")
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no {text!r} within {timeout}s:\n{''.join(lines)}")


def test_second_up_on_the_same_port_stops_before_touching_anything(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with invoke_up(tmp_path, "--port", str(port)) as first:
        lines = read_until(first, f"Orderdesk: {url}")
        # The URL is printed once the server answers, not before.
        assert requests.get(url, timeout=10).status_code == 200
        assert sum(url in line for line in lines) == 1
        metrics_dir = tmp_path / "data" / "metrics" / str(port)
        before = sorted(p.name for p in metrics_dir.glob("*.db"))
        assert before, "the first instance wrote no metrics: nothing to protect"

        second = support.invoke("up", "--port", str(port), env=up_env(tmp_path), timeout=60)
        assert second.returncode != 0
        assert f"port {port} is in use; try --port" in second.stderr
        assert "migrat" not in second.stdout.lower()
        assert sorted(p.name for p in metrics_dir.glob("*.db")) == before
        assert requests.get(url, timeout=10).status_code == 200

        # The app's own pages, not Django's debug pages, unless --debug is given.
        missing = requests.get(url + "no-such-page", timeout=10)
        assert missing.status_code == 404
        assert "There is nothing at this address." in missing.text
    assert not (tmp_path / "home" / ".gunicorn").exists(), "gunicorn made a control socket"


def test_gunicorn_refuses_a_metrics_directory_another_instance_uses(tmp_path: Path) -> None:
    port = free_port()
    with invoke_up(tmp_path, "--port", str(port)) as first:
        read_until(first, f"http://127.0.0.1:{port}/")
        requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        metrics_dir = tmp_path / "data" / "metrics" / str(port)
        before = sorted(p.name for p in metrics_dir.glob("*.db"))
        assert before
        intruder = subprocess.run(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "orderdesk.wsgi"],
            cwd=APP_DIR,
            env=up_env(tmp_path)
            | {
                "DJANGO_SETTINGS_MODULE": "orderdesk.settings.local",
                "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert intruder.returncode != 0
        assert "is in use by another running gunicorn" in intruder.stdout + intruder.stderr
        assert sorted(p.name for p in metrics_dir.glob("*.db")) == before


def test_gunicorn_names_a_bad_setting(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--check-config", "x:y"],
        cwd=APP_DIR,
        env=up_env(tmp_path) | {"GUNICORN_WORKERS": "two"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "GUNICORN_WORKERS='two' is not a whole number of at least 1" in result.stderr


def test_the_first_run_makes_an_admin_and_prints_its_password_once(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with invoke_up(tmp_path, "--port", str(port)) as first:
        lines = read_until(first, f"Orderdesk: {url}")
        told = [line for line in lines if line.startswith("First run: sign in as admin")]
        assert len(told) == 1, "".join(lines)
        password = told[0].split("with the password ")[1].split()[0]
        assert requests.get(url, timeout=10, allow_redirects=False).status_code == 302
        page = sign_in(url.rstrip("/"), "admin", password).get(url, timeout=10).text
        assert "Signed in as <strong>admin</strong> (admin)" in page
    with invoke_up(tmp_path, "--port", str(port)) as again:
        lines = read_until(again, f"Orderdesk: {url}")
        assert not any("First run" in line for line in lines)


def test_app_user_and_app_token_make_what_the_api_accepts(tmp_path: Path) -> None:
    env = up_env(tmp_path)

    def invoke(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return support.invoke(*args, env=env, timeout=120, stdin=stdin)

    assert invoke("app.migrate").returncode == 0
    password = "a long enough password 73"  # pragma: allowlist secret
    made = invoke("app.user", "dana", "--role", "clerk", "--password-stdin", stdin=password + "\n")
    assert made.returncode == 0, made.stderr
    assert "dana created: role clerk, active" in made.stdout
    assert password not in made.stdout + made.stderr
    weak = invoke("app.user", "eve", "--role", "viewer", "--password-stdin", stdin="12345\n")
    assert weak.returncode != 0
    assert "The password is refused" in weak.stderr
    issued = invoke("app.token", "dana", "--read-only", "--days", "3")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip().splitlines()[-1].split()[-1]
    assert token.startswith("odk_")
    port = free_port()
    with invoke_up(tmp_path, "--port", str(port)) as server:
        read_until(server, f"Orderdesk: http://127.0.0.1:{port}/")
        api = f"http://127.0.0.1:{port}/api/orders"
        assert requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=10).ok
        assert requests.get(api, timeout=10).status_code == 401


def test_up_sso_signs_in_through_a_local_entra_shaped_provider(tmp_path: Path) -> None:
    from tests.idp import require_provider_build

    require_provider_build()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with invoke_up(tmp_path, "--port", str(port), "--sso") as server:
        lines = "".join(read_until(server, f"Orderdesk: {url}"))
        assert "clerk" in lines, lines
        assert "viewer" in lines, lines
        page = requests.get(url + "auth/sign-in", timeout=10).text
        assert "Sign in with Microsoft" in page
        start = requests.get(url + "auth/oidc/start", timeout=10, allow_redirects=False)
        assert start.status_code == 302
        authorize = requests.get(start.headers["Location"], timeout=10)
        assert authorize.status_code == 200
        assert 'name="password"' in authorize.text.lower() or "Password" in authorize.text
