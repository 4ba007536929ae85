"""kube-prometheus-stack: the chart pin and values, and the generated files up to date."""

from __future__ import annotations

import re

# subprocess runs promtool and amtool, found by ops.toolchain, with arguments built here.
from collections.abc import Iterable

import yaml

from ops.monitoring import render
from ops.monitoring.checks.common import Problem, _load_yaml
from ops.monitoring.layout import (
    REPO_ROOT,
    Layout,
    load_chart_pin,
)

EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


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
