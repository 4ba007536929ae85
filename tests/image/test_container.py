"""The built image on a real engine: hardened run, the app over HTTP, signals, bad secrets."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
import requests

from ops.image import common, registry, runner
from testkit.pgcluster import Cluster, find_bindir, temporary_cluster
from testkit.support import free_port, need_tool
from tests.image.conftest import Built

pytestmark = pytest.mark.slow

# gunicorn.conf.py's graceful_timeout is 20 s; an idle server must be well inside it.
GRACE_PERIOD_S = 20
READY_TIMEOUT_S = 60
HOST = "orderdesk.test"
# A Visa test number (passes the Luhn check), never a real card.
TEST_CARD = "4111 1111 1111 1111"


def docker_cli(
    engine_url: str, *args: str, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    cli = shutil.which("docker")
    assert cli is not None, "docker CLI missing (scripts/bootstrap --system)"
    return subprocess.run(
        [cli, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"DOCKER_HOST": engine_url, "PATH": "/usr/bin:/bin"},
        check=False,
        input=stdin,
    )


def secrets_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "secrets"
    runner.local_secrets(directory)
    return directory


def app_env() -> dict[str, str]:
    return {
        "DJANGO_ALLOWED_HOSTS": HOST,
        "ORDERDESK_AUTH": "local",
        "DJANGO_SECRET_KEY_FILE": "/run/secrets/orderdesk/django-secret-key",
        "ORDERDESK_CARD_KEY_FILE": "/run/secrets/orderdesk/card-fingerprint-key",
        "GUNICORN_WORKERS": "2",
    }


def issue_token(engine_url: str, ref: str, name: str, port: int, volumes: dict[Path, str]) -> str:
    """A clerk made by the image's own commands, the way an operator would on a pod."""

    def manage(suffix: str, *command: str, stdin: str | None = None) -> str:
        args = runner.hardened_run_args(
            ref,
            name=f"{name}-{suffix}",
            port=port,
            env=app_env(),
            volumes=volumes,
            command=["manage.py", *command],
        )
        if stdin is not None:
            args.insert(1, "--interactive")
        done = docker_cli(engine_url, *args, timeout=120, stdin=stdin)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    password = uuid.uuid4().hex + "-Pw"
    made = manage(
        "user",
        "orderdesk_user",
        "image-clerk",
        "--role",
        "clerk",
        "--password-stdin",
        stdin=password + "\n",
    )
    assert password not in made
    issued = manage("token", "orderdesk_token", "image-clerk", "--days", "1")
    return issued.strip().splitlines()[-1].split()[-1]


def run_python(engine: docker.DockerClient, ref: str, code: str) -> str:
    output = engine.containers.run(
        ref, ["-c", code], network_mode="none", remove=True, user="10001"
    )
    return bytes(output).decode().strip()


@pytest.fixture
def served(
    built: Built, engine: docker.DockerClient, engine_url: str, tmp_path: Path
) -> Iterator[tuple[str, str, str]]:
    """The app running hardened: migrate and make a clerk with an API token in one-off
    containers, serve from another."""
    data = tmp_path / "data"
    data.mkdir()
    runner.give_to_app_user(data, 0o700)
    volumes = {secrets_dir(tmp_path): "/run/secrets/orderdesk:ro", data: "/var/lib/orderdesk"}
    port = free_port()
    name = f"orderdesk-test-{uuid.uuid4().hex[:8]}"
    migrate = docker_cli(
        engine_url,
        *runner.hardened_run_args(
            built.ref,
            name=name + "-migrate",
            port=port,
            env=app_env(),
            volumes=volumes,
            command=["manage.py", "migrate", "--noinput"],
        ),
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    token = issue_token(engine_url, built.ref, name, port, volumes)
    # Kept after exit (removed below) so the test can read the shutdown logs.
    args = runner.hardened_run_args(
        built.ref, name=name, port=port, env=app_env(), volumes=volumes, detach=True, remove=False
    )
    started = docker_cli(engine_url, *args)
    assert started.returncode == 0, started.stderr
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                if requests.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or slow on a busy machine
                pass
            state = engine.containers.get(name).attrs["State"]
            assert state["Running"], (
                "container died:\n" + docker_cli(engine_url, "logs", name).stdout
            )
            assert time.monotonic() < deadline, "no /readyz 200 within the timeout"
            time.sleep(0.2)
        yield base_url, name, token
    finally:
        docker_cli(engine_url, "rm", "--force", name)


def test_the_image_has_no_shell_package_manager_or_coreutils(
    built: Built, engine: docker.DockerClient
) -> None:
    """Nothing in the pod may need one: probes are HTTP, preStop is the kubelet's sleep."""
    found = run_python(
        engine,
        built.ref,
        "import os, shutil; print(sorted(n for n in ('sh', 'bash', 'dash', 'apt-get', 'dpkg', "
        "'ls', 'cat', 'sleep', 'env', 'gcc', 'pip') if shutil.which(n) or "
        "os.path.lexists('/bin/' + n) or os.path.lexists('/usr/bin/' + n)))",
    )
    assert found == "[]", found
    with pytest.raises(docker.errors.APIError, match="no such file or directory"):
        engine.containers.run(built.ref, ["-c", "true"], entrypoint=["/bin/sh"], remove=True)


def test_the_venv_runs_on_the_base_images_own_python(
    built: Built, engine: docker.DockerClient
) -> None:
    """The build stage's Python is the runtime's: the venv's interpreter is the base's."""
    found = run_python(
        engine,
        built.ref,
        "import os, sys, ssl, sqlite3; "
        "print(sys.prefix, os.path.realpath(sys.executable), ssl.OPENSSL_VERSION[:7])",
    )
    prefix, interpreter, openssl = found.split(" ", 2)
    assert prefix == "/opt/venv"
    assert interpreter == "/usr/bin/python3.13"
    assert openssl == "OpenSSL"


def test_the_image_is_within_the_size_goal(built: Built, engine: docker.DockerClient) -> None:
    """Uncompressed, as `docker image inspect` reports it (bench/image.py has the breakdown)."""
    image = engine.images.get(built.ref)
    size_mb = int(image.attrs["Size"]) / 1e6
    layers = sorted(
        ((int(entry["Size"]) / 1e6, entry["CreatedBy"][:90]) for entry in image.history()),
        reverse=True,
    )
    assert size_mb <= common.SIZE_GOAL_MB, (
        f"{built.ref} is {size_mb:.1f} MB, over the {common.SIZE_GOAL_MB:.0f} MB goal; "
        f"largest layers: {layers[:4]}"
    )


def test_hardened_run_flags_are_what_production_uses() -> None:
    args = runner.hardened_run_args("img:1", name="n", port=5001, env={}, detach=True)
    for flag in (
        "--read-only",
        "--cap-drop=ALL",
        "--user=10001:10001",
        "--security-opt=no-new-privileges",
        "--network=host",
    ):
        assert flag in args
    assert any(a.startswith("--tmpfs=/tmp") for a in args)
    assert "--env=GUNICORN_BIND=127.0.0.1:5001" in args
    assert args[-1] == "img:1"


def test_serves_orders_read_only_and_stops_cleanly_on_sigterm(
    served: tuple[str, str, str], engine: docker.DockerClient, engine_url: str
) -> None:
    base_url, name, token = served
    anonymous = {"Host": HOST, "X-Forwarded-Proto": "https"}
    refused = requests.get(f"{base_url}/api/orders", headers=anonymous, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    headers = anonymous | {"Authorization": f"Bearer {token}"}
    today = dt.date.today()
    order = {
        "user_id": "image-test",
        "store_code": "ST-01",
        "product_code": "SKU-42",
        "quantity": 3,
        "order_date": today.isoformat(),
        "shipping_date": (today + dt.timedelta(days=1)).isoformat(),
        "card_number": TEST_CARD,
    }
    created = requests.post(f"{base_url}/api/orders", json=order, headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["card"]["last4"] == "1111"
    assert "4111111111111111" not in created.text

    fetched = requests.get(f"{base_url}/api/orders/{body['id']}", headers=headers, timeout=10)
    assert fetched.status_code == 200
    assert fetched.json()["product_code"] == "SKU-42"
    assert fetched.json()["quantity"] == 3

    # Plain HTTP without the proxy header is redirected to HTTPS (production settings are on).
    plain = requests.get(
        f"{base_url}/api/orders", headers={"Host": HOST}, timeout=10, allow_redirects=False
    )
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")

    # The scrape answers any Host (Prometheus uses the pod IP) and aggregates both workers.
    metrics = requests.get(f"{base_url}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert 'orderdesk_orders_created_total{channel="api"} 1.0' in metrics.text
    assert "django_http_requests_total_by_view_transport_method_total" in metrics.text

    static = requests.get(f"{base_url}/static/orders/app.css", headers=headers, timeout=10)
    assert static.status_code == 200, "collectstatic output is not served"

    container = engine.containers.get(name)
    # gunicorn itself is PID 1 (exec form, no shell in between), as UID 10001.
    pid = container.attrs["State"]["Pid"]
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert any(b"gunicorn" in part for part in cmdline[:2]), cmdline
    status = Path(f"/proc/{pid}/status").read_text()
    assert "\nUid:\t10001\t10001\t10001\t10001\n" in status
    assert "\nCapEff:\t0000000000000000\n" in status

    # The root filesystem is read-only; /tmp and the metrics directory are not.
    probe = container.exec_run(
        ["python3", "-c", "import pathlib; pathlib.Path('/app/x').write_text('x')"]
    )
    assert probe.exit_code != 0
    assert b"Read-only file system" in probe.output
    for writable in ("/tmp", "/run/orderdesk/metrics"):  # noqa: S108 - inside the container
        ok = container.exec_run(
            ["python3", "-c", f"import pathlib; pathlib.Path('{writable}/probe').write_text('x')"]
        )
        assert ok.exit_code == 0, ok.output

    started = time.monotonic()
    container.kill(signal="SIGTERM")
    result = container.wait(timeout=GRACE_PERIOD_S + 5)
    elapsed = time.monotonic() - started
    logs = docker_cli(engine_url, "logs", name).stdout
    assert result["StatusCode"] == 0, logs[-2000:]
    assert elapsed < GRACE_PERIOD_S, f"took {elapsed:.1f}s to stop"
    assert "Shutting down" in logs or "Handling signal: term" in logs


def test_missing_secret_key_exits_at_once_naming_it(
    built: Built, engine: docker.DockerClient
) -> None:
    started = time.monotonic()
    container = engine.containers.run(
        built.ref,
        environment={
            "DJANGO_ALLOWED_HOSTS": HOST,
            "ORDERDESK_AUTH": "local",
            "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
        },
        network_mode="host",
        read_only=True,
        tmpfs={"/tmp": ""},  # noqa: S108 - the container's own tmpfs
        cap_drop=["ALL"],
        user="10001",
        detach=True,
    )
    try:
        result = container.wait(timeout=30)
        elapsed = time.monotonic() - started
        logs = container.logs(stdout=True, stderr=True).decode()
    finally:
        container.remove(force=True)
    assert result["StatusCode"] != 0, logs[-2000:]
    assert "DJANGO_SECRET_KEY is not set" in logs
    assert elapsed < 15, f"took {elapsed:.1f}s to give up"


def test_image_record_is_json_the_render_can_read(tmp_path: Path) -> None:
    record = registry.PushRecord(
        environment="local",
        repository="127.0.0.1:5000/orderdesk",
        tag="abc-local",
        digest="sha256:" + "0" * 64,
        git_commit="a" * 40,
        image_id="sha256:" + "1" * 64,
        pushed_at="2026-01-01T00:00:00+00:00",
    )
    path = tmp_path / "local" / "image.json"
    registry.write_record(path, record)
    data = json.loads(path.read_text())
    assert data["reference"] == "127.0.0.1:5000/orderdesk@sha256:" + "0" * 64
    assert list(path.parent.iterdir()) == [path]


@pytest.fixture
def tls_postgres() -> Iterator[Cluster]:
    """A PostgreSQL server that, like Azure's, accepts TCP clients over TLS only."""
    bindir = find_bindir()
    need_tool(str(bindir / "initdb") if bindir else "initdb", "PostgreSQL server binaries")
    with temporary_cluster(bindir, tls=True) as cluster:
        yield cluster


# Azure Database for PostgreSQL flexible server enforces TLS (1.2+) for every connection by default:
# https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-connect-tls-ssl
def test_azure_postgresql_enforces_tls_and_the_images_libpq_speaks_it(
    built: Built,
    engine: docker.DockerClient,
    engine_url: str,
    tls_postgres: Cluster,
    tmp_path: Path,
) -> None:
    """The image's psycopg is its C implementation on Debian's libpq, built with OpenSSL: it
    connects with sslmode=require and verify-full, and the app migrates over TLS."""
    assert tls_postgres.ca_file is not None
    code = (
        "import json, os, psycopg\n"
        "url = os.environ['PG_URL']\n"
        "out = {'impl': psycopg.pq.__impl__, 'libpq': psycopg.pq.version()}\n"
        "verify = {'sslrootcert': '/run/tls/ca.crt'}\n"
        "for mode, extra in (('require', {}), ('verify-full', verify)):\n"
        "    with psycopg.connect(url, sslmode=mode, connect_timeout=10, **extra) as conn:\n"
        "        ssl, version = conn.execute(\n"
        "            'select ssl, version from pg_stat_ssl where pid = pg_backend_pid()'\n"
        "        ).fetchone()\n"
        "        out[mode] = {'in_use': conn.pgconn.ssl_in_use, 'server_sees_ssl': ssl,\n"
        "                     'protocol': version}\n"
        "try:\n"
        "    psycopg.connect(url, sslmode='disable', connect_timeout=10).close()\n"
        "    out['plain'] = 'connected'\n"
        "except psycopg.OperationalError as exc:\n"
        "    out['plain'] = str(exc)\n"
        "print(json.dumps(out))\n"
    )
    output = engine.containers.run(
        built.ref,
        ["-c", code],
        environment={"PG_URL": tls_postgres.url},
        volumes={str(tls_postgres.ca_file): {"bind": "/run/tls/ca.crt", "mode": "ro"}},
        network_mode="host",
        read_only=True,
        cap_drop=["ALL"],
        user="10001",
        remove=True,
    )
    found = json.loads(bytes(output).decode())
    assert found["impl"] == "c", found
    assert found["libpq"] >= 170000, found
    for mode in ("require", "verify-full"):
        assert found[mode]["in_use"] is True, found
        assert found[mode]["server_sees_ssl"] is True, found
        assert found[mode]["protocol"] in {"TLSv1.2", "TLSv1.3"}, found
    # The server takes nothing but TLS, so the app's own connection below cannot be plain.
    assert "no encryption" in found["plain"], found

    # The app itself (production settings, its PostgreSQL backend) migrates over TLS.
    data = tmp_path / "data"
    data.mkdir()
    runner.give_to_app_user(data, 0o700)
    migrate = docker_cli(
        engine_url,
        *runner.hardened_run_args(
            built.ref,
            name=f"orderdesk-test-{uuid.uuid4().hex[:8]}",
            port=free_port(),
            # What manifests/components/postgresql sets for Azure.
            env={**app_env(), "DATABASE_URL": tls_postgres.url, "DATABASE_REQUIRE_TLS": "true"},
            volumes={
                secrets_dir(tmp_path): "/run/secrets/orderdesk:ro",
                data: "/var/lib/orderdesk",
            },
            command=["manage.py", "migrate", "--noinput"],
        ),
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "Applying orders." in migrate.stdout, migrate.stdout
