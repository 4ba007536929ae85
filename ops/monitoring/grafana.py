"""Orderdesk's Grafana dashboards, written as data and rendered to monitoring/dashboards/*.json.

The JSON files are what Grafana loads (through the kube-prometheus-stack dashboard sidecar) and what
the checks read; this module is how they are written, so every panel gets the same datasource
variable, layout and ids. `invoke monitoring.render` rewrites the files; the check fails when they
drift from this module.

Panels query the recording rules of monitoring/rules/ where one exists, so a dashboard costs
Prometheus a lookup instead of a histogram aggregation per panel and refresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Every panel and query names its datasource through this variable, never a fixed uid, so the
# dashboards work in any Grafana whatever its Prometheus datasource is called.
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39
GRID_WIDTH = 24


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str
    kind: str = "timeseries"
    width: int = 12
    height: int = 8
    # A red threshold line/step, for panels that mirror an alert.
    threshold: float | None = None
    extra_defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    metric: str
    label_name: str


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    rows: tuple[tuple[str, tuple[Panel, ...]], ...]
    filename: str


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.threshold is not None:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [
                {"color": "green", "value": None},
                {"color": "red", "value": panel.threshold},
            ],
        }
        if panel.kind == "timeseries":
            defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
    defaults.update(panel.extra_defaults)
    body: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": query.expr,
                "legendFormat": query.legend or "__auto",
                "range": True,
            }
            for index, query in enumerate(panel.queries)
        ],
    }
    if panel.kind == "timeseries":
        body["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    else:
        body["options"] = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}
        }
    return body


def _variable_json(variable: Variable) -> dict[str, Any]:
    definition = f"label_values({variable.metric}, {variable.label_name})"
    return {
        "name": variable.name,
        "label": variable.label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": definition,
        "query": {"query": definition, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "sort": 1,
        "includeAll": False,
        "multi": False,
        "current": {},
        "hide": 0,
        "options": [],
        "regex": "",
    }


def render(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana JSON model of one dashboard."""
    panels: list[dict[str, Any]] = []
    panel_id = 1
    y = 0
    for row_title, row_panels in dashboard.rows:
        panels.append(
            {
                "id": panel_id,
                "type": "row",
                "title": row_title,
                "collapsed": False,
                "gridPos": {"x": 0, "y": y, "w": GRID_WIDTH, "h": 1},
                "panels": [],
            }
        )
        panel_id += 1
        y += 1
        x = 0
        line_height = 0
        for panel in row_panels:
            if x + panel.width > GRID_WIDTH:
                x, y = 0, y + line_height
                line_height = 0
            panels.append(_panel_json(panel, panel_id, x, y))
            panel_id += 1
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["orderdesk"],
        "editable": False,
        "graphTooltip": 1,
        "timezone": "browser",
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "links": [],
        "annotations": {"list": []},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                    "regex": "",
                    "options": [],
                },
                *(_variable_json(variable) for variable in dashboard.variables),
            ]
        },
        "panels": panels,
    }


def app(metric: str, **matchers: str) -> str:
    """A selector for the dashboard's namespace and job (the Grafana variables)."""
    extra = "".join(f', {name}="{value}"' for name, value in matchers.items())
    return f'{metric}{{namespace="$namespace", job="$job"{extra}}}'


def pods(metric: str, **matchers: str) -> str:
    """A selector for the dashboard's namespace (the Grafana variable)."""
    extra = "".join(f', {name}="{value}"' for name, value in matchers.items())
    return f'{metric}{{namespace="$namespace"{extra}}}'


APP_LATENCY = "namespace_job:django_http_requests_latency_seconds:histogram_quantile"
DB_LATENCY = "namespace_job:django_db_query_duration_seconds:histogram_quantile"

APP = Dashboard(
    uid="orderdesk-app",
    title="Orderdesk / App",
    description="Requests, errors, latency, orders and database time of the Orderdesk web app.",
    filename="orderdesk-app.json",
    variables=(
        Variable(
            "namespace", "Namespace", "namespace_job:django_http_requests:rate5m", "namespace"
        ),
        Variable(
            "job",
            "Job",
            'namespace_job:django_http_requests:rate5m{namespace="$namespace"}',
            "job",
        ),
    ),
    rows=(
        (
            "Traffic and errors",
            (
                Panel(
                    "Request rate by view",
                    "Requests per second, by Django view (Prometheus's /metrics scrapes excluded).",
                    (
                        Query(
                            "sum by (view) "
                            f"({app('namespace_job_view:django_http_requests:rate5m')})",
                            "{{view}}",
                        ),
                        Query(app("namespace_job:django_http_requests:rate5m"), "all requests"),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Error ratio (5xx)",
                    "Share of responses with a 5xx status over 5 minutes. "
                    "OrderdeskHighErrorRatio fires above 5%.",
                    (Query(app("namespace_job:django_http_responses_5xx:ratio_rate5m"), "5xx"),),
                    unit="percentunit",
                    threshold=0.05,
                    extra_defaults={"min": 0},
                ),
                Panel(
                    "Responses by status",
                    "Responses per second, by HTTP status code.",
                    (
                        Query(
                            "sum by (status) "
                            f"({app('namespace_job_status:django_http_responses:rate5m')})",
                            "{{status}}",
                        ),
                    ),
                    unit="reqps",
                    width=24,
                ),
            ),
        ),
        (
            "Latency",
            (
                Panel(
                    "Request latency p50 / p95 / p99",
                    "Quantiles of Django's view latency histogram. "
                    "OrderdeskHighLatency fires when p99 stays above 500 ms.",
                    (
                        Query(app(APP_LATENCY, quantile="0.5"), "p50"),
                        Query(app(APP_LATENCY, quantile="0.95"), "p95"),
                        Query(app(APP_LATENCY, quantile="0.99"), "p99"),
                    ),
                    unit="s",
                    threshold=0.5,
                    width=24,
                ),
            ),
        ),
        (
            "Orders",
            (
                Panel(
                    "Orders created per minute",
                    "Orders created, by channel (web form or API).",
                    (
                        Query(
                            "60 * sum by (channel) "
                            f"({app('namespace_job_channel:orderdesk_orders_created:rate5m')})",
                            "{{channel}}",
                        ),
                    ),
                    unit="opm",
                    width=16,
                ),
                Panel(
                    "Orders created in range",
                    "Orders created during the selected time range.",
                    (
                        Query(
                            f"sum(increase({app('orderdesk_orders_created_total')}[$__range]))",
                            "orders",
                        ),
                    ),
                    unit="short",
                    kind="stat",
                    width=8,
                ),
            ),
        ),
        (
            "Database",
            (
                Panel(
                    "Database time",
                    "Seconds spent in database queries per second, all workers and pods together. "
                    "A rise with latency points at the database.",
                    (
                        Query(
                            app("namespace_job:django_db_query_duration_seconds:rate5m"),
                            "db seconds / s",
                        ),
                    ),
                    unit="s",
                    width=8,
                ),
                Panel(
                    "Database queries per second",
                    "Queries executed per second.",
                    (Query(app("namespace_job:django_db_queries:rate5m"), "queries / s"),),
                    unit="reqps",
                    width=8,
                ),
                Panel(
                    "Database query p95",
                    "95th percentile of a single query's duration.",
                    (Query(app(DB_LATENCY, quantile="0.95"), "p95"),),
                    unit="s",
                    width=8,
                ),
            ),
        ),
    ),
)

CPU_USAGE = "namespace_pod_container:container_cpu_usage_seconds:rate5m"
CPU_LIMIT = "namespace_pod_container:kube_pod_container_resource_limits_cpu_cores:sum"
CPU_REQUEST = "namespace_pod_container:kube_pod_container_resource_requests_cpu_cores:sum"
MEMORY_USAGE = "namespace_pod_container:container_memory_working_set_bytes:sum"
MEMORY_LIMIT = "namespace_pod_container:kube_pod_container_resource_limits_memory_bytes:sum"

PODS = Dashboard(
    uid="orderdesk-pods",
    title="Orderdesk / Pods",
    description="CPU and memory of the Orderdesk pods against their limits, readiness, restarts.",
    filename="orderdesk-pods.json",
    variables=(Variable("namespace", "Namespace", CPU_USAGE, "namespace"),),
    rows=(
        (
            "CPU",
            (
                Panel(
                    "CPU usage and limit",
                    "Cores used per pod, with each pod's CPU limit and request.",
                    (
                        Query(f"sum by (pod) ({pods(CPU_USAGE)})", "{{pod}}"),
                        Query(f"sum by (pod) ({pods(CPU_LIMIT)})", "{{pod}} limit"),
                        Query(f"sum by (pod) ({pods(CPU_REQUEST)})", "{{pod}} request"),
                    ),
                    unit="short",
                ),
                Panel(
                    "CPU usage / limit",
                    "Share of its CPU limit each container uses. "
                    "OrderdeskPodCpuNearLimit fires above 80% for 5 minutes.",
                    (
                        Query(
                            pods("namespace_pod_container:container_cpu_usage:ratio_limit"),
                            "{{pod}} / {{container}}",
                        ),
                    ),
                    unit="percentunit",
                    threshold=0.8,
                    extra_defaults={"min": 0},
                ),
            ),
        ),
        (
            "Memory",
            (
                Panel(
                    "Memory working set and limit",
                    "Working set per pod (what the OOM killer counts) and the pod's memory limit.",
                    (
                        Query(f"sum by (pod) ({pods(MEMORY_USAGE)})", "{{pod}}"),
                        Query(f"sum by (pod) ({pods(MEMORY_LIMIT)})", "{{pod}} limit"),
                    ),
                    unit="bytes",
                ),
                Panel(
                    "Memory working set / limit",
                    "Share of its memory limit each container uses. "
                    "OrderdeskPodMemoryNearLimit fires above 80% for 5 minutes.",
                    (
                        Query(
                            pods(
                                "namespace_pod_container:container_memory_working_set:ratio_limit"
                            ),
                            "{{pod}} / {{container}}",
                        ),
                    ),
                    unit="percentunit",
                    threshold=0.8,
                    extra_defaults={"min": 0},
                ),
            ),
        ),
        (
            "Health",
            (
                Panel(
                    "Restarts in the last hour",
                    "Container restarts over the last hour. OrderdeskPodRestarting fires at 3.",
                    (
                        Query(
                            pods(
                                "namespace_pod_container:kube_pod_container_status_restarts:increase1h"
                            ),
                            "{{pod}} / {{container}}",
                        ),
                    ),
                    unit="short",
                    threshold=3,
                ),
                Panel(
                    "Ready pods",
                    "Pods passing their readiness probe (1) or not (0).",
                    (
                        Query(
                            f"sum by (pod) ({pods('kube_pod_status_ready', condition='true')})",
                            "{{pod}}",
                        ),
                    ),
                    unit="short",
                    extra_defaults={"min": 0, "max": 1},
                ),
            ),
        ),
    ),
)

DASHBOARDS = (APP, PODS)
