"""Where the monitoring sources live, and the few facts every part of ops.monitoring shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
MONITORING_DIR = REPO_ROOT / "monitoring"

# Every alert's runbook_url starts with this; the anchor after it must be a heading of runbooks.md.
RUNBOOK_BASE = "https://github.com/orderdesk/orderdesk/blob/main/monitoring/runbooks.md"
ALERT_PREFIX = "Orderdesk"
SEVERITIES = ("critical", "warning", "info")

# The namespace kube-prometheus-stack, the rules and the dashboards go to.
MONITORING_NAMESPACE = "monitoring"
# The Secret Alertmanager reads the Teams webhook URLs from (see alertmanager.yaml).
TEAMS_SECRET = "alertmanager-teams-webhook"  # noqa: S105  # nosec B105  # pragma: allowlist secret
TEAMS_SECRET_KEYS = ("alerts-url", "oncall-url")
TEAMS_SECRET_MOUNT = f"/etc/alertmanager/secrets/{TEAMS_SECRET}"
# The one variable (a CI secret) that holds the team channel's Teams Workflows URL, read by
# monitoring.install, preflight and tf.* (Terraform's Azure Monitor action group).
TEAMS_WEBHOOK_VARIABLE = "TEAMS_WEBHOOK_URL"


@dataclass(frozen=True)
class Layout:
    """The files of monitoring/, relative to a root so tests can check a modified copy."""

    root: Path = MONITORING_DIR

    @property
    def rules_dir(self) -> Path:
        return self.root / "rules"

    @property
    def rule_files(self) -> list[Path]:
        return sorted(self.rules_dir.glob("*.yaml"))

    @property
    def default_rule_files(self) -> list[Path]:
        """The rule files installed by default: everything but the demo alert."""
        return [path for path in self.rule_files if ".demo." not in path.name]

    @property
    def demo_rule_files(self) -> list[Path]:
        return [path for path in self.rule_files if ".demo." in path.name]

    @property
    def rule_tests(self) -> list[Path]:
        return sorted((self.rules_dir / "tests").glob("*.test.yaml"))

    @property
    def runbooks(self) -> Path:
        return self.root / "runbooks.md"

    @property
    def dashboards_dir(self) -> Path:
        return self.root / "dashboards"

    @property
    def dashboards(self) -> list[Path]:
        return sorted(self.dashboards_dir.glob("*.json"))

    @property
    def alertmanager_config(self) -> Path:
        return self.root / "alertmanager" / "alertmanager.yaml"

    @property
    def route_tests(self) -> Path:
        return self.root / "alertmanager" / "route-tests.yaml"

    @property
    def chart_dir(self) -> Path:
        return self.root / "kube-prometheus-stack"

    @property
    def chart_pin(self) -> Path:
        return self.chart_dir / "chart.yaml"

    def values_files(self, environment: str) -> list[Path]:
        return [self.chart_dir / "values.yaml", self.chart_dir / f"values-{environment}.yaml"]

    def ingress_enabled(self, environment: str, component: str) -> bool:
        """Whether the environment's values give `component` (grafana, prometheus) an ingress:
        what decides whether its host gets a DNS record."""
        enabled = False
        for path in self.values_files(environment):
            if not path.is_file():
                continue
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            ingress = (values.get(component) or {}).get("ingress") or {}
            enabled = bool(ingress.get("enabled", enabled))
        return enabled

    @property
    def generated_dir(self) -> Path:
        return self.root / "generated"


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


def load_chart_pin(layout: Layout) -> ChartPin:
    return read_chart_pin(layout.chart_pin)


def read_chart_pin(path: Path) -> ChartPin:
    """A chart pinned in a file of ours: repository, chart, exact version, release, namespace."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return ChartPin(**{field: str(data[field]) for field in ChartPin.__dataclass_fields__})
