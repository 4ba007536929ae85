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
nox.options.sessions = ["lint", "typecheck", "security", "tests", "image"]

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


@nox.session(python=PYTHON)
def image(session: nox.Session) -> None:
    """Build, scan, run and push the app image on a real Docker engine and local registry."""
    install_groups(session, "image", "test")
    # The tests start the sandbox engine and registry (ops/sandbox.py) if they are not running.
    session.run("pytest", "tests/image", *session.posargs, env=ci_env())
