"""Each rule of policy.py catches the bad input it exists for, and only that.

fixtures/good.yml keeps every rule; every other fixture is good.yml with one thing broken, so a
check that never fires, or fires on everything, fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from invoke import Collection, task

from tests.workflows import policy
from tests.workflows.policy import FIXTURES

GITHUB_BAD = {
    "pin-without-comment.yml": "pin-comment",
    "build-logic.yml": "run-allow-list",
    "chained-invoke.yml": "run-allow-list",
    "id-token-without-login.yml": "id-token",
    "login-without-id-token.yml": "id-token",
    "no-timeout.yml": "timeout",
    "artifact-not-uploaded.yml": "artifact",
}
# Generic security mistakes: zizmor's to catch (test_tools.py), not this policy's.
LEFT_TO_ZIZMOR = (
    "unpinned-action.yml",
    "missing-permissions.yml",
    "broad-permissions.yml",
    "persist-credentials.yml",
    "script-injection.yml",
)

PIPELINE_BAD = {
    "pipeline-build-logic.yml": "run-allow-list",
    "pipeline-persist-credentials.yml": "persist-credentials",
    "pipeline-no-timeout.yml": "timeout",
    "pipeline-artifact-not-published.yml": "artifact",
    "pipeline-macro-in-script.yml": "expression-in-run",
    "pipeline-powershell.yml": "run-allow-list",
}


@task(help={"env": "environment", "plan_file": "where the plan goes"})
def plan(c, env="dev", plan_file=""):
    """Stand-in for tf.plan: the check reads only its name and flags."""


def stand_in_tasks() -> Collection:
    return Collection(Collection("tf", plan))


def test_good_workflow_keeps_every_rule() -> None:
    assert policy.check_github_workflow(FIXTURES / "good.yml") == []


def test_good_pipeline_keeps_every_rule() -> None:
    assert policy.check_azure_pipeline(FIXTURES / "pipeline-good.yml") == []


@pytest.mark.parametrize(("fixture", "rule"), sorted(GITHUB_BAD.items()))
def test_bad_workflow_fails_for_its_reason(fixture: str, rule: str) -> None:
    violations = policy.check_github_workflow(FIXTURES / fixture)
    assert violations, f"{fixture} passed every check"
    assert {v.rule for v in violations} == {rule}, [str(v) for v in violations]


@pytest.mark.parametrize(("fixture", "rule"), sorted(PIPELINE_BAD.items()))
def test_bad_pipeline_fails_for_its_reason(fixture: str, rule: str) -> None:
    violations = policy.check_azure_pipeline(FIXTURES / fixture)
    assert violations, f"{fixture} passed every check"
    assert {v.rule for v in violations} == {rule}, [str(v) for v in violations]


def test_build_logic_is_named_line_by_line_with_the_fix() -> None:
    messages = [str(v) for v in policy.check_github_workflow(FIXTURES / "build-logic.yml")]
    assert len(messages) == 2
    assert "pip install -r requirements.txt" in messages[0]
    assert "docker build -t app ." in messages[1]
    assert all("move the logic into a task or session" in m for m in messages)
    assert all("job 'plan'" in m for m in messages)


@pytest.mark.parametrize("fixture", LEFT_TO_ZIZMOR)
def test_generic_security_is_left_to_zizmor(fixture: str) -> None:
    """One tool for each rule: the policy keeps Orderdesk's own and says nothing here."""
    assert policy.check_github_workflow(FIXTURES / fixture) == []


def test_an_action_pinned_without_its_version_is_named_with_its_line() -> None:
    (violation,) = policy.check_github_workflow(FIXTURES / "pin-without-comment.yml")
    assert violation.where.startswith("line ")
    assert "has no version comment" in violation.message


def test_chained_shell_after_an_allowed_program_is_refused() -> None:
    (violation,) = policy.check_github_workflow(FIXTURES / "chained-invoke.yml")
    assert "chains shell operators ['&&']" in violation.message


@pytest.mark.parametrize(
    "line",
    [
        "invoke deploy --env $(cat env.txt)",
        "invoke deploy --env `cat env.txt`",
        "nox -s lint; rm -rf /",
        "nox -s lint | tee log",
        "invoke deploy > out.txt",
        "python -m nox -s lint",
        "scripts/bootstrap --system --extra",
        'echo "::error::$SECRET"',
        "bash -c 'invoke deploy'",
    ],
)
def test_lines_outside_the_allow_list(line: str) -> None:
    assert isinstance(policy.classify(line), str)


@pytest.mark.parametrize(
    ("line", "program"),
    [
        (
            'invoke tf.plan --env "$DEPLOY_ENV" --plan-file ".data/terraform/$DEPLOY_ENV.tfplan"',
            "invoke",
        ),
        ("nox -s tests --force-python 3.12", "nox"),
        ("scripts/bootstrap --system", "bootstrap"),
        ('echo "$GITHUB_WORKSPACE/.venv/bin" >> "$GITHUB_PATH"', "PATH for GitHub"),
        ('echo "::error::Type the environment name exactly"', "error annotation"),
        ("exit 1", "fail"),
    ],
)
def test_lines_inside_the_allow_list(line: str, program: str) -> None:
    result = policy.classify(line)
    assert not isinstance(result, str), result
    assert result[0] == program


def test_a_continued_invoke_line_is_one_command() -> None:
    assert policy.command_lines("invoke tf.plan \\\n  --env dev\n# a comment\n\nnox -s lint\n") == [
        "invoke tf.plan --env dev",
        "nox -s lint",
    ]


def test_matrix_values_are_expanded_before_checking() -> None:
    calls = [
        c
        for c in policy.github_commands(Path(policy.WORKFLOWS_DIR / "ci.yml"))
        if isinstance(c, policy.Command) and c.program == "nox"
    ]
    assert ("-s", "tests", "--force-python", "3.13") in {c.argv for c in calls}
    assert all("${{" not in " ".join(c.argv) for c in calls)


def test_good_fixture_calls_known_tasks_and_sessions() -> None:
    calls = policy.commands([FIXTURES / "good.yml"])
    assert policy.check_invoke_calls(calls, stand_in_tasks()) == []
    assert policy.check_nox_calls(calls, {"lint"}) == []


def test_unknown_task_is_caught() -> None:
    calls = policy.commands([FIXTURES / "unknown-task.yml"])
    (violation,) = policy.check_invoke_calls(calls, stand_in_tasks())
    assert "No idea what 'tf.plna' is" in violation.message


def test_unknown_flag_is_caught() -> None:
    calls = policy.commands([FIXTURES / "unknown-flag.yml"])
    (violation,) = policy.check_invoke_calls(calls, stand_in_tasks())
    assert "No idea what '--out' is" in violation.message


def test_unknown_session_is_caught() -> None:
    calls = policy.commands([FIXTURES / "unknown-session.yml"])
    (violation,) = policy.check_nox_calls(calls, {"lint"})
    assert "nox session 'lnit' is not in noxfile.py" in violation.message


def test_nox_without_a_session_is_caught() -> None:
    call = policy.Command("x.yml", "job 'a'", "nox", ())
    (violation,) = policy.check_nox_calls([call], {"lint"})
    assert "runs every session" in violation.message
