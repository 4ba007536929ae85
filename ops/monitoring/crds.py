"""The Prometheus Operator's CRDs, for clusters without the kube-prometheus-stack chart.

The chart brings these CRDs; a cluster without the chart (the local one: the chart's repository
cannot be reached offline) needs them before a PrometheusRule or ServiceMonitor can be applied.
They come from the operator's Go module, at the version the pinned chart ships, through the Go
module proxy (the same route as every other tool here), and are cached in the Go module cache.
"""

from __future__ import annotations

import json
import shutil
import subprocess  # nosec B404 - `go mod download` with fixed arguments
from pathlib import Path

from ops import toolchain

# kube-prometheus-stack 77.11.1 (monitoring/kube-prometheus-stack/chart.yaml) ships operator 0.85.
OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
CRD_DIR = "example/prometheus-operator-crd"
# What monitoring.install applies: the rules and the ServiceMonitor in manifests/components.
CRDS = ("prometheusrules", "servicemonitors")


class CrdsMissing(Exception):
    """The operator module could not be fetched; the message says what to do."""


def operator_crds(names: tuple[str, ...] = CRDS) -> list[Path]:
    """Paths of the operator's CRD manifests (fetched into the Go module cache once)."""
    return module_files(
        OPERATOR_MODULE, [f"{CRD_DIR}/monitoring.coreos.com_{name}.yaml" for name in names]
    )


def module_files(module: str, relative_paths: list[str]) -> list[Path]:
    """Files of a Go module at an exact version (`path@vX.Y.Z`), fetched through the Go module
    proxy into the Go module cache once: how an add-on's CRDs reach a cluster that cannot fetch
    its chart."""
    go = shutil.which("go")
    if go is None:
        raise CrdsMissing(f"go not found; install Go to fetch the CRDs in {module}")
    done = subprocess.run(  # noqa: S603  # nosec B603
        [go, "mod", "download", "-json", module],
        env=toolchain.go_env(),
        capture_output=True,
        text=True,
        check=False,
        cwd=toolchain.CACHE_DIR if toolchain.CACHE_DIR.is_dir() else None,
    )
    try:
        module_dir = Path(json.loads(done.stdout)["Dir"])
    except (ValueError, KeyError) as exc:
        raise CrdsMissing(
            f"`go mod download {module}` failed: {done.stderr.strip() or done.stdout}; "
            "check GOPROXY reaches the Go module proxy"
        ) from exc
    paths = [module_dir / relative for relative in relative_paths]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise CrdsMissing(f"{module} has no {', '.join(missing)}")
    return paths
