"""Monitoring tasks: `invoke monitoring.<task>`.

    invoke monitoring.check                every check of monitoring/ (what CI runs)
    invoke monitoring.render               rewrite dashboards JSON and monitoring/generated/
    invoke monitoring.dashboards [--apply] render the dashboards; apply their ConfigMaps
    invoke monitoring.install --env dev    chart, Teams secret, rules and dashboards
    invoke monitoring.test-alert           a synthetic alert through Alertmanager to Teams

Install needs `helm` and `kubectl` pointed at the cluster (`--kube-context`). The Teams webhook URLs
come from files (`--webhook-url-file`, `--oncall-webhook-url-file`) or the environment
(TEAMS_WEBHOOK_URL, TEAMS_ONCALL_WEBHOOK_URL); they go into a Secret through stdin and are never
printed, written to disk or committed.
"""

from __future__ import annotations

import io
import os
import secrets
import shlex
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Context, task
from invoke.exceptions import Exit

from ops import toolchain
from ops.monitoring import alerts, checks, render
from ops.monitoring.layout import (
    MONITORING_NAMESPACE,
    TEAMS_SECRET,
    TEAMS_SECRET_KEYS,
    Layout,
    load_chart_pin,
)

if TYPE_CHECKING:
    from ops.envconfig import Environment

# The Secret holding Grafana's ingress certificate (cert-manager or the ingress add-on fills it).
GRAFANA_TLS_SECRET = "grafana-tls"  # noqa: S105  # nosec B105  # pragma: allowlist secret
TEAMS_FORMATS = ("workflows", "connector")
# A Secret's name, not a password.
GRAFANA_ADMIN_SECRET = "grafana-admin"  # noqa: S105  # nosec B105  # pragma: allowlist secret


def _require(tool: str) -> str:
    try:
        return toolchain.require(tool)
    except toolchain.ToolMissing as exc:
        raise Exit(f"{exc}") from exc


def _kubectl(kube_context: str | None) -> str:
    command = shlex.quote(_require("kubectl"))
    return f"{command} --context {shlex.quote(kube_context)}" if kube_context else command


def _apply_stdin(c: Context, kubectl: str, manifest: str) -> None:
    """kubectl apply a manifest given on stdin, so secret values never reach a file or the log."""
    c.run(f"{kubectl} apply -f -", in_stream=io.StringIO(manifest), hide="out")


def _secret_exists(c: Context, kubectl: str, name: str) -> bool:
    result = c.run(
        f"{kubectl} -n {MONITORING_NAMESPACE} get secret {name} -o name",
        warn=True,
        hide=True,
    )
    return result is not None and result.ok


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


def install_values(environment: Environment) -> dict[str, Any]:
    """Values that come from infra/env.yaml rather than the values files: the hosts."""
    grafana_host = environment.monitoring.grafana_host
    prometheus_host = environment.monitoring.prometheus_host
    return {
        "grafana": {
            "ingress": {
                "hosts": [grafana_host],
                "tls": [{"secretName": GRAFANA_TLS_SECRET, "hosts": [grafana_host]}],
            }
        },
        "prometheus": {"ingress": {"hosts": [prometheus_host]}},
    }


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
        "apply": "also kubectl apply the dashboards' ConfigMaps",
        "kube_context": "kubectl context",
    }
)
def dashboards(c: Context, apply: bool = False, kube_context: str = "") -> None:
    """Render the Grafana dashboards (JSON, sidecar ConfigMaps); --apply loads them into Grafana."""
    layout = Layout()
    render.write_generated(layout)
    problems = checks.check_dashboards(layout)
    _problems_or_exit(problems, "Fix ops/monitoring/dashboards.py and run the task again.")
    configmaps = layout.generated_dir / "grafana-dashboards.yaml"
    print(
        f"dashboards: {', '.join(p.name for p in layout.dashboards)} -> "
        f"{render.repo_relative(configmaps)}"
    )
    if apply:
        c.run(f"{_kubectl(kube_context or None)} apply -f {shlex.quote(str(configmaps))}")


@task(
    help={
        "env": "environment from infra/env.yaml (local, dev, prod)",
        "teams": "workflows (msteamsv2, default) or connector (legacy msteams)",
        "webhook_url_file": "file holding the team channel's webhook URL (else $TEAMS_WEBHOOK_URL)",
        "oncall_webhook_url_file": (
            "file holding the on-call channel's URL "
            "(else $TEAMS_ONCALL_WEBHOOK_URL, else the team channel's)"
        ),
        "demo_alerts": "also install the seed's low-threshold demo alert",
        "kube_context": "kubectl/helm context",
    }
)
def install(  # noqa: PLR0917 - invoke maps each parameter to a command-line flag
    c: Context,
    env: str = "local",
    teams: str = "workflows",
    webhook_url_file: str = "",
    oncall_webhook_url_file: str = "",
    demo_alerts: bool = False,
    kube_context: str = "",
) -> None:
    """Install kube-prometheus-stack (pinned), the Teams webhook Secret, rules and dashboards."""
    if teams not in TEAMS_FORMATS:
        raise Exit(f"--teams must be one of {', '.join(TEAMS_FORMATS)}; got {teams!r}")
    # Imported here: the other tasks work from monitoring/ alone, without the typed env loader.
    from ops import envconfig

    try:
        environment = envconfig.load(env)
    except envconfig.EnvConfigError as exc:
        raise Exit(str(exc)) from exc
    layout = Layout()
    _problems_or_exit(checks.check_generated(layout), "")
    pin = load_chart_pin(layout)
    kubectl = _kubectl(kube_context or None)
    helm = shlex.quote(_require("helm"))
    if kube_context:
        helm += f" --kube-context {shlex.quote(kube_context)}"

    namespace = render.dump_yaml(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MONITORING_NAMESPACE}}
    )
    _apply_stdin(c, kubectl, namespace)

    alerts_url = _read_url(webhook_url_file, "TEAMS_WEBHOOK_URL")
    oncall_url = _read_url(oncall_webhook_url_file, "TEAMS_ONCALL_WEBHOOK_URL") or alerts_url
    if alerts_url and oncall_url:
        _apply_stdin(c, kubectl, teams_secret_manifest(alerts_url, oncall_url))
    elif not _secret_exists(c, kubectl, TEAMS_SECRET):
        raise Exit(
            f"no Teams webhook URL: set TEAMS_WEBHOOK_URL or pass --webhook-url-file (the secret "
            f"{MONITORING_NAMESPACE}/{TEAMS_SECRET} does not exist yet); see monitoring/README.md"
        )

    if not _secret_exists(c, kubectl, GRAFANA_ADMIN_SECRET):
        password = secrets.token_urlsafe(24)
        _apply_stdin(
            c,
            kubectl,
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

    with tempfile.TemporaryDirectory(prefix="orderdesk-monitoring-") as tmp:
        generated_values = Path(tmp) / "values-generated.yaml"
        values = render.alertmanager_values(layout, teams=teams)  # type: ignore[arg-type]
        values.update(install_values(environment))
        generated_values.write_text(render.dump_yaml(values), encoding="utf-8")
        value_args = " ".join(
            f"-f {shlex.quote(str(path))}" for path in [*layout.values_files(env), generated_values]
        )
        c.run(
            f"{helm} upgrade --install {pin.release} {pin.chart} "
            f"--repo {shlex.quote(pin.repository)} "
            f"--version {pin.version} --namespace {pin.namespace} --create-namespace "
            f"{value_args} --wait --timeout 10m"
        )

    generated = layout.generated_dir
    c.run(f"{kubectl} apply -f {shlex.quote(str(generated / 'prometheusrule.yaml'))}")
    demo = shlex.quote(str(generated / "prometheusrule-demo.yaml"))
    if demo_alerts:
        c.run(f"{kubectl} apply -f {demo}")
    else:
        c.run(f"{kubectl} delete --ignore-not-found -f {demo}")
    c.run(f"{kubectl} apply -f {shlex.quote(str(generated / 'grafana-dashboards.yaml'))}")
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
