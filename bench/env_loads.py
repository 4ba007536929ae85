"""How many times one command reads infra/env.yaml (issue 23: "an Azure deploy loads env.yaml
about 15 times"; the goal is once per `invoke` command).

    .venv/bin/python bench/env_loads.py

Counts calls of ops.envconfig.load (an environment looked up by name), ops.envconfig.load_all
(the file parsed and validated) and the kube targets composed (ops/core/kube.py) during:
  - `invoke deploy --env dev --dry-run`, run in this process through tasks.py's collection;
  - a full Azure deploy (`deploy --env prod` against a MockContext): the deploy test
    tests/deploy/test_commands.py::test_prod_deploy_runs_every_stage_in_order, run by pytest
    with this module as a plugin (`-p bench.env_loads`), which counts during the test's call.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FULL_DEPLOY_TEST = "tests/deploy/test_commands.py::test_prod_deploy_runs_every_stage_in_order"
# Where the plugin writes its counts, for the script that started pytest.
REPORT_VARIABLE = "ORDERDESK_ENV_LOADS_REPORT"


@contextlib.contextmanager
def counting() -> Iterator[Counter[str]]:
    """Count ops.envconfig.load and load_all calls, and the kube targets composed from the
    environment (kubectl's flags), while the block runs."""
    from ops import envconfig
    from ops.core import kube

    counts: Counter[str] = Counter()
    # Every kube target is composed by kube.for_environment (kube.target, before it, did it all).
    composer = "kube.for_environment" if hasattr(kube, "for_environment") else "kube.target"
    modules = {"load": envconfig, "load_all": envconfig, composer: kube}
    originals = {name: getattr(module, name.rpartition(".")[2]) for name, module in modules.items()}

    def counted(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            counts["kube targets" if name.startswith("kube.") else name] += 1
            return originals[name](*args, **kwargs)

        return call

    for name, module in modules.items():
        setattr(module, name.rpartition(".")[2], counted(name))
    try:
        yield counts
    finally:
        for name, module in modules.items():
            setattr(module, name.rpartition(".")[2], originals[name])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None]:
    with counting() as counts:
        yield
    report = os.environ.get(REPORT_VARIABLE)
    if report:
        Path(report).write_text(json.dumps({"test": item.nodeid, **counts}))


def dry_run() -> Counter[str]:
    sys.path.insert(0, str(ROOT))
    from invoke import Program

    import tasks

    with tempfile.TemporaryDirectory() as state, counting() as counts:
        os.environ["INVOKE_STATE_DIR"] = state
        Program(namespace=tasks.ns).run(
            ["invoke", "deploy", "--env", "dev", "--dry-run", "--allow-dirty"], exit=False
        )
    return counts


def full_deploy() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "counts.json"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "bench.env_loads",
                FULL_DEPLOY_TEST,
            ],
            cwd=ROOT,
            env={**os.environ, REPORT_VARIABLE: str(report)},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not report.is_file():
            raise SystemExit(f"{FULL_DEPLOY_TEST} failed:\n{result.stdout[-3000:]}")
        counts: dict[str, Any] = json.loads(report.read_text())
        return counts


def main() -> None:
    shown = dry_run()
    full = full_deploy()
    print(
        f"invoke deploy --env dev --dry-run: envconfig.load {shown['load']}, "
        f"load_all (env.yaml parsed) {shown['load_all']}, "
        f"kube targets composed {shown['kube targets']}",
        file=sys.stderr,
    )
    print(
        f"full Azure deploy (MockContext, {FULL_DEPLOY_TEST}): envconfig.load "
        f"{full.get('load', 0)}, load_all (env.yaml parsed) {full.get('load_all', 0)}, "
        f"kube targets composed {full.get('kube targets', 0)}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
