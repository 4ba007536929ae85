"""Every `invoke <task>` and `nox -s <session>` the docs show exists, with the flags shown.

Only code (inline `spans` and fenced blocks) is read: prose such as "the invoke collection" is
not a command. `invoke tf.*` names an area: its collection must exist.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.workflows.policy import ROOT, nox_sessions_named

DOCS = sorted(
    {
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        *ROOT.glob("docs/*.md"),
        ROOT / "monitoring" / "README.md",
        ROOT / "manifests" / "README.md",
        ROOT / "infra" / "README.md",
        ROOT / ".github" / "workflows" / "README.md",
    }
)
FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`\n]+)`")
INVOKE = re.compile(r"(?:^|[\s/])invoke\s+(?P<rest>[^#\n]*)")
NOX = re.compile(r"(?:^|[\s/])nox\s+(?P<rest>-[^#\n]*)")
OPTIONAL = re.compile(r"\[[^\]]*\]|\([^)]*\)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def code_of(text: str) -> list[str]:
    """The code lines of a Markdown text: fenced blocks, then inline spans outside them."""
    lines = [line for block in FENCED.findall(text) for line in block.splitlines()]
    prose = FENCED.sub("", text)
    return lines + INLINE.findall(prose)


def shown(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for code in code_of(path.read_text(encoding="utf-8")):
            for match in pattern.finditer(code):
                found.append((str(path.relative_to(ROOT)), match["rest"].strip()))
    return found


def invoke_problem(rest: str, collection: Any) -> str | None:
    words = rest.split()
    name = words[0] if words else ""
    if not name or name.startswith(("-", "<", "...")):
        return None  # `invoke --list`, `invoke <task>`, `invoke ...`: no task named
    if name.endswith(".*"):
        area = name.removesuffix(".*")
        return None if area in collection.collections else f"no task area {area!r}"
    contexts = {context.name: context for context in collection.to_contexts()}
    context = contexts.get(name)
    if context is None:
        return f"no task {name!r} (invoke --list shows the tasks)"
    known = set(context.flags) | set(context.inverse_flags)
    unknown = [flag for flag in FLAG.findall(rest) if flag not in known]
    return f"{name} has no flag {', '.join(unknown)}" if unknown else None


def test_the_docs_show_invoke_and_nox_commands():
    assert all(path.is_file() for path in DOCS), [str(p) for p in DOCS if not p.is_file()]
    assert len(shown(INVOKE)) > 20
    assert len(shown(NOX)) > 5


def test_every_invoke_task_and_flag_the_docs_show_exists(tasks_collection: Any):
    problems = [
        f"{where}: invoke {rest}: {problem}"
        for where, rest in shown(INVOKE)
        if (problem := invoke_problem(rest, tasks_collection))
    ]
    assert not problems, "\n" + "\n".join(problems)


def test_every_nox_session_the_docs_show_exists(nox_sessions: set[str]):
    problems = []
    for where, rest in shown(NOX):
        # `[--force-python X]` is optional syntax; `<sessions>`, `...` are placeholders.
        words = tuple(OPTIONAL.sub("", rest).split())
        if words[:1] in {("-l",), ("--list",)} or any(w.startswith(("<", "...")) for w in words):
            continue
        try:
            named = nox_sessions_named(words)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        missing = [session for session in named if session not in nox_sessions]
        problems += [f"{where}: nox {rest}: no session {session!r}" for session in missing]
    assert not problems, "\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("invoke k8s.status --env local", "no task 'k8s.status'"),
        ("invoke up --no-such-flag", "up has no flag --no-such-flag"),
        ("invoke nothing.*", "no task area 'nothing'"),
    ],
)
def test_a_doc_naming_what_does_not_exist_is_caught(tasks_collection: Any, line: str, problem):
    match = INVOKE.search(line)
    assert match is not None
    assert invoke_problem(match["rest"], tasks_collection) is not None
    assert problem in str(invoke_problem(match["rest"], tasks_collection))


def test_prose_and_placeholders_are_not_commands():
    text = "the invoke collection\n\n`invoke <task>` and `invoke --list`\n\n```sh\ninvoke up\n```\n"
    assert code_of(text) == ["invoke up", "invoke <task>", "invoke --list"]
