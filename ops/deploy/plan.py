"""What a deploy does, as data: stages of steps, each step the task or command it equals.

The plan is built once per run, for the deploy's one Target, and both shown (the summary,
--dry-run) and executed (runner.py): a step shows the `invoke` line a person would type and calls
the function that task calls, with the same Target (no task is looked up by name).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

from ops import azure, image, k8s, monitoring, sandbox, tf
from ops.core.environments import BAD_INPUT
from ops.core.kube import KUBECTL_CALL_TIMEOUT_S
from ops.core.run import Runner
from ops.core.target import Target
from ops.deploy import checks
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
# az aks get-credentials and kubelogin convert: one call to Azure, or none.
CREDENTIALS_TIMEOUT_S = 120


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


def task_step(task: str, target: Target, run: Callable[[], None], **flags: Any) -> Step:
    """Another area's function, called with the deploy's Target, shown as the `invoke` line of
    the task that calls the same function (`--env` first, then `flags`)."""
    shown = [
        f"--{key.replace('_', '-')}" + ("" if value is True else f" {value}")
        for key, value in flags.items()
    ]
    command = " ".join(["invoke", task, "--env", target.name, *shown])
    return Step(command, lambda _c: run())


def command_step(argv: list[str], *, timeout: float) -> Step:
    """A program run as shown, its output shown as it comes."""

    def call(c: Context) -> None:
        Runner(c).run(argv, timeout=timeout, hide=False)

    return Step(shlex.join(argv), call)


def kubectl_step(target: Target, *args: str) -> Step:
    """kubectl against the environment's cluster, composed when it runs: an earlier step may
    just have written the kubeconfig."""

    def call(c: Context) -> None:
        target.runner.run(
            target.kube().kubectl_argv(*args, namespace=None),
            timeout=KUBECTL_CALL_TIMEOUT_S,
            hide=False,
        )

    return Step(" ".join(["kubectl", *args]), call)


def check_step(shown: str, check: Callable[[Target], None], target: Target) -> Step:
    """A check of deploy's own (ops/deploy/checks.py), described in words, on the deploy's
    Target."""
    return Step(shown, lambda _c: check(target), is_command=False)


def image_steps(target: Target) -> tuple[Step, ...]:
    """The image stage's work wherever it runs: a scan that fails stops the push. Each function
    is looked up on ops.image when the step runs (tests put fakes there: no Docker SDK)."""
    return (
        task_step("image.build", target, lambda: image.build_for(target)),
        task_step("image.scan", target, lambda: image.scan_for(target)),
        task_step("image.push", target, lambda: image.push_for(target)),
        task_step("image.sign", target, lambda: image.sign_for(target)),
    )


def verified_apply_steps(target: Target) -> tuple[Step, Step]:
    """`image.verify`, then `k8s.apply` of exactly the reference it verified, handed over in this
    process: the image record is not read again, so a push between the two cannot slip another
    digest in."""
    name = target.name
    verified: list[str] = []

    def verify(_c: Context) -> None:
        try:
            record = image.verify_pushed(target)
        except image.ImageError as exc:
            raise Exit(f"image: {exc}", code=1) from exc
        verified[:] = [Image(record.repository, record.tag or None, record.digest).reference]
        print(f"verified {verified[0]}: signature and SBOM")

    def apply(c: Context) -> None:
        if not verified:
            raise Exit("deploy: k8s.apply ran before image.verify checked an image", code=1)
        k8s.apply_verified(target, verified[0])

    return (
        Step(f"invoke image.verify --env {name}", verify),
        Step(f"invoke k8s.apply --env {name} --image <the digest image.verify checked>", apply),
    )


def local_plan(target: Target) -> list[Stage]:
    environment, name = target.environment, target.name
    return [
        Stage("terraform", "Azure infrastructure", skipped="local runs on this machine"),
        Stage(
            "image",
            f"build, scan and push the app image to {environment.registry.login_server}",
            (
                # Looked up when the step runs, like every step's function.
                Step("invoke sandbox.start", lambda c: sandbox.start(c)),  # noqa: PLW0108
                *image_steps(target),
            ),
        ),
        Stage(
            "credentials",
            "the local cluster and its kubeconfig",
            (
                Step(
                    "invoke sandbox.cluster-start",
                    lambda c: sandbox.cluster.cluster_start(c),  # noqa: PLW0108
                ),
            ),
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
                *verified_apply_steps(target),
                task_step("k8s.rollout", target, lambda: k8s.rollout_for(target)),
                check_step(
                    f"kubectl get deployment {checks.DEPLOYMENT} (image = pushed digest)",
                    checks.check_deployment_image,
                    target,
                ),
                replace(
                    check_step(
                        f"GET http://<service {checks.DEPLOYMENT} ClusterIP>/readyz from inside "
                        "the node until 200",
                        checks.service_smoke_test,
                        target,
                    ),
                    rolls_back=True,
                ),
            ),
        ),
        Stage("dns", "DNS records", skipped="local: *.127.0.0.1.nip.io needs no records"),
    ]


def azure_plan(target: Target) -> list[Stage]:
    azure_env = target.require_azure()
    environment, kubeconfig = target.environment, target.state.kubeconfig
    group, cluster = azure_env.resource_group, azure_env.aks.cluster_name
    get_credentials = ["az", "aks", "get-credentials", "--resource-group", group, "--name", cluster]
    get_credentials += ["--file", str(kubeconfig), "--overwrite-existing"]
    convert = ["kubelogin", "convert-kubeconfig", "--login", "azurecli"]
    convert += ["--kubeconfig", str(kubeconfig)]
    return [
        Stage(
            "terraform",
            "plan, then apply exactly that saved plan",
            (
                task_step("tf.plan", target, lambda: tf.plan_for(target)),
                task_step("tf.apply", target, lambda: tf.apply_for(target)),
            ),
        ),
        Stage(
            "image",
            f"build, scan and push to {environment.registry.login_server}",
            image_steps(target),
        ),
        Stage(
            "credentials",
            f"Terraform outputs and a kubeconfig for {cluster}",
            (
                # Fetched here, not after apply: CI runs this stage in a job of its own.
                task_step("tf.output", target, lambda: tf.output_for(target, save=True), save=True),
                command_step(get_credentials, timeout=CREDENTIALS_TIMEOUT_S),
                command_step(convert, timeout=CREDENTIALS_TIMEOUT_S),
                kubectl_step(target, "version"),
            ),
        ),
        Stage(
            "entra",
            # After credentials: the federated credential trusts the cluster's OIDC issuer, a
            # Terraform output that stage saves.
            f"Entra ID app registration {azure_env.entra.unique_name}: roles, redirect URIs, "
            "assignments, federated credential",
            (task_step("azure.entra", target, lambda: azure.entra_for(target)),),
        ),
        Stage(
            "secrets",
            f"secrets present in Key Vault {azure_env.key_vault.name}, the alarms' Teams receiver "
            "set from it",
            (task_step("azure.secrets", target, lambda: azure.secrets_for(target)),),
        ),
        Stage(
            "addons",
            "cert-manager (pinned chart, CRDs included) for the ClusterIssuers and Certificate",
            (task_step("k8s.addons", target, lambda: k8s.addons_for(target)),),
        ),
        Stage(
            "monitoring",
            "kube-prometheus-stack, dashboards, Teams routing",
            (task_step("monitoring.install", target, lambda: monitoring.install_for(target)),),
        ),
        Stage(
            "kubernetes",
            "verify the image, apply, wait for the rollout, smoke-test; roll back on failure",
            (
                *verified_apply_steps(target),
                task_step("k8s.rollout", target, lambda: k8s.rollout_for(target)),
                # Issuance is the zone's and cert-manager's business, not the new revision's:
                # waiting for it rolls nothing back.
                check_step(
                    f"kubectl get certificate {checks.APP_CERTIFICATE} until Ready",
                    checks.certificate_ready,
                    target,
                ),
                replace(
                    check_step(
                        f"HTTPS GET https://{environment.app.hosts[0]}/readyz until 200",
                        checks.https_smoke_test,
                        target,
                    ),
                    rolls_back=True,
                ),
            ),
        ),
        Stage(
            "dns",
            f"records in {azure_env.dns.zone} for the app and the exposed monitoring hosts",
            (task_step("azure.dns", target, lambda: azure.dns_for(target)),),
        ),
    ]


def plan(target: Target) -> list[Stage]:
    """Every stage for this environment, with its steps or the reason it is skipped."""
    return local_plan(target) if target.environment.is_local else azure_plan(target)


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
