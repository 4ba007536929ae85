"""Benchmark: the local Kubernetes cluster, from build to a rolling update under load.

    .venv/bin/python bench/cluster.py               # start, deploy cold/warm, rolling update
    .venv/bin/python bench/cluster.py --cold-build  # rebuild the binaries from nothing (~20 min)

- cold build of tools/build/kubernetes: wall time, CPU time (user + system) and peak memory of the
  largest child (the Go compiler or linker), with an empty Go build cache (modules stay cached);
- cluster start to node Ready (and to CoreDNS + metrics-server Ready), from stopped;
- `invoke deploy --env local` cold (namespace gone, fresh cluster) and warm (right after);
- a rolling update to a new image under continuous load through the Service: its duration and the
  requests served and failed.

Goals (issue 11): start <= 20 s, warm deploy <= 60 s, 0 failed requests during an update.
Needs root and the local registry; never stops the shared Docker engine.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from ops import sandbox  # noqa: E402
from ops.core.run import Runner  # noqa: E402
from ops.core.wait import wait_until  # noqa: E402
from ops.image import registry  # noqa: E402
from ops.sandbox import cluster, layout  # noqa: E402
from testkit.cluster import kubectl  # noqa: E402
from testkit.support import invoke as invoke_process  # noqa: E402

# A cold deploy builds the image and starts the cluster: far beyond a test's limit.
DEPLOY_TIMEOUT = 3600


def invoke(*args: str) -> None:
    """`invoke ARGS`; stops the benchmark with its output if it fails."""
    done = invoke_process(*args, timeout=DEPLOY_TIMEOUT)
    if done.returncode != 0:
        raise SystemExit(f"invoke {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr}")


def timed_deploy() -> float:
    started = time.perf_counter()
    invoke("deploy", "--env", "local", "--allow-dirty")
    return time.perf_counter() - started


def cold_build() -> None:
    built = layout.CACHE_DIR / "kubernetes" / cluster.KUBERNETES_VERSION
    aside = Path(tempfile.mkdtemp(prefix="k8s-cache-", dir=built.parent))
    shutil.move(str(built), aside / "previous")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = Runner().run(
        [str(REPO_ROOT / "tools" / "build" / "kubernetes")], timeout=3 * 3600, hide=False, warn=True
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not done.ok:
        shutil.rmtree(built, ignore_errors=True)
        shutil.move(str(aside / "previous"), built)
        raise SystemExit("tools/build/kubernetes failed; the previous build was put back")
    shutil.rmtree(aside)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        f"cold build: wall {wall / 60:.1f} min, CPU {cpu / 60:.1f} min "
        f"({cpu / wall:.2f} cores busy), peak child RSS {after.ru_maxrss / 1024**2:.2f} GB"
    )


def start_to_ready() -> None:
    cluster.stop(progress=lambda _m: None)
    started = time.perf_counter()
    state = cluster.start(progress=lambda _m: None)
    wall = time.perf_counter() - started
    print(
        f"cluster start: node Ready {state['ready_seconds']:.1f} s, CoreDNS + metrics-server "
        f"{state['addons_seconds']:.1f} s, command {wall:.1f} s (goal <= 20 s to Ready)"
    )


def deploys() -> None:
    invoke("sandbox.start")
    invoke("destroy", "--env", "local", "--yes")
    # destroy deletes the namespace without waiting; a deploy into a terminating one fails.
    wait_until(
        lambda: not kubectl("get", "namespace", "orderdesk", check=False).ok,
        what="namespace orderdesk deleted",
        timeout=180,
        interval=2,
    )
    cluster.stop(progress=lambda _m: None)
    cold = timed_deploy()
    warm = timed_deploy()
    print(f"deploy --env local: cold {cold:.1f} s (fresh cluster, no namespace), warm {warm:.1f} s")
    print(f"  warm/cold {warm / cold:.2f} (goal: warm <= 60 s)")


def rolling_update() -> None:
    from testkit.cluster import Load, service_url

    record = json.loads((REPO_ROOT / ".data" / "local" / "image.json").read_text())
    engine = sandbox.engine_client(sandbox.ensure_engine())
    tag = f"bench-{int(time.time())}"
    dockerfile = f"FROM {record['reference']}\nLABEL io.orderdesk.bench={tag}\n"
    engine.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=f"{record['repository']}:{tag}", rm=True
    )
    digest = registry.push_image(engine, f"{record['repository']}:{tag}", log=io.StringIO())
    with (
        tempfile.TemporaryDirectory() as scratch,
        Load(service_url(path="/readyz"), Path(scratch) / "stop") as load,
    ):
        time.sleep(3)
        started = time.perf_counter()
        invoke("k8s.apply", "--env", "local", "--image", f":{tag}@{digest}")
        invoke("k8s.rollout", "--env", "local")
        duration = time.perf_counter() - started
        time.sleep(15)  # the old pod's preStop and drain
    result = load.result
    print(
        f"rolling update: {duration:.1f} s (apply + rollout), requests served {result['ok']}, "
        f"failed {result['failed']} (goal 0)"
    )
    if result["errors"]:
        print("  first errors: " + "; ".join(result["errors"]))
    invoke("k8s.apply", "--env", "local")  # back to the recorded image
    invoke("k8s.rollout", "--env", "local")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-build", action="store_true", help="rebuild the binaries first")
    parser.add_argument("--skip-start", action="store_true", help="leave out start to Ready")
    args = parser.parse_args()
    if args.cold_build:
        cluster.stop(progress=lambda _m: None)
        cold_build()
    if not args.skip_start:
        start_to_ready()
    deploys()
    rolling_update()
    return 0


if __name__ == "__main__":
    sys.exit(main())
