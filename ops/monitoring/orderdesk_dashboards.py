"""Orderdesk's Grafana dashboards, rendered to monitoring/dashboards/*.json.

The JSON files are what Grafana loads (through the kube-prometheus-stack dashboard sidecar) and what
the checks read; this module is how they are written (the model and its rendering are in
ops/monitoring/grafana.py). `invoke monitoring.render` rewrites the files; the check fails when they
drift from this module.

Panels query the recording rules of monitoring/rules/ where one exists, so a dashboard costs
Prometheus a lookup instead of a histogram aggregation per panel and refresh.
"""

from __future__ import annotations

from ops.monitoring.grafana import Dashboard, Panel, Query, Variable, app, pods

APP_LATENCY = "namespace_job:django_http_requests_latency_seconds:histogram_quantile"
SIGN_INS = "namespace_job_method_result:orderdesk_sign_ins:rate5m"
# What OrderdeskSignInFailureBurst counts: wrong credentials and tries on a locked account.
FAILED_SIGN_IN = {"result": "failure|locked"}
DB_LATENCY = "namespace_job:django_db_query_duration_seconds:histogram_quantile"

APP = Dashboard(
    uid="orderdesk-app",
    title="Orderdesk / App",
    description="Requests, errors, latency, orders, sign-ins and database time of the Orderdesk "
    "web app.",
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
                    "Quantiles of Django's view latency histogram, without the password form "
                    "(slow on purpose). OrderdeskHighLatency fires when p99 stays above 500 ms.",
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
            "Sign-ins",
            (
                Panel(
                    "Sign-ins per minute",
                    "Sign-in attempts by method (password, entra) and result (success, failure, "
                    "locked: a try on an account django-axes has locked).",
                    (
                        Query(
                            f"60 * sum by (method, result) ({app(SIGN_INS)})",
                            "{{method}} {{result}}",
                        ),
                    ),
                    unit="opm",
                ),
                Panel(
                    "Failed sign-ins in the last 5 minutes",
                    "Failed sign-ins and tries on a locked account, all methods and pods. "
                    "OrderdeskSignInFailureBurst fires above 30 for 2 minutes; "
                    "OrderdeskSignInLockout (info) whenever the locked line is above 0.",
                    (
                        Query(f"300 * sum({app(SIGN_INS, regex=FAILED_SIGN_IN)})", "failed"),
                        Query(f"300 * sum({app(SIGN_INS, result='locked')})", "locked"),
                    ),
                    unit="short",
                    threshold=30,
                    width=8,
                    extra_defaults={"min": 0},
                ),
                Panel(
                    "Failed sign-ins in range",
                    "Failed sign-ins and tries on a locked account during the selected time "
                    "range; the audit trail (/manage/audit, Sign-in failed) says who and from "
                    "where.",
                    (
                        Query(
                            "sum(increase("
                            f"{app('orderdesk_sign_ins_total', regex=FAILED_SIGN_IN)}[$__range]))",
                            "failed",
                        ),
                    ),
                    unit="short",
                    kind="stat",
                    width=4,
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
