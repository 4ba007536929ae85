"""kubectl, the way the k8s tasks drive it: one context per environment, timeouts on every call.

Every call carries --request-timeout and a hard timeout of its own, so an unreachable or hanging
API server fails in seconds with the reason, never hangs a deploy. Cloud environments always use
the context named after their AKS cluster (what `az aks get-credentials` creates), so a deploy to
prod can never land in whatever context happens to be current.
"""

from __future__ import annotations

import json
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

APP = "orderdesk"
DEPLOYMENT = f"deployment/{APP}"
SELECTOR = f"app.kubernetes.io/name={APP}"
LOCAL_SECRET = f"{APP}-secrets"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# What `invoke status` lists: kinds every supported server version serves.
STATUS_KINDS = "deployment,replicaset,pod,service,ingress,horizontalpodautoscaler"


class RolloutFailed(Exit):
    """The rollout failed and was dealt with (undone, or left as it was, and the message says
    which): callers must not undo again. `restored`: the revision that ran before is back."""

    def __init__(self, message: str, code: int = 1, *, restored: bool = False) -> None:
        super().__init__(message, code=code)
        self.restored = restored


@dataclass(frozen=True)
class Revision:
    """What the Deployment runs: its revision number, that revision's ReplicaSet and image."""

    number: int
    replica_set: str
    image: str

    def describe(self) -> str:
        return f"revision {self.number} ({self.image})"


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

    def server_minor(self) -> str:
        """Reach the API server (fast) and return its major.minor version."""
        result = self.run("get", "--raw", "/version", hide=True, warn=True, namespaced=False)
        if not result.ok:
            reason = (result.stderr.strip().splitlines() or ["no answer"])[-1]
            fix = (
                f"`invoke deploy --env {self.environment.name} --only credentials` (or `az aks "
                f"get-credentials --resource-group {self.environment.azure.resource_group} "
                f"--name {self.environment.azure.aks.cluster_name}`)"
                if self.environment.azure
                else "start the local cluster (or point KUBECONFIG at it)"
            )
            raise Exit(
                f"cannot reach the Kubernetes API server ({self.where()}) within "
                f"{self.request_timeout} s: {reason}\nCheck the cluster is up, then {fix}.",
                code=1,
            )
        try:
            version = json.loads(result.stdout)
            major, minor = str(version["major"]), str(version["minor"]).rstrip("+")
        except (ValueError, KeyError) as exc:
            raise Exit(f"{self.where()} answered /version with {result.stdout!r}", code=1) from exc
        return f"{major}.{minor}"

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
        """The revision the Deployment runs now; None when there is no Deployment yet (a first
        install) or the controller has not numbered it."""
        found = self.run("get", "deployment", APP, "--output=json", hide=True, warn=True)
        if not found.ok:
            if "NotFound" in found.stderr:
                return None
            raise Exit(f"cannot read {DEPLOYMENT}: {found.stderr.strip()}", code=1)
        deployment = json.loads(found.stdout)
        number = int(deployment["metadata"].get("annotations", {}).get(REVISION_ANNOTATION, 0))
        if not number:
            return None
        containers = deployment["spec"]["template"]["spec"]["containers"]
        replica_set = next(
            (rs["name"] for rs in self.replica_sets() if rs["revision"] == number), ""
        )
        return Revision(number, replica_set, containers[0]["image"])

    def replica_sets(self) -> list[dict[str, Any]]:
        """The Deployment's revisions, newest first: revision, ReplicaSet, image, ready pods."""
        listing = self.run(
            "get", "replicasets", f"--selector={SELECTOR}", "--output=json", hide=True
        )
        found = []
        for item in json.loads(listing.stdout or '{"items": []}')["items"]:
            owners = item["metadata"].get("ownerReferences", [])
            if not any(o["kind"] == "Deployment" and o["name"] == APP for o in owners):
                continue
            annotations = item["metadata"].get("annotations", {})
            containers = item["spec"]["template"]["spec"]["containers"]
            found.append(
                {
                    "revision": int(annotations.get("deployment.kubernetes.io/revision", 0)),
                    "name": item["metadata"]["name"],
                    "image": containers[0]["image"],
                    "ready": int(item["status"].get("readyReplicas") or 0),
                }
            )
        return sorted(found, key=lambda rs: rs["revision"], reverse=True)

    def failure_reason(self, replica_set: str) -> str:
        """The last warning about the new revision's pods: a failing probe, a crash, a pull."""
        events = self.run(
            "get",
            "events",
            "--field-selector=type=Warning",
            "--sort-by=.lastTimestamp",
            "--output=json",
            hide=True,
            warn=True,
        )
        if not events.ok or not events.stdout.strip():
            return "no events could be read"
        warnings = [
            event
            for event in json.loads(events.stdout)["items"]
            if event["involvedObject"].get("name", "").startswith(replica_set)
        ]
        if not warnings:
            return "no warning events (the pods and logs above say why)"
        last = warnings[-1]
        return f"{last['reason']}: {last['message'].strip()}"

    def print_status(self) -> None:
        """The app's objects and the Deployment's revisions."""
        self.run("get", STATUS_KINDS, f"--selector={SELECTOR}", "--output=wide")
        self.run("rollout", "history", DEPLOYMENT)

    def print_failure_report(self) -> None:
        """What someone needs to see when a rollout fails: pods, events, logs."""
        print(f"--- pods ({SELECTOR})")
        self.run("get", "pods", f"--selector={SELECTOR}", "--output=wide", warn=True)
        print("--- events (oldest first)")
        self.run("get", "events", "--sort-by=.lastTimestamp", warn=True)
        print("--- logs (last 50 lines of each container)")
        logs = self.run(
            "logs",
            f"--selector={SELECTOR}",
            "--all-containers=true",
            "--prefix=true",
            "--tail=50",
            warn=True,
            hide="stderr",
        )
        if not logs.ok:
            reason = (logs.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"(no logs: {reason})")
        elif not logs.stdout.strip():
            print("(no logs: no container has started; the pods and events above say why)")
