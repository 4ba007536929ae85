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
nox.options.sessions = ["lint", "typecheck", "security", "tests", "monitoring"]

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


def _missing_tools(*names: str) -> list[str]:
    """Tools ops.toolchain cannot find (loaded by path: nox runs outside the project's venv)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_toolchain", ROOT / "ops" / "toolchain.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {ROOT / 'ops' / 'toolchain.py'}")
    toolchain = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(toolchain)
    return [name for name in names if toolchain.find(name) is None]


@nox.session(python=PYTHON)
def monitoring(session: nox.Session) -> None:
    """Rules and promtool tests, dashboards' PromQL, Alertmanager routes, loopback to Teams."""
    missing = _missing_tools("promtool", "prometheus", "amtool", "alertmanager")
    if missing:
        reason = f"{', '.join(missing)} not installed (scripts/bootstrap --system)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            session.error(f"CI must run the monitoring checks, but {reason}")
        session.skip(reason)
    install_groups(session, "monitoring")
    # Fails naming each bad file: rule syntax and policy, promtool tests, dashboards, routes.
    session.run("python", "-m", "ops.monitoring", "check")
    session.run("pytest", "tests/monitoring", *session.posargs, env=ci_env())
