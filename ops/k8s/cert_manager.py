"""The cluster add-ons the app's manifests need before they can be applied.

The ingress-tls component holds cert-manager objects (ClusterIssuers, a Certificate) and the
monitoring component a ServiceMonitor. The API server refuses a kind it does not know, so on an
empty cluster `k8s.apply` fails unless the CRDs exist first: cert-manager here (the addons stage),
the Prometheus Operator's through kube-prometheus-stack (the monitoring stage); both run before the
kubernetes stage (ops/deploy/plan.py).

    invoke k8s.addons --env dev              # helm: the pinned cert-manager, CRDs included
    invoke k8s.addons --env local --no-chart # only that version's CRDs, from its Go module
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml
from invoke.exceptions import Exit

from ops.core import kube
from ops.core.charts import ChartPin, CrdsMissing, module_files, read_chart_pin
from ops.core.target import Target
from ops.envconfig import Environment
from ops.k8s.render import MANIFESTS_DIR

CERT_MANAGER_PIN = MANIFESTS_DIR / "addons" / "cert-manager.yaml"
# The CRDs cert-manager's chart installs (crds.enabled=true); deploy/crds in its module.
CERT_MANAGER_CRDS = (
    "cert-manager.io_certificaterequests",
    "cert-manager.io_certificates",
    "cert-manager.io_clusterissuers",
    "cert-manager.io_issuers",
    "acme.cert-manager.io_challenges",
    "acme.cert-manager.io_orders",
)
HELM_WAIT = "5m"
# helm's own --timeout and a minute for the release's bookkeeping around it.
HELM_TIMEOUT_S = 5 * 60 + 60
# Internal environments (env.yaml azure.ingress.exposure) answer DNS-01 as an Azure identity: the
# workload identity webhook gives a pod its token only when the pod carries this label
# (learn.microsoft.com/azure/aks/workload-identity-overview; cert-manager.io/docs/configuration/
# acme/dns01/azuredns sets it through the chart's podLabels). --set-string: a label is no bool.
WORKLOAD_IDENTITY_LABEL = r"podLabels.azure\.workload\.identity/use=true"
# Inside the VNet the environment's zone is the private one (split horizon), which never holds the
# challenge's TXT record: the self-check must ask public resolvers only, as Let's Encrypt sees the
# zone (cert-manager.io/docs/configuration/acme/dns01, "Setting Nameservers for DNS01 Self Check";
# cert-manager/cert-manager#903). Helm splits --set on commas, hence the escape.
PUBLIC_RECURSIVE_NAMESERVERS = r"dns01RecursiveNameservers=1.1.1.1:53\,8.8.8.8:53"


def chart_pin(path: Path = CERT_MANAGER_PIN) -> tuple[ChartPin, str]:
    """The pinned chart and the Go module (same version) that carries its CRDs."""
    try:
        pinned = read_chart_pin(path)
        module = str(yaml.safe_load(path.read_text(encoding="utf-8"))["module"])
    except (OSError, KeyError, TypeError) as exc:
        raise Exit(
            f"{path} must name repository, chart, version, release, namespace and module ({exc})",
            code=1,
        ) from exc
    return pinned, f"{module}@{pinned.version}"


def crds_from_module(path: Path = CERT_MANAGER_PIN) -> list[Path]:
    """The pinned version's CRD manifests, from its Go module (no chart download)."""
    _, module = chart_pin(path)
    try:
        return module_files(module, [f"deploy/crds/{name}.yaml" for name in CERT_MANAGER_CRDS])
    except CrdsMissing as exc:
        raise Exit(f"k8s.addons --no-chart: {exc}", code=1) from exc


def crd_names(files: Iterable[str]) -> list[str]:
    """<plural>.<group>, the CRD's name, for each CRD file named <group>_<plural>."""
    names = []
    for file in files:
        group, _, plural = file.partition("_")
        names.append(f"{plural}.{group}")
    return names


def chart_values(environment: Environment) -> list[str]:
    """helm --set arguments: CRDs always; DNS-01 through workload identity when internal."""
    values = ["--set", "crds.enabled=true"]
    if environment.azure is not None and environment.azure.ingress.internal:
        values += [
            "--set-string",
            WORKLOAD_IDENTITY_LABEL,
            "--set",
            PUBLIC_RECURSIVE_NAMESERVERS,
            "--set",
            "dns01RecursiveNameserversOnly=true",
        ]
    return values


def install(target: Target, *, chart: bool = True) -> None:
    """cert-manager on the environment's cluster: the chart (CRDs included), or only its CRDs."""
    environment, cluster, runner = target.environment, target.kube(), target.runner
    pin, _ = chart_pin()
    if chart:
        runner.run(
            cluster.helm_argv(*pin.upgrade_args(*chart_values(environment), timeout=HELM_WAIT)),
            timeout=HELM_TIMEOUT_S,
            hide=False,
        )
        return
    definitions = crds_from_module()
    for definition in definitions:
        # Server-side: CRDs are too large for client-side apply's last-applied annotation.
        runner.run(
            cluster.kubectl_argv("apply", "--server-side", "-f", str(definition), namespace=None),
            timeout=kube.KUBECTL_CALL_TIMEOUT_S,
            hide=False,
        )
    # A kind is served only once its CRD is Established; applying sooner is refused.
    runner.run(
        cluster.kubectl_argv(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            *(f"crd/{name}" for name in crd_names(path.stem for path in definitions)),
            namespace=None,
        ),
        timeout=60 + kube.KUBECTL_CALL_TIMEOUT_S,
        hide=False,
    )
