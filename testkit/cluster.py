"""The local Kubernetes cluster for the tests that need a real node (tests/sandbox, tests/deploy).

Started for the first test module that needs it (and again for any module that finds it
stopped), and stopped at the end only if the session started it (a developer's running cluster
is left as found); the same for the engine and registry the deploys start. Without the build
(tools/build/kubernetes) or root, the tests skip on a laptop and fail in CI.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from invoke.runners import Result

from ops import envconfig, sandbox
from ops.core.kube import KubeTarget
from ops.core.run import Runner
from ops.sandbox import cluster, layout
from testkit.support import need


def require_cluster_build() -> dict[str, str]:
    if os.geteuid() != 0:
        need("the local cluster needs root (namespaces, mounts, cgroups)")
    try:
        return cluster.binaries()
    except cluster.ClusterError as exc:
        need(str(exc))
        raise AssertionError("unreachable: need() skips or fails") from exc


@pytest.fixture(scope="session")
def cluster_for_the_session() -> Iterator[None]:
    require_cluster_build()
    leftovers = cluster.stale_state()
    if leftovers:
        # A run killed before it could stop (a cancelled CI job, a closed terminal) would make
        # every test refuse to start; the session does what that refusal asks of a developer.
        print(f"cluster: a killed run left {'; '.join(leftovers)}; cleaning up", file=sys.stderr)
        cluster.stop(progress=lambda message: print(message, file=sys.stderr))
    # Deploys to `local` start the engine and registry and leave them up, as a developer wants
    # after `invoke deploy`; the session stops them too unless it found them running.
    with sandbox.left_as_found():
        was_running = cluster.running()
        try:
            yield
        finally:
            if not was_running:
                cluster.stop()


@pytest.fixture(scope="module")
def local_cluster(cluster_for_the_session: None) -> dict[str, Any]:
    """The running cluster's state, started again if a module before this one left it stopped.

    Checked per module (module-scoped fixtures such as a deploy build on it), so a module that
    stops the cluster and fails to restart it shows its own error instead of breaking every
    module after it.
    """
    return cluster.start(progress=lambda _m: None)


def kube_target() -> KubeTarget:
    """The local cluster as every task addresses it (ops.core.kube): its kubeconfig, its kubectl."""
    return KubeTarget(
        environment=envconfig.load("local"),
        kubeconfig=str(cluster.LOCAL_KUBECONFIG),
        context=None,
        request_timeout=20,
        kubectl_program=layout.kubectl_path(),
    )


def kubectl(*args: str, check: bool = True, timeout: int = 60, input: str | None = None) -> Result:
    """The cluster's own kubectl, through the `local` environment's kubeconfig; a failure raises
    RunFailed (with kubectl's words) unless `check=False`."""
    argv = kube_target().kubectl_argv(*args, namespace=None)
    return Runner().run(argv, timeout=timeout, warn=not check, input=input)


def kubectl_json(*args: str) -> Any:
    return json.loads(kubectl(*args, "--output=json").stdout)


def app_token(role: str = "clerk", namespace: str = "orderdesk") -> str:
    """An API token of a new user with `role`, made by the app's own commands in a running pod,
    as an operator would (kubectl exec)."""
    name = f"{role}-{secrets.token_hex(4)}"
    exec_in_pod = ("--namespace", namespace, "exec", "deployment/orderdesk", "--container=web")
    kubectl(
        *exec_in_pod,
        "--stdin",
        "--",
        *("python", "manage.py", "orderdesk_user", name, "--role", role, "--password-stdin"),
        input=secrets.token_urlsafe(16) + "\n",
        timeout=120,
    )
    issued = kubectl(
        *exec_in_pod, "--", "python", "manage.py", "orderdesk_token", name, timeout=120
    )
    return str(issued.stdout).strip().splitlines()[-1].split()[-1]


def in_node(*argv: str, timeout: int = 120) -> Result:
    """Run a host program inside the node's network namespace (ClusterIPs answer only there);
    its exit is returned, not raised."""
    with cluster.node_network() as netns:
        return Runner().run(["nsenter", f"--net={netns}", "--", *argv], timeout=timeout, warn=True)


def images_dir() -> Path:
    return layout.IMAGES_DIR


class Load:
    """testkit/load.py inside the node, against a URL only the node can reach (a ClusterIP)."""

    def __init__(self, url: str, stop_file: Path, threads: int = 4) -> None:
        self.url, self.stop_file, self.threads = url, stop_file, threads
        self.result: dict[str, Any] = {}

    def __enter__(self) -> Load:
        self.stop_file.unlink(missing_ok=True)
        with cluster.node_network() as netns:
            self.process = subprocess.Popen(
                [
                    "nsenter",
                    f"--net={netns}",
                    "--",
                    sys.executable,
                    "-m",
                    "testkit.load",
                    self.url,
                    str(self.stop_file),
                    str(self.threads),
                ],
                cwd=envconfig.REPO_ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_file.touch()
        out, _ = self.process.communicate(timeout=60)
        self.result = json.loads(out.strip().splitlines()[-1])


def service_url(name: str = "orderdesk", namespace: str = "orderdesk", path: str = "/") -> str:
    service = kubectl_json("--namespace", namespace, "get", "service", name)
    return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}{path}"
