"""The pinned Helm installs and upgrades a chart on the real local cluster, as the deploy does.

The deploy installs cert-manager and kube-prometheus-stack through `ChartPin.upgrade_args` from
their chart repositories, which cannot be reached here. A chart of ours, served by a chart
repository on 127.0.0.1, goes through the same command line (`--repo`, the exact `--version`,
`--create-namespace`, values, `--wait=watcher --timeout`), through `ops.core.kube` to the local
cluster:

- the first run installs the release by server-side apply (Helm 4's default) and returns only once
  its Deployment is available: the watcher waited;
- a second run with another value upgrades the same release (revision 2);
- a release whose pod can never start fails at the timeout instead of reporting success (without
  a strategy, Helm 4 waits for hooks only).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from invoke import Config, Context
from invoke.runners import Result

from ops.core.run import Runner
from ops.core.target import Target
from ops.monitoring.layout import ChartPin
from ops.sandbox import layout
from testkit.cluster import kubectl, kubectl_json
from testkit.support import need_tool, serving_on_loopback

pytestmark = pytest.mark.slow

CHART = "orderdesk-helm-probe"
CHART_VERSION = "0.1.0"
TEMPLATES = {
    "deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: probe
          image: {{ .Values.image }}
          imagePullPolicy: Never
""",
    "configmap.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  greeting: {{ .Values.greeting | quote }}
""",
}


def chart_repository(root: Path, helm: str, environ: dict[str, str]) -> Path:
    """A chart repository directory: the packaged chart and its index.yaml (relative URLs)."""
    chart = root / CHART
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: {CHART}\nversion: {CHART_VERSION}\n", encoding="utf-8"
    )
    (chart / "values.yaml").write_text(
        f"image: {layout.PAUSE_IMAGE}\ngreeting: hello\n", encoding="utf-8"
    )
    for name, text in TEMPLATES.items():
        (chart / "templates" / name).write_text(text, encoding="utf-8")
    repository = root / "repository"
    for argv in (["package", str(chart), "--destination", str(repository)], ["repo", "index"]):
        done = Runner().run(
            [helm, *argv, *([str(repository)] if argv[0] == "repo" else [])],
            env=environ,
            timeout=60,
            warn=True,
        )
        assert done.exited == 0, done.stderr
    return repository


@pytest.fixture
def helm_run(local_cluster, tmp_path) -> Iterator[tuple[ChartPin, Any]]:
    """(the pin of our chart in its loopback repository, a function running helm on the cluster)."""
    helm = need_tool("helm", "helm from tools/go/cluster.txt")
    # Helm keeps its repository cache and config under these; nothing of the machine's is used.
    homes = {f"HELM_{kind}_HOME": str(tmp_path / kind) for kind in ("CACHE", "CONFIG", "DATA")}
    environ = {**os.environ, **homes}
    repository = chart_repository(tmp_path, helm, environ)

    class ChartRepository(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(repository), **kwargs)

    namespace = f"helm-probe-{secrets.token_hex(3)}"
    target = Target.resolve(
        Context(Config(overrides={"state_dir": "", "k8s": {"helm": helm}})), "local"
    ).kube()

    def run(pin: ChartPin, *args: str) -> Result:
        return Runner().run(target.helm_argv(*args), env=environ, timeout=300, warn=True)

    with serving_on_loopback(ChartRepository) as url:
        pin = ChartPin(url, CHART, CHART_VERSION, release="probe", namespace=namespace)
        try:
            yield pin, run
        finally:
            kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false")


def metadata(run: Any, pin: ChartPin) -> dict[str, Any]:
    shown = run(pin, "get", "metadata", pin.release, "--namespace", pin.namespace, "-o", "json")
    assert shown.exited == 0, shown.stderr
    return dict(json.loads(shown.stdout))


def test_a_pinned_chart_installs_waits_and_upgrades_on_the_cluster(helm_run) -> None:
    pin, run = helm_run

    installed = run(pin, *pin.upgrade_args("--set", "greeting=first", timeout="120s"))
    assert installed.exited == 0, installed.stdout + installed.stderr
    # The watcher returned only once the Deployment was available: nothing is polled here.
    deployment = kubectl_json("--namespace", pin.namespace, "get", "deployment", pin.release)
    assert deployment["status"].get("availableReplicas") == 1, deployment["status"]
    first = metadata(run, pin)
    assert (first["version"], first["revision"], first["status"]) == (CHART_VERSION, 1, "deployed")
    assert first["applyMethod"] == "ssa"

    upgraded = run(pin, *pin.upgrade_args("--set", "greeting=second", timeout="120s"))
    assert upgraded.exited == 0, upgraded.stdout + upgraded.stderr
    assert metadata(run, pin)["revision"] == 2
    config = kubectl_json("--namespace", pin.namespace, "get", "configmap", pin.release)
    assert config["data"] == {"greeting": "second"}


def test_a_release_that_never_becomes_ready_fails_at_the_timeout(helm_run) -> None:
    pin, run = helm_run
    absent = "localhost/orderdesk-cluster/absent:never"  # imagePullPolicy Never: cannot start

    failed = run(pin, *pin.upgrade_args("--set", f"image={absent}", timeout="20s"))

    assert failed.exited != 0, failed.stdout
    assert "context deadline exceeded" in failed.stderr or "timed out" in failed.stderr, (
        failed.stderr
    )
    assert metadata(run, pin)["status"] == "failed"
