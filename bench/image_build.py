"""Cold and warm build times of app/Dockerfile: the classic builder against BuildKit with cache
mounts for apt and uv, side by side in one run, on the same engine, bases and context.

    flock /tmp/orderdesk-sandbox.lock .venv/bin/python bench/image_build.py [--docker PATH]

The classic builder is what ops/image/builder.py drives (the Docker SDK's /build, no BuildKit).
BuildKit is the engine's own (dockerd has it built in), reached through a docker CLI that can
drive it: one older than 23.0 (built-in client; Debian bookworm's docker.io 20.10) or any with
the buildx plugin (`go install github.com/docker/buildx/cmd/buildx@v0.38.2`, copied to
$DOCKER_CONFIG/cli-plugins/docker-buildx). The BuildKit Dockerfile is app/Dockerfile with
`RUN --mount=type=cache` on its apt and uv steps and their no-cache settings dropped, derived
here so the two never drift apart by hand.

Builds, each timed:
- cold: no layer cache (PyPI and Debian downloads, psycopg-c compiled). BuildKit twice: with its
  cache mounts empty (a new machine) and kept from the build before (what a changed uv.lock or a
  --no-cache rebuild finds on a machine that built before);
- warm: one file under app/ changed (what a code change costs: the dependency layers stay).
The engine's BuildKit cache is pruned before and after; results go to bench/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker.utils.build import create_archive

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ops import envconfig, sandbox  # noqa: E402
from ops.image import builder  # noqa: E402
from ops.image.common import DOCKERFILE  # noqa: E402

DOCKERFILE_IN_CONTEXT = "app/Dockerfile"
BUILD_TIMEOUT_S = 1800
APT_CACHE_MOUNTS = (
    "--mount=type=cache,target=/var/cache/apt,sharing=locked "
    "--mount=type=cache,target=/var/lib/apt/lists,sharing=locked"
)
UV_CACHE_MOUNTS = (
    "--mount=type=cache,target=/root/.cache/uv --mount=type=cache,target=/root/.cache/pip"
)
# (a pattern of app/Dockerfile, what the BuildKit variant says instead): each must match once.
CACHE_MOUNT_EDITS = (
    # The caches stay in the mounts, never in a layer: no need to forbid them.
    (r"    PIP_NO_CACHE_DIR=1 \\\n", ""),
    (r"    UV_NO_CACHE=1 \\\n", ""),
    # debian:13-slim's docker-clean deletes each .deb after installing it: keep them, as
    # Docker's docs for apt cache mounts say (the lists and .debs stay in the mounts).
    (
        r"RUN apt-get update \\\n",
        f"RUN {APT_CACHE_MOUNTS} rm -f /etc/apt/apt.conf.d/docker-clean \\\n"
        "    && echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' "
        ">/etc/apt/apt.conf.d/keep-cache \\\n    && apt-get update \\\n",
    ),
    (r" \\\n    && rm -rf /var/lib/apt/lists/\*\n", "\n"),
    (
        r"RUN if \[ -f /src/build-ca.pem \]; then \\\n",
        f"RUN {UV_CACHE_MOUNTS} \\\n    if [ -f /src/build-ca.pem ]; then \\\n",
    ),
)


def cache_mount_dockerfile(classic: str) -> str:
    """app/Dockerfile with cache mounts for apt and uv (BuildKit only)."""
    derived = classic
    for pattern, replacement in CACHE_MOUNT_EDITS:
        derived, found = re.subn(pattern, replacement.replace("\\", "\\\\"), derived)
        if found != 1:
            raise SystemExit(
                f"{DOCKERFILE} no longer matches {pattern!r} exactly once: update "
                "bench/image_build.py's CACHE_MOUNT_EDITS"
            )
    return derived


def context_tar(dockerfile: str, extra: Iterable[tuple[str, str]] = ()) -> bytes:
    """The build context image.build sends (.dockerignore, the CA bundle), with this Dockerfile
    and any extra files (a changed file under app/ for a warm build)."""
    files = [name for name in builder.context_files() if name != DOCKERFILE_IN_CONTEXT]
    extras = [(DOCKERFILE_IN_CONTEXT, dockerfile), *extra]
    ca_bundle = builder.build_ca_bundle(None)
    if ca_bundle is not None:
        extras.append(("build-ca.pem", ca_bundle.read_text(encoding="utf-8")))
    archive = create_archive(root=str(ROOT), files=files, extra_files=extras)
    try:
        return bytes(archive.read())
    finally:
        archive.close()


def code_change() -> list[tuple[str, str]]:
    """A new module under app/: COPY app/ and everything after it run again."""
    return [("app/orderdesk/bench_change.py", f"CHANGE = {uuid.uuid4().hex!r}\n")]


def classic_build(
    engine: docker.DockerClient, context: bytes, ref: str, buildargs: dict[str, str], nocache: bool
) -> float:
    started = time.monotonic()
    for chunk in engine.api.build(
        fileobj=io.BytesIO(context),
        custom_context=True,
        dockerfile=DOCKERFILE_IN_CONTEXT,
        tag=ref,
        buildargs=buildargs,
        network_mode="host",
        nocache=nocache,
        pull=False,
        rm=True,
        forcerm=True,
        decode=True,
    ):
        if "error" in chunk:
            raise SystemExit(f"classic build failed: {chunk['error']}")
    return time.monotonic() - started


def buildkit_cli(requested: str) -> tuple[str, str]:
    """A docker CLI that drives the engine's BuildKit, and how (built-in client or buildx)."""
    candidates = [requested] if requested else []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        path = Path(directory) / "docker"
        if path.is_file() and os.access(path, os.X_OK) and str(path) not in candidates:
            candidates.append(str(path))
    tried = []
    for cli in candidates:
        version = subprocess.run(
            [cli, "version", "--format", "{{.Client.Version}}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        buildx = subprocess.run([cli, "buildx", "version"], capture_output=True, check=False)
        if buildx.returncode == 0:
            return cli, f"docker {version} + buildx"
        major = re.match(r"(\d+)\.", version)
        if major and int(major.group(1)) < 23:
            return cli, f"docker {version}, built-in BuildKit client"
        tried.append(f"{cli} ({version or 'no version'})")
    raise SystemExit(
        "no docker CLI here drives BuildKit: one older than 23.0 (Debian bookworm's docker.io) "
        "or one with the buildx plugin (go install github.com/docker/buildx/cmd/buildx@v0.38.2, "
        f"then copy it to ~/.docker/cli-plugins/docker-buildx); tried: {', '.join(tried)}"
    )


class BuildFailed(Exception):
    """A build failed; the message ends with its last lines of output."""


@dataclass(frozen=True)
class BuildKit:
    """The engine's BuildKit, through a docker CLI that drives it."""

    cli: str
    engine_url: str

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.engine_url, "DOCKER_BUILDKIT": "1"}

    def build(self, context: bytes, ref: str, buildargs: dict[str, str], nocache: bool) -> float:
        """The same context, unpacked into a directory: the CLI then sends the Dockerfile apart
        from the context, as for any directory (.dockerignore leaves app/Dockerfile out)."""
        with tempfile.TemporaryDirectory(prefix="orderdesk-bench-context-") as directory:
            with tarfile.open(fileobj=io.BytesIO(context)) as archive:
                archive.extractall(directory, filter="data")
            dockerfile = Path(directory) / DOCKERFILE_IN_CONTEXT
            argv = [self.cli, "build", "--network", "host", "--file", str(dockerfile)]
            argv += [part for item in buildargs.items() for part in ("--build-arg", "=".join(item))]
            argv += ["--tag", ref, "--progress", "plain", *(["--no-cache"] if nocache else [])]
            started = time.monotonic()
            done = subprocess.run(
                [*argv, directory],
                capture_output=True,
                env=self.env,
                timeout=BUILD_TIMEOUT_S,
                check=False,
            )
            elapsed = time.monotonic() - started
        if done.returncode != 0:
            # --progress plain writes the build's log to stderr.
            output = (done.stdout + done.stderr).decode(errors="replace")
            tail = output.splitlines()[-25:]
            raise BuildFailed("BuildKit build failed:\n" + "\n".join(tail))
        return elapsed

    def prune(self) -> None:
        """Drop BuildKit's cache, cache mounts included (the classic builder's layers are
        images, removed with them)."""
        prune = [self.cli, "builder", "prune", "--all", "--force"]
        subprocess.run(prune, capture_output=True, env=self.env, check=True)


def measure(
    engine: docker.DockerClient, buildkit: BuildKit, buildargs: dict[str, str]
) -> dict[str, dict[str, float]]:
    """Every build of the module's docstring, in order; removes what it built."""
    classic_dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    mounts_dockerfile = cache_mount_dockerfile(classic_dockerfile)
    ref = f"orderdesk-bench-build:{uuid.uuid4().hex[:8]}"
    classic: dict[str, float] = {}
    with_mounts: dict[str, float] = {}
    built: set[str] = set()

    def keep(elapsed: float) -> float:
        built.add(str(engine.images.get(ref).id))
        # As it goes: a run cut short still shows what it measured.
        print(f"built in {elapsed:.1f} s", flush=True)
        return elapsed

    buildkit.prune()
    try:
        context = context_tar(classic_dockerfile)
        classic["cold"] = keep(classic_build(engine, context, ref, buildargs, nocache=True))
        # The classic builder does not reuse a --no-cache build's layers at once: one untimed
        # build with the cache primes it (as bench/image.py does).
        keep(classic_build(engine, context, ref, buildargs, nocache=False))
        warm = context_tar(classic_dockerfile, code_change())
        classic["warm"] = keep(classic_build(engine, warm, ref, buildargs, nocache=False))

        context = context_tar(mounts_dockerfile)
        try:
            with_mounts["cold"] = keep(buildkit.build(context, ref, buildargs, nocache=True))
            again = buildkit.build(context, ref, buildargs, nocache=True)
            with_mounts["cold, cache mounts kept"] = keep(again)
            warm = context_tar(mounts_dockerfile, code_change())
            with_mounts["warm"] = keep(buildkit.build(warm, ref, buildargs, nocache=False))
        except BuildFailed as exc:
            # The classic builder's figures still stand: print them with the reason.
            print(exc, file=sys.stderr)
    finally:
        for image_id in built:
            with contextlib.suppress(docker.errors.APIError):
                engine.images.remove(image_id, force=True)
        buildkit.prune()
    return {"classic": classic, "buildkit": with_mounts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docker", default="", help="the docker CLI for BuildKit builds")
    options = parser.parse_args()

    cli, how = buildkit_cli(options.docker)
    engine_url = sandbox.ensure_engine()
    engine = sandbox.engine_client(engine_url, timeout=BUILD_TIMEOUT_S)
    buildargs = builder.base_images_for(engine, envconfig.load("local"))
    times = measure(engine, BuildKit(cli, engine_url), buildargs)

    load = os.getloadavg()
    results = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average_after": [round(value, 1) for value in load],
        "buildkit_via": f"{cli}: {how}",
        "build_s": {
            builder_name: {label: round(seconds, 1) for label, seconds in runs.items()}
            for builder_name, runs in times.items()
        },
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"image-build-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")

    print(f"BuildKit through {cli}: {how}")
    print(f"{'build':<28}{'classic':>10}{'BuildKit + cache mounts':>26}")
    for label in ("cold", "cold, cache mounts kept", "warm"):
        classic = times["classic"].get(label)
        buildkit = times["buildkit"].get(label)
        classic_text = f"{classic:.1f} s" if classic is not None else "-"
        buildkit_text = f"{buildkit:.1f} s" if buildkit is not None else "-"
        print(f"{label:<28}{classic_text:>10}{buildkit_text:>26}")
    print(f"load average after    {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"results               {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
