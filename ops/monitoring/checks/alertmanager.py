"""Alertmanager: amtool check-config for both Teams variants, route tests, no URL in git."""

from __future__ import annotations

# subprocess runs promtool and amtool, found by ops.toolchain, with arguments built here.
import tempfile
from pathlib import Path

from ops.monitoring import render
from ops.monitoring.checks.common import Problem, _load_yaml, _output, _run, amtool
from ops.monitoring.layout import (
    Layout,
)


def _check_config(config_path: Path, shown_as: Path) -> list[Problem]:
    result = _run([amtool(), "check-config", str(config_path)])
    if result.exited != 0:
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
        if result.exited != 0:
            problems.append(
                Problem(
                    layout.route_tests,
                    f"case {index} ({' '.join(labels)}): expected receivers {expected}; "
                    f"amtool says: {_output(result)} (routes in {layout.alertmanager_config.name})",
                )
            )
    return problems
