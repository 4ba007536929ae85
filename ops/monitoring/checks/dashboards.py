"""Dashboards: valid, their PromQL parsed by promtool, every metric they read known."""

from __future__ import annotations

import json
import re

# subprocess runs promtool and amtool, found by ops.toolchain, with arguments built here.
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ops.monitoring.checks.common import Problem, _output, _run, promtool
from ops.monitoring.checks.rules import recorded_names
from ops.monitoring.grafana import DATASOURCE
from ops.monitoring.layout import (
    Layout,
)

# Raw series a dashboard may read directly (everything else must be one of our recording rules):
# the app's own counters and kube-state-metrics' readiness.
RAW_METRICS_FOR_DASHBOARDS = frozenset(
    {
        "orderdesk_orders_created_total",
        "orderdesk_sign_ins_total",
        "django_http_requests_total_by_view_transport_method_total",
        "django_http_responses_total_by_status_total",
        "kube_pod_status_ready",
        "up",
    }
)
# Grafana's built-in variables, replaced by a plausible value before promtool reads the query.
GRAFANA_BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
DASHBOARD_VARIABLE_SAMPLE = "orderdesk"
SELECTOR_NAME = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{")
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*(\w+)\s*\)\s*$", re.DOTALL)


@dataclass(frozen=True)
class DashboardQuery:
    where: str  # "panel 3 'Error ratio' target A" or "variable job"
    expr: str


def _substitute(expr: str, variables: set[str]) -> tuple[str, list[str]]:
    unknown: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        if name in variables:
            return DASHBOARD_VARIABLE_SAMPLE
        unknown.append(name)
        return match.group(0)

    return VARIABLE.sub(replace, expr), unknown


def _variable_queries(templating: list[dict[str, Any]]) -> tuple[list[DashboardQuery], list[str]]:
    queries: list[DashboardQuery] = []
    found: list[str] = []
    if not any(
        item.get("name") == "datasource" and item.get("type") == "datasource" for item in templating
    ):
        found.append("needs a `datasource` variable of type datasource (query prometheus)")
    for item in templating:
        if item.get("type") != "query":
            continue
        where = f"variable {item.get('name')}"
        if item.get("datasource") != DATASOURCE:
            found.append(f"{where}: datasource must be {DATASOURCE}")
        query = item.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = LABEL_VALUES.match(text)
        queries.append(DashboardQuery(where, match.group(1) if match else text))
    return queries, found


def _panel_queries(panels: list[dict[str, Any]]) -> tuple[list[DashboardQuery], list[str]]:
    queries: list[DashboardQuery] = []
    found: list[str] = []
    ids: set[object] = set()
    for panel in panels:
        panel_id = panel.get("id")
        if panel_id in ids:
            found.append(f"panel id {panel_id} is used twice")
        ids.add(panel_id)
        if panel.get("type") == "row":
            continue
        label = f"panel {panel_id} {panel.get('title', '')!r}"
        if panel.get("datasource") != DATASOURCE:
            found.append(f"{label}: datasource must be {DATASOURCE}, not a fixed one")
        targets = panel.get("targets") or []
        if not targets:
            found.append(f"{label}: has no query")
        for target in targets:
            where = f"{label} target {target.get('refId')}"
            if target.get("datasource", DATASOURCE) != DATASOURCE:
                found.append(f"{where}: datasource must be {DATASOURCE}")
            queries.append(DashboardQuery(where, str(target.get("expr", ""))))
    return queries, found


def _promtool_parses(expressions: list[str], workdir: Path) -> tuple[bool, str]:
    """Let promtool parse the expressions, wrapped as recording rules."""
    rule_file = workdir / "dashboard-queries.rules.yaml"
    rules = [
        {"record": f"dashboard:query_{index}:check", "expr": expr}
        for index, expr in enumerate(expressions)
    ]
    rule_file.write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]})
    )
    result = _run([promtool(), "check", "rules", str(rule_file)])
    return result.exited == 0, _output(result)


def _check_dashboard(model: dict[str, Any], known_metrics: set[str]) -> list[str]:
    """What is wrong inside one dashboard: datasources, ids, variables and every query."""
    templating = (model.get("templating") or {}).get("list") or []
    variables = {str(item.get("name")) for item in templating}
    variable_queries, found = _variable_queries(templating)
    panel_queries, panel_found = _panel_queries(model.get("panels") or [])
    found += panel_found
    queries: list[DashboardQuery] = []
    for query in variable_queries + panel_queries:
        expr, unknown = _substitute(query.expr, variables)
        if unknown:
            found.append(f"{query.where}: unknown variable ${', $'.join(unknown)}")
        if not expr.strip():
            found.append(f"{query.where}: empty query")
            continue
        queries.append(DashboardQuery(query.where, expr))
        found.extend(
            f"{query.where}: reads {name}, which no rule in rules/ records "
            "and is not a known raw metric"
            for name in SELECTOR_NAME.findall(expr)
            if name not in known_metrics
        )
    with tempfile.TemporaryDirectory(prefix="orderdesk-dashboard-") as tmp:
        ok, _ = _promtool_parses([query.expr for query in queries], Path(tmp))
        if not ok:
            # Narrow it down to the queries that fail, so the message names the panel.
            for query in queries:
                ok, output = _promtool_parses([query.expr], Path(tmp))
                if not ok:
                    last = output.splitlines()[-1] if output else "promtool rejected it"
                    # Keep promtool's reason, not the name of our temporary wrapper file.
                    reason = last.split("could not parse expression: ", 1)[-1]
                    found.append(f"{query.where}: PromQL does not parse: {reason}")
    return found


def check_dashboards(layout: Layout) -> list[Problem]:
    problems: list[Problem] = []
    known_metrics = recorded_names(layout) | RAW_METRICS_FOR_DASHBOARDS
    uids: dict[str, Path] = {}
    titles: dict[str, Path] = {}
    if not layout.dashboards:
        problems.append(Problem(layout.dashboards_dir, "no dashboards (*.json)"))
    for path in layout.dashboards:
        try:
            model = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            problems.append(Problem(path, f"not valid JSON: {exc}"))
            continue
        uid, title = model.get("uid"), model.get("title")
        if not uid:
            problems.append(Problem(path, "has no uid"))
        elif uid in uids:
            problems.append(Problem(path, f"uid {uid!r} is also used by {uids[uid].name}"))
        uids.setdefault(uid, path)
        if title in titles:
            problems.append(Problem(path, f"title {title!r} is also used by {titles[title].name}"))
        titles.setdefault(title, path)
        problems.extend(
            Problem(path, message) for message in _check_dashboard(model, known_metrics)
        )
    return problems
