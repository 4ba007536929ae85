"""The monitoring checks accept the committed files and reject broken ones, naming the file.

The broken-file cases run `python -m ops.monitoring check --root COPY` exactly as `nox -s
monitoring` does, on a copy of monitoring/ with one file swapped for a fixture; the policy cases
call the check functions on a copy with one targeted edit. All use the real promtool and amtool.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.monitoring import checks, render
from ops.monitoring.layout import MONITORING_DIR, REPO_ROOT, Layout
from testkit.support import need_tool

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def tools() -> None:
    need_tool("promtool", "Debian package prometheus")
    need_tool("amtool", "amtool >= 0.28: python -m ops.toolchain install amtool")


@pytest.fixture
def tree(tmp_path: Path) -> Layout:
    """A private copy of monitoring/ to break."""
    root = tmp_path / "monitoring"
    shutil.copytree(MONITORING_DIR, root)
    return Layout(root)


def run_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.monitoring", "check", "--root", str(root)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def messages(problems: list[checks.Problem]) -> str:
    return "\n".join(str(problem) for problem in problems)


def test_the_committed_monitoring_files_pass() -> None:
    result = run_check(MONITORING_DIR)
    assert result.returncode == 0, result.stderr
    assert "monitoring check: monitoring is valid" in result.stdout


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("broken-syntax.rules.yaml", "promtool check rules failed"),
        ("broken-yaml.rules.yaml", "not valid YAML"),
    ],
)
def test_a_broken_rule_file_fails_the_check_naming_it(
    tree: Layout, fixture: str, reason: str
) -> None:
    broken = tree.rules_dir / f"orderdesk.{fixture}"
    shutil.copy(FIXTURES / fixture, broken)
    result = run_check(tree.root)
    assert result.returncode == 1
    assert f"ERROR {broken}: {reason}" in result.stderr, result.stderr


def test_a_dashboard_with_a_broken_query_fails_the_check_naming_it(tree: Layout) -> None:
    broken = tree.dashboards_dir / "broken.json"
    shutil.copy(FIXTURES / "broken-query.json", broken)
    result = run_check(tree.root)
    assert result.returncode == 1
    assert (
        f"ERROR {broken}: panel 1 'Request rate' target A: PromQL does not parse" in result.stderr
    ), result.stderr
    # The committed dashboards are not blamed.
    assert "orderdesk-app.json: panel" not in result.stderr


def test_a_route_to_an_undefined_receiver_fails_the_check_naming_the_file(tree: Layout) -> None:
    shutil.copy(FIXTURES / "undefined-receiver.alertmanager.yaml", tree.alertmanager_config)
    result = run_check(tree.root)
    assert result.returncode == 1
    assert f"ERROR {tree.alertmanager_config}: amtool check-config failed" in result.stderr
    assert 'undefined receiver "teams-pager"' in result.stderr, result.stderr


def test_missing_promtool_is_reported_as_a_missing_tool(tree: Layout, tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "ORDERDESK_CACHE": str(tmp_path / "no-cache")}
    result = subprocess.run(
        [sys.executable, "-m", "ops.monitoring", "check", "--root", str(tree.root)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "promtool not found" in result.stderr


# ---------------------------------------------------------------- rule policy


def edit_rule(layout: Layout, alert: str, change: dict[str, object]) -> Path:
    path = layout.rules_dir / "orderdesk.alerts.yaml"
    data = yaml.safe_load(path.read_text())
    for group in data["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                for key, value in change.items():
                    section, _, field = key.partition(".")
                    if field:
                        rule[section][field] = value
                    else:
                        rule[section] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"labels.severity": "page"}, "label severity must be one of critical, warning, info"),
        (
            {"annotations.summary": "{{ $labels.job }} fails"},
            "needs a static summary",
        ),
        ({"annotations.description": "Errors."}, "needs a templated description"),
        (
            {
                "annotations.runbook_url": "https://github.com/orderdesk/orderdesk/blob/main/"
                "monitoring/runbooks.md#nosuchheading"
            },
            "runbook anchor #nosuchheading has no heading in runbooks.md",
        ),
        ({"annotations.runbook_url": "https://wiki.example.com/x"}, "runbook_url must be"),
        ({"alert": "highErrors"}, "name must be CamelCase starting with Orderdesk"),
    ],
)
def test_alert_policy(tree: Layout, change: dict[str, object], expected: str) -> None:
    path = edit_rule(tree, "OrderdeskHighErrorRatio", change)
    found = messages(checks.check_rule_policy(tree))
    assert f"{path}: alert " in found
    assert expected in found


def test_an_alert_without_a_for_boundary_test_is_reported(tree: Layout) -> None:
    tests = tree.rules_dir / "tests" / "http.test.yaml"
    data = yaml.safe_load(tests.read_text())
    # Keep only the firing case of the error-ratio test: no silent case one step before.
    cases = data["tests"][0]["alert_rule_test"]
    data["tests"][0]["alert_rule_test"] = [case for case in cases if case["eval_time"] == "15m"]
    tests.write_text(yaml.safe_dump(data, sort_keys=False))
    found = messages(checks.check_rule_tests(tree))
    assert "alert OrderdeskHighErrorRatio: no test checks it silent one evaluation before" in found


def test_an_untested_alert_is_reported(tree: Layout) -> None:
    path = tree.rules_dir / "orderdesk.extra.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "extra",
                        "rules": [{"alert": "OrderdeskUntested", "expr": "vector(1)", "for": "1m"}],
                    }
                ]
            }
        )
    )
    found = messages(checks.check_rule_tests(tree))
    assert f"{path}: alert OrderdeskUntested has no promtool test" in found


def test_a_failing_rule_test_names_the_test_file(tree: Layout) -> None:
    tests = tree.rules_dir / "tests" / "pods.test.yaml"
    tests.write_text(tests.read_text().replace("uses 90% of", "uses 91% of"))
    found = messages(checks.check_rule_tests(tree))
    assert f"{tests}: promtool test rules failed" in found


# ---------------------------------------------------------------- dashboards


def edit_dashboard(layout: Layout, name: str, edit: Callable[[dict[str, Any]], object]) -> Path:
    path = layout.dashboards_dir / name
    model = json.loads(path.read_text())
    edit(model)
    path.write_text(json.dumps(model))
    return path


def first_panel(model: dict) -> dict:
    return next(panel for panel in model["panels"] if panel["type"] != "row")


def test_dashboard_uids_must_be_unique(tree: Layout) -> None:
    path = edit_dashboard(tree, "orderdesk-pods.json", lambda m: m.update(uid="orderdesk-app"))
    found = messages(checks.check_dashboards(tree))
    assert f"{path}: uid 'orderdesk-app' is also used by orderdesk-app.json" in found


def test_dashboard_panels_must_use_the_datasource_variable(tree: Layout) -> None:
    def fixed(model: dict) -> None:
        first_panel(model)["datasource"] = {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}

    path = edit_dashboard(tree, "orderdesk-app.json", fixed)
    found = messages(checks.check_dashboards(tree))
    assert f"{path}: panel 2 'Request rate by view': datasource must be" in found


def test_dashboard_queries_must_read_recorded_or_known_metrics(tree: Layout) -> None:
    def typo(model: dict) -> None:
        first_panel(model)["targets"][0]["expr"] = (
            'sum(namespace_job:django_requests:rate5m{job="x"})'
        )

    path = edit_dashboard(tree, "orderdesk-app.json", typo)
    found = messages(checks.check_dashboards(tree))
    where = f"{path}: panel 2 'Request rate by view' target A"
    assert f"{where}: reads namespace_job:django_requests:rate5m, which no rule" in found


def test_dashboard_queries_must_use_defined_variables(tree: Layout) -> None:
    def unknown(model: dict) -> None:
        first_panel(model)["targets"][0]["expr"] = (
            'namespace_job:django_http_requests:rate5m{job="$service"}'
        )

    path = edit_dashboard(tree, "orderdesk-app.json", unknown)
    found = messages(checks.check_dashboards(tree))
    assert f"{path}: panel 2 'Request rate by view' target A: unknown variable $service" in found


def test_a_dashboard_that_is_not_json_is_reported(tree: Layout) -> None:
    path = tree.dashboards_dir / "orderdesk-app.json"
    path.write_text("{ not json")
    assert f"{path}: not valid JSON" in messages(checks.check_dashboards(tree))


# ---------------------------------------------------------------- Alertmanager, chart, generated


def test_a_webhook_url_in_the_config_is_refused(tree: Layout) -> None:
    config = yaml.safe_load(tree.alertmanager_config.read_text())
    teams = config["receivers"][1]["msteamsv2_configs"][0]
    teams.pop("webhook_url_file")
    teams["webhook_url"] = "https://example.webhook.office.com/workflows/secret"
    tree.alertmanager_config.write_text(yaml.safe_dump(config))
    found = messages(checks.check_alertmanager(tree))
    assert (
        f"{tree.alertmanager_config}: receiver teams: webhook_url would put a secret in git"
        in found
    )


def test_a_route_test_expecting_another_receiver_fails(tree: Layout) -> None:
    cases = yaml.safe_load(tree.route_tests.read_text())
    cases[0]["receivers"] = ["teams"]  # a critical alert, which goes to teams-oncall
    tree.route_tests.write_text(yaml.safe_dump(cases))
    found = messages(checks.check_routes(tree))
    assert f"{tree.route_tests}: case 1 (alertname=OrderdeskHighErrorRatio" in found
    assert "expected receivers teams;" in found


def test_the_chart_version_must_be_an_exact_pin(tree: Layout) -> None:
    tree.chart_pin.write_text(
        tree.chart_pin.read_text().replace("version: 77.11.1", "version: 77.x")
    )
    found = messages(checks.check_chart(tree))
    assert f"{tree.chart_pin}: version '77.x' must be an exact X.Y.Z pin" in found


def test_every_environment_needs_a_values_file(tree: Layout) -> None:
    (tree.chart_dir / "values-prod.yaml").unlink()
    found = messages(checks.check_chart(tree))
    assert "values-prod.yaml: missing: environment 'prod' (infra/env.yaml) needs it" in found


def test_generated_files_must_match_their_sources(tree: Layout) -> None:
    rules = tree.rules_dir / "orderdesk.alerts.yaml"
    rules.write_text(rules.read_text().replace("> 0.05", "> 0.10"))
    found = messages(checks.check_generated(tree))
    assert f"{tree.generated_dir / 'prometheusrule.yaml'}: out of date" in found
    render.write_generated(tree)
    assert checks.check_generated(tree) == []
