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
client runs itself.
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


def _age(when: datetime.datetime | None) -> str:
    if when is None:
        return "-"
    seconds = int((datetime.datetime.now(datetime.UTC) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _revision_of(metadata: Any) -> int:
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
                revision=_revision_of(item.metadata),
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
        if deployment is None or not _revision_of(deployment.metadata):
            return None
        number = _revision_of(deployment.metadata)
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
        return sorted(found, key=_event_time)

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
        pods = [pod for pod in self.pods() if not _ready(pod)]
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

    # -- reports -----------------------------------------------------------------------------

    def failure_report(self, lines: int = LOG_LINES) -> list[str]:
        """What someone needs to see when a rollout fails: the revisions, the pods, the events
        of the Deployment, its ReplicaSets and pods, and the logs of each pod that is not
        ready (its previous container's, if it restarted)."""
        report = ["--- revisions (newest first)", *self.revision_lines()]
        pods = self.pods()
        report.append(f"--- pods ({SELECTOR})")
        report += [pod_line(pod) for pod in pods] or ["(none)"]
        names = {APP} | {rs.name for rs in self.replica_sets()} | {p.metadata.name for p in pods}
        report.append("--- events of the Deployment, its ReplicaSets and pods (oldest first)")
        report += [event_line(event) for event in self.events(names)] or ["(none)"]
        report.append(f"--- logs (last {lines} lines of each container of each pod not ready)")
        failing = [pod for pod in pods if not _ready(pod)]
        for pod in failing:
            report += self.pod_logs(pod, lines)
        if not failing:
            report.append("(every pod is ready)")
        return report

    def pod_logs(self, pod: Any, lines: int) -> list[str]:
        """The last lines of each container of `pod`: the previous run's when it restarted (the
        current one has just started, or is waiting to)."""
        found = []
        statuses = [
            *(pod.status.init_container_statuses or []),
            *(pod.status.container_statuses or []),
        ]
        if not statuses:
            return [
                f"[{pod.metadata.name}] no logs: no container has started (the pod is "
                f"{pod.status.phase}; its events above say why)"
            ]
        for status in statuses:
            restarted = bool(status.restart_count)
            header = f"[{pod.metadata.name}/{status.name}{' (previous run)' if restarted else ''}]"
            waiting = status.state.waiting if status.state else None
            if not restarted and (waiting or not status.state):
                reason = waiting.reason if waiting else "not started"
                found.append(f"{header} no logs: the container has not started ({reason})")
                continue
            # A container waiting in back-off has no current run: the kubelet's "current" logs
            # are those of the run that just ended, while `previous` means the one before it,
            # which it may already have removed ("unable to retrieve container logs").
            previous = restarted and not waiting
            try:
                text = self.pod_log(pod.metadata.name, status.name, previous=previous, lines=lines)
                if text.startswith(UNRETRIEVABLE) and restarted:
                    text = self.pod_log(
                        pod.metadata.name, status.name, previous=not previous, lines=lines
                    )
            except ApiError as exc:
                found.append(f"{header} no logs: {exc.status} {exc.reason}")
                continue
            found += [f"{header} {line}" for line in text.splitlines()] or [f"{header} (empty)"]
        return found

    def revision_lines(self) -> list[str]:
        deployment = self.deployment()
        running = _revision_of(deployment.metadata) if deployment else 0
        return [
            f"revision {rs.revision}: {rs.name} {rs.image} ({rs.ready}/{rs.replicas} ready)"
            + (" <- the Deployment's revision" if rs.revision == running else "")
            for rs in self.replica_sets()
        ] or ["(none)"]


def _event_time(event: Any) -> datetime.datetime:
    when = (
        event.last_timestamp
        or event.event_time
        or event.first_timestamp
        or event.metadata.creation_timestamp
    )
    return when or datetime.datetime.min.replace(tzinfo=datetime.UTC)


def _ready(pod: Any) -> bool:
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


def pod_line(pod: Any) -> str:
    statuses = pod.status.container_statuses or []
    ready = sum(1 for s in statuses if s.ready)
    restarts = sum(s.restart_count or 0 for s in statuses)
    return (
        f"{pod.metadata.name}  {pod.status.phase}  {ready}/{len(pod.spec.containers)} ready  "
        f"{restarts} restarts  age {_age(pod.metadata.creation_timestamp)}  "
        f"node {pod.spec.node_name or '-'}"
    )


def event_line(event: Any) -> str:
    count = f" (x{event.count})" if (event.count or 1) > 1 else ""
    return (
        f"{_age(_event_time(event))} ago  {event.type}  {event.reason}  "
        f"{event.involved_object.kind.lower()}/{event.involved_object.name}: "
        f"{(event.message or '').strip()}{count}"
    )


def describe_deployment(cluster: Cluster, record_annotation: str) -> list[str]:
    """`invoke status`: the Deployment, its revisions, pods, Service, Ingress and autoscaler."""
    deployment = cluster.deployment()
    if deployment is None:
        return [f"deployment {APP}: none in namespace {cluster.namespace}"]
    spec, observed = deployment.spec, deployment.status
    state, _finished, _failed = rollout_state(deployment)
    lines = [
        f"deployment {APP}: image {spec.template.spec.containers[0].image}; replicas "
        f"{observed.ready_replicas or 0}/{spec.replicas or 0} ready, "
        f"{observed.updated_replicas or 0} up to date ({state})"
    ]
    annotation = (deployment.metadata.annotations or {}).get(record_annotation)
    if annotation:
        lines.append(f"annotation {record_annotation}: {annotation}")
    lines += ["revisions (newest first):", *(f"  {line}" for line in cluster.revision_lines())]
    lines += ["pods:", *(f"  {pod_line(pod)}" for pod in cluster.pods())]
    lines += [f"  stuck: {reason}" for reason in cluster.stuck_reasons()]
    lines += _exposure(cluster)
    return lines


def _exposure(cluster: Cluster) -> list[str]:
    """The Service, Ingress and autoscaler of the app, those that exist."""
    lines = []
    for service in cluster.services():
        ports = ", ".join(f"{p.port}->{p.target_port}" for p in service.spec.ports or [])
        lines.append(
            f"service {service.metadata.name}: {service.spec.type} {service.spec.cluster_ip} "
            f"({ports})"
        )
    for ingress in cluster.ingresses():
        hosts = ", ".join(rule.host or "*" for rule in ingress.spec.rules or [])
        balancer = ingress.status.load_balancer.ingress if ingress.status.load_balancer else None
        address = ", ".join(b.ip or b.hostname or "" for b in balancer or []) or "no address yet"
        lines.append(f"ingress {ingress.metadata.name}: {hosts} at {address}")
    for hpa in cluster.autoscalers():
        lines.append(
            f"autoscaler {hpa.metadata.name}: {hpa.status.current_replicas or 0} replicas "
            f"({hpa.spec.min_replicas or 1}-{hpa.spec.max_replicas})"
        )
    return lines
