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

from ops.monitoring.checks.alertmanager import check_alertmanager, check_routes
from ops.monitoring.checks.chart import check_chart, check_generated, environment_names
from ops.monitoring.checks.common import Problem, ToolTooOld, amtool, promtool
from ops.monitoring.checks.dashboards import check_dashboards
from ops.monitoring.checks.rules import (
    check_rule_policy,
    check_rule_syntax,
    check_rule_tests,
    recorded_names,
    runbook_anchors,
)
from ops.monitoring.layout import Layout

__all__ = [
    "CHECKS",
    "Problem",
    "ToolTooOld",
    "amtool",
    "check_alertmanager",
    "check_chart",
    "check_dashboards",
    "check_generated",
    "check_routes",
    "check_rule_policy",
    "check_rule_syntax",
    "check_rule_tests",
    "environment_names",
    "promtool",
    "recorded_names",
    "run_all",
    "runbook_anchors",
]

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
