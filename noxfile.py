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
nox.options.sessions = ["lint", "typecheck", "security", "tests", "manifests"]

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
        session.run("invoke", "k8s.lint", *args, env=ci_env(INVOKE_K8S_STATE_DIR=state_dir))
    session.run("pytest", "tests/manifests", *session.posargs, env=ci_env())
