"""What deploy reads from a cluster and waits for, through the Kubernetes API (the `kubernetes`
client): the rollout, the revisions, events, the failing pod's logs, `invoke status`.

kubectl, kustomize and helm stay for what is applied (ops/k8s/cluster.py's Kubectl.run): their
output is what a person would see running them by hand. Reads go through the client because it
returns the objects themselves: no output to parse, one connection for a whole report, and a
watch instead of a `kubectl rollout status` process per poll.

Every call carries `_request_timeout` (the environment's k8s.request_timeout) and every watch
`timeout_seconds`, so an unreachable or hanging API server fails in seconds with the cluster's
name and the fix, never hangs a deploy. The client is built in one place (`connect`) from the
environment's KubeTarget: its kubeconfig and context, whose `exec` entry (kubelogin on AKS) the
client runs itself. How the objects read as text (the failure report, `invoke status`) is
ops/k8s/report.py's.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from invoke.exceptions import Exit

from ops.core.kube import KubeTarget

APP = "orderdesk"
DEPLOYMENT = f"deployment/{APP}"
SELECTOR = f"app.kubernetes.io/name={APP}"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# Longest single watch request: between two, the pods are read for a reason the rollout is stuck
# (a crash loop or a failing probe changes no Deployment field until the progress deadline).
WATCH_WINDOW_S = 5
# Container states that stop a rollout until someone changes something.
STUCK_WAITING = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
LOG_LINES = 50
# What the API server answers, with 200, for a container whose log the kubelet no longer has.
UNRETRIEVABLE = "unable to retrieve container logs"


class ApiError(Exception):
    """The API server answered with an error (kubernetes' ApiException, without importing the
    client where no cluster is read)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def _client() -> Any:
    """The `kubernetes.client` package, imported on first use: it takes about a second, which
    every `invoke` command would pay if tasks.py's imports loaded it."""
    from kubernetes import client

    return client


@dataclass(frozen=True)
class Revision:
    """What the Deployment runs: its revision number, that revision's ReplicaSet and image."""

    number: int
    replica_set: str
    image: str

    def describe(self) -> str:
        return f"revision {self.number} ({self.image})"


@dataclass(frozen=True)
class RevisionSet:
    """One ReplicaSet of the Deployment: its revision, image and pods."""

    revision: int
    name: str
    image: str
    ready: int
    replicas: int


@dataclass(frozen=True)
class Rollout:
    """How a wait for the Deployment ended. `reason`: why it did not finish, when it did not."""

    done: bool
    reason: str = ""


def connect(target: KubeTarget) -> Cluster:
    """The API client for the environment's cluster: its kubeconfig and context, no retries
    (a timeout is a timeout, not four), and its kubeconfig never written back."""
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    configuration = _client().Configuration()
    try:
        config.load_kube_config(
            config_file=target.kubeconfig,
            context=target.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, OSError) as exc:
        raise Exit(
            f"cannot use the kubeconfig for {target.where()}: {exc}\n{fix(target)}", code=1
        ) from exc
    configuration.retries = 0
    return Cluster(target, _client().ApiClient(configuration))


def fix(target: KubeTarget) -> str:
    """What to do when the environment's cluster cannot be reached."""
    environment = target.environment
    if environment.azure:
        return (
            f"Check the cluster is up, then `invoke deploy --env {environment.name} --only "
            f"credentials` (or `az aks get-credentials --resource-group "
            f"{environment.azure.resource_group} --name {environment.azure.aks.cluster_name}`)."
        )
    return "Check the cluster is up, then start the local cluster (or point KUBECONFIG at it)."


def event_time(event: Any) -> datetime.datetime:
    when = (
        event.last_timestamp
        or event.event_time
        or event.first_timestamp
        or event.metadata.creation_timestamp
    )
    return when or datetime.datetime.min.replace(tzinfo=datetime.UTC)


def revision_of(metadata: Any) -> int:
    return int((metadata.annotations or {}).get(REVISION_ANNOTATION) or 0)


@dataclass
class Cluster:
    """Reads and watches of the app's objects in one environment's namespace."""

    target: KubeTarget
    # kubernetes.client.ApiClient
    api: Any

    @property
    def namespace(self) -> str:
        return self.target.namespace

    @property
    def timeout(self) -> int:
        return self.target.request_timeout

    def where(self) -> str:
        return self.target.where()

    def call(self, what: str, request: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One API request with the target's timeout; no answer is an Exit naming the fix, an
        error answer an ApiError."""
        from kubernetes.client.exceptions import ApiException

        try:
            return request(*args, _request_timeout=self.timeout, **kwargs)
        except urllib3.exceptions.HTTPError as exc:
            reason = str(getattr(exc, "reason", None) or exc)
            raise Exit(
                f"cannot reach the Kubernetes API server ({self.where()}) within "
                f"{self.timeout} s to {what}: {reason}\n{fix(self.target)}",
                code=1,
            ) from exc
        except ApiException as exc:
            if exc.status in (401, 403):
                raise Exit(
                    f"the Kubernetes API server ({self.where()}) refused to {what}: "
                    f"{exc.status} {exc.reason}\n{fix(self.target)}",
                    code=1,
                ) from exc
            raise ApiError(exc.status, str(exc.reason)) from exc

    @property
    def core(self) -> Any:
        return _client().CoreV1Api(self.api)

    @property
    def apps(self) -> Any:
        return _client().AppsV1Api(self.api)

    def server_minor(self) -> str:
        """Reach the API server (fast) and return its major.minor version."""
        version = self.call("read its version", _client().VersionApi(self.api).get_code)
        return f"{version.major}.{str(version.minor).rstrip('+')}"

    def deployment(self) -> Any | None:
        """The app's Deployment; None when there is none (a first install)."""
        try:
            return self.call(
                f"read {DEPLOYMENT}", self.apps.read_namespaced_deployment, APP, self.namespace
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise Exit(f"cannot read {DEPLOYMENT}: {exc.status} {exc.reason}", code=1) from exc

    def replica_sets(self) -> list[RevisionSet]:
        """The Deployment's revisions, newest first."""
        found = [
            RevisionSet(
                revision=revision_of(item.metadata),
                name=item.metadata.name,
                image=item.spec.template.spec.containers[0].image,
                ready=item.status.ready_replicas or 0,
                replicas=item.status.replicas or 0,
            )
            for item in self._list("ReplicaSets", self.apps.list_namespaced_replica_set)
            if any(
                owner.kind == "Deployment" and owner.name == APP
                for owner in item.metadata.owner_references or []
            )
        ]
        return sorted(found, key=lambda rs: rs.revision, reverse=True)

    def current_revision(self) -> Revision | None:
        """The revision the Deployment runs now; None when there is no Deployment yet (a first
        install) or the controller has not numbered it."""
        deployment = self.deployment()
        if deployment is None or not revision_of(deployment.metadata):
            return None
        number = revision_of(deployment.metadata)
        replica_set = next((rs.name for rs in self.replica_sets() if rs.revision == number), "")
        return Revision(number, replica_set, deployment.spec.template.spec.containers[0].image)

    def _list(self, what: str, request: Callable[..., Any]) -> list[Any]:
        """The app's objects of one kind (by its label), sorted by name."""
        listing = self.call(f"list {what}", request, self.namespace, label_selector=SELECTOR)
        return sorted(listing.items, key=lambda item: item.metadata.name)

    def pods(self) -> list[Any]:
        return self._list("pods", self.core.list_namespaced_pod)

    def services(self) -> list[Any]:
        return self._list("Services", self.core.list_namespaced_service)

    def ingresses(self) -> list[Any]:
        networking = _client().NetworkingV1Api(self.api)
        return self._list("Ingresses", networking.list_namespaced_ingress)

    def autoscalers(self) -> list[Any]:
        autoscaling = _client().AutoscalingV2Api(self.api)
        return self._list(
            "HorizontalPodAutoscalers", autoscaling.list_namespaced_horizontal_pod_autoscaler
        )

    def events(self, names: set[str]) -> list[Any]:
        """Events about the named objects, oldest first."""
        listing = self.call("list events", self.core.list_namespaced_event, self.namespace)
        found = [event for event in listing.items if event.involved_object.name in names]
        return sorted(found, key=event_time)

    def pod_log(self, pod: str, container: str, *, previous: bool, lines: int = LOG_LINES) -> str:
        return str(
            self.call(
                f"read the logs of {pod}",
                self.core.read_namespaced_pod_log,
                pod,
                self.namespace,
                container=container,
                tail_lines=lines,
                previous=previous,
            )
        )

    # -- the rollout -------------------------------------------------------------------------

    def wait_for_rollout(
        self,
        timeout: int,
        progress: Callable[[str], None] = print,
        *,
        stop_at_deadline: bool = True,
    ) -> Rollout:
        """Watch the Deployment until its rollout is complete, it exceeds its progress deadline
        (unless `stop_at_deadline` is false: right after an undo the controller may still show
        the failed revision's deadline), or `timeout` s pass. Each new state is told to
        `progress`, with the reason a pod of the new revision is stuck, once seen."""
        deadline = time.monotonic() + timeout
        said = ""
        stuck = ""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return Rollout(False, stuck or said or f"{DEPLOYMENT} did not change")
            for deployment in self._watch_deployment(min(WATCH_WINDOW_S, max(1, int(left)))):
                state, finished, failed = rollout_state(deployment)
                if failed and stop_at_deadline:
                    return Rollout(False, f"{state}; {stuck}" if stuck else state)
                if finished:
                    progress(state)
                    return Rollout(True)
                if state != said:
                    progress(state)
                    said = state
            reasons = self.stuck_reasons()
            if reasons and reasons[0] != stuck:
                stuck = reasons[0]
                progress(f"stuck: {stuck}")

    def _watch_deployment(self, seconds: int) -> Iterator[Any]:
        """The Deployment now, then each change to it, for `seconds`.

        From resourceVersion "0" (the API server's cache, as client-go's reflector starts): a
        watch from "now" makes the server wait for its cache to catch up with etcd, which fails
        with 504 "Too large resource version" where etcd cannot report progress (etcd 3.4, the
        local cluster's). A watch the server ends that way, or with 410 Gone, is replaced by
        one read of the Deployment."""
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        watcher = watch.Watch()
        try:
            for event in watcher.stream(
                self.apps.list_namespaced_deployment,
                self.namespace,
                field_selector=f"metadata.name={APP}",
                resource_version="0",
                timeout_seconds=seconds,
                _request_timeout=seconds + self.timeout,
            ):
                if event["type"] in ("ADDED", "MODIFIED"):
                    yield event["object"]
        except urllib3.exceptions.HTTPError as exc:
            raise Exit(
                f"lost the Kubernetes API server ({self.where()}) while watching {DEPLOYMENT}: "
                f"{exc}\n{fix(self.target)}",
                code=1,
            ) from exc
        except ApiException as exc:
            if exc.status not in (410, 504):
                raise
            time.sleep(1)
            deployment = self.deployment()
            if deployment is not None:
                yield deployment
        finally:
            watcher.stop()

    def stuck_reasons(self) -> list[str]:
        """Why pods of the Deployment are not ready: a pull, a crash loop, a failing probe, no
        node to run on. Empty when none is stuck."""
        pods = [pod for pod in self.pods() if not pod_ready(pod)]
        reasons = []
        for pod in pods:
            name = pod.metadata.name
            for condition in pod.status.conditions or []:
                if condition.type == "PodScheduled" and condition.reason == "Unschedulable":
                    reasons.append(f"pod {name} is unschedulable: {condition.message}")
            statuses = [
                *(pod.status.init_container_statuses or []),
                *(pod.status.container_statuses or []),
            ]
            for status in statuses:
                waiting = status.state.waiting if status.state else None
                if waiting and waiting.reason in STUCK_WAITING:
                    exited = _last_exit(status)
                    reasons.append(
                        f"pod {name} container {status.name}: {waiting.reason}"
                        + (f" ({waiting.message})" if waiting.message else "")
                        + (f", last {exited}" if exited else "")
                    )
        if not reasons and pods:
            unhealthy = [
                event
                for event in self.events({pod.metadata.name for pod in pods})
                if event.reason == "Unhealthy"
            ]
            if unhealthy:
                last = unhealthy[-1]
                reasons.append(
                    f"pod {last.involved_object.name}: {last.message.strip()} "
                    f"({last.count or 1} times)"
                )
        return reasons

    def failure_reason(self, replica_set: str) -> str:
        """Why the revision of `replica_set` is not ready: its stuck pods, else the last warning
        about it or its pods."""
        stuck = [reason for reason in self.stuck_reasons() if replica_set in reason]
        if stuck:
            return "; ".join(stuck)
        names = {replica_set} | {
            pod.metadata.name for pod in self.pods() if pod.metadata.name.startswith(replica_set)
        }
        warnings = [event for event in self.events(names) if event.type == "Warning"]
        if not warnings:
            return "no warning events (the pods and logs above say why)"
        return f"{warnings[-1].reason}: {warnings[-1].message.strip()}"


def pod_ready(pod: Any) -> bool:
    return any(
        condition.type == "Ready" and condition.status == "True"
        for condition in pod.status.conditions or []
    )


def _last_exit(status: Any) -> str:
    terminated = status.last_state.terminated if status.last_state else None
    if terminated is None:
        return ""
    return f"exit {terminated.exit_code} ({terminated.reason or 'no reason'})"


def rollout_state(deployment: Any) -> tuple[str, bool, bool]:
    """(what the rollout is doing, finished, failed), as `kubectl rollout status` judges it
    (kubectl/pkg/polymorphichelpers/rollout_status.go, DeploymentStatusViewer)."""
    name = deployment.metadata.name
    status, spec = deployment.status, deployment.spec
    if (deployment.metadata.generation or 0) > (status.observed_generation or 0):
        return f"waiting for the {name} update to be observed", False, False
    for condition in status.conditions or []:
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            return f'deployment "{name}" exceeded its progress deadline', False, True
    wanted = spec.replicas if spec.replicas is not None else 1
    updated, replicas = status.updated_replicas or 0, status.replicas or 0
    available = status.available_replicas or 0
    if updated < wanted:
        return f"{updated} of {wanted} new replicas have been updated", False, False
    if replicas > updated:
        return f"{replicas - updated} old replicas are pending termination", False, False
    if available < updated:
        return f"{available} of {updated} updated replicas are available", False, False
    return f'deployment "{name}" successfully rolled out', True, False
