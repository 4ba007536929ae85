"""Helm charts pinned in files of ours, and the Go modules that carry their CRDs.

Every add-on is pinned the same way (repository, chart, exact version, release, namespace): the
monitoring stack (monitoring/kube-prometheus-stack/chart.yaml) and cert-manager
(manifests/addons/cert-manager.yaml). A cluster that cannot fetch a chart (the local one, offline)
gets the CRDs from the Go module of the same version instead.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from ops import toolchain
from ops.core.run import Runner

# A module download through the Go module proxy; large operator modules take a while cold.
GO_DOWNLOAD_TIMEOUT_S = 600


@dataclass(frozen=True)
class ChartPin:
    repository: str
    chart: str
    version: str
    release: str
    namespace: str

    def upgrade_args(self, *values: str, timeout: str) -> list[str]:
        """`helm upgrade --install` of exactly this chart version, waiting up to `timeout`."""
        return [
            "upgrade",
            "--install",
            self.release,
            self.chart,
            "--repo",
            self.repository,
            "--version",
            self.version,
            "--namespace",
            self.namespace,
            "--create-namespace",
            *values,
            # Helm 4 waits only for hooks unless told a strategy; "watcher" (kstatus, what a bare
            # --wait means in Helm 4) waits for every resource, custom ones too, up to --timeout
            # (helm.sh/helm/v4 pkg/cmd/flags.go AddWaitFlag; HIP-0022 "Wait with kstatus").
            "--wait=watcher",
            "--timeout",
            timeout,
        ]


def read_chart_pin(path: Path) -> ChartPin:
    """A chart pinned in a file of ours: repository, chart, exact version, release, namespace."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return ChartPin(**{field: str(data[field]) for field in ChartPin.__dataclass_fields__})


class CrdsMissing(Exception):
    """The operator module could not be fetched; the message says what to do."""


def module_files(module: str, relative_paths: list[str]) -> list[Path]:
    """Files of a Go module at an exact version (`path@vX.Y.Z`), fetched through the Go module
    proxy into the Go module cache once: how an add-on's CRDs reach a cluster that cannot fetch
    its chart."""
    go = shutil.which("go")
    if go is None:
        raise CrdsMissing(f"go not found; install Go to fetch the CRDs in {module}")
    done = Runner().run(
        [go, "mod", "download", "-json", module],
        env=toolchain.go_env(),
        cwd=toolchain.CACHE_DIR if toolchain.CACHE_DIR.is_dir() else None,
        timeout=GO_DOWNLOAD_TIMEOUT_S,
        warn=True,
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
