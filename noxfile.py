"""CI's entry point: `nox` runs every session below, the same on a laptop and in GitHub Actions.

Dependencies come from pyproject's dependency groups, pinned by uv.lock. Sessions that need a
real component (a Docker engine, an API server, Prometheus) find it through ops.toolchain; on a
laptop without it they skip with the reason, in CI (CI=true) they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.needs_version = ">=2026.10"
nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "security", "tests", "terraform"]

ROOT = Path(__file__).resolve().parent
PYTHON = "3.11"


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


def ci_env(**extra: str) -> dict[str, str]:
    env = {"CI": os.environ.get("CI", "")}
    env.update(extra)
    return env


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    install_groups(session, "lint")
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy with django-stubs."""
    install_groups(session, "typecheck")
    session.run("mypy", "app", "ops", "tasks.py", "noxfile.py", *session.posargs)


# Pinned here rather than in uv.lock: checkov's own pins would downgrade packaging, pytest and
# kubernetes for every other group, so it runs in an isolated `uv tool` environment.
CHECKOV = "checkov==3.3.30"


@nox.session(python=PYTHON)
def terraform(session: nox.Session) -> None:
    """Terraform: fmt, validate and test against the real azurerm provider, tflint, checkov."""
    cache = Path(os.environ.get("ORDERDESK_CACHE", Path.home() / ".cache" / "orderdesk"))
    program = cache / "bin" / "terraform"
    cli_config = cache / "terraform" / "terraformrc"
    tflint = cache / "bin" / "tflint"
    missing = [str(path) for path in (program, cli_config, tflint) if not path.is_file()]
    if missing:
        message = f"missing {', '.join(missing)}; run scripts/bootstrap --system"
        if os.environ.get("CI"):
            session.error(message)
        session.skip(message)
    install_groups(session, "test")
    env = ci_env(TF_CLI_CONFIG_FILE=str(cli_config), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    session.run(
        str(program), "fmt", "-check", "-recursive", "-diff", "infra", external=True, env=env
    )
    # validate + terraform test of the root and every module, plans of dev and prod, bad env.yaml
    # files, the tf.* tasks' commands: all in the area's pytest suite.
    session.run("pytest", "tests/terraform", *session.posargs, env=env)
    session.run(
        str(tflint),
        "--chdir=infra",
        "--recursive",
        "--config",
        str(ROOT / "infra" / ".tflint.hcl"),
        external=True,
    )
    session.run(
        "uv",
        "tool",
        "run",
        "--from",
        CHECKOV,
        "checkov",
        "--directory",
        "infra",
        "--framework",
        "terraform",
        "--skip-download",
        "--compact",
        "--quiet",
        external=True,
    )
