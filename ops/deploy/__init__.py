"""`invoke deploy --env E`: one command from a laptop (or CI) to a running, monitored cluster.

    invoke deploy --env prod --dry-run        every step, in order; runs none
    invoke deploy --env dev                   preflight, summary, then the stages below
    invoke deploy --env dev --only addons,monitoring,kubernetes
    invoke status --env dev                   what is deployed, its health, the last deploy
    invoke destroy --env dev                  guarded: plan -destroy, confirm, apply

Stages, in order: terraform -> image -> credentials -> entra -> secrets -> addons -> monitoring
-> kubernetes -> dns (the CRDs the manifests use exist before they are applied).
A stage is a short list of steps (plan.py); most steps are the functions the other areas' tasks
call (`tf.plan`, `image.push`, `k8s.apply`, ...), called in this process with the deploy's one
Target (ops/core/target.py: env.yaml read once), so what deploy runs is exactly what a person or a
workflow can run by hand, and a test with invoke's MockContext sees every command. Every stage is
idempotent: after a failure, fix the cause and run the same command again (or `--only` the stages
that are left).

    plan.py       the stages and steps, as data
    runner.py     running them: progress, the deploy record, one rollback
    preflight.py  tools, git and Azure login, checked before anything changes
    checks.py     deploy's own checks: the pushed digest runs, the app answers over HTTPS
"""

from __future__ import annotations

import sys

from invoke import task
from invoke.context import Context
from invoke.exceptions import Exit

from ops import tf
from ops.core import state
from ops.core.environments import ENV_HELP
from ops.core.target import Target
from ops.deploy import plan, preflight, runner
from ops.k8s import report, watch

STAGES = plan.STAGES


@task(
    name="deploy",
    help={
        "env": ENV_HELP,
        "dry_run": "print every step in order; run none (needs no Azure login)",
        "only": f"comma-separated stages to run ({', '.join(STAGES)})",
        "skip": "comma-separated stages to leave out",
        "allow_dirty": "deploy a working tree with uncommitted changes",
        "preflight_only": "run only the preflight checks (CI's first job: fail before any change)",
    },
)
def deploy(  # noqa: PLR0917 - invoke maps each parameter to a flag
    c: Context,
    env: str = "",
    dry_run: bool = False,
    only: str = "",
    skip: str = "",
    allow_dirty: bool = False,
    preflight_only: bool = False,
) -> None:
    """Deploy an environment: preflight, summary, then every stage in order."""
    target = Target.resolve(c, env)
    environment = target.environment
    stages = plan.select(plan.plan(target), only, skip)
    sha = preflight.preflight(
        c,
        environment,
        stages,
        allow_dirty=allow_dirty,
        dry_run=dry_run,
        preflight_only=preflight_only,
    )
    if preflight_only:
        runner.console.print(f"preflight: deploy --env {environment.name} can start")
        return
    runner.describe(stages, environment, sha)
    if dry_run:
        runner.console.print("dry run: nothing was run")
        return
    runner.execute(target, stages, sha)


@task(help={"env": ENV_HELP})
def status(c: Context, env: str = "") -> None:
    """What is deployed to an environment: the last deploy, the Deployment, objects, revisions."""
    target = Target.resolve(c, env)
    environment, latest = target.environment, target.state.last_deploy
    try:
        record = state.read_json(latest, f"invoke deploy --env {environment.name}")
    except state.StateMissing:
        print(f"last deploy: none recorded in {latest}")
    else:
        print(f"last deploy: {runner.describe_record(record)}")
    cluster = watch.connect(target.kube())
    cluster.server_minor()  # unreachable: an Exit naming the fix
    print("\n".join(report.describe_deployment(cluster, runner.RECORD_ANNOTATION)))


@task(help={"env": ENV_HELP, "yes": "skip the typed confirmation (CI, after its own gate)"})
def destroy(c: Context, env: str = "", yes: bool = False) -> None:
    """Tear an environment down (guarded: plan -destroy, typed confirmation, then apply)."""
    target = Target.resolve(c, env)
    environment = target.environment
    if not environment.is_local:
        tf.destroy_for(target, yes=yes)
        return
    namespace = environment.kubernetes.namespace
    if not yes:
        if not sys.stdin.isatty():
            raise Exit("destroy: refusing without a typed confirmation; pass --yes", code=2)
        answer = input(
            f"Delete namespace {namespace} from the local cluster? Type '{env}' to confirm: "
        )
        if answer.strip() != env:
            raise Exit("destroy: not confirmed; nothing was deleted", code=1)
    target.runner.run(
        target.kube().kubectl_argv(
            "delete", "namespace", namespace, "--ignore-not-found", "--wait=false", namespace=None
        ),
        # --wait=false: the API server accepts the deletion at once and finishes it behind.
        timeout=60,
        hide=False,
    )


# The everyday entry points: tasks.py puts them at the top of `invoke --list`.
tasks = (deploy, status, destroy)
