"""The environment a task acts on, from infra/env.yaml, or one kind of error for every task."""

from __future__ import annotations

from pathlib import Path

from invoke.exceptions import Exit

from ops import envconfig

# Bad input on the command line (an unknown --env, a missing one, an invalid env.yaml): the same
# code from every task, so scripts and CI can tell "you asked for something wrong" (2) from
# "what you asked for failed" (1).
BAD_INPUT = 2
ENV_HELP = "environment in infra/env.yaml (local, dev, prod)"
# The one variable (a CI secret) that holds the team channel's Teams Workflows URL, read by
# monitoring.install, preflight and tf.* (Terraform's Azure Monitor action group).
TEAMS_WEBHOOK_VARIABLE = "TEAMS_WEBHOOK_URL"


def known(path: Path | None = None) -> list[str]:
    """The environments env.yaml defines, sorted; an Exit if the file itself is broken."""
    try:
        return sorted(envconfig.load_all(path or envconfig.ENV_FILE))
    except envconfig.EnvConfigError as exc:
        raise Exit(str(exc), code=BAD_INPUT) from exc


def load(name: str, path: Path | None = None) -> envconfig.Environment:
    """One environment, validated; an Exit naming the known ones when `name` is empty or unknown."""
    env_file = path or envconfig.ENV_FILE
    if not name:
        choices = ", ".join(known(env_file))
        raise Exit(
            f"no environment chosen; pass --env NAME (known environments: {choices})",
            code=BAD_INPUT,
        )
    try:
        return envconfig.load(name, env_file)
    except envconfig.EnvConfigError as exc:
        raise Exit(str(exc), code=BAD_INPUT) from exc


def require_azure(environment: envconfig.Environment) -> envconfig.Azure:
    """The azure block of an environment, or an Exit saying it runs locally."""
    if environment.azure is None:
        raise Exit(
            f"environment {environment.name!r} has no azure block in infra/env.yaml (it runs "
            "locally); choose one that deploys to Azure, e.g. --env dev",
            code=BAD_INPUT,
        )
    return environment.azure
