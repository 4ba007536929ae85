"""Grafana dashboards as data: the model (Dashboard, Panel, Query) and its JSON rendering.

The dashboards themselves are written in ops/monitoring/orderdesk_dashboards.py; this module turns
them into the JSON Grafana loads, so every panel gets the same datasource variable, layout and ids.
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


def app(metric: str, *, regex: dict[str, str] | None = None, **matchers: str) -> str:
    """A selector for the dashboard's namespace and job (the Grafana variables); `regex` adds
    label=~"pattern" matchers."""
    extra = "".join(f', {name}="{value}"' for name, value in matchers.items())
    extra += "".join(f', {name}=~"{pattern}"' for name, pattern in (regex or {}).items())
    return f'{metric}{{namespace="$namespace", job="$job"{extra}}}'


def pods(metric: str, **matchers: str) -> str:
    """A selector for the dashboard's namespace (the Grafana variable)."""
    extra = "".join(f', {name}="{value}"' for name, value in matchers.items())
    return f'{metric}{{namespace="$namespace"{extra}}}'
