"""Benchmark: `invoke deploy` wall times.

    .venv/bin/python bench/deploy.py

- `invoke deploy --env prod --dry-run`, five times (goal: <= 5 s).
- `invoke deploy --env local` cold: the stand-ins stopped, the namespace gone, the image not built
  (the base image and pip's downloads stay cached, as on any machine that ran it once).
- `invoke deploy --env local` warm: the same command again right after.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from testkit.support import invoke as invoke_process  # noqa: E402

# A cold deploy builds the image and starts the cluster: far beyond a test's limit.
DEPLOY_TIMEOUT = 3600


def invoke(*args: str) -> float:
    """`invoke ARGS`'s wall time; stops the benchmark with its output if it fails."""
    started = time.perf_counter()
    done = invoke_process(*args, timeout=DEPLOY_TIMEOUT)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"invoke {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr}")
    return elapsed


def make_cold() -> None:
    from ops import sandbox

    invoke("sandbox.start")
    invoke("sandbox.cluster-start")
    invoke("destroy", "--env", "local", "--yes")
    engine = sandbox.engine_client()
    for image in engine.images.list(name="127.0.0.1:5000/orderdesk"):
        engine.images.remove(image.id, force=True)  # its untagged build layers go with it
    invoke("sandbox.cluster-stop")
    invoke("sandbox.stop")


def main() -> int:
    dry = [invoke("deploy", "--env", "prod", "--dry-run", "--allow-dirty") for _ in range(5)]
    print(
        f"deploy --env prod --dry-run: median {statistics.median(dry):.2f} s, "
        f"max {max(dry):.2f} s over 5 runs (goal <= 5 s)"
    )
    make_cold()
    cold = invoke("deploy", "--env", "local", "--allow-dirty")
    print(f"deploy --env local, cold: {cold:.1f} s")
    warm = invoke("deploy", "--env", "local", "--allow-dirty")
    print(f"deploy --env local, warm: {warm:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
