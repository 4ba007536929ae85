"""Monitoring tasks: `invoke monitoring.<task>`.

    invoke monitoring.check                every check of monitoring/ (what CI runs)
    invoke monitoring.render               rewrite dashboards JSON and monitoring/generated/
    invoke monitoring.dashboards [--apply] render the dashboards; apply their ConfigMaps
    invoke monitoring.install --env dev    chart, Teams secret, rules and dashboards
    invoke monitoring.test-alert           a synthetic alert through Alertmanager to Teams

Install runs `helm` and `kubectl` against the environment's cluster: its kubeconfig and context
(ops/core/kube.py; `--kube-context` overrides the context). The Teams webhook URLs
come from files (`--webhook-url-file`, `--oncall-webhook-url-file`) or the environment
(TEAMS_WEBHOOK_URL, TEAMS_ONCALL_WEBHOOK_URL); they go into a Secret through stdin and are never
printed, written to disk or committed.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from invoke import Collection, Context, task
from invoke.exceptions import Exit

from ops import toolchain
from ops.core.charts import CrdsMissing
from ops.core.environments import ENV_HELP, TEAMS_WEBHOOK_VARIABLE
from ops.core.run import Runner
from ops.core.target import Target
from ops.monitoring import alerts, checks, crds, render
from ops.monitoring.layout import (
    MONITORING_NAMESPACE,
    TEAMS_SECRET,
    TEAMS_SECRET_KEYS,
    Layout,
    load_chart_pin,
)

if TYPE_CHECKING:
    from ops.core.kube import KubeTarget
    from ops.envconfig import Environment

# The Secret holding Grafana's ingress certificate (cert-manager or the ingress add-on fills it).
GRAFANA_TLS_SECRET = "grafana-tls"  # noqa: S105  # nosec B105  # pragma: allowlist secret
TEAMS_FORMATS = ("workflows", "connector")
# A Secret's name, not a password.
GRAFANA_ADMIN_SECRET = "grafana-admin"  # noqa: S105  # nosec B105  # pragma: allowlist secret
# One kubectl apply/get (each request bounded by kubectl's --request-timeout; the CRDs are large).
KUBECTL_TIMEOUT_S = 120
# helm waits for the chart's workloads up to CHART_WAIT; the Runner allows that and its own start.
CHART_WAIT, CHART_TIMEOUT_S = "10m", 12 * 60


def _apply_stdin(runner: Runner, cluster: KubeTarget, manifest: str) -> None:
    """kubectl apply a manifest given on stdin, so secret values never reach a file or the log."""
    command = cluster.kubectl_argv("apply", "-f", "-", namespace=None)
    runner.run(command, timeout=KUBECTL_TIMEOUT_S, input=manifest, hide="out")


def _apply_file(runner: Runner, cluster: KubeTarget, path: Path, *, delete: bool = False) -> None:
    verb = ("delete", "--ignore-not-found") if delete else ("apply",)
    command = cluster.kubectl_argv(*verb, "-f", str(path), namespace=None)
    runner.run(command, timeout=KUBECTL_TIMEOUT_S, hide=False)


def _secret_exists(runner: Runner, cluster: KubeTarget, name: str) -> bool:
    command = cluster.kubectl_argv(
        "get", "secret", name, "--output=name", namespace=MONITORING_NAMESPACE
    )
    return runner.run(command, timeout=KUBECTL_TIMEOUT_S, warn=True).ok


def _read_url(path: str | None, variable: str) -> str | None:
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise Exit(f"cannot read the Teams webhook URL file {path}: {exc.strerror}") from exc
    return os.environ.get(variable, "").strip() or None


def teams_secret_manifest(alerts_url: str, oncall_url: str) -> str:
    for url in (alerts_url, oncall_url):
        if not url.startswith("https://"):
            raise Exit(
                "a Teams webhook URL must start with https:// (copy it from the Teams Workflow "
                "'When a Teams webhook request is received'); got something else"
            )
    return render.dump_yaml(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": TEAMS_SECRET, "namespace": MONITORING_NAMESPACE},
            "type": "Opaque",
            "stringData": dict(zip(TEAMS_SECRET_KEYS, (alerts_url, oncall_url), strict=True)),
        }
    )


def install_values(environment: Environment, layout: Layout | None = None) -> dict[str, Any]:
    """Values that come from infra/env.yaml rather than the values files: the hosts (prometheus's
    only where its values give it an ingress)."""
    grafana_host = environment.monitoring.grafana_host
    values: dict[str, Any] = {
        "grafana": {
            "ingress": {
                "hosts": [grafana_host],
                "tls": [{"secretName": GRAFANA_TLS_SECRET, "hosts": [grafana_host]}],
            }
        },
    }
    if environment.azure is not None and environment.azure.ingress.internal:
        # Like the app's Ingress in components/internal-ingress: listeners on the gateway's
        # private frontend only (AGIC docs/features/private-ip.md).
        values["grafana"]["ingress"]["annotations"] = {
            "appgw.ingress.kubernetes.io/use-private-ip": "true"
        }
    if (layout or Layout()).ingress_enabled(environment.name, "prometheus"):
        values["prometheus"] = {"ingress": {"hosts": [environment.monitoring.prometheus_host]}}
    return values


def _problems_or_exit(problems: list[checks.Problem], fix: str) -> None:
    if problems:
        listing = "\n".join(f"  {problem}" for problem in problems)
        raise Exit(f"monitoring check failed:\n{listing}\n{fix}")


@task
def check(c: Context, root: str = "") -> None:
    """Check rules, rule tests, dashboards, Alertmanager routes, chart pin and generated files."""
    layout = Layout(Path(root)) if root else Layout()
    try:
        problems = checks.run_all(layout)
    except toolchain.ToolMissing as exc:
        raise Exit(f"{exc}") from exc
    _problems_or_exit(
        problems, "Fix the files named above and run `invoke monitoring.check` again."
    )
    print("monitoring: rules, tests, dashboards, Alertmanager routes and generated files are valid")


@task(name="render")
def render_files(c: Context) -> None:
    """Rewrite dashboards/*.json and generated/ (PrometheusRule, dashboard ConfigMaps)."""
    changed = render.write_generated(Layout())
    for path in changed:
        print(f"wrote {render.repo_relative(path)}")
    if not changed:
        print("monitoring: generated files are up to date")


@task(
    help={
        "apply": "also kubectl apply the dashboards' ConfigMaps to the environment's cluster",
        "env": "environment in infra/env.yaml (local, dev, prod); required with --apply",
        "kube_context": "kubectl context (default: the environment's)",
    }
)
def dashboards(c: Context, apply: bool = False, env: str = "", kube_context: str = "") -> None:
    """Render the Grafana dashboards (JSON, sidecar ConfigMaps); --apply loads them into Grafana."""
    # Resolved first: an --apply without a known --env fails before anything is written.
    target = Target.resolve(c, env) if apply else None
    layout = Layout()
    render.write_generated(layout)
    problems = checks.check_dashboards(layout)
    _problems_or_exit(
        problems, "Fix ops/monitoring/orderdesk_dashboards.py and run the task again."
    )
    configmaps = layout.generated_dir / "grafana-dashboards.yaml"
    print(
        f"dashboards: {', '.join(p.name for p in layout.dashboards)} -> "
        f"{render.repo_relative(configmaps)}"
    )
    if target is not None:
        _apply_file(target.runner, target.kube(context=kube_context), configmaps)


@task(
    help={
        "env": ENV_HELP,
        "teams": "workflows (msteamsv2, default) or connector (legacy msteams)",
        "webhook_url_file": "file holding the team channel's webhook URL (else $TEAMS_WEBHOOK_URL)",
        "oncall_webhook_url_file": (
            "file holding the on-call channel's URL "
            "(else $TEAMS_ONCALL_WEBHOOK_URL, else the team channel's)"
        ),
        "demo_alerts": "also install the demo alert (fires at a low threshold, to try the route)",
        "kube_context": "kubectl/helm context (default: the environment's)",
        "chart": (
            "install the kube-prometheus-stack chart (--no-chart: only the operator's CRDs, for a "
            "cluster that cannot fetch the chart, e.g. the offline local one)"
        ),
    }
)
def install(  # noqa: PLR0917 - invoke maps each parameter to a command-line flag
    c: Context,
    env: str = "",
    teams: str = "workflows",
    webhook_url_file: str = "",
    oncall_webhook_url_file: str = "",
    demo_alerts: bool = False,
    kube_context: str = "",
    chart: bool = True,
) -> None:
    """Install kube-prometheus-stack (pinned), the Teams webhook Secret, rules and dashboards."""
    options = InstallOptions(
        teams=teams_format(teams),
        webhook_url_file=webhook_url_file,
        oncall_webhook_url_file=oncall_webhook_url_file,
        demo_alerts=demo_alerts,
        kube_context=kube_context,
        chart=chart,
    )
    install_for(Target.resolve(c, env), options)


def teams_format(flag: str) -> render.TeamsFormat:
    """--teams, checked before anything else."""
    if flag not in TEAMS_FORMATS:
        raise Exit(f"--teams must be one of {', '.join(TEAMS_FORMATS)}; got {flag!r}")
    return cast("render.TeamsFormat", flag)


@dataclass(frozen=True)
class InstallOptions:
    """What monitoring.install's flags choose, already checked. The defaults are what deploy
    installs and the task's flag defaults too (invoke reads those from the task's signature;
    tests/monitoring/test_tasks.py keeps the two equal)."""

    teams: render.TeamsFormat = "workflows"
    webhook_url_file: str = ""
    oncall_webhook_url_file: str = ""
    demo_alerts: bool = False
    kube_context: str = ""
    chart: bool = True


def install_for(target: Target, options: InstallOptions = InstallOptions()) -> None:
    """monitoring.install for one environment: its cluster, its hosts, its values files."""
    runner, environment, env = target.runner, target.environment, target.name
    layout = Layout()
    _problems_or_exit(checks.check_generated(layout), "")
    pin = load_chart_pin(layout)
    cluster = target.kube(context=options.kube_context)

    namespace = render.dump_yaml(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MONITORING_NAMESPACE}}
    )
    _apply_stdin(runner, cluster, namespace)
    if not options.chart:
        # What the chart would bring first: the CRDs the rules and ServiceMonitor need.
        try:
            definitions = crds.operator_crds()
        except CrdsMissing as exc:
            raise Exit(f"monitoring.install --no-chart: {exc}", code=1) from exc
        for definition in definitions:
            # Server-side: the CRDs are too large for client-side apply's annotation.
            apply = ("apply", "--server-side", "-f", str(definition))
            runner.run(
                cluster.kubectl_argv(*apply, namespace=None),
                timeout=KUBECTL_TIMEOUT_S,
                hide=False,
            )

    alerts_url = _read_url(options.webhook_url_file, TEAMS_WEBHOOK_VARIABLE)
    oncall_url = (
        _read_url(options.oncall_webhook_url_file, "TEAMS_ONCALL_WEBHOOK_URL") or alerts_url
    )
    if alerts_url and oncall_url:
        _apply_stdin(runner, cluster, teams_secret_manifest(alerts_url, oncall_url))
    elif not _secret_exists(runner, cluster, TEAMS_SECRET):
        raise Exit(
            f"no Teams webhook URL: set TEAMS_WEBHOOK_URL or pass --webhook-url-file (the secret "
            f"{MONITORING_NAMESPACE}/{TEAMS_SECRET} does not exist yet); see monitoring/README.md"
        )

    if not _secret_exists(runner, cluster, GRAFANA_ADMIN_SECRET):
        password = secrets.token_urlsafe(24)
        _apply_stdin(
            runner,
            cluster,
            render.dump_yaml(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": GRAFANA_ADMIN_SECRET, "namespace": MONITORING_NAMESPACE},
                    "type": "Opaque",
                    "stringData": {"admin-user": "admin", "admin-password": password},
                }
            ),
        )

    if options.chart:
        with tempfile.TemporaryDirectory(prefix="orderdesk-monitoring-") as tmp:
            generated_values = Path(tmp) / "values-generated.yaml"
            values = render.alertmanager_values(layout, teams=options.teams)
            values.update(install_values(environment, layout))
            generated_values.write_text(render.dump_yaml(values), encoding="utf-8")
            value_args = [
                arg
                for path in [*layout.values_files(env), generated_values]
                for arg in ("-f", str(path))
            ]
            runner.run(
                cluster.helm_argv(*pin.upgrade_args(*value_args, timeout=CHART_WAIT)),
                timeout=CHART_TIMEOUT_S,
                hide=False,
                fix="helm's output above names what did not become ready; `helm history "
                "kube-prometheus-stack -n monitoring` shows the releases",
            )

    generated = layout.generated_dir
    _apply_file(runner, cluster, generated / "prometheusrule.yaml")
    _apply_file(
        runner, cluster, generated / "prometheusrule-demo.yaml", delete=not options.demo_alerts
    )
    _apply_file(runner, cluster, generated / "grafana-dashboards.yaml")
    if not options.chart:
        print(
            f"monitoring: the operator's CRDs, the Teams Secret, rules and dashboards are in "
            f"{MONITORING_NAMESPACE} for {env}; kube-prometheus-stack not installed (--no-chart)"
        )
        return
    print(
        f"monitoring: kube-prometheus-stack {pin.version} installed in {pin.namespace} for {env}; "
        f"Grafana at https://{environment.monitoring.grafana_host} (admin password: kubectl -n "
        f"{MONITORING_NAMESPACE} get secret {GRAFANA_ADMIN_SECRET} "
        "-o jsonpath='{.data.admin-password}' "
        "| base64 -d)"
    )


@task(
    name="test-alert",
    help={
        "alertmanager_url": (
            "Alertmanager's URL; for the cluster first run: kubectl -n monitoring "
            "port-forward svc/kube-prometheus-stack-alertmanager 9093"
        ),
        "severity": "critical (on-call channel), warning or info (team channel)",
        "minutes": "how long until the alert resolves by itself",
    },
)
def send_test_alert(
    c: Context,
    alertmanager_url: str = "http://127.0.0.1:9093",
    severity: str = "warning",
    minutes: int = 5,
) -> None:
    """Send a synthetic alert to Alertmanager; it should appear in Teams, then resolve."""
    if severity not in ("critical", "warning", "info"):
        raise Exit(f"--severity must be critical, warning or info; got {severity!r}")
    if minutes < 1:
        raise Exit("--minutes must be at least 1")
    alert = alerts.synthetic_alert(severity=severity, lasts=timedelta(minutes=minutes))
    try:
        alerts.post_alerts(alertmanager_url, [alert])
    except alerts.AlertmanagerUnreachable as exc:
        raise Exit(
            f"{exc}; is Alertmanager reachable? For the cluster: kubectl -n {MONITORING_NAMESPACE} "
            "port-forward svc/kube-prometheus-stack-alertmanager 9093, then run this again"
        ) from exc
    print(
        f"sent {alerts.TEST_ALERT_NAME} ({severity}) to {alertmanager_url}; it reaches Teams after "
        f"the route's group_wait and resolves in {minutes} min"
    )


ns = Collection("monitoring", check, render_files, dashboards, install, send_test_alert)
