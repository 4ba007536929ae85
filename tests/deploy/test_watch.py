"""How ops/k8s/watch.py judges a rollout and words a stuck pod, on the client's own models.

The reads themselves run against real API servers (tests/manifests/test_apiserver.py, a control
plane; tests/deploy/test_local.py, a node); these cover the states a test cannot easily make
happen there, each as the API server returns it.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from invoke.exceptions import Exit
from kubernetes import client as k8s

from ops import envconfig
from ops.core.kube import KubeTarget
from ops.k8s import report, watch
from tests.kubeapi import NOW, write_kubeconfig

TARGET = KubeTarget(envconfig.load("local"), kubeconfig=None, context=None, request_timeout=2)


def deployment(**status: Any) -> Any:
    generation = status.pop("generation", 2)
    return k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name="orderdesk", generation=generation),
        spec=k8s.V1DeploymentSpec(
            replicas=2,
            selector=k8s.V1LabelSelector(),
            template=k8s.V1PodTemplateSpec(spec=k8s.V1PodSpec(containers=[])),
        ),
        status=k8s.V1DeploymentStatus(observed_generation=2, **status),
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"generation": 3}, ("waiting for the orderdesk update to be observed", False, False)),
        (
            {"updated_replicas": 1, "replicas": 3},
            ("1 of 2 new replicas have been updated", False, False),
        ),
        (
            {"updated_replicas": 2, "replicas": 3},
            ("1 old replicas are pending termination", False, False),
        ),
        (
            {"updated_replicas": 2, "replicas": 2, "available_replicas": 1},
            ("1 of 2 updated replicas are available", False, False),
        ),
        (
            {"updated_replicas": 2, "replicas": 2, "available_replicas": 2},
            ('deployment "orderdesk" successfully rolled out', True, False),
        ),
        (
            {
                "updated_replicas": 2,
                "replicas": 2,
                "available_replicas": 2,
                "conditions": [
                    k8s.V1DeploymentCondition(
                        type="Progressing", status="False", reason="ProgressDeadlineExceeded"
                    )
                ],
            },
            ('deployment "orderdesk" exceeded its progress deadline', False, True),
        ),
    ],
)
def test_a_rollout_is_judged_as_kubectl_rollout_status_judges_it(status, expected) -> None:
    assert watch.rollout_state(deployment(**status)) == expected


def container(name: str, restarts: int = 0, **state: Any) -> Any:
    last = state.pop("last", None)
    return k8s.V1ContainerStatus(
        name=name,
        image="",
        image_id="",
        ready=False,
        restart_count=restarts,
        state=k8s.V1ContainerState(**state),
        last_state=k8s.V1ContainerState(terminated=last) if last else None,
    )


def backing_off(restarts: int) -> Any:
    """The web container in CrashLoopBackOff after a run that exited 3."""
    return container(
        "web",
        restarts=restarts,
        waiting=k8s.V1ContainerStateWaiting(reason="CrashLoopBackOff"),
        last=k8s.V1ContainerStateTerminated(exit_code=3),
    )


def pod(name: str, *statuses: Any, conditions: list[Any] | None = None) -> Any:
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, creation_timestamp=NOW),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="web")]),
        status=k8s.V1PodStatus(
            phase="Pending" if not statuses else "Running",
            conditions=conditions or [k8s.V1PodCondition(type="Ready", status="False")],
            container_statuses=list(statuses) or None,
        ),
    )


class Pods(watch.Cluster):
    """watch.Cluster over fixed pods; no events; the log reads it was asked for."""

    def __init__(self, *pods: Any, gone: set[tuple[str, bool]] | None = None) -> None:
        super().__init__(TARGET, k8s.ApiClient(k8s.Configuration()))
        self.listed = list(pods)
        self.logs: list[tuple[str, str, bool]] = []
        # (pod, previous) whose log the kubelet no longer has
        self.gone = gone or set()

    def pods(self) -> list[Any]:
        return self.listed

    def events(self, names: set[str]) -> list[Any]:
        return []

    def pod_log(self, pod: str, container: str, *, previous: bool, lines: int = 50) -> str:
        self.logs.append((pod, container, previous))
        if (pod, previous) in self.gone:
            return f"{watch.UNRETRIEVABLE} for containerd://0123"
        return "line one\nline two"


def test_each_kind_of_stuck_pod_is_named_with_its_reason() -> None:
    crashing = container(
        "web",
        restarts=4,
        waiting=k8s.V1ContainerStateWaiting(reason="CrashLoopBackOff", message="back-off 40s"),
        last=k8s.V1ContainerStateTerminated(exit_code=3, reason="Error"),
    )
    pulling = container(
        "web",
        waiting=k8s.V1ContainerStateWaiting(reason="ImagePullBackOff", message="Back-off pulling"),
    )
    unschedulable = k8s.V1PodCondition(
        type="PodScheduled",
        status="False",
        reason="Unschedulable",
        message="0/1 nodes are available: 1 node(s) were unschedulable.",
    )
    cluster = Pods(
        pod("orderdesk-1-a", crashing),
        pod("orderdesk-1-b", pulling),
        pod("orderdesk-1-c", conditions=[unschedulable]),
    )
    assert cluster.stuck_reasons() == [
        "pod orderdesk-1-a container web: CrashLoopBackOff (back-off 40s), last exit 3 (Error)",
        "pod orderdesk-1-b container web: ImagePullBackOff (Back-off pulling)",
        "pod orderdesk-1-c is unschedulable: 0/1 nodes are available: 1 node(s) were "
        "unschedulable.",
    ]


def test_the_logs_of_a_restarted_container_are_its_previous_runs() -> None:
    running = container("web", running=k8s.V1ContainerStateRunning())
    waiting = container("web", waiting=k8s.V1ContainerStateWaiting(reason="ErrImagePull"))
    running_again = container(
        "web",
        restarts=1,
        running=k8s.V1ContainerStateRunning(),
        last=k8s.V1ContainerStateTerminated(exit_code=3),
    )
    cluster = Pods(
        pod("p-1", backing_off(restarts=2)),
        pod("p-2", running),
        pod("p-3", waiting),
        pod("p-4"),
        pod("p-5", running_again),
    )
    lines = []
    for listed in cluster.listed:
        lines += report.pod_logs(cluster, listed, 50)
    assert lines == [
        "[p-1/web (previous run)] line one",
        "[p-1/web (previous run)] line two",
        "[p-2/web] line one",
        "[p-2/web] line two",
        "[p-3/web] no logs: the container has not started (ErrImagePull)",
        "[p-4] no logs: no container has started (the pod is Pending; its events above say why)",
        "[p-5/web (previous run)] line one",
        "[p-5/web (previous run)] line two",
    ]
    # In back-off the run that just ended is the kubelet's current log; once the container
    # runs again, the ended run is `previous`.
    assert cluster.logs == [("p-1", "web", False), ("p-2", "web", False), ("p-5", "web", True)]


def test_a_log_the_kubelet_no_longer_has_is_read_the_other_way() -> None:
    cluster = Pods(pod("p-1", backing_off(restarts=3)), gone={("p-1", False)})
    assert report.pod_logs(cluster, cluster.listed[0], 50) == [
        "[p-1/web (previous run)] line one",
        "[p-1/web (previous run)] line two",
    ]
    assert cluster.logs == [("p-1", "web", False), ("p-1", "web", True)]


def test_a_server_that_never_answers_fails_within_the_request_timeout(tmp_path) -> None:
    """A socket that completes TCP handshakes but never answers TLS: the client's read timeout
    (request_timeout, 2 s here) ends the call, with no retries."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        server = f"https://127.0.0.1:{silent.getsockname()[1]}"
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server, "orderdesk-local")
        target = KubeTarget(TARGET.environment, str(kubeconfig), "orderdesk-local", 2)
        started = time.monotonic()
        with pytest.raises(Exit) as caught:
            watch.connect(target).server_minor()
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert 2 <= elapsed < 6, f"took {elapsed:.1f} s"
    message = str(caught.value.message)
    assert "cannot reach the Kubernetes API server (context orderdesk-local of " in message
    assert "within 2 s to read its version" in message
    assert "start the local cluster (or point KUBECONFIG at it)" in message


def test_a_kubeconfig_without_the_context_names_it(tmp_path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:1", "other")
    target = KubeTarget(TARGET.environment, str(kubeconfig), "aks-orderdesk-prod", 2)
    with pytest.raises(Exit, match=r"cannot use the kubeconfig for context aks-orderdesk-prod"):
        watch.connect(target)
