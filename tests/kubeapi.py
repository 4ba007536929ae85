"""The Kubernetes API side of the command tests: a Deployment and its revisions as the client's
own models, moved by their fake kubectl's `apply` and `rollout undo`.

Only for how the tasks compose their calls (what is read before apply, which revision an undo
returns to). The reads themselves run against real API servers: tests/deploy/test_watch.py (a
control plane) and tests/deploy/test_local.py (a node).
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from ops.core.kube import KubeTarget
from ops.k8s import watch

NOW = datetime.datetime(2026, 12, 6, 20, 0, tzinfo=datetime.UTC)


@dataclass
class FakeDeployment:
    """The Deployment at `revision` (None: not installed) with ReplicaSets `orderdesk-N` of
    `images[N]`. A revision in `never_ready` exceeds its progress deadline; `stale_deadline`
    watches after an undo still show the deadline of the rollout that failed."""

    revision: int | None = 1
    images: dict[int, str] = field(default_factory=lambda: {1: "r/orderdesk:1"})
    never_ready: set[int] = field(default_factory=set)
    stale_deadline: int = 0
    # A failing pod of the newest revision: its Unhealthy event and its log.
    probe_message: str = ""
    log: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    # The API server's major.minor (default: the one env.yaml names).
    version: str = ""
    reads: list[str] = field(default_factory=list)

    def undo_to(self, revision: int) -> None:
        """What `kubectl rollout undo --to-revision` does to it (noted among the reads)."""
        self.reads.append(f"undo to {revision}")
        self.revision = revision

    def model(self) -> Any:
        assert self.revision is not None, "no Deployment to show"
        image = self.images.get(self.revision, f"r/orderdesk:{self.revision}")
        ready = self.revision not in self.never_ready
        conditions = []
        stale = ready and self.stale_deadline > 0
        self.stale_deadline -= int(stale)
        if not ready or stale:
            conditions.append(
                k8s.V1DeploymentCondition(
                    type="Progressing", status="False", reason="ProgressDeadlineExceeded"
                )
            )
        return k8s.V1Deployment(
            metadata=k8s.V1ObjectMeta(
                name=watch.APP,
                generation=2,
                annotations={**self.annotations, watch.REVISION_ANNOTATION: str(self.revision)},
            ),
            spec=k8s.V1DeploymentSpec(
                replicas=1,
                selector=k8s.V1LabelSelector(match_labels={"app.kubernetes.io/name": watch.APP}),
                template=k8s.V1PodTemplateSpec(
                    spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="web", image=image)])
                ),
            ),
            status=k8s.V1DeploymentStatus(
                observed_generation=2,
                replicas=1,
                updated_replicas=1,
                ready_replicas=int(ready),
                available_replicas=int(ready),
                conditions=conditions,
            ),
        )


def failing_pod(name: str) -> Any:
    """A pod whose web container runs but never passes its readiness probe."""
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, creation_timestamp=NOW),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="web")], node_name="node"),
        status=k8s.V1PodStatus(
            phase="Running",
            conditions=[k8s.V1PodCondition(type="Ready", status="False")],
            container_statuses=[
                k8s.V1ContainerStatus(
                    name="web",
                    image="",
                    image_id="",
                    ready=False,
                    restart_count=0,
                    state=k8s.V1ContainerState(running=k8s.V1ContainerStateRunning()),
                )
            ],
        ),
    )


class FakeCluster(watch.Cluster):
    """watch.Cluster on a FakeDeployment: the real logic over the client's models."""

    def __init__(self, target: KubeTarget, fake: FakeDeployment) -> None:
        super().__init__(target, k8s.ApiClient(k8s.Configuration()))
        self.fake = fake

    def server_minor(self) -> str:
        self.fake.reads.append("version")
        return self.fake.version or self.target.environment.kubernetes.version

    def deployment(self) -> Any | None:
        self.fake.reads.append("deployment")
        return None if self.fake.revision is None else self.fake.model()

    def replica_sets(self) -> list[watch.RevisionSet]:
        self.fake.reads.append("replicasets")
        ready = self.fake.revision if self.fake.revision not in self.fake.never_ready else None
        return sorted(
            (
                watch.RevisionSet(n, f"orderdesk-{n}", image, int(n == ready), int(n == ready))
                for n, image in self.fake.images.items()
            ),
            key=lambda rs: rs.revision,
            reverse=True,
        )

    def pods(self) -> list[Any]:
        newest = max(self.fake.images)
        return [failing_pod(f"orderdesk-{newest}-abcde")] if self.fake.probe_message else []

    def events(self, names: set[str]) -> list[Any]:
        newest = max(self.fake.images)
        pod = f"orderdesk-{newest}-abcde"
        if not self.fake.probe_message or pod not in names:
            return []
        return [
            k8s.CoreV1Event(
                metadata=k8s.V1ObjectMeta(name=f"{pod}.1"),
                involved_object=k8s.V1ObjectReference(kind="Pod", name=pod),
                type="Warning",
                reason="Unhealthy",
                message=self.fake.probe_message,
                count=3,
                last_timestamp=NOW,
            )
        ]

    def pod_log(self, pod: str, container: str, *, previous: bool, lines: int = 50) -> str:
        return self.fake.log

    def _watch_deployment(self, seconds: int) -> Iterator[Any]:
        self.fake.reads.append("watch")
        time.sleep(0.05)  # a real watch blocks until a change or its timeout
        if self.fake.revision is not None:
            yield self.fake.model()

    def _list(self, what: str, request: Any) -> list[Any]:
        return []  # no Services, Ingresses or autoscalers


def write_kubeconfig(path: Path, server: str, context: str) -> Path:
    """A kubeconfig with one context for `server` (a token; TLS unchecked: the tests' servers
    never answer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": context, "cluster": {"server": server, "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": context, "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    }
    path.write_text(json.dumps(config))
    return path
