"""kubectl and helm command lines for one environment: its kubeconfig, context and namespace.

The only place such a command line is put together, so no task can talk to whatever cluster
happens to be current on a laptop. Cloud environments always use the context named after their
AKS cluster (what `az aks get-credentials` writes); every environment uses the kubeconfig that
the deploy's credentials stage (or `sandbox.cluster-start`) wrote to .data/<env>/kubeconfig, unless
`k8s.kubeconfig` names another.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml
from invoke.exceptions import Exit

from ops import toolchain
from ops.core.settings import KubeSettings
from ops.core.state import EnvState
from ops.envconfig import REPO_ROOT, Environment

# Where the local cluster (ops/sandbox) writes its kubeconfig, and where it records which cluster
# runs: the facts this module checks a `local` kubeconfig against, below the sandbox that writes
# them (the sandbox's own layout builds on these two).
LOCAL_KUBECONFIG = REPO_ROOT / ".data" / "local" / "kubeconfig"
LOCAL_CLUSTER_DIR = toolchain.CACHE_DIR / "sandbox" / "node"


def _program(configured: str, name: str) -> str:
    if configured:
        return configured
    try:
        return toolchain.require(name)
    except toolchain.ToolMissing as exc:
        raise Exit(str(exc), code=1) from exc


# The Runner's bound on one kubectl call: its API requests are bounded by --request-timeout
# (KubeTarget.request_timeout); this also covers kubectl's start and a kubelogin token refresh.
KUBECTL_CALL_TIMEOUT_S = 60


@dataclass(frozen=True)
class KubeTarget:
    """Where kubectl and helm act for one environment."""

    environment: Environment
    kubeconfig: str | None
    context: str | None
    request_timeout: int = 10
    kubectl_program: str = ""
    helm_program: str = ""

    @property
    def namespace(self) -> str:
        return self.environment.kubernetes.namespace

    def where(self) -> str:
        context = f"context {self.context}" if self.context else "the current context"
        return f"{context} of {self.kubeconfig or 'the default kubeconfig'}"

    def kubectl_argv(self, *args: str, namespace: str | None = "") -> list[str]:
        """kubectl with the target's flags; namespace "" is the app's, None none (cluster-wide)."""
        words = [
            _program(self.kubectl_program, "kubectl"),
            f"--request-timeout={self.request_timeout}s",
        ]
        if self.kubeconfig:
            words.append(f"--kubeconfig={self.kubeconfig}")
        if self.context:
            words.append(f"--context={self.context}")
        if namespace is not None:
            words.append(f"--namespace={namespace or self.namespace}")
        return [*words, *args]

    def kubectl(self, *args: str, namespace: str | None = "") -> str:
        return shlex.join(self.kubectl_argv(*args, namespace=namespace))

    def helm_argv(self, *args: str) -> list[str]:
        """helm with the same kubeconfig and context as kubectl (helm has no request timeout)."""
        words = [_program(self.helm_program, "helm")]
        if self.kubeconfig:
            words.append(f"--kubeconfig={self.kubeconfig}")
        if self.context:
            words.append(f"--kube-context={self.context}")
        return [*words, *args]

    def helm(self, *args: str) -> str:
        return shlex.join(self.helm_argv(*args))


def verify_local_kubeconfig(path: Path, cluster_dir: Path = LOCAL_CLUSTER_DIR) -> None:
    """Refuse a `local` kubeconfig that points at any cluster but the running local one (a copied
    AKS kubeconfig, a stale file from an old cluster): kubectl and helm would act on that one.

    The running cluster is the one ops.sandbox recorded in `cluster_dir`: its API server in
    state.json, its CA in pki/ca.crt."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        context = next(
            c["context"] for c in config["contexts"] if c["name"] == config["current-context"]
        )
        entry = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    except (OSError, yaml.YAMLError, KeyError, StopIteration, TypeError) as exc:
        raise Exit(
            f"{path} is not a usable kubeconfig ({exc}); run `invoke sandbox.cluster-start`, "
            "which rewrites it",
            code=1,
        ) from exc
    try:
        state = json.loads((cluster_dir / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        state = {}
    ours = cluster_dir / "pki" / "ca.crt"
    authority = entry.get("certificate-authority")
    same_ca = (
        authority is not None
        and ours.is_file()
        and Path(authority).is_file()
        and Path(authority).read_bytes() == ours.read_bytes()
    )
    if state.get("server") != entry.get("server") or not same_ca:
        raise Exit(
            f"{path} points at {entry.get('server')}, which is not the local cluster "
            f"({state.get('server') or 'not running'}); refusing to act on another cluster. Run "
            "`invoke sandbox.cluster-start` (it rewrites the file), or set INVOKE_K8S_KUBECONFIG "
            "to the cluster you mean",
            code=1,
        )


def _refuse_another_cluster(kubeconfig: Path) -> None:
    """The local cluster's kubeconfig must still point at the running local cluster: a file
    overwritten with another cluster's (an AKS one, an old run's) is refused before any call."""
    if kubeconfig.resolve() != LOCAL_KUBECONFIG.resolve():
        return  # a kubeconfig chosen explicitly (k8s.kubeconfig) or a test's own state
    verify_local_kubeconfig(kubeconfig)


def for_environment(
    environment: Environment, files: EnvState, configured: KubeSettings, *, context: str = ""
) -> KubeTarget:
    """The environment's cluster as the settings describe it; `context` (a command-line choice)
    overrides the default one. Composed when needed: an earlier step may just have written the
    kubeconfig."""
    if context:
        chosen_context: str | None = context
    elif environment.azure is not None:
        chosen_context = environment.azure.aks.cluster_name
    else:
        chosen_context = configured.local_context or None
    kubeconfig = configured.kubeconfig
    if not kubeconfig:
        kubeconfig = str(files.kubeconfig) if files.kubeconfig.is_file() else ""
    if environment.is_local and kubeconfig:
        _refuse_another_cluster(Path(kubeconfig))
    return KubeTarget(
        environment=environment,
        kubeconfig=kubeconfig or None,
        context=chosen_context,
        request_timeout=configured.request_timeout,
        kubectl_program=configured.kubectl,
        helm_program=configured.helm,
    )
