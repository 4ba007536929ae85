"""What deploy and `invoke status` print about the app in a cluster: the failure report of a
rollout (revisions, pods, events, the logs of pods not ready) and the status of the Deployment
and what exposes it, as lines of text.

ops/k8s/watch.py reads and watches the objects (a Cluster); this module only words them, so a
change of wording never touches the code that waits on a rollout.
"""

from __future__ import annotations

import datetime
from typing import Any

from ops.k8s.watch import (
    APP,
    LOG_LINES,
    SELECTOR,
    UNRETRIEVABLE,
    ApiError,
    Cluster,
    event_time,
    pod_ready,
    revision_of,
    rollout_state,
)


def age(when: datetime.datetime | None) -> str:
    if when is None:
        return "-"
    seconds = int((datetime.datetime.now(datetime.UTC) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def failure_report(cluster: Cluster, lines: int = LOG_LINES) -> list[str]:
    """What someone needs to see when a rollout fails: the revisions, the pods, the events
    of the Deployment, its ReplicaSets and pods, and the logs of each pod that is not
    ready (its previous container's, if it restarted)."""
    report = ["--- revisions (newest first)", *revision_lines(cluster)]
    pods = cluster.pods()
    report.append(f"--- pods ({SELECTOR})")
    report += [pod_line(pod) for pod in pods] or ["(none)"]
    names = {APP} | {rs.name for rs in cluster.replica_sets()} | {p.metadata.name for p in pods}
    report.append("--- events of the Deployment, its ReplicaSets and pods (oldest first)")
    report += [event_line(event) for event in cluster.events(names)] or ["(none)"]
    report.append(f"--- logs (last {lines} lines of each container of each pod not ready)")
    failing = [pod for pod in pods if not pod_ready(pod)]
    for pod in failing:
        report += pod_logs(cluster, pod, lines)
    if not failing:
        report.append("(every pod is ready)")
    return report


def pod_logs(cluster: Cluster, pod: Any, lines: int) -> list[str]:
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
        # A container waiting in back-off has no current run: the kubelet's "current" logs are
        # those of the run that just ended, while `previous` means the one before it, which it
        # may already have removed ("unable to retrieve container logs").
        previous = restarted and not waiting
        try:
            text = cluster.pod_log(pod.metadata.name, status.name, previous=previous, lines=lines)
            if text.startswith(UNRETRIEVABLE) and restarted:
                text = cluster.pod_log(
                    pod.metadata.name, status.name, previous=not previous, lines=lines
                )
        except ApiError as exc:
            found.append(f"{header} no logs: {exc.status} {exc.reason}")
            continue
        found += [f"{header} {line}" for line in text.splitlines()] or [f"{header} (empty)"]
    return found


def revision_lines(cluster: Cluster) -> list[str]:
    deployment = cluster.deployment()
    running = revision_of(deployment.metadata) if deployment else 0
    return [
        f"revision {rs.revision}: {rs.name} {rs.image} ({rs.ready}/{rs.replicas} ready)"
        + (" <- the Deployment's revision" if rs.revision == running else "")
        for rs in cluster.replica_sets()
    ] or ["(none)"]


def pod_line(pod: Any) -> str:
    statuses = pod.status.container_statuses or []
    ready = sum(1 for s in statuses if s.ready)
    restarts = sum(s.restart_count or 0 for s in statuses)
    return (
        f"{pod.metadata.name}  {pod.status.phase}  {ready}/{len(pod.spec.containers)} ready  "
        f"{restarts} restarts  age {age(pod.metadata.creation_timestamp)}  "
        f"node {pod.spec.node_name or '-'}"
    )


def event_line(event: Any) -> str:
    count = f" (x{event.count})" if (event.count or 1) > 1 else ""
    return (
        f"{age(event_time(event))} ago  {event.type}  {event.reason}  "
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
    lines += ["revisions (newest first):", *(f"  {line}" for line in revision_lines(cluster))]
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
