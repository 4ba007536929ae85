"""What every check shares: the Problem it reports, the tools it runs, YAML reading."""

from __future__ import annotations

# subprocess runs promtool and amtool, found by ops.toolchain, with arguments built here.
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from invoke.runners import Result

from ops import toolchain
from ops.core.run import Runner
from ops.monitoring import render


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{render.repo_relative(self.path)}: {self.message}"


class ToolTooOld(toolchain.ToolMissing):
    """The tool is there but lacks a feature we rely on."""


def _run(args: list[str], cwd: Path | None = None) -> Result:
    return Runner().run(args, cwd=cwd, timeout=120, warn=True)


def _output(result: Result) -> str:
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
        if result.exited != 0:
            raise ToolTooOld(
                f"{path} does not know the msteamsv2 receiver (needs Alertmanager >= 0.28): "
                "run `python -m ops.toolchain install amtool` (tools/go/monitoring.txt)"
            )
        _AMTOOL_CHECKED[path] = path
    return path


def _load_yaml(path: Path) -> tuple[Any, Problem | None]:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")), None
    except yaml.YAMLError as exc:
        return None, Problem(path, f"not valid YAML: {exc}")
