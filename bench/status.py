"""Benchmark: `invoke status --env local` against a real API server, kubectl reads vs the client.

    .venv/bin/python bench/status.py                       # this checkout
    .venv/bin/python bench/status.py --repo /work/main     # another checkout (e.g. before)

Starts a throwaway control plane on 127.0.0.1 (etcd, kube-apiserver, kube-controller-manager: no
root, no node; ops/sandbox/controlplane.py), applies the local overlay twice (two revisions) with
this checkout's `invoke k8s.apply`, then runs `invoke status --env local` from `--repo` with that
checkout's own venv, `--runs` times: wall time of the whole process (what a person waits for),
median and spread after one run that caches the bytecode, and the number of kubectl processes
each run started.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from ops import toolchain  # noqa: E402
from ops.sandbox.controlplane import ControlPlane  # noqa: E402
from testkit.support import invoke  # noqa: E402

IMAGE = "127.0.0.1:5000/orderdesk"


def image_record(state_dir: Path, digest: str) -> None:
    local = state_dir / "local"
    local.mkdir(parents=True, exist_ok=True)
    record = {
        "environment": "local",
        "repository": IMAGE,
        "tag": "0.1.0",
        "digest": digest,
        "reference": f"{IMAGE}@{digest}",
    }
    (local / "image.json").write_text(json.dumps(record))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="checkout whose status runs")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    binaries = {}
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl"):
        found = toolchain.find(name)
        if found is None:
            raise SystemExit(f"{name} is not installed (scripts/bootstrap --system)")
        binaries[name] = found
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        plane = ControlPlane(binaries, work / "plane").start()
        try:
            state_dir = work / "state"
            # Counts kubectl processes: a wrapper on PATH ahead of the real one.
            wrappers = work / "bin"
            wrappers.mkdir()
            calls = work / "kubectl-calls"
            wrapper = wrappers / "kubectl"
            wrapper.write_text(f'#!/bin/sh\necho x >> {calls}\nexec {binaries["kubectl"]} "$@"\n')
            wrapper.chmod(0o755)
            env = plane.environ(
                INVOKE_STATE_DIR=str(state_dir),
                INVOKE_K8S_KUBECTL=str(wrapper),
                NO_COLOR="1",
                # Bytecode cached as on a developer's machine (CI shells may turn it off), in a
                # directory of its own so no checkout's venv is written to.
                PYTHONPYCACHEPREFIX=str(work / "pycache"),
            )
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            for digest in ("sha256:" + "a" * 64, "sha256:" + "b" * 64):
                image_record(state_dir, digest)
                applied = invoke("k8s.apply", "--env", "local", env=env)
                if applied.returncode:
                    raise SystemExit(f"k8s.apply failed:\n{applied.stderr}")
            started = time.monotonic()
            first = invoke("status", "--env", "local", env=env, repo=args.repo)
            cold = time.monotonic() - started
            if first.returncode:
                raise SystemExit(f"status failed:\n{first.stdout}\n{first.stderr}")
            times, kubectl_runs = [], []
            for _ in range(args.runs):
                calls.unlink(missing_ok=True)
                started = time.monotonic()
                status = invoke("status", "--env", "local", env=env, repo=args.repo)
                times.append(time.monotonic() - started)
                if status.returncode:
                    raise SystemExit(f"status failed:\n{status.stdout}\n{status.stderr}")
                kubectl_runs.append(len(calls.read_text().split()) if calls.exists() else 0)
            print(status.stdout)
            print(
                f"invoke status ({args.repo}): median {statistics.median(times):.2f} s, "
                f"min {min(times):.2f} s, max {max(times):.2f} s over {args.runs} runs; "
                f"kubectl processes per run: {kubectl_runs[-1]}; first run (compiling the "
                f"bytecode) {cold:.2f} s"
            )
        finally:
            plane.stop()


if __name__ == "__main__":
    main()
