"""Rule files and their promtool tests."""

from __future__ import annotations

import re

# subprocess runs promtool and amtool, found by ops.toolchain, with arguments built here.
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ops.monitoring.checks.common import Problem, _load_yaml, _output, _run, promtool
from ops.monitoring.layout import (
    ALERT_PREFIX,
    RUNBOOK_BASE,
    SEVERITIES,
    Layout,
)

CAMEL_CASE_ALERT = re.compile(rf"^{ALERT_PREFIX}(?:[A-Z][a-z0-9]*)+$")


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
        if result.exited != 0:
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
        if result.exited != 0:
            problems.append(Problem(path, f"promtool test rules failed:\n{_output(result)}"))
    boundary_tested: dict[str, bool] = {}
    for path in tests:
        data, problem = _load_yaml(path)
        if problem:
            problems.append(problem)
            continue
        for name, tested in _boundaries_tested(data).items():
            boundary_tested[name] = boundary_tested.get(name, False) or tested
    for path in layout.rule_files:
        data, problem = _load_yaml(path)
        if not problem:
            problems += _untested_alerts(path, data, boundary_tested)
    return problems


def _boundaries_tested(data: Any) -> dict[str, bool]:
    """Alert name -> does a test of this file check both sides of its `for` boundary (silent one
    evaluation before a time it fires)?"""
    interval = _duration_seconds(str(data.get("evaluation_interval", "1m")))
    tested: dict[str, bool] = {}
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
            tested[name] = tested.get(name, False) or pair
    return tested


def _untested_alerts(path: Path, data: Any, boundary_tested: dict[str, bool]) -> list[Problem]:
    problems = []
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
