"""Benchmark the app image: size, `docker run` to /readyz, build cold/warm, SBOM + sign + verify.

    invoke sandbox.start && invoke image.build --env local
    .venv/bin/python bench/image.py [--runs 5] [--builds] [--supply-chain] [--image REF]

Goals (issue 13): <= 80 MB uncompressed on the production base; <= 3 s from `docker run` to a
200 from /readyz. The production runtime base (gcr.io/distroless/python3-debian13) cannot be
pulled here; the local stand-in is made from the very .debs that image is assembled from, so its
measured size is the estimate (--production-base-mb overrides it with a published figure).
--builds times a build without the layer cache (cold: PyPI downloads included) and one with it
(warm). --supply-chain pushes to the local registry under a throwaway state dir and times the
SBOM (syft), the signature + attestation (cosign) and the verification. Results go to
bench/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker.errors
from invoke import Config, Context

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import image_build  # noqa: E402
from ops import envconfig, sandbox  # noqa: E402
from ops.core.run import Runner  # noqa: E402
from ops.core.state import SECRET_FILES  # noqa: E402
from ops.core.target import Target  # noqa: E402
from ops.core.wait import WaitTimeout  # noqa: E402
from ops.core.web import wait_for_status  # noqa: E402
from ops.image import builder, common, inventory, registry, runner, signing, tasks  # noqa: E402
from ops.sandbox.stand_ins import RUNTIME_STAND_IN  # noqa: E402
from testkit.support import free_port  # noqa: E402

GOAL_SIZE_MB = common.SIZE_GOAL_MB
GOAL_READY_S = 3.0


def megabytes(size: int) -> float:
    return size / 1e6


def time_to_ready(engine_url: str, ref: str, secrets: Path) -> float:
    """Seconds from starting `docker run` to the first 200 from /readyz."""
    cli = shutil.which("docker")
    if cli is None:
        raise SystemExit(
            "docker CLI not found; run `scripts/bootstrap --system` (Debian: docker.io on "
            "bookworm, docker-cli on trixie)"
        )
    port = free_port()
    name = f"orderdesk-bench-{uuid.uuid4().hex[:8]}"
    args = runner.hardened_run_args(
        ref,
        name=name,
        port=port,
        env={
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "ORDERDESK_AUTH": "local",
            **{key: f"/run/secrets/orderdesk/{name}" for key, name in SECRET_FILES.items()},
            "DATABASE_URL": "sqlite:////tmp/orderdesk.sqlite3",
        },
        volumes={secrets: "/run/secrets/orderdesk:ro"},
        detach=True,
    )
    env = {"DOCKER_HOST": engine_url, "PATH": "/usr/bin:/bin"}
    started = time.monotonic()
    Runner().run([cli, *args], env=env, timeout=120)
    try:
        # A fine interval: the time to the first 200 is what is measured.
        wait_for_status(f"http://127.0.0.1:{port}/readyz", timeout=60, interval=0.02)
        return time.monotonic() - started
    except WaitTimeout as exc:
        raise SystemExit(f"{ref}: {exc}") from exc
    finally:
        Runner().run([cli, "rm", "--force", name], env=env, timeout=60, warn=True)


def time_builds(
    engine: docker.DockerClient, environment: envconfig.Environment
) -> dict[str, float]:
    """A build without the layer cache, then the same build with it, on the classic builder
    (bench/image_build.py times image.build's BuildKit builds, and a code change's, beside
    these)."""
    buildargs = builder.base_images_for(engine, environment)
    ref = f"orderdesk-bench:{uuid.uuid4().hex[:8]}"
    context = image_build.context_tar()
    try:
        cold = image_build.classic_build(engine, context, ref, buildargs, nocache=True)
        # The classic builder does not reuse a --no-cache build's layers at once: one untimed
        # build with the cache primes it, then the warm one is timed.
        image_build.classic_build(engine, context, ref, buildargs, nocache=False)
        warm = image_build.classic_build(engine, context, ref, buildargs, nocache=False)
    finally:
        engine.images.remove(ref, force=True)
    return {"cold": cold, "warm": warm}


def time_supply_chain(
    engine: docker.DockerClient, environment: envconfig.Environment, ref: str
) -> dict[str, float]:
    """Push to a throwaway repository, then time SBOM, sign + attest, verify (in process)."""
    repository = f"{environment.registry.login_server}/orderdesk-bench-{uuid.uuid4().hex[:8]}"
    bench_env = environment.model_copy(
        update={"app": environment.app.model_copy(update={"image_repository": repository})}
    )
    tag = ref.rsplit(":", 1)[1]
    engine.images.get(ref).tag(repository, tag)
    with tempfile.TemporaryDirectory(prefix="orderdesk-bench-sign-") as temp:
        state = Path(temp) / bench_env.name
        digest = registry.push_image(engine, f"{repository}:{tag}", log=io.StringIO())
        record = registry.PushRecord(
            environment=bench_env.name,
            repository=repository,
            tag=tag,
            digest=digest,
            git_commit=common.git("rev-parse", "HEAD"),
            image_id=str(engine.images.get(ref).id),
            pushed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        registry.write_record(state / "image.json", record)
        target = Target.of(Context(Config(overrides={"state_dir": temp})), bench_env)
        key = signing.signing_key(target)  # made outside the timings

        started = time.monotonic()
        record = inventory.generate(bench_env, record, state / inventory.SBOM_FILE)
        sbom_s = time.monotonic() - started

        started = time.monotonic()
        signing.sign(bench_env, key, record, state / inventory.SBOM_FILE)
        sign_s = time.monotonic() - started

        started = time.monotonic()
        signing.verify(bench_env, key, record.reference, record.digest, state / inventory.SBOM_FILE)
        verify_s = time.monotonic() - started

        # What deploy runs: the tag check and the verification, from the record.
        started = time.monotonic()
        tasks.verify_pushed(target)
        deploy_check_s = time.monotonic() - started
    engine.images.remove(f"{repository}:{tag}")
    return {
        "sbom_s": sbom_s,
        "sign_and_attest_s": sign_s,
        "verify_s": verify_s,
        "deploy_check_s": deploy_check_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="container starts to time")
    parser.add_argument("--builds", action="store_true", help="time a cold and a warm build")
    parser.add_argument(
        "--supply-chain", action="store_true", help="time SBOM, sign + attest and verify"
    )
    parser.add_argument(
        "--production-base-mb",
        type=float,
        default=0.0,
        help="uncompressed size of the production runtime base; default: the measured stand-in",
    )
    parser.add_argument(
        "--image",
        default="",
        help="an image already built to measure (e.g. main's, for a before/after); "
        "default: this checkout's `image.build --env local` tag",
    )
    options = parser.parse_args()

    engine_url = sandbox.ensure_engine()
    environment = envconfig.load("local")
    ref = options.image or common.image_ref(environment)
    engine = sandbox.engine_client(engine_url, timeout=1200)
    try:
        total = int(engine.images.get(ref).attrs["Size"])
    except docker.errors.ImageNotFound:
        raise SystemExit(f"{ref} is not built; run `invoke image.build --env local`") from None
    runtime_base = int(engine.images.get(RUNTIME_STAND_IN.image).attrs["Size"])
    added = total - runtime_base
    production_base_mb = options.production_base_mb or megabytes(runtime_base)
    production_estimate = production_base_mb + megabytes(added)

    secrets = ROOT / ".data" / "bench" / "secrets"
    runner.local_secrets(secrets)
    timings = [time_to_ready(engine_url, ref, secrets) for _ in range(options.runs)]

    layers = [
        {"mb": round(megabytes(int(entry["Size"])), 2), "created_by": entry["CreatedBy"][:100]}
        for entry in engine.images.get(ref).history()
        if entry["Size"]
    ]
    results: dict[str, object] = {
        "image": ref,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "runtime_base_mb": round(megabytes(runtime_base), 1),
        "local_image_mb": round(megabytes(total), 1),
        "added_layers_mb": round(megabytes(added), 1),
        "production_base_mb": round(production_base_mb, 1),
        "production_image_mb_estimated": round(production_estimate, 1),
        "layers": layers,
        "ready_s": {
            "runs": [round(t, 3) for t in timings],
            "min": round(min(timings), 3),
            "median": round(statistics.median(timings), 3),
            "max": round(max(timings), 3),
        },
    }
    builds = time_builds(engine, environment) if options.builds else {}
    supply = time_supply_chain(engine, environment, ref) if options.supply_chain else {}
    results["build_s"] = {k: round(v, 1) for k, v in builds.items()}
    results["supply_chain_s"] = {k: round(v, 2) for k, v in supply.items()}

    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"image-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")

    size_ok = production_estimate <= GOAL_SIZE_MB
    ready_ok = statistics.median(timings) <= GOAL_READY_S
    print(f"image                 {ref}")
    print(f"runtime base          {megabytes(runtime_base):6.1f} MB ({RUNTIME_STAND_IN.image})")
    print(f"local image           {megabytes(total):6.1f} MB")
    print(f"added by Dockerfile   {megabytes(added):6.1f} MB (venv, code, static, user)")
    for layer in layers:
        print(f"  layer {layer['mb']:6.2f} MB  {str(layer['created_by'])[:70] or '(runtime base)'}")
    print(
        f"production (estimate) {production_estimate:6.1f} MB = {production_base_mb:.1f} MB base "
        f"+ added; goal <= {GOAL_SIZE_MB:.0f} MB: {'met' if size_ok else 'MISSED'}"
    )
    print(
        f"docker run -> /readyz  median {statistics.median(timings):.2f} s "
        f"(min {min(timings):.2f}, max {max(timings):.2f}, {len(timings)} runs); "
        f"goal <= {GOAL_READY_S:.0f} s: {'met' if ready_ok else 'MISSED'}"
    )
    for label, seconds in builds.items():
        print(f"build, {label:<15}{seconds:6.1f} s")
    for label, seconds in supply.items():
        print(f"{label.removesuffix('_s').replace('_', ' '):<22}{seconds:6.2f} s")
    print(f"results               {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
