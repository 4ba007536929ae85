"""What every task says about environments: the bad-input code, the --env help, the azure block.

An environment is chosen and loaded in one place, ops/core/target.py (`Target.resolve`).
"""

from __future__ import annotations

from invoke.exceptions import Exit

from ops import envconfig

# Bad input on the command line (an unknown --env, a missing one, an invalid env.yaml): the same
# code from every task, so scripts and CI can tell "you asked for something wrong" (2) from
# "what you asked for failed" (1).
BAD_INPUT = 2
ENV_HELP = "environment in infra/env.yaml (local, dev, prod); required"
# The one variable (a CI secret) that holds the team channel's Teams Workflows URL, read by
# monitoring.install, preflight and tf.* (Terraform's Azure Monitor action group).
TEAMS_WEBHOOK_VARIABLE = "TEAMS_WEBHOOK_URL"


def require_azure(environment: envconfig.Environment) -> envconfig.Azure:
    """The azure block of an environment, or an Exit saying it runs locally."""
    if environment.azure is None:
        raise Exit(
            f"environment {environment.name!r} has no azure block in infra/env.yaml (it runs "
            "locally); choose one that deploys to Azure, e.g. --env dev",
            code=BAD_INPUT,
        )
    return environment.azure
