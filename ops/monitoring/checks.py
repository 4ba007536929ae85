"""Every check of monitoring/, each problem reported with the file it is in.

`python -m ops.monitoring check` (run by `nox -s monitoring` and `invoke monitoring.check`) runs
them all and exits non-zero naming each bad file:

- rule files: `promtool check rules`; naming and annotation policy (prefix, severity, static
  summary, templated description, runbook_url whose anchor exists in runbooks.md, a `for`);
- rule tests: `promtool test rules`, and every alert tested on both sides of its `for` boundary;
- dashboards: valid JSON, unique uids, datasource by variable, every panel's and variable's PromQL
  parsed by promtool (wrapped as recording rules), every metric it reads recorded by our rules or
  known to be exported;
- Alertmanager: `amtool check-config` (both Teams variants), route tests, no webhook URL in git;
- kube-prometheus-stack: the chart version pinned exactly, a values file per environment;
- generated files (dashboards JSON, PrometheusRule, ConfigMaps) identical to what `render` makes.
"""

from __future__ import annotations

import json
import re

# subprocess runs promtool and amtool, found by ops.toolchain, with arguments built here.
import subprocess  # nosec B404
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ops import toolchain
from ops.monitoring import render
from ops.monitoring.grafana import DATASOURCE
from ops.monitoring.layout import (
    ALERT_PREFIX,
    REPO_ROOT,
    RUNBOOK_BASE,
    SEVERITIES,
    Layout,
    load_chart_pin,
)

# Raw series a dashboard may read directly (everything else must be one of our recording rules):
# the app's own counters and kube-state-metrics' readiness.
RAW_METRICS_FOR_DASHBOARDS = frozenset(
    {
        "orderdesk_orders_created_total",
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
CAMEL_CASE_ALERT = re.compile(rf"^{ALERT_PREFIX}(?:[A-Z][a-z0-9]*)+$")
EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{render.repo_relative(self.path)}: {self.message}"


class ToolTooOld(toolchain.ToolMissing):
    """The tool is there but lacks a feature we rely on."""


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # nosec B603
        args, capture_output=True, text=True, check=False, cwd=cwd, timeout=120
    )


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr).strip()


def promtool() -> str:
    return toolchain.require("promtool")


_AMTOOL_CHECKED: dict[str, str] = {}
_MSTEAMSV2_PROBE = """
route: {receiver: probe}
receivers:
  - name: probe
    msteamsv2_configs:
      - webhook_url_file: /nonexistent/probe-url
"""


def amtool() -> str:
    """amtool that knows msteamsv2 (the Go-built one in the cache), refusing Debian's 0.25.

    `go install` leaves the version string empty, so the feature itself is probed.
    """
    path = toolchain.require("amtool")
    if path not in _AMTOOL_CHECKED:
        with tempfile.TemporaryDirectory(prefix="orderdesk-amtool-") as tmp:
            probe = Path(tmp) / "probe.yaml"
            probe.write_text(_MSTEAMSV2_PROBE, encoding="utf-8")
            result = _run([path, "check-config", str(probe)])
        if result.returncode != 0:
            raise ToolTooOld(
                f"{path} does not know the msteamsv2 receiver (needs Alertmanager >= 0.28): "
                "run `python -m ops.toolchain install amtool` (tools/go/monitoring.txt)"
            )
        _AMTOOL_CHECKED[path] = path
    return path


# ---------------------------------------------------------------- rule files


def _load_yaml(path: Path) -> tuple[Any, Problem | None]:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")), None
    except yaml.YAMLError as exc:
        return None, Problem(path, f"not valid YAML: {exc}")


def runbook_anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    anchors = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def _alerts(data: Any) -> Iterator[dict[str, Any]]:
    for group in (data or {}).get("groups", []) or []:
        for rule in group.get("rules", []) or []:
            if "alert" in rule:
                yield rule


def _records(data: Any) -> Iterator[dict[str, Any]]:
    for group in (data or {}).get("groups", []) or []:
        for rule in group.get("rules", []) or []:
            if "record" in rule:
                yield rule


def check_rule_syntax(layout: Layout) -> list[Problem]:
    problems = []
    for path in layout.rule_files:
        result = _run([promtool(), "check", "rules", str(path)])
        if result.returncode != 0:
            problems.append(Problem(path, f"promtool check rules failed:\n{_output(result)}"))
    return problems


def _alert_policy(rule: dict[str, Any], anchors: set[str], runbooks: str) -> list[str]:
    """What is wrong with one alert rule, against the style of monitoring/README.md."""
    name = str(rule["alert"])
    found = []
    if not CAMEL_CASE_ALERT.match(name):
        found.append(f"name must be CamelCase starting with {ALERT_PREFIX}")
    if (rule.get("labels") or {}).get("severity") not in SEVERITIES:
        found.append(f"label severity must be one of {', '.join(SEVERITIES)}")
    annotations = rule.get("annotations") or {}
    summary = str(annotations.get("summary", ""))
    if not summary or "{{" in summary:
        found.append("needs a static summary (no templating)")
    if "{{" not in str(annotations.get("description", "")):
        found.append("needs a templated description ({{ $labels... }} or {{ $value }})")
    base, _, anchor = str(annotations.get("runbook_url", "")).partition("#")
    if base != RUNBOOK_BASE or not anchor:
        found.append(f"runbook_url must be {RUNBOOK_BASE}#<anchor>")
    elif anchor not in anchors:
        found.append(f"runbook anchor #{anchor} has no heading in {runbooks}")
    if not rule.get("for"):
        found.append("needs a `for` duration (and a test of its boundary)")
    return [f"alert {name}: {message}" for message in found]


def check_rule_policy(layout: Layout) -> list[Problem]:
    problems: list[Problem] = []
    anchors = runbook_anchors(layout.runbooks)
    seen: dict[str, Path] = {}
    for path in layout.rule_files:
        data, problem = _load_yaml(path)
        if problem:
            problems.append(problem)
            continue
        for rule in _records(data):
            if ":" not in str(rule["record"]):
                message = f"recording rule {rule['record']} should be named level:metric:operations"
                problems.append(Problem(path, message))
        for rule in _alerts(data):
            name = str(rule["alert"])
            if name in seen:
                problems.append(Problem(path, f"alert {name} is also defined in {seen[name].name}"))
            seen[name] = path
            problems.extend(
                Problem(path, message)
                for message in _alert_policy(rule, anchors, layout.runbooks.name)
            )
    return problems


def _duration_seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    total = 0.0
    for amount, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text):
        total += int(amount) * units[unit]
    return total


def check_rule_tests(layout: Layout) -> list[Problem]:
    """promtool test rules passes, and each alert is tested just before and at its firing time."""
    problems: list[Problem] = []
    tests = layout.rule_tests
    for path in tests:
        result = _run([promtool(), "test", "rules", path.name], cwd=path.parent)
        if result.returncode != 0:
            problems.append(Problem(path, f"promtool test rules failed:\n{_output(result)}"))
    # alert name -> does some test check both sides of the `for` boundary?
    boundary_tested: dict[str, bool] = {}
    for path in tests:
        data, problem = _load_yaml(path)
        if problem:
            problems.append(problem)
            continue
        interval = _duration_seconds(str(data.get("evaluation_interval", "1m")))
        for test in data.get("tests", []) or []:
            silent: dict[str, set[float]] = {}
            firing: dict[str, set[float]] = {}
            for case in test.get("alert_rule_test", []) or []:
                bucket = firing if case.get("exp_alerts") else silent
                bucket.setdefault(case["alertname"], set()).add(
                    _duration_seconds(str(case["eval_time"]))
                )
            for name in set(silent) | set(firing):
                pair = any(t - interval in silent.get(name, set()) for t in firing.get(name, set()))
                boundary_tested[name] = boundary_tested.get(name, False) or pair
    for path in layout.rule_files:
        data, problem = _load_yaml(path)
        if problem:
            continue
        for rule in _alerts(data):
            name = str(rule["alert"])
            if name not in boundary_tested:
                problems.append(Problem(path, f"alert {name} has no promtool test in rules/tests/"))
            elif not boundary_tested[name]:
                problems.append(
                    Problem(
                        path,
                        f"alert {name}: no test checks it silent one evaluation before it fires "
                        "(the boundary of its `for`)",
                    )
                )
    return problems


def recorded_names(layout: Layout) -> set[str]:
    names: set[str] = set()
    for path in layout.rule_files:
        data, problem = _load_yaml(path)
        if not problem:
            names.update(str(rule["record"]) for rule in _records(data))
    return names


# ---------------------------------------------------------------- dashboards


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
    return result.returncode == 0, _output(result)


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


# ---------------------------------------------------------------- Alertmanager


def _check_config(config_path: Path, shown_as: Path) -> list[Problem]:
    result = _run([amtool(), "check-config", str(config_path)])
    if result.returncode != 0:
        return [Problem(shown_as, f"amtool check-config failed:\n{_output(result)}")]
    return []


def check_alertmanager(layout: Layout) -> list[Problem]:
    path = layout.alertmanager_config
    data, problem = _load_yaml(path)
    if problem:
        return [problem]
    problems = _check_config(path, path)
    for receiver in (data or {}).get("receivers", []) or []:
        for kind, entries in receiver.items():
            if not kind.endswith("_configs"):
                continue
            for entry in entries or []:
                literal = {key for key in entry if key in {"webhook_url", "url", "api_url"}}
                if literal:
                    problems.append(
                        Problem(
                            path,
                            f"receiver {receiver['name']}: {', '.join(sorted(literal))} would "
                            "put a secret in git; use webhook_url_file (a mounted Secret)",
                        )
                    )
    if problems:
        return problems
    # The legacy connector variant must be just as valid.
    with tempfile.TemporaryDirectory(prefix="orderdesk-am-") as tmp:
        variant = Path(tmp) / "alertmanager-connector.yaml"
        variant.write_text(render.dump_yaml(render.alertmanager_config(layout, teams="connector")))
        problems.extend(_check_config(variant, path))
    return problems


def check_routes(layout: Layout) -> list[Problem]:
    cases, problem = _load_yaml(layout.route_tests)
    if problem:
        return [problem]
    if _check_config(layout.alertmanager_config, layout.alertmanager_config):
        return []  # check_alertmanager reports the broken configuration; no route can be tested
    problems = []
    for index, case in enumerate(cases or [], start=1):
        labels = [f"{key}={value}" for key, value in case["labels"].items()]
        expected = ",".join(case["receivers"])
        result = _run(
            [
                amtool(),
                "config",
                "routes",
                "test",
                f"--config.file={layout.alertmanager_config}",
                f"--verify.receivers={expected}",
                *labels,
            ]
        )
        if result.returncode != 0:
            problems.append(
                Problem(
                    layout.route_tests,
                    f"case {index} ({' '.join(labels)}): expected receivers {expected}; "
                    f"amtool says: {_output(result)} (routes in {layout.alertmanager_config.name})",
                )
            )
    return problems


# ---------------------------------------------------------------- chart and generated files


def environment_names() -> list[str]:
    """The environments of infra/env.yaml (only their names: the values files follow them)."""
    data = yaml.safe_load((REPO_ROOT / "infra" / "env.yaml").read_text(encoding="utf-8"))
    return sorted((data or {}).get("environments", {}))


def check_chart(layout: Layout, environments: Iterable[str] | None = None) -> list[Problem]:
    problems: list[Problem] = []
    try:
        pin = load_chart_pin(layout)
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        return [
            Problem(
                layout.chart_pin, f"needs repository, chart, version, release, namespace: {exc}"
            )
        ]
    if not EXACT_VERSION.match(pin.version):
        problems.append(
            Problem(layout.chart_pin, f"version {pin.version!r} must be an exact X.Y.Z pin")
        )
    names = list(environments) if environments is not None else environment_names()
    for name in names:
        for path in layout.values_files(name):
            if not path.exists():
                problems.append(
                    Problem(path, f"missing: environment {name!r} (infra/env.yaml) needs it")
                )
                continue
            data, problem = _load_yaml(path)
            if problem:
                problems.append(problem)
            elif not isinstance(data, dict):
                problems.append(Problem(path, "must be a mapping of chart values"))
    return problems


def check_generated(layout: Layout) -> list[Problem]:
    problems = []
    try:
        expected = render.generated_files(layout)
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        # The rule file at fault is named by the rule checks; this says what it blocks.
        return [Problem(layout.generated_dir, f"cannot be rendered from rules/: {exc}")]
    for path, content in expected.items():
        if not path.exists():
            problems.append(Problem(path, "missing; run `invoke monitoring.render` and commit it"))
        elif path.read_text(encoding="utf-8") != content:
            problems.append(
                Problem(path, "out of date; run `invoke monitoring.render` and commit it")
            )
    return problems


CHECKS = (
    check_rule_syntax,
    check_rule_policy,
    check_rule_tests,
    check_dashboards,
    check_alertmanager,
    check_routes,
    check_chart,
    check_generated,
)


def run_all(layout: Layout) -> list[Problem]:
    problems: list[Problem] = []
    for check in CHECKS:
        problems.extend(check(layout))
    return problems
