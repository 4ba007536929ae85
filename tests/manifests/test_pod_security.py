"""Every pod template meets the Pod Security Standard `restricted` (Kubernetes 1.33 rules).

The test API server (1.20) has no PodSecurity admission, and the cloud clusters would only refuse a
bad pod at rollout time; this checks the same rules offline on every rendered workload, and shows
with broken copies that each rule can fail.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ops.k8s.render import Rendered
from tests.manifests.conftest import ENVIRONMENTS, pod_templates

ALLOWED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """The `restricted` rules a pod spec breaks (empty: it passes)."""
    problems: list[str] = []
    pod_context = pod.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            problems.append(f"{flag} is set")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} is of type {sorted(kinds)}")
    for sysctl in pod_context.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl['name']} is not in the safe set")
    problems += _context_violations("pod", pod_context)
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod.get(kind) or []:
            problems += _container_violations(container, pod_context)
    return problems


def _container_violations(container: dict[str, Any], pod_context: dict[str, Any]) -> list[str]:
    name = f"container {container['name']}"
    context = container.get("securityContext") or {}
    problems = _context_violations(name, context)
    if context.get("privileged"):
        problems.append(f"{name} is privileged")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{name} does not set allowPrivilegeEscalation: false")
    if context.get("procMount", "Default") != "Default":
        problems.append(f"{name} has procMount {context['procMount']}")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        problems.append(f"{name} does not drop ALL capabilities")
    if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
        problems.append(f"{name} adds capabilities {capabilities['add']}")
    problems += [
        f"{name} uses hostPort {port['hostPort']}"
        for port in container.get("ports") or []
        if port.get("hostPort")
    ]
    # runAsNonRoot and seccomp may come from the pod or the container (the container wins).
    if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
        problems.append(f"{name} may run as root (runAsNonRoot is not true)")
    seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile") or {}
    if seccomp.get("type") not in {"RuntimeDefault", "Localhost"}:
        problems.append(f"{name} has no RuntimeDefault/Localhost seccomp profile")
    return problems


def _context_violations(owner: str, context: dict[str, Any]) -> list[str]:
    problems = []
    if context.get("runAsUser") == 0:
        problems.append(f"{owner} runs as UID 0")
    if context.get("runAsNonRoot") is False:
        problems.append(f"{owner} sets runAsNonRoot: false")
    if (context.get("windowsOptions") or {}).get("hostProcess"):
        problems.append(f"{owner} is a Windows HostProcess")
    if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
        problems.append(f"{owner} has seccomp Unconfined")
    if (context.get("appArmorProfile") or {}).get("type") == "Unconfined":
        problems.append(f"{owner} has AppArmor Unconfined")
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        problems.append(f"{owner} has SELinux options {selinux}")
    return problems


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_pod_template_is_restricted(rendered_overlays: dict[str, Rendered], env: str):
    templates = pod_templates(rendered_overlays[env])
    assert templates, f"{env} renders no workload"
    for workload, pod in templates:
        assert restricted_violations(pod) == [], f"{env} {workload}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_namespace_enforces_restricted(rendered_overlays: dict[str, Rendered], env: str):
    namespaces = [d for d in rendered_overlays[env].documents if d["kind"] == "Namespace"]
    assert len(namespaces) == 1
    labels = namespaces[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pods_run_as_the_app_user_without_a_token(rendered_overlays: dict[str, Rendered], env):
    templates = pod_templates(rendered_overlays[env])
    assert templates, f"{env} renders no workload"
    for _, pod in templates:
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["automountServiceAccountToken"] is False
        containers = pod["containers"] + pod.get("initContainers", [])
        assert containers
        for container in containers:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True


BREAKAGES = {
    "hostNetwork": lambda pod: pod.update(hostNetwork=True),
    "hostPath volume": lambda pod: pod["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    "privileged": lambda pod: pod["containers"][0]["securityContext"].update(privileged=True),
    "privilege escalation": lambda pod: pod["containers"][0]["securityContext"].pop(
        "allowPrivilegeEscalation"
    ),
    "capabilities kept": lambda pod: pod["initContainers"][0]["securityContext"].pop(
        "capabilities"
    ),
    "capability added": lambda pod: pod["containers"][0]["securityContext"]["capabilities"].update(
        add=["NET_ADMIN"]
    ),
    "root": lambda pod: pod["containers"][0]["securityContext"].update(
        runAsNonRoot=False, runAsUser=0
    ),
    "no seccomp": lambda pod: [
        context.pop("seccompProfile")
        for context in [pod["securityContext"]]
        + [c["securityContext"] for c in pod["containers"] + pod["initContainers"]]
    ],
    "host port": lambda pod: pod["containers"][0]["ports"][0].update(hostPort=80),
    "unsafe sysctl": lambda pod: pod["securityContext"].update(
        sysctls=[{"name": "kernel.msgmax", "value": "1"}]
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_the_check_catches_each_broken_rule(rendered_overlays: dict[str, Rendered], breakage):
    _, pod = pod_templates(rendered_overlays["prod"])[0]
    broken = copy.deepcopy(pod)
    BREAKAGES[breakage](broken)
    assert restricted_violations(broken), f"{breakage} went unnoticed"
