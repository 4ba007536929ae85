"""The Prometheus Operator's CRDs, for clusters without the kube-prometheus-stack chart.

The chart brings these CRDs; a cluster without the chart (the local one: the chart's repository
cannot be reached offline) needs them before a PrometheusRule or ServiceMonitor can be applied.
They come from the operator's Go module, at the version the pinned chart ships, through the Go
module proxy (the same route as every other tool here), and are cached in the Go module cache.
"""

from __future__ import annotations

from pathlib import Path

from ops.core.charts import module_files

# kube-prometheus-stack 77.11.1 (monitoring/kube-prometheus-stack/chart.yaml) ships operator 0.85.
OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
CRD_DIR = "example/prometheus-operator-crd"
# What monitoring.install applies: the rules and the ServiceMonitor in manifests/components.
CRDS = ("prometheusrules", "servicemonitors")


def operator_crds(names: tuple[str, ...] = CRDS) -> list[Path]:
    """Paths of the operator's CRD manifests (fetched into the Go module cache once)."""
    return module_files(
        OPERATOR_MODULE, [f"{CRD_DIR}/monitoring.coreos.com_{name}.yaml" for name in names]
    )
