"""What the CI/CD files call exists: invoke tasks with those flags, nox sessions by those names.

These read the project as it is. A workflow that names a task not yet in tasks.py fails here
until that task lands; that is the point: a deploy must not find out at run time.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from tests.workflows import policy
from tests.workflows.policy import AZURE_PIPELINE, WORKFLOWS_DIR


def all_calls() -> list[policy.Command]:
    return policy.commands([*policy.github_workflows(), AZURE_PIPELINE])


def test_the_files_call_invoke_and_nox_at_all() -> None:
    programs = {c.program for c in all_calls()}
    assert {"invoke", "nox"} <= programs


def test_every_invoke_call_names_a_task_and_flags_it_has(tasks_collection: Any) -> None:
    problems = policy.check_invoke_calls(all_calls(), tasks_collection)
    assert not problems, "\n" + "\n".join(map(str, problems))


def test_every_nox_call_names_a_session(nox_sessions: set[str]) -> None:
    problems = policy.check_nox_calls(all_calls(), nox_sessions)
    assert not problems, "\n" + "\n".join(map(str, problems))


def test_ci_runs_every_session_nox_runs_by_default(noxfile: ModuleType) -> None:
    """A session added to nox.options.sessions but not to ci.yml would never run in CI."""
    import nox

    in_ci = set()
    for call in policy.commands([WORKFLOWS_DIR / "ci.yml"]):
        if call.program == "nox":
            in_ci.update(policy.nox_sessions_named(call.argv))
    assert set(nox.options.sessions or []) - in_ci == set()


def test_every_pytest_run_of_nox_measures_coverage(noxfile: ModuleType) -> None:
    """The quality gate's floor holds over all sessions: a session that ran pytest without
    --cov would quietly leave its tests out of the figure."""
    source = (policy.ROOT / "noxfile.py").read_text(encoding="utf-8")
    runs = re.findall(r"session\.run\(\s*([^,)]+)", source)
    pytest_runs = [first for first in runs if "pytest" in first.lower() or first == "*PYTEST"]
    assert len(pytest_runs) >= 7, runs
    assert set(pytest_runs) == {"*PYTEST"}, pytest_runs
    assert "--cov" in noxfile.PYTEST
    # The pgcluster pass runs pytest inside a wrapper: it gets the same arguments.
    assert re.search(r'"run",\s*"--",\s*\*PYTEST,', source)
