"""Cold and warm build times of app/Dockerfile: the classic builder against BuildKit, side by
side in one run, on the same engine, bases and context.

    flock /tmp/orderdesk-sandbox.lock nice -n 0 .venv/bin/python bench/image_build.py

BuildKit is what image.build uses (ops/image/builder.py: the engine's BuildKit through the first
docker CLI on PATH that drives it, the context as a tar on its stdin). The classic builder is the
Docker SDK's /build, what image.build used before, kept here only for the comparison. Both get
builder.build_context()'s tar (.dockerignore applied, the host's CA bundle added).

Builds, each timed:
- cold: no layer cache (PyPI and Debian downloads, psycopg-c compiled);
- warm: one new module under app/ (what a code change costs: the dependency layers stay), twice,
  each with a module of its own, written into app/ for the build and removed after it.
The engine's BuildKit cache is pruned before and after; results go to bench/results/.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ops import envconfig, sandbox  # noqa: E402
from ops.core.run import Runner  # noqa: E402
from ops.image import builder  # noqa: E402
from ops.image.common import DOCKERFILE, REPO_ROOT  # noqa: E402

DOCKERFILE_IN_CONTEXT = DOCKERFILE.relative_to(REPO_ROOT).as_posix()
BUILD_TIMEOUT_S = 1800
WARM_RUNS = 2
# Where a warm build's code change goes: a module nothing imports, inside the context.
CHANGE_DIR = ROOT / "app" / "orderdesk"


def context_tar() -> bytes:
    """The build context image.build sends (.dockerignore, the host's CA bundle)."""
    with builder.build_context(builder.build_ca_bundle(None)) as archive:
        return archive.read()


@contextlib.contextmanager
def code_change() -> Iterator[None]:
    """A new module under app/ for one build: COPY app/ and everything after it run again."""
    change = CHANGE_DIR / f"bench_change_{uuid.uuid4().hex[:8]}.py"
    change.write_text(f"CHANGE = {uuid.uuid4().hex!r}\n", encoding="utf-8")
    try:
        yield
    finally:
        change.unlink()


def classic_build(
    engine: docker.DockerClient, context: bytes, ref: str, buildargs: dict[str, str], nocache: bool
) -> float:
    """The Docker SDK's /build: the classic builder."""
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


def buildkit_build(engine_url: str, ref: str, buildargs: dict[str, str]) -> float:
    """image.build's own build (ops/image/builder.py), its output kept quiet."""
    started = time.monotonic()
    builder.build_image(
        Runner(),
        engine_url,
        ref,
        buildargs=buildargs,
        ca_bundle=builder.build_ca_bundle(None),
        network="host",
        show_output=False,
    )
    return time.monotonic() - started


def prune_buildkit_cache(cli: builder.BuildKitCli, engine_url: str) -> None:
    """Drop BuildKit's cache (the classic builder's layers are images, removed with them)."""
    Runner().run(
        [cli.program, "builder", "prune", "--all", "--force"],
        env=cli.env(engine_url),
        timeout=300,
    )


def measure(
    engine: docker.DockerClient,
    engine_url: str,
    cli: builder.BuildKitCli,
    buildargs: dict[str, str],
) -> dict[str, dict[str, float]]:
    """Every build of the module's docstring, in order; removes what it built."""
    ref = f"orderdesk-bench-build:{uuid.uuid4().hex[:8]}"
    times: dict[str, dict[str, float]] = {"classic": {}, "buildkit": {}}
    built: set[str] = set()

    def keep(label: str, elapsed: float) -> float:
        built.add(str(engine.images.get(ref).id))
        # As it goes: a run cut short still shows what it measured.
        print(f"{label}: built in {elapsed:.1f} s", flush=True)
        return elapsed

    def warm_runs(name: str, build: Callable[[], float]) -> None:
        for run in range(1, WARM_RUNS + 1):
            with code_change():
                times[name][f"warm {run}"] = keep(f"{name} warm {run}", build())

    prune_buildkit_cache(cli, engine_url)
    try:
        context = context_tar()
        times["classic"]["cold"] = keep(
            "classic cold", classic_build(engine, context, ref, buildargs, nocache=True)
        )
        # The classic builder does not reuse a --no-cache build's layers at once: one untimed
        # build with the cache primes it (as bench/image.py does).
        keep("classic prime", classic_build(engine, context, ref, buildargs, nocache=False))
        warm_runs(
            "classic",
            lambda: classic_build(engine, context_tar(), ref, buildargs, nocache=False),
        )

        prune_buildkit_cache(cli, engine_url)
        times["buildkit"]["cold"] = keep(
            "BuildKit cold", buildkit_build(engine_url, ref, buildargs)
        )
        warm_runs("buildkit", lambda: buildkit_build(engine_url, ref, buildargs))
    finally:
        for image_id in built:
            with contextlib.suppress(docker.errors.APIError):
                engine.images.remove(image_id, force=True)
        prune_buildkit_cache(cli, engine_url)
    return times


def main() -> int:
    cli = builder.buildkit_cli(Runner())
    # An engine this had to start stops after: left running, the next test run would take it
    # for a developer's and leave it running too (sandbox.left_as_found).
    with sandbox.left_as_found():
        engine_url = sandbox.ensure_engine()
        engine = sandbox.engine_client(engine_url, timeout=BUILD_TIMEOUT_S)
        buildargs = builder.base_images_for(engine, envconfig.load("local"))
        load_before = os.getloadavg()
        times = measure(engine, engine_url, cli, buildargs)
        load_after = os.getloadavg()

    results = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average_before": [round(value, 1) for value in load_before],
        "load_average_after": [round(value, 1) for value in load_after],
        "buildkit_via": str(cli),
        "build_s": {
            name: {label: round(seconds, 1) for label, seconds in runs.items()}
            for name, runs in times.items()
        },
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"image-build-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")

    print(f"BuildKit through {cli}")
    print(f"{'build':<12}{'classic (SDK /build)':>22}{'BuildKit (image.build)':>24}")
    for label in ("cold", *(f"warm {run}" for run in range(1, WARM_RUNS + 1))):
        classic = times["classic"].get(label)
        buildkit = times["buildkit"].get(label)
        classic_text = f"{classic:.1f} s" if classic is not None else "-"
        buildkit_text = f"{buildkit:.1f} s" if buildkit is not None else "-"
        print(f"{label:<12}{classic_text:>22}{buildkit_text:>24}")
    print(f"load average before {' '.join(f'{value:.1f}' for value in load_before)}")
    print(f"load average after  {' '.join(f'{value:.1f}' for value in load_after)}")
    print(f"results             {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
