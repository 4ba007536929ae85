"""Running the image the way production does: hardened `docker run`, local keys, a smoke test."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ops import sandbox
from ops.core.ports import free_port
from ops.core.run import Runner
from ops.core.state import ensure_secret_files
from ops.core.wait import WaitTimeout
from ops.core.web import wait_for_status
from ops.image.common import APP_UID, ImageError


def hardened_run_args(
    ref: str,
    *,
    name: str,
    port: int,
    env: dict[str, str],
    volumes: dict[Path, str] | None = None,
    detach: bool = False,
    remove: bool = True,
    command: list[str] | None = None,
) -> list[str]:
    """`docker run` as production runs it: read-only root, no capabilities, UID 10001.

    Host network bound to 127.0.0.1 because the sandbox engine has no bridge to publish ports
    through; on Kubernetes the pod network plays that part.
    """
    args = [
        "run",
        *(["--rm"] if remove else []),
        f"--name={name}",
        "--read-only",
        "--tmpfs=/tmp:rw,noexec,nosuid,size=64m",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        f"--user={APP_UID}:{APP_UID}",
        "--network=host",
        "--env=GUNICORN_BIND=127.0.0.1:" + str(port),
    ]
    args += [f"--env={key}={value}" for key, value in sorted(env.items())]
    for host_path, container_path in (volumes or {}).items():
        args.append(f"--volume={host_path}:{container_path}")
    if detach:
        args.append("--detach")
    args.append(ref)
    args += command or []
    return args


def local_secrets(directory: Path) -> dict[str, Path]:
    """The local keys (ops.core.state, made once), readable by the app user as Key Vault's CSI
    mount makes them: variable -> file."""
    files = ensure_secret_files(directory)
    for path in files.values():
        give_to_app_user(path, 0o400)
    give_to_app_user(directory, 0o500)
    return files


def give_to_app_user(path: Path, mode: int) -> None:
    try:
        os.chown(path, APP_UID, APP_UID)
        path.chmod(mode)
    except PermissionError:
        # Not root (e.g. a rootless laptop engine): the container user reads through "other".
        path.chmod(mode | 0o044 | (0o011 if path.is_dir() else 0))


def docker_cli(engine_url: str) -> tuple[str, dict[str, str]]:
    cli = shutil.which("docker")
    if cli is None:
        raise ImageError(
            "docker CLI not found; run `scripts/bootstrap --system` (Debian: docker.io on "
            "bookworm, docker-cli on trixie)"
        )
    return cli, {**os.environ, "DOCKER_HOST": engine_url}


def local_run_args(
    ref: str, *, name: str, port: int, state: Path, data_dir: Path, detach: bool = False
) -> tuple[list[str], list[str]]:
    """`docker run` arguments that migrate, then serve, `ref` as production runs it: keys from
    state/secrets mounted as files, SQLite in data_dir (the image's ORDERDESK_DATA_DIR)."""
    secret_files = local_secrets(state / "secrets")
    app_env = {
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        # A laptop's run of the image: local accounts (invoke app.user makes one).
        "ORDERDESK_AUTH": "local",
        **{key: f"/run/secrets/orderdesk/{path.name}" for key, path in secret_files.items()},
    }
    volumes = {state / "secrets": "/run/secrets/orderdesk:ro", data_dir: "/var/lib/orderdesk"}
    migrate = hardened_run_args(
        ref,
        name=f"{name}-migrate",
        port=port,
        env=app_env,
        volumes=volumes,
        command=["manage.py", "migrate", "--noinput"],
    )
    serve = hardened_run_args(
        ref, name=name, port=port, env=app_env, volumes=volumes, detach=detach, remove=not detach
    )
    return migrate, serve


def smoke_test(reference: str, timeout_s: float = 60.0) -> None:
    """Run `reference` the way production does (hardened flags) and wait for /readyz 200.

    SQLite in a throwaway data dir and generated keys: it proves the artifact starts, migrates
    and serves, not the cluster's wiring. The container is removed whatever happens.
    """
    cli, cli_env = docker_cli(sandbox.ensure_engine())
    runner = Runner()
    port = free_port()
    name = f"orderdesk-smoke-{port}"
    with tempfile.TemporaryDirectory(prefix="orderdesk-smoke-") as temp:
        state = Path(temp)
        data_dir = state / "data"
        data_dir.mkdir()
        give_to_app_user(data_dir, 0o700)
        give_to_app_user(state, 0o755)
        migrate, serve = local_run_args(
            reference, name=name, port=port, state=state, data_dir=data_dir, detach=True
        )
        try:
            for args in (migrate, serve):
                done = runner.run([cli, *args], env=cli_env, timeout=180, warn=True)
                if done.exited != 0:
                    raise ImageError(f"`docker {args[0]} {name}` failed: {done.stderr.strip()}")
            url = f"http://127.0.0.1:{port}/readyz"
            try:
                wait_for_status(url, timeout=timeout_s, interval=0.2)
            except WaitTimeout as exc:
                logs = runner.run(
                    [cli, "logs", "--tail=20", name], env=cli_env, timeout=30, warn=True
                )
                raise ImageError(f"{exc}; last logs:\n{logs.stdout}{logs.stderr}") from exc
        finally:
            runner.run([cli, "rm", "--force", name], env=cli_env, timeout=60, warn=True)
