"""The environment a command acts on, resolved once: `Target.resolve(c, env)`.

Every task is a thin shim: it resolves its Target from `--env` and calls a plain function of the
Target in its area, named after the task (`tf.plan_for(target)`, `k8s.apply_for(target,
image=...)`, ...); `invoke deploy` resolves one Target and hands it to every step, so env.yaml is
read once per `invoke` command and nothing turns the environment back into a string on the way
to kubectl.

    target.environment   the typed Environment (ops/envconfig.py), validated
    target.state         its state files (ops/core/state.py, .data/<env>/...)
    target.settings      every invoke setting, typed (ops/core/settings.py)
    target.kube()        where kubectl and helm act (ops/core/kube.py)
    target.runner         runs every external program (ops/core/run.py), made from the context
    target.context       the invoke Context of the task (config, and what a Runner runs through)

The one `--env` convention: every task that acts on an environment takes `--env NAME` and has no
default (a deploy, a plan or an apply never guesses); a missing or unknown name is the same Exit
from every task, code 2, naming the environments env.yaml knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit

from ops import envconfig
from ops.core import kube
from ops.core.environments import BAD_INPUT, require_azure
from ops.core.run import Runner
from ops.core.settings import Settings
from ops.core.state import EnvState


def load_environments(path: Path) -> dict[str, envconfig.Environment]:
    """Every environment of env.yaml, validated; an Exit (code 2) if the file is broken."""
    try:
        return envconfig.load_all(path)
    except envconfig.EnvConfigError as exc:
        raise Exit(str(exc), code=BAD_INPUT) from exc


def choose(name: str, environments: dict[str, envconfig.Environment]) -> envconfig.Environment:
    """The environment called `name`, or the one Exit for a missing or unknown --env."""
    known = ", ".join(sorted(environments))
    if not name:
        raise Exit(
            f"no environment chosen; pass --env NAME (known environments: {known})",
            code=BAD_INPUT,
        )
    if name not in environments:
        raise Exit(f"unknown environment {name!r}; known environments: {known}", code=BAD_INPUT)
    return environments[name]


@dataclass(frozen=True)
class Target:
    """One environment, resolved: what every area function acts on."""

    environment: envconfig.Environment
    state: EnvState
    settings: Settings
    context: Context
    # Area code runs every external program through this, never c.run of a string.
    runner: Runner

    @classmethod
    def resolve(cls, c: Context, env: str) -> Target:
        """Read the settings and env.yaml once, choose `env`, and name its state."""
        settings = Settings.read(c.config)
        environment = choose(env, load_environments(settings.env_file))
        return cls.of(c, environment, settings)

    @classmethod
    def of(
        cls, c: Context, environment: envconfig.Environment, settings: Settings | None = None
    ) -> Target:
        """A Target for an environment already loaded (a test's own, a sandbox's)."""
        return cls(
            environment=environment,
            state=EnvState.of(environment.name, c),
            settings=settings or Settings.read(c.config),
            context=c,
            runner=Runner(c),
        )

    @property
    def name(self) -> str:
        return self.environment.name

    def require_azure(self) -> envconfig.Azure:
        """The azure block, or an Exit saying this environment runs locally."""
        return require_azure(self.environment)

    def kube(self, *, context: str = "") -> kube.KubeTarget:
        """Where kubectl and helm act, composed now: an earlier step (deploy's credentials stage,
        sandbox.cluster-start) may just have written the kubeconfig."""
        return kube.for_environment(
            self.environment, self.state, self.settings.k8s, context=context
        )
