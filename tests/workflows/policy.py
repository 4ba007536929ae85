"""Orderdesk's own rules for CI/CD files, as functions that return what breaks them.

The rules (see .github/workflows/README.md): a CI step is `nox -s <session>` or `invoke <task>`
plus a short, explicit list of setup lines, and those tasks and sessions exist; a pinned action
says which version its SHA is; `id-token: write` exactly where Azure is signed into (OIDC); every
job has a timeout and every workflow a concurrency group; an artifact a job downloads was uploaded
by a job it waits for; a step whose deploy reaches the monitoring stage gets the Teams webhook
URL from a secret, and a preflight upstream of every change checks it. The same rules, where they
apply, hold for the Azure DevOps pipeline, which also keeps no checkout credentials and pastes
no macro into a script (no linter reads it).

Generic GitHub Actions security (pinning by SHA, permissions, persisted credentials, template
injection) is zizmor's job: `nox -s workflows` runs it, tests/workflows/test_tools.py shows it
catches each kind of mistake.

Each check returns a list of Violation (empty: the file keeps the rules), so a test can show the
real files pass and that each bad fixture fails for the reason it was made for.
"""

from __future__ import annotations

import argparse
import fnmatch
import itertools
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ops.core.environments import TEAMS_WEBHOOK_VARIABLE

# What the preflight checks is the product's rule: the stages it checks the webhook for, and
# the variable it reads (a copy here could drift from it unnoticed).
from ops.deploy.preflight import WEBHOOK_STAGES

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
AZURE_PIPELINE = ROOT / "azure-pipelines.yml"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# The setup lines a run: block may hold besides `invoke` and `nox`, each matched whole.
ALLOWED_SETUP_LINES: dict[str, re.Pattern[str]] = {
    "bootstrap": re.compile(r"scripts/bootstrap( --system| --deploy)?"),
    "PATH for GitHub": re.compile(r'echo "\$GITHUB_WORKSPACE/\.venv/bin" >> "\$GITHUB_PATH"'),
    "PATH for Azure DevOps": re.compile(
        r'echo "##vso\[task\.prependpath\]\$\(Build\.SourcesDirectory\)/\.venv/bin"'
    ),
    # A refusal: a message for the run's summary, then a failure. No variables in the message.
    "error annotation": re.compile(r'echo "::error::[^"$`\\]*"'),
    "fail": re.compile(r"exit 1"),
}
RUNNERS = {"invoke", "nox"}
SHELL_OPERATORS = {";", "&&", "||", "|", "&", ">", ">>", "<", "(", ")", "<<"}
SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\b")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)(?P<rest>.*)$")
GITHUB_EXPRESSION = re.compile(r"\$\{\{\s*(?P<expr>.*?)\s*\}\}")
MATRIX_EXPRESSION = re.compile(r"matrix\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)")
AZURE_LOGIN = "azure/login@"
ADO_TASK = re.compile(r"^[A-Za-z][A-Za-z0-9]*@\d+$")
ADO_INLINE_SCRIPT_TASKS = {"AzureCLI@2", "Bash@3"}
ADO_FORBIDDEN_SCRIPT_KEYS = {"powershell", "pwsh"}


@dataclass(frozen=True)
class Violation:
    file: str
    where: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message} [{self.rule}]"


@dataclass(frozen=True)
class Command:
    """One command line of a run: block, after matrix values were put in."""

    file: str
    where: str
    program: str  # "invoke", "nox", or the name of the allowed setup line
    argv: tuple[str, ...]


# --- loading -------------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    """A workflow or pipeline as data; PyYAML reads the key `on` as True (YAML 1.1), undone here."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    if True in data:
        data["on"] = data.pop(True)
    return data


def command_lines(script: str) -> list[str]:
    """The commands of a shell script: continuations joined, blank lines and comments dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", script)
    lines = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def classify(line: str) -> tuple[str, tuple[str, ...]] | str:
    """(program, argv) for an allowed line, else why the line is not allowed."""
    for name, pattern in ALLOWED_SETUP_LINES.items():
        if pattern.fullmatch(line):
            return name, ()
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError as exc:
        return f"cannot parse {line!r}: {exc}"
    if not tokens or tokens[0] not in RUNNERS:
        return (
            f"{line!r} is neither `invoke`/`nox` nor an allowed setup line "
            f"({', '.join(ALLOWED_SETUP_LINES)}): move the logic into a task or session"
        )
    operators = [token for token in tokens if token in SHELL_OPERATORS]
    if operators:
        return f"{line!r} chains shell operators {operators}: one `{tokens[0]}` call a line"
    if any("$(" in token or "`" in token for token in tokens):
        return f"{line!r} substitutes a command: pass values through env, computed by a task"
    return tokens[0], tuple(tokens[1:])


def checked(file: str, where: str, line: str) -> Command | Violation:
    """One command line of a workflow or pipeline: the Command it runs, or why it may not."""
    result = classify(line)
    if isinstance(result, str):
        return Violation(file, where, "run-allow-list", result)
    return Command(file, where, result[0], result[1])


# --- GitHub Actions --------------------------------------------------------------------------


def _jobs(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    jobs = doc.get("jobs") or {}
    return {name: job for name, job in jobs.items() if isinstance(job, dict)}


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in job.get("steps") or [] if isinstance(step, dict)]


def _step_name(index: int, step: dict[str, Any]) -> str:
    return str(step.get("name") or step.get("uses") or step.get("id") or f"#{index + 1}")


def _matrix_variants(job: dict[str, Any], text: str) -> list[str]:
    """`text` once per value of each matrix variable it names (its lists only)."""
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    names = sorted({m.group("name") for m in MATRIX_EXPRESSION.finditer(text)})
    value_lists = []
    for name in names:
        values = matrix.get(name)
        if not isinstance(values, list) or not values:
            return [text]  # left as written: the checks downstream then name the expression
        value_lists.append([str(v) for v in values])
    variants = []
    for combination in itertools.product(*value_lists):
        values = dict(zip(names, combination, strict=True))

        def matrix_value(match: re.Match[str], values: dict[str, str] = values) -> str:
            return values.get(match.group("expr").removeprefix("matrix."), match.group(0))

        variants.append(GITHUB_EXPRESSION.sub(matrix_value, text))
    return variants


def github_commands(path: Path, doc: dict[str, Any] | None = None) -> list[Command | Violation]:
    """Every command of every run: step, or a Violation for each line that is not allowed."""
    doc = load(path) if doc is None else doc
    found: list[Command | Violation] = []
    for job_name, job in _jobs(doc).items():
        for index, step in enumerate(_steps(job)):
            script = step.get("run")
            if script is None:
                continue
            where = f"job {job_name!r} step {_step_name(index, step)!r}"
            # Any other ${{ }} in a script is template injection: zizmor's to refuse.
            for variant in _matrix_variants(job, str(script)):
                found.extend(checked(path.name, where, line) for line in command_lines(variant))
    return found


def _uses_lines(text: str) -> Iterator[tuple[int, str, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        match = USES_LINE.match(line)
        if match:
            yield number, match.group("ref"), match.group("rest")


def check_pinned_actions(path: Path, text: str | None = None) -> list[Violation]:
    """Every action pinned by SHA says which version that is (zizmor refuses unpinned ones)."""
    text = path.read_text(encoding="utf-8") if text is None else text
    found = []
    for number, ref, rest in _uses_lines(text):
        where = f"line {number}"
        if SHA_PIN.match(ref) and not VERSION_COMMENT.search(rest):
            found.append(
                Violation(
                    path.name,
                    where,
                    "pin-comment",
                    f"{ref} has no version comment (`# vX.Y.Z`): say which release the SHA is",
                )
            )
    return found


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _upstream(jobs: dict[str, dict[str, Any]], name: str) -> set[str]:
    seen: set[str] = set()
    pending = _needs(jobs[name])
    while pending:
        current = pending.pop()
        if current not in seen and current in jobs:
            seen.add(current)
            pending.extend(_needs(jobs[current]))
    return seen


def _artifact_steps(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in _steps(job) if str(s.get("uses", "")).startswith(f"actions/{action}@")]


def _check_top_level(name: str, doc: dict[str, Any]) -> list[Violation]:
    found = []
    if "concurrency" not in doc:
        found.append(
            Violation(name, "top level", "concurrency", "no concurrency group: runs would overlap")
        )
    return found


def _check_oidc(name: str, where: str, job: dict[str, Any]) -> list[Violation]:
    """Azure is reached only through OIDC: id-token: write exactly where azure/login runs."""
    found = []
    permissions = job.get("permissions")
    logs_in = any(str(s.get("uses", "")).startswith(AZURE_LOGIN) for s in _steps(job))
    id_token = isinstance(permissions, dict) and permissions.get("id-token") == "write"
    if id_token and not logs_in:
        found.append(
            Violation(
                name,
                where,
                "id-token",
                "id-token: write without an azure/login step: drop it (least privilege)",
            )
        )
    if logs_in and not id_token:
        found.append(
            Violation(
                name,
                where,
                "id-token",
                "azure/login (OIDC) without id-token: write: the login would fail",
            )
        )
    return found


def _check_timeout(name: str, where: str, job: dict[str, Any]) -> list[Violation]:
    if "uses" not in job and "timeout-minutes" not in job:
        return [Violation(name, where, "timeout", "no timeout-minutes (the default is 6 hours)")]
    return []


def _artifact_matches(wanted: str, uploaded: str) -> bool:
    """A download's name (or `pattern:` glob) against an upload's name, whose ${{ }} parts (matrix
    values) stand for some value."""
    return wanted == uploaded or fnmatch.fnmatchcase(GITHUB_EXPRESSION.sub("x", uploaded), wanted)


def _check_artifacts(name: str, jobs: dict[str, dict[str, Any]]) -> list[Violation]:
    found = []
    for job_name, job in jobs.items():
        uploaded_upstream = {
            str((s.get("with") or {}).get("name"))
            for other in _upstream(jobs, job_name)
            for s in _artifact_steps(jobs[other], "upload-artifact")
        }
        for step in _artifact_steps(job, "download-artifact"):
            given = step.get("with") or {}
            wanted = str(given.get("name") or given.get("pattern"))
            if not any(_artifact_matches(wanted, name) for name in uploaded_upstream):
                found.append(
                    Violation(
                        name,
                        f"job {job_name!r}",
                        "artifact",
                        f"downloads artifact {wanted!r}, which no job it needs uploads",
                    )
                )
    return found


def check_github_workflow(path: Path) -> list[Violation]:
    """Every rule for a GitHub workflow; the allow-list of run: lines included."""
    doc = load(path)
    name = path.name
    jobs = _jobs(doc)
    found = _check_top_level(name, doc)
    for job_name, job in jobs.items():
        found.extend(_check_oidc(name, f"job {job_name!r}", job))
        found.extend(_check_timeout(name, f"job {job_name!r}", job))
    found.extend(_check_artifacts(name, jobs))
    found.extend(check_pinned_actions(path))
    found.extend(item for item in github_commands(path, doc) if isinstance(item, Violation))
    found.extend(check_github_teams_webhook(path, doc))
    return found


# --- the Teams webhook secret -----------------------------------------------------------------

TEAMS_WEBHOOK = TEAMS_WEBHOOK_VARIABLE
CHANGING_TASKS = {"deploy", "tf.apply", "destroy"}


# Terraform plans need the root variable teams_webhook_url, which tf.* takes from the secret.
# tf.apply too: the Teams URL is an ephemeral root variable, which a saved plan does not keep.
PLANNING_TASKS = frozenset({"tf.plan", "tf.apply", "tf.destroy", "destroy"})


def preflight_checks_webhook(argv: tuple[str, ...]) -> bool:
    """Whether an `invoke deploy ...` line checks TEAMS_WEBHOOK_URL in its preflight: it does
    whenever the terraform or monitoring stage is among the stages it runs (or checks, with
    --preflight-only)."""
    if not argv or argv[0] != "deploy" or "--dry-run" in argv:
        return False
    options = dict(zip(argv[1::2], argv[2::2], strict=False))
    if "--only" in options:
        return bool(WEBHOOK_STAGES & set(options["--only"].split(",")))
    return bool(WEBHOOK_STAGES - set(options.get("--skip", "").split(",")))


def needs_webhook(argv: tuple[str, ...]) -> bool:
    """Whether an invoke line needs TEAMS_WEBHOOK_URL in its env: a preflight that checks it,
    or a task that plans or applies the Azure estate (the Teams URL is an ephemeral root
    variable, given again to apply a saved plan)."""
    if argv and argv[0] in PLANNING_TASKS and "--dry-run" not in argv:
        return True
    return preflight_checks_webhook(argv)


def changes_something(argv: tuple[str, ...]) -> bool:
    return (
        bool(argv)
        and argv[0] in CHANGING_TASKS
        and not {"--dry-run", "--preflight-only"} & set(argv)
    )


def _webhook_violations(
    name: str,
    steps: list[tuple[str, str, dict[str, Any], tuple[str, ...]]],
    upstream: dict[str, set[str]],
    expected: str,
) -> list[Violation]:
    """steps: (unit, where, env, argv) of every invoke line in order; a unit is a job or a stage.

    A deploy that reaches the terraform or monitoring stage (or --preflight-only) checks the
    webhook in its preflight; each change needs such a check before it, in a unit it waits for
    or earlier in its own, so a missing secret fails before anything changed."""
    found = []
    needing = [step for step in steps if needs_webhook(step[3])]
    for _, where, env, argv in needing:
        if env.get(TEAMS_WEBHOOK) != expected:
            found.append(
                Violation(
                    name,
                    where,
                    "teams-webhook",
                    f"`invoke {' '.join(argv)}` needs the Teams webhook URL (monitoring "
                    f"stage or Terraform plan) without {TEAMS_WEBHOOK}: {expected} in its env",
                )
            )
    if not needing:
        return found
    checked: set[str] = set()  # units with a webhook check so far
    for unit, where, _, argv in steps:
        if preflight_checks_webhook(argv):
            checked.add(unit)
        # A planning task stops at its own plan when the variable is missing, before any change.
        unchecked = not checked & (upstream[unit] | {unit})
        if changes_something(argv) and argv[0] not in PLANNING_TASKS and unchecked:
            found.append(
                Violation(
                    name,
                    where,
                    "teams-webhook",
                    f"`invoke {' '.join(argv)}` changes something before any preflight "
                    f"checked {TEAMS_WEBHOOK}: run `invoke deploy --preflight-only` first",
                )
            )
    return found


def check_github_teams_webhook(path: Path, doc: dict[str, Any] | None = None) -> list[Violation]:
    doc = load(path) if doc is None else doc
    jobs = _jobs(doc)
    steps = []
    for job_name, job in jobs.items():
        for index, step in enumerate(_steps(job)):
            env = {**(job.get("env") or {}), **(step.get("env") or {})}
            for line in command_lines(str(step.get("run", ""))):
                result = classify(line)
                if not isinstance(result, str) and result[0] == "invoke":
                    where = f"job {job_name!r} step {_step_name(index, step)!r}"
                    steps.append((job_name, where, env, result[1]))
    upstream = {job_name: _upstream(jobs, job_name) for job_name in jobs}
    return _webhook_violations(path.name, steps, upstream, "${{ secrets." + TEAMS_WEBHOOK + " }}")


# --- Azure DevOps ----------------------------------------------------------------------------


def _walk(node: Any, trail: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield trail, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*trail, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*trail, str(index)))


def pipeline_jobs(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(stage, job name, job) for every job and deployment job."""
    for stage in doc.get("stages") or []:
        for job in stage.get("jobs") or []:
            yield str(stage.get("stage")), str(job.get("job") or job.get("deployment")), job


def pipeline_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """A job's steps, or a deployment job's steps wherever its strategy puts them."""
    steps: list[dict[str, Any]] = []
    for trail, node in _walk(job):
        if trail and trail[-1] == "steps" and isinstance(node, list):
            steps.extend(step for step in node if isinstance(step, dict))
    return steps


def _pipeline_scripts(step: dict[str, Any]) -> list[str]:
    if "script" in step or "bash" in step:
        return [str(step.get("script", step.get("bash")))]
    task = str(step.get("task", ""))
    inputs = step.get("inputs") or {}
    if task in ADO_INLINE_SCRIPT_TASKS and "inlineScript" in inputs:
        return [str(inputs["inlineScript"])]
    if task == "Bash@3" and "script" in inputs:
        return [str(inputs["script"])]
    return []


def pipeline_commands(path: Path, doc: dict[str, Any] | None = None) -> list[Command | Violation]:
    doc = load(path) if doc is None else doc
    found: list[Command | Violation] = []
    for stage, job_name, job in pipeline_jobs(doc):
        for index, step in enumerate(pipeline_steps(job)):
            where = (
                f"stage {stage!r} job {job_name!r} step {step.get('displayName') or index + 1!r}"
            )
            forbidden = ADO_FORBIDDEN_SCRIPT_KEYS & set(step)
            if forbidden or str(step.get("task", "")).startswith("PowerShell@"):
                found.append(
                    Violation(
                        path.name, where, "run-allow-list", "PowerShell steps: call invoke instead"
                    )
                )
            for script in _pipeline_scripts(step):
                for line in command_lines(script):
                    if "${{" in line or ("$(" in line and not _is_setup(line)):
                        found.append(
                            Violation(
                                path.name,
                                where,
                                "expression-in-run",
                                f"{line!r} pastes an expression or macro into the script; "
                                "read an environment variable instead",
                            )
                        )
                        continue
                    found.append(checked(path.name, where, line))
    return found


def _is_setup(line: str) -> bool:
    return any(pattern.fullmatch(line) for pattern in ALLOWED_SETUP_LINES.values())


def _stage_upstream(doc: dict[str, Any], stage_name: str) -> set[str]:
    stages = {str(s.get("stage")): s for s in doc.get("stages") or []}
    order = list(stages)
    seen: set[str] = set()
    pending = [stage_name]
    while pending:
        current = stages.get(pending.pop())
        if current is None:
            continue
        depends = current.get("dependsOn")
        if depends is None:  # Azure DevOps: by default a stage depends on the one before it
            position = order.index(str(current.get("stage")))
            depends = order[position - 1 : position] if position else []
        for name in [depends] if isinstance(depends, str) else depends:
            if name not in seen:
                seen.add(name)
                pending.append(name)
    return seen


def _pipeline_step_violations(
    name: str, where: str, step: dict[str, Any], published: dict[str, set[str]], upstream: set[str]
) -> list[Violation]:
    found = []
    if "checkout" in step and str(step.get("persistCredentials", "false")).lower() != "false":
        found.append(
            Violation(
                name,
                where,
                "persist-credentials",
                "checkout with persistCredentials: the token stays for every later step",
            )
        )
    task = step.get("task")
    if task is not None and not ADO_TASK.match(str(task)):
        found.append(Violation(name, where, "pin-task", f"task {task!r} names no major version"))
    if task == "DownloadPipelineArtifact@2":
        wanted = str((step.get("inputs") or {}).get("artifactName"))
        if not published.get(wanted, set()) & upstream:
            found.append(
                Violation(
                    name,
                    where,
                    "artifact",
                    f"downloads artifact {wanted!r}, which no earlier stage publishes",
                )
            )
    return found


def check_pipeline_teams_webhook(path: Path, doc: dict[str, Any] | None = None) -> list[Violation]:
    doc = load(path) if doc is None else doc
    steps = []
    for stage, job_name, job in pipeline_jobs(doc):
        for index, step in enumerate(pipeline_steps(job)):
            env = step.get("env") or {}
            for script in _pipeline_scripts(step):
                for line in command_lines(script):
                    result = classify(line)
                    if not isinstance(result, str) and result[0] == "invoke":
                        where = (
                            f"stage {stage!r} job {job_name!r} step "
                            f"{step.get('displayName') or index + 1!r}"
                        )
                        steps.append((stage, where, env, result[1]))
    upstream = {
        str(s.get("stage")): _stage_upstream(doc, str(s.get("stage")))
        for s in doc.get("stages") or []
    }
    return _webhook_violations(path.name, steps, upstream, f"$({TEAMS_WEBHOOK})")


def check_azure_pipeline(path: Path) -> list[Violation]:
    doc = load(path)
    name = path.name
    found: list[Violation] = []
    published: dict[str, set[str]] = {}
    for stage, _job_name, job in pipeline_jobs(doc):
        for step in pipeline_steps(job):
            if step.get("task") == "PublishPipelineArtifact@1":
                artifact = str((step.get("inputs") or {}).get("artifact"))
                published.setdefault(artifact, set()).add(stage)
    for stage, job_name, job in pipeline_jobs(doc):
        where = f"stage {stage!r} job {job_name!r}"
        if "timeoutInMinutes" not in job:
            found.append(
                Violation(name, where, "timeout", "no timeoutInMinutes (the default is 60)")
            )
        upstream = _stage_upstream(doc, stage)
        for step in pipeline_steps(job):
            found += _pipeline_step_violations(name, where, step, published, upstream)
    found.extend(item for item in pipeline_commands(path, doc) if isinstance(item, Violation))
    found.extend(check_pipeline_teams_webhook(path, doc))
    return found


# --- what the files call ---------------------------------------------------------------------


def commands(paths: Iterable[Path]) -> list[Command]:
    found: list[Command] = []
    for path in paths:
        items = (
            pipeline_commands(path) if path.name == "azure-pipelines.yml" else github_commands(path)
        )
        found.extend(item for item in items if isinstance(item, Command))
    return found


def nox_sessions_named(argv: tuple[str, ...]) -> list[str]:
    """The sessions a `nox` command line runs (-s/--session/--sessions), strictly parsed."""
    parser = argparse.ArgumentParser(prog="nox", add_help=False, exit_on_error=False)
    parser.add_argument("-s", "--session", "--sessions", dest="sessions", nargs="+", default=[])
    parser.add_argument("-P", "--force-python", dest="force_python")
    parser.add_argument("-p", "--python", dest="python", nargs="+")
    try:
        parsed, unknown = parser.parse_known_args(list(argv))
    except argparse.ArgumentError as exc:
        raise ValueError(f"nox {' '.join(argv)}: {exc}") from exc
    if unknown:
        raise ValueError(f"nox {' '.join(argv)}: options this check does not know: {unknown}")
    return list(parsed.sessions)


def github_workflows() -> list[Path]:
    return sorted(WORKFLOWS_DIR.glob("*.y*ml"))


def check_invoke_calls(calls: Iterable[Command], collection: Any) -> list[Violation]:
    """Each `invoke` line parses against the collection: the task exists and has those flags."""
    from invoke.parser import ParseError, Parser

    parser = Parser(contexts=collection.to_contexts())
    found = []
    for call in calls:
        if call.program != "invoke":
            continue
        try:
            parsed = parser.parse_argv(list(call.argv))
        except ParseError as exc:
            found.append(
                Violation(
                    call.file, call.where, "invoke-task", f"invoke {' '.join(call.argv)}: {exc}"
                )
            )
            continue
        if len(parsed) != 1:
            found.append(
                Violation(
                    call.file,
                    call.where,
                    "invoke-task",
                    f"invoke {' '.join(call.argv)} runs {len(parsed)} tasks: one task a line",
                )
            )
    return found


def check_nox_calls(calls: Iterable[Command], sessions: Iterable[str]) -> list[Violation]:
    """Each `nox` line names only sessions the noxfile defines."""
    known = set(sessions)
    found = []
    for call in calls:
        if call.program != "nox":
            continue
        try:
            named = nox_sessions_named(call.argv)
        except ValueError as exc:
            found.append(Violation(call.file, call.where, "nox-session", str(exc)))
            continue
        if not named:
            found.append(
                Violation(call.file, call.where, "nox-session", "nox without -s runs every session")
            )
        for session in named:
            if session not in known:
                found.append(
                    Violation(
                        call.file,
                        call.where,
                        "nox-session",
                        f"nox session {session!r} is not in noxfile.py "
                        f"(sessions: {', '.join(sorted(known))})",
                    )
                )
    return found
