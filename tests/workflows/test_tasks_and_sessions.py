"""What the CI/CD files call exists: invoke tasks with those flags, nox sessions by those names.

These read the project as it is. A workflow that names a task not yet in tasks.py fails here
until that task lands; that is the point: a deploy must not find out at run time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

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


def test_every_pytest_run_of_nox_measures_coverage_and_may_tear_down(noxfile: ModuleType) -> None:
    """The quality gate's floor holds over all sessions: a session that ran pytest without
    --cov would quietly leave its tests out of the figure. And one interrupted must be given
    the time to stop what its fixtures started (tests/ops/test_lanes.py shows why)."""
    source = (policy.ROOT / "noxfile.py").read_text(encoding="utf-8")
    runs = re.findall(r"session\.run\(\s*([^,)]+)", source)
    assert '"pytest"' not in runs, runs
    # One session.run of PYTEST: run_pytest's, which every session calls.
    pytest_runs = re.findall(r"session\.run\([^()]*PYTEST[^()]*\)", source)
    assert pytest_runs == [
        "session.run(*wrapper, *PYTEST, *args, env=env, interrupt_timeout=TEARDOWN_GRACE_S)"
    ]
    assert len(re.findall(r"\brun_pytest\(\s*session,", source)) >= 8
    assert "--cov" in noxfile.PYTEST
    # The pgcluster pass runs pytest inside a wrapper: it gets the same arguments.
    assert re.search(r'wrapper=\("python", "-m", "testkit.pgcluster", "run", "--"\)', source)


# --- the Pythons the app's tests run on ------------------------------------------------------


def test_the_app_tests_run_on_the_project_s_python_and_the_image_s(noxfile: ModuleType) -> None:
    """`nox -s tests` runs on 3.11 (.python-version) and on the Python the image ships: the
    minor of the python3-venv app/Dockerfile installs from Debian trixie."""
    dockerfile = (policy.ROOT / "app" / "Dockerfile").read_text(encoding="utf-8")
    pinned = re.search(r"\bpython3-venv=(\d+)\.(\d+)\.\d+", dockerfile)
    assert pinned, "app/Dockerfile pins no python3-venv"
    assert f"{pinned.group(1)}.{pinned.group(2)}" == noxfile.IMAGE_PYTHON
    project = (policy.ROOT / ".python-version").read_text(encoding="utf-8").strip()
    assert project == noxfile.PYTHON
    assert noxfile.tests.python == [project, noxfile.IMAGE_PYTHON]


def _program(path: Path, exit_code: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nexit {exit_code}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_pyenv_s_interpreter_behind_a_failing_shim_is_linked_first_on_path(
    noxfile: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyenv's shim answers only for its selected versions (exit 127 otherwise): the newest
    X.Y.Z build under $PYENV_ROOT/versions is linked, alone, into a directory put first on PATH."""
    shims = tmp_path / "shims"
    _program(shims / "python3.13", 127)
    pyenv = tmp_path / "pyenv"
    for version in ("3.13.2", "3.13.10"):
        _program(pyenv / "versions" / version / "bin" / "python3.13", 0)
    _program(pyenv / "versions" / "3.13-dev" / "bin" / "python3.13", 0)
    _program(pyenv / "versions" / "3.13.11" / "bin" / "python3.13", 1)  # a broken build
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("PYENV_ROOT", str(pyenv))
    links = tmp_path / "links"

    noxfile.expose_pyenv_python("3.13", links)

    assert os.environ["PATH"].split(os.pathsep)[0] == str(links)
    assert [path.name for path in links.iterdir()] == ["python3.13"]
    assert (links / "python3.13").resolve() == pyenv / "versions" / "3.13.10" / "bin" / "python3.13"


def test_a_python_on_path_that_runs_is_left_alone(
    noxfile: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _program(tmp_path / "bin" / "python3.13", 0)
    _program(tmp_path / "pyenv" / "versions" / "3.13.4" / "bin" / "python3.13", 0)
    path = f"{tmp_path / 'bin'}{os.pathsep}/usr/bin"
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))

    noxfile.expose_pyenv_python("3.13", tmp_path / "links")

    assert os.environ["PATH"] == path
    assert not (tmp_path / "links").exists()
