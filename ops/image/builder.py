"""Building app/Dockerfile with BuildKit: the context, the CA bundle, the docker CLI, the build.

The build goes through the docker CLI, since the Docker SDK speaks only the classic builder's
/build. BuildKit itself is the engine's (dockerd has it built in); a CLI drives it in one of two
ways, and `buildkit_cli` takes the first `docker` on PATH that can:
- `docker buildx build` when the buildx plugin answers (GitHub's and Azure's ubuntu-24.04
  runners, Docker Desktop, Debian trixie's `docker-buildx` package);
- `docker build` with DOCKER_BUILDKIT=1 from a CLI older than 23.0, whose BuildKit client is
  built in (Debian bookworm's docker.io 20.10). From 23.0 `docker build` is an alias of
  `docker buildx build` and needs the plugin (moby/moby v23.0.0 release notes).
The Dockerfile stays free of BuildKit-only syntax (`# syntax=`, `RUN --mount`), so the classic
builder still builds it too (`docker build` with DOCKER_BUILDKIT=0; bench/image_build.py).
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker
from docker.utils.build import exclude_paths
from invoke import Context

from ops import envconfig
from ops.core.run import RunFailed, Runner
from ops.image.common import DOCKERFILE, DOCKERIGNORE, REPO_ROOT, ImageError, setting
from ops.sandbox.stand_ins import (
    BUILD_STAND_IN,
    RUNTIME_STAND_IN,
    StandInError,
    import_stand_in,
)


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
    """The context as a tar in memory, with the CA bundle added (never written into the tree).

    GNU tar, not Python's default PAX format: PAX gives every file a header of its own (its
    mtime is a float), and the docker CLI takes stdin for a tar only when the first 1024 bytes
    hold a whole tar header (docker/buildx build/opt.go peeks archiveHeaderSize * 2 for
    moby/buildkit util/archiveutil.IsArchive); a PAX entry's header comes after 1024 bytes,
    and the CLI then reads the tar as a Dockerfile ("ambiguous Dockerfile source").
    """
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in context_files():
            tar.add(REPO_ROOT / name, arcname=name, recursive=False)
        if ca_bundle is not None:
            content = ca_bundle.read_bytes()
            info = tarfile.TarInfo("build-ca.pem")
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    archive.seek(0)
    return archive


def base_images_for(
    engine: docker.DockerClient, environment: envconfig.Environment
) -> dict[str, str]:
    """Build args naming the bases: the sandbox's stand-ins (ops/sandbox/stand_ins.py) for
    `local`; none (the Dockerfile's pinned defaults) elsewhere."""
    if environment.registry.kind != "local":
        return {}
    try:
        return {
            "BUILD_IMAGE": import_stand_in(engine, BUILD_STAND_IN),
            "BASE_IMAGE": import_stand_in(engine, RUNTIME_STAND_IN),
        }
    except StandInError as exc:
        raise ImageError(str(exc)) from exc


# A cold build takes 1.5 min at low load, 5 at load 15 (docs/image.md); half an hour means stuck.
BUILD_TIMEOUT_S = 1800
# `docker buildx version` and `docker --version` answer without the engine.
PROBE_TIMEOUT_S = 30
# How many lines of a failed build's output its error quotes: the failing step and its error.
BUILD_TAIL_LINES = 25
# Client versions whose `docker build` drives BuildKit itself with DOCKER_BUILDKIT=1: from 18.09
# (BuildKit's first release in the CLI) to before 23.0 (where `docker build` became buildx's).
BUILT_IN_CLIENT = ((18, 9), (23, 0))
INSTALL_BUILDX = (
    "install Docker's buildx plugin (https://github.com/docker/buildx#installing; on Debian "
    "trixie `apt-get install docker-buildx`), or put a docker CLI older than 23.0 on PATH "
    "(Debian bookworm's docker.io)"
)


@dataclass(frozen=True)
class BuildKitCli:
    """A docker CLI that drives the engine's BuildKit, and how."""

    program: str
    version: str
    buildx: bool

    def __str__(self) -> str:
        how = "buildx plugin" if self.buildx else "built-in BuildKit client"
        return f"{self.program} (docker {self.version}, {how})"

    def build_command(self) -> list[str]:
        if self.buildx:
            # --load: the docker driver loads the image into the engine's image store anyway;
            # other drivers only do with it (docs.docker.com/build/builders/drivers/). A builder
            # of another driver (`docker buildx use`) could not see the local bases either
            # (moby/buildkit#2343): `default` is the docker driver of the DOCKER_HOST engine.
            return [self.program, "buildx", "build", "--builder", "default", "--load"]
        return [self.program, "build"]

    def env(self, engine_url: str) -> dict[str, str]:
        return {"DOCKER_HOST": engine_url, "DOCKER_BUILDKIT": "1"}


def docker_programs(search_path: str) -> list[Path]:
    """Every `docker` on the search path, in order, each file once (/bin is /usr/bin on merged-usr
    systems)."""
    found: dict[Path, Path] = {}
    for directory in search_path.split(os.pathsep):
        candidate = Path(directory or ".") / "docker"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            found.setdefault(candidate.resolve(), candidate)
    return list(found.values())


def client_version(runner: Runner, program: Path) -> tuple[str, tuple[int, int] | None]:
    """`docker --version`: "Docker version 20.10.24+dfsg1, build 297e128"."""
    result = runner.run([program, "--version"], timeout=PROBE_TIMEOUT_S, warn=True)
    found = re.search(r"version (\d+)\.(\d+)\S*", result.stdout or "")
    if result.exited != 0 or not found:
        return "", None
    version = found.group(0).removeprefix("version ").rstrip(",")
    return version, (int(found.group(1)), int(found.group(2)))


def buildkit_cli(runner: Runner, search_path: str | None = None) -> BuildKitCli:
    """The first `docker` on PATH (or `search_path`) that drives BuildKit; an ImageError naming
    the fix when none does."""
    search_path = os.environ.get("PATH", "") if search_path is None else search_path
    programs = docker_programs(search_path)
    # The questions only read the CLI's version, so they are asked in a dry run too: the build
    # line it prints is then the one a real run would start.
    if runner.dry:
        runner = Runner(runner.c, dry=False)
    if not programs:
        raise ImageError(f"no docker CLI on PATH; {INSTALL_BUILDX}")
    tried = []
    try:
        for program in programs:
            version, numbers = client_version(runner, program)
            buildx = runner.run([program, "buildx", "version"], timeout=PROBE_TIMEOUT_S, warn=True)
            if buildx.exited == 0:
                return BuildKitCli(str(program), version, buildx=True)
            if numbers is not None and BUILT_IN_CLIENT[0] <= numbers < BUILT_IN_CLIENT[1]:
                return BuildKitCli(str(program), version, buildx=False)
            tried.append(f"{program} (docker {version or 'of unknown version'}, no buildx)")
    except RunFailed as exc:
        raise ImageError(f"asking a docker CLI what it can do failed: {exc}") from exc
    raise ImageError(
        f"no docker CLI on PATH can build with BuildKit (tried {'; '.join(tried)}); "
        + INSTALL_BUILDX
    )


def build_command(
    cli: BuildKitCli,
    ref: str,
    *,
    buildargs: dict[str, str],
    labels: dict[str, str],
    network: str,
    iidfile: Path,
) -> list[str]:
    """The build's command line; the context is a tar on stdin (`-`), the Dockerfile a path in it.

    No --pull: BuildKit in dockerd looks a FROM image up in the engine's image store first and
    asks a registry only when it is not there (moby builder/builder-next/adapters/containerimage/
    pull.go, ResolveModeDefault), so the local stand-in bases build with no registry reachable.
    --network host makes buildx ask for the network.host entitlement itself (docker/buildx
    build/opt.go), which dockerd grants by default.
    """
    argv = [*cli.build_command(), "--file", DOCKERFILE.relative_to(REPO_ROOT).as_posix()]
    argv += ["--tag", ref, "--network", network, "--progress", "plain", "--iidfile", str(iidfile)]
    for name, value in buildargs.items():
        argv += ["--build-arg", f"{name}={value}"]
    for name, value in labels.items():
        argv += ["--label", f"{name}={value}"]
    return [*argv, "-"]


def build_image(
    runner: Runner,
    engine_url: str,
    ref: str,
    *,
    buildargs: dict[str, str],
    ca_bundle: Path | None,
    network: str,
    labels: dict[str, str] | None = None,
    show_output: bool = True,
) -> str:
    """Build app/Dockerfile with BuildKit on the engine at `engine_url`; return the image id
    ("" in a dry run)."""
    cli = buildkit_cli(runner)
    with build_context(ca_bundle) as archive:
        context = archive.read()
    with tempfile.TemporaryDirectory(prefix="orderdesk-build-") as temp:
        iidfile = Path(temp) / "image-id"
        argv = build_command(
            cli, ref, buildargs=buildargs, labels=labels or {}, network=network, iidfile=iidfile
        )
        try:
            result = runner.run(
                argv,
                timeout=BUILD_TIMEOUT_S,
                env=cli.env(engine_url),
                input=context,
                hide=not show_output,
                warn=True,
            )
        except RunFailed as exc:  # past the timeout, or the CLI could not start
            raise ImageError(f"docker build did not finish: {exc}") from exc
        if runner.dry:  # `invoke --dry`: the Runner printed the command and built nothing
            return ""
        image_id = iidfile.read_text(encoding="utf-8").strip() if iidfile.is_file() else ""
    if result.exited != 0 or not image_id:
        # --progress plain writes the build's log to stderr.
        output = f"{result.stdout or ''}{result.stderr or ''}".splitlines()
        tail = "\n".join("    " + line for line in output[-BUILD_TAIL_LINES:])
        raise ImageError(
            f"docker build failed (exit {result.exited}, BuildKit through {cli}); "
            f"last build output:\n{tail}\n  fix the step it names (app/Dockerfile, or what it "
            "copies or downloads) and run image.build again"
        )
    return image_id
