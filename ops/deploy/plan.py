"""What a deploy does, as data: stages of steps, each step the task or command it equals.

The plan is built once per run and both shown (the summary, --dry-run) and executed (runner.py):
the command a step shows is the one it runs, in this process, with the same invoke context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

from ops import azure, image, k8s, monitoring, sandbox, tf
from ops.core import environments, kube, state
from ops.core.environments import BAD_INPUT
from ops.deploy import checks
from ops.envconfig import Environment
from ops.k8s.values import Image

# The add-ons and monitoring come before kubernetes: the manifests hold cert-manager objects and
# a ServiceMonitor, and an API server refuses kinds whose CRDs are not there yet, so on an empty
# cluster the other order fails (tests/deploy/test_addons.py proves both on a real cluster).
STAGES = (
    "terraform",
    "image",
    "credentials",
    "entra",
    "secrets",
    "addons",
    "monitoring",
    "kubernetes",
    "dns",
)


@dataclass(frozen=True)
class Step:
    """One thing a stage does: `command` is what a person would type to do the same by hand."""

    command: str
    call: Callable[[Context], None]
    # False for a check described in words (no command line does exactly that).
    is_command: bool = True
    # A failure here leaves a new revision running that did not prove healthy: roll it back.
    # (A failed `k8s.rollout` has already rolled back; never undo twice.)
    rolls_back: bool = False


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str
    steps: tuple[Step, ...] = ()
    skipped: str = ""


def invoke_step(area: str, module: ModuleType, task_name: str, **options: Any) -> Step:
    """Call another area's task in this process, shown as the `invoke` line that does the same.

    The task is looked up when the step runs, not when the plan is built.
    """
    flags = [
        f"--{key.replace('_', '-')}" + ("" if value is True else f" {value}")
        for key, value in options.items()
    ]
    command = " ".join(["invoke", f"{area}.{task_name.replace('_', '-')}", *flags])

    def call(c: Context) -> None:
        getattr(module, task_name)(c, **options)

    return Step(command, call)


def command_step(command: str) -> Step:
    """A command line run as shown."""

    def call(c: Context) -> None:
        c.run(command)

    return Step(command, call)


def kubectl_step(environment: Environment, *args: str) -> Step:
    """kubectl against the environment's cluster, composed when it runs: an earlier step may
    just have written the kubeconfig."""

    def call(c: Context) -> None:
        c.run(kube.target(c, environment).kubectl(*args, namespace=None))

    return Step(" ".join(["kubectl", *args]), call)


def check_step(shown: str, check: Callable[[Context, Environment], None], env: Environment) -> Step:
    """A check of deploy's own (ops/deploy/checks.py), described in words."""
    return Step(shown, lambda c: check(c, env), is_command=False)


def image_steps(env: str) -> tuple[Step, ...]:
    """The image stage's work wherever it runs: a scan that fails stops the push."""
    return tuple(
        invoke_step("image", image, task, env=env) for task in ("build", "scan", "push", "sign")
    )


def verified_apply_steps(environment: Environment) -> tuple[Step, Step]:
    """`image.verify`, then `k8s.apply` of exactly the reference it verified, handed over in this
    process: the image record is not read again, so a push between the two cannot slip another
    digest in."""
    name = environment.name
    verified: list[str] = []

    def verify(c: Context) -> None:
        try:
            record = image.verify_pushed(c, environment)
        except image.ImageError as exc:
            raise Exit(f"image: {exc}", code=1) from exc
        verified[:] = [Image(record.repository, record.tag or None, record.digest).reference]
        print(f"verified {verified[0]}: signature and SBOM")

    def apply(c: Context) -> None:
        if not verified:
            raise Exit("deploy: k8s.apply ran before image.verify checked an image", code=1)
        k8s.apply_verified(c, name, verified[0])

    return (
        Step(f"invoke image.verify --env {name}", verify),
        Step(f"invoke k8s.apply --env {name} --image <the digest image.verify checked>", apply),
    )


def local_plan(environment: Environment) -> list[Stage]:
    name = environment.name
    return [
        Stage("terraform", "Azure infrastructure", skipped="local runs on this machine"),
        Stage(
            "image",
            f"build, scan and push the app image to {environment.registry.login_server}",
            (invoke_step("sandbox", sandbox, "start"), *image_steps(name)),
        ),
        Stage(
            "credentials",
            "the local cluster and its kubeconfig",
            (invoke_step("sandbox", sandbox.cluster, "cluster_start"),),
        ),
        Stage("entra", "sign-in app registration", skipped="local: local accounts, no Entra ID"),
        Stage(
            "secrets",
            "app secrets",
            skipped=f"local: k8s.apply creates the Secret from .data/{name}/secrets (made once)",
        ),
        Stage(
            "addons",
            "cert-manager",
            skipped="local: the local overlay has no ingress, so no certificate to issue",
        ),
        Stage(
            "monitoring",
            "kube-prometheus-stack",
            skipped=(
                "local: the cluster runs no Prometheus operator; `nox -s monitoring` proves the "
                "rules, routes and dashboards against real Prometheus and Alertmanager"
            ),
        ),
        Stage(
            "kubernetes",
            "verify the image, apply, wait for the rollout, smoke-test through the Service; roll "
            "back on failure",
            (
                # First: a digest that does not verify never reaches the cluster.
                *verified_apply_steps(environment),
                invoke_step("k8s", k8s, "rollout", env=name),
                check_step(
                    f"kubectl get deployment {checks.DEPLOYMENT} (image = pushed digest)",
                    checks.check_deployment_image,
                    environment,
                ),
                replace(
                    check_step(
                        f"GET http://<service {checks.DEPLOYMENT} ClusterIP>/readyz from inside "
                        "the node until 200",
                        checks.service_smoke_test,
                        environment,
                    ),
                    rolls_back=True,
                ),
            ),
        ),
        Stage("dns", "DNS records", skipped="local: *.127.0.0.1.nip.io needs no records"),
    ]


def azure_plan(c: Context, environment: Environment) -> list[Stage]:
    azure_env = environments.require_azure(environment)
    name = environment.name
    kubeconfig = state.EnvState.of(name, c).kubeconfig
    group, cluster = azure_env.resource_group, azure_env.aks.cluster_name
    get_credentials = (
        f"az aks get-credentials --resource-group {group} --name {cluster} "
        f"--file {kubeconfig} --overwrite-existing"
    )
    convert = f"kubelogin convert-kubeconfig --login azurecli --kubeconfig {kubeconfig}"
    return [
        Stage(
            "terraform",
            "plan, then apply exactly that saved plan",
            (invoke_step("tf", tf, "plan", env=name), invoke_step("tf", tf, "apply", env=name)),
        ),
        Stage(
            "image",
            f"build, scan and push to {environment.registry.login_server}",
            image_steps(name),
        ),
        Stage(
            "credentials",
            f"Terraform outputs and a kubeconfig for {cluster}",
            (
                # Fetched here, not after apply: CI runs this stage in a job of its own.
                invoke_step("tf", tf, "output", env=name, save=True),
                command_step(get_credentials),
                command_step(convert),
                kubectl_step(environment, "version"),
            ),
        ),
        Stage(
            "entra",
            # After credentials: the federated credential trusts the cluster's OIDC issuer, a
            # Terraform output that stage saves.
            f"Entra ID app registration {azure_env.entra.unique_name}: roles, redirect URIs, "
            "assignments, federated credential",
            (invoke_step("azure", azure, "entra", env=name),),
        ),
        Stage(
            "secrets",
            f"secrets present in Key Vault {azure_env.key_vault.name}, the alarms' Teams receiver "
            "set from it",
            (invoke_step("azure", azure, "secrets", env=name),),
        ),
        Stage(
            "addons",
            "cert-manager (pinned chart, CRDs included) for the ClusterIssuers and Certificate",
            (invoke_step("k8s", k8s, "addons", env=name),),
        ),
        Stage(
            "monitoring",
            "kube-prometheus-stack, dashboards, Teams routing",
            (invoke_step("monitoring", monitoring, "install", env=name),),
        ),
        Stage(
            "kubernetes",
            "verify the image, apply, wait for the rollout, smoke-test; roll back on failure",
            (
                *verified_apply_steps(environment),
                invoke_step("k8s", k8s, "rollout", env=name),
                # Issuance is the zone's and cert-manager's business, not the new revision's:
                # waiting for it rolls nothing back.
                check_step(
                    f"kubectl get certificate {checks.APP_CERTIFICATE} until Ready",
                    checks.certificate_ready,
                    environment,
                ),
                replace(
                    check_step(
                        f"HTTPS GET https://{environment.app.hosts[0]}/readyz until 200",
                        checks.https_smoke_test,
                        environment,
                    ),
                    rolls_back=True,
                ),
            ),
        ),
        Stage(
            "dns",
            f"records in {azure_env.dns.zone} for the app and the exposed monitoring hosts",
            (invoke_step("azure", azure, "dns", env=name),),
        ),
    ]


def plan(c: Context, environment: Environment) -> list[Stage]:
    """Every stage for this environment, with its steps or the reason it is skipped."""
    return local_plan(environment) if environment.is_local else azure_plan(c, environment)


def select(stages: list[Stage], only: str, skip: str) -> list[Stage]:
    """Mark the stages left out by --only/--skip as skipped; unknown names are bad input."""

    def names(text: str, flag: str) -> set[str]:
        chosen = {name.strip() for name in text.split(",") if name.strip()}
        unknown = chosen - set(STAGES)
        if unknown:
            raise Exit(
                f"deploy: {flag} names unknown stage(s) {', '.join(sorted(unknown))}; "
                f"stages are: {', '.join(STAGES)}",
                code=BAD_INPUT,
            )
        return chosen

    wanted, unwanted = names(only, "--only"), names(skip, "--skip")
    if wanted and unwanted:
        raise Exit("deploy: use --only or --skip, not both", code=BAD_INPUT)
    return [
        stage
        if (not wanted or stage.name in wanted) and stage.name not in unwanted
        else Stage(stage.name, stage.summary, skipped=stage.skipped or "not selected")
        for stage in stages
    ]
