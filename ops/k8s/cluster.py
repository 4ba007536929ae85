"""kubectl, the way the k8s tasks drive it: one context per environment, timeouts on every call.

kubectl is for what is applied (apply, diff, the local Secret, `rollout undo`): its output is
what a person running it by hand sees. What the tasks read and wait for (the version, revisions,
the rollout, events and logs) goes through the Kubernetes API (ops/k8s/watch.py), reached here
as `Kubectl.cluster` with the same kubeconfig and context.

Every call carries --request-timeout and a hard timeout of its own, so an unreachable or hanging
API server fails in seconds with the reason, never hangs a deploy. Cloud environments always use
the context named after their AKS cluster (what `az aks get-credentials` creates), so a deploy to
prod can never land in whatever context happens to be current.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.runners import Result

from ops import envconfig
from ops.core.kube import KubeTarget
from ops.core.run import Runner
from ops.core.state import ensure_secret_files
from ops.k8s import report, watch
from ops.k8s.watch import APP, DEPLOYMENT, SELECTOR, Revision

LOCAL_SECRET = f"{APP}-secrets"
__all__ = ["APP", "DEPLOYMENT", "SELECTOR", "Kubectl", "Revision", "RolloutFailed"]


class RolloutFailed(Exit):
    """The rollout failed and was dealt with (undone, or left as it was, and the message says
    which): callers must not undo again. `restored`: the revision that ran before is back."""

    def __init__(self, message: str, code: int = 1, *, restored: bool = False) -> None:
        super().__init__(message, code=code)
        self.restored = restored


@dataclass
class Kubectl:
    """kubectl calls against one environment's cluster (ops.core.kube composes each line)."""

    c: Context
    target: KubeTarget

    @property
    def environment(self) -> envconfig.Environment:
        return self.target.environment

    @property
    def request_timeout(self) -> int:
        return self.target.request_timeout

    def command(self, *args: str, namespaced: bool = True) -> str:
        return self.target.kubectl(*args, namespace="" if namespaced else None)

    def run(
        self,
        *args: str,
        hide: bool | str = False,
        warn: bool = False,
        timeout: int | None = None,
        namespaced: bool = True,
    ) -> Result:
        """One kubectl call through the Runner; a hang past its timeout (by default the
        request timeout and 10 s) is an Exit naming the cluster, a failure one with kubectl's
        words unless `warn`."""
        argv = self.target.kubectl_argv(*args, namespace="" if namespaced else None)
        return Runner(self.c).run(
            argv,
            hide=hide,
            warn=warn,
            timeout=timeout or self.request_timeout + 10,
            fix_timeout=f"no answer from {self.where()}: check the cluster is up and reachable",
        )

    def where(self) -> str:
        context = self.target.context
        return f"context {context}" if context else "the current kubeconfig context"

    # The reads below go through the Kubernetes API (ops/k8s/watch.py); the tasks reach them here.

    @functools.cached_property
    def cluster(self) -> watch.Cluster:
        """The API client for the same kubeconfig and context, built on first use."""
        return watch.connect(self.target)

    def server_minor(self) -> str:
        """Reach the API server (fast) and return its major.minor version."""
        return self.cluster.server_minor()

    def require_version(self) -> None:
        """The manifests were validated for env.yaml's version; refuse any other cluster."""
        expected = self.environment.kubernetes.version
        actual = self.server_minor()
        if actual != expected:
            raise Exit(
                f"the cluster ({self.where()}) runs Kubernetes {actual}, but env.yaml says "
                f"{self.environment.name}.kubernetes.version is {expected}: the manifests were "
                "validated for that. Point at the right cluster, or update env.yaml.",
                code=1,
            )

    def ensure_local_secret(self, secrets_dir: Path) -> None:
        """Local clusters only: the app's secrets as a Secret, from files generated once."""
        exists = self.run("get", "secret", LOCAL_SECRET, "--output=name", hide=True, warn=True)
        if exists.ok:
            return
        if "NotFound" not in exists.stderr and "not found" not in exists.stderr:
            raise Exit(f"cannot read Secret {LOCAL_SECRET}: {exists.stderr.strip()}", code=1)
        files = ensure_secret_files(secrets_dir)
        sources = [f"--from-file={path.name}={path}" for path in files.values()]
        self.run("create", "secret", "generic", LOCAL_SECRET, *sources, hide="stdout")

    def current_revision(self) -> Revision | None:
        """The revision the Deployment runs now (None: no Deployment yet, or not numbered)."""
        return self.cluster.current_revision()

    def replica_sets(self) -> list[dict[str, Any]]:
        """The Deployment's revisions, newest first: revision, name, image, ready, replicas."""
        return [dataclasses.asdict(rs) for rs in self.cluster.replica_sets()]

    def failure_reason(self, replica_set: str) -> str:
        """Why the new revision's pods are not ready: a failing probe, a crash, a pull."""
        return self.cluster.failure_reason(replica_set)

    def print_failure_report(self) -> None:
        """What someone needs to see when a rollout fails: revisions, pods, events, logs."""
        print("\n".join(report.failure_report(self.cluster)), flush=True)
