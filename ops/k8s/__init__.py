"""Kubernetes tasks: render the overlays with their values, check them, and roll them out.

    invoke k8s.render  --env prod [--image REF] [--tf-outputs FILE] [--output FILE|-]
    invoke k8s.lint    --env prod        # render + checkov + kube-score
    invoke k8s.diff    --env prod        # what apply would change (server-side dry run)
    invoke k8s.apply   --env prod
    invoke k8s.rollout --env prod        # wait; on failure: events, logs, roll back
    invoke k8s.rollback --env prod [--revision N]
    invoke k8s.addons --env prod         # cert-manager (pinned chart), before the first apply
    invoke k8s.open --env local [--port 8080]  # port-forward the Service, print its URL

Every task that touches a cluster renders and validates first: a broken overlay stops before any
request is sent. Each task resolves its Target (ops/core/target.py) and calls the function of the
same name with `_for` (`apply_for(target, image=...)`), which deploy calls too. Values come from
infra/env.yaml, the Terraform outputs (.data/<env>/tf-outputs.json, written by `invoke tf.output`)
and the pushed image (.data/<env>/image.json, written by `invoke image.push`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from invoke import Collection, task
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.runners import Result

from ops import envconfig, toolchain
from ops.core.environments import ENV_HELP
from ops.core.target import Target
from ops.image import ImageError, signing
from ops.k8s import cert_manager, revisions
from ops.k8s import render as rendering
from ops.k8s.cluster import APP, DEPLOYMENT, Kubectl, RolloutFailed
from ops.k8s.validate import SchemaError, validate
from ops.k8s.values import (
    RenderValues,
    ValuesError,
    image_from_record,
    load_tf_outputs,
    parse_image,
)

IMAGE_HELP = (
    "image <repository>:<tag>@sha256:<digest>, or :<tag>@sha256:<digest> for env.yaml's "
    "repository (default: .data/<env>/image.json)"
)
TF_HELP = "Terraform outputs JSON (default: .data/<env>/tf-outputs.json; unused for local)"


def render_checked(
    target: Target, image: str = "", tf_outputs: str = ""
) -> tuple[envconfig.Environment, rendering.Rendered]:
    """Render the environment's overlay and validate it; any problem is an Exit naming the file."""
    environment, files, env = target.environment, target.state, target.name
    manifests_dir = Path(target.settings.k8s.manifests_dir or rendering.MANIFESTS_DIR)
    try:
        if image.startswith((":", "@")):
            image = environment.app.image_repository + image
        pinned = parse_image(image) if image else image_from_record(files.image_record)
        outputs: dict[str, Any] = {}
        if not environment.is_local:
            outputs = load_tf_outputs(Path(tf_outputs) if tf_outputs else files.tf_outputs)
        values = RenderValues.gather(environment, pinned, outputs)
        rendered = rendering.render(values, manifests_dir)
        problems = validate(rendered, environment.kubernetes.version)
    except toolchain.ToolMissing as exc:
        raise Exit(f"{exc}", code=1) from exc
    except (ValuesError, rendering.RenderError, SchemaError) as exc:
        raise Exit(f"k8s.render --env {env}: {exc}", code=1) from exc
    if problems:
        listing = "\n".join(f"  {problem}" for problem in problems)
        raise Exit(
            f"k8s.render --env {env}: the rendered manifests are not valid for Kubernetes "
            f"{environment.kubernetes.version}:\n{listing}\nFix these fields in the files named; "
            "nothing was sent to a cluster.",
            code=1,
        )
    return environment, rendered


def _write(target: Target, rendered: rendering.Rendered, output: str = "") -> Path:
    path = Path(output) if output else target.state.manifests
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rendered.yaml(), encoding="utf-8")
    return path


def _kubectl(target: Target, *, context: str = "") -> Kubectl:
    return Kubectl(target.context, target.kube(context=context))


@task(help={"env": ENV_HELP, "image": IMAGE_HELP, "tf_outputs": TF_HELP, "output": "file or -"})
def render(
    c: Context, env: str = "", image: str = "", tf_outputs: str = "", output: str = ""
) -> None:
    """Render and validate an overlay with env.yaml, Terraform and image values (no cluster)."""
    target = Target.resolve(c, env)
    _, rendered = render_checked(target, image, tf_outputs)
    if output == "-":
        sys.stdout.write(rendered.yaml())
        return
    path = _write(target, rendered, output)
    print(f"rendered {len(rendered.documents)} objects for {env} into {path}")


# checkov reads every document with all its checks: about a minute on a slow machine.
SCANNER_TIMEOUT_S = 300


def _run_scanner(target: Target, command: list[str], name: str) -> Result:
    """The scanner's result whatever it exits with: its findings are read from the output."""
    result = target.runner.run(command, timeout=SCANNER_TIMEOUT_S, warn=True)
    if result.exited == 127:
        raise Exit(f"{name} is not installed; run scripts/bootstrap --system", code=1)
    return result


@task(help={"env": ENV_HELP, "image": IMAGE_HELP, "tf_outputs": TF_HELP})
def lint(c: Context, env: str = "", image: str = "", tf_outputs: str = "") -> None:
    """Render, validate, then checkov and kube-score: zero findings, exceptions annotated."""
    target = Target.resolve(c, env)
    environment, rendered = render_checked(target, image, tf_outputs)
    path = _write(target, rendered)
    scan = _run_scanner(
        target,
        [
            *toolchain.checkov_command(),
            "--file",
            str(path),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--output",
            "json",
            "--quiet",
        ],
        "checkov",
    )
    failures = _checkov_failures(scan)
    try:
        kube_score = toolchain.require("kube-score")
    except toolchain.ToolMissing as exc:
        raise Exit(str(exc), code=1) from exc
    score = _run_scanner(
        target,
        [
            kube_score,
            "score",
            "--output-format=ci",
            f"--kubernetes-version=v{environment.kubernetes.version}",
            "--exit-one-on-warning",
            str(path),
        ],
        "kube-score",
    )
    findings = [
        line for line in score.stdout.splitlines() if line.startswith(("[CRITICAL]", "[WARNING]"))
    ]
    if score.exited != 0 and not findings:
        findings = [score.stderr.strip() or score.stdout.strip()]
    problems = [f"checkov {item}" for item in failures] + [f"kube-score {f}" for f in findings]
    if problems:
        listing = "\n".join(f"  {problem}" for problem in problems)
        raise Exit(
            f"k8s.lint --env {env}: {len(problems)} finding(s) in {path}:\n{listing}\n"
            "Fix them, or annotate the resource with the check id and why it does not apply.",
            code=1,
        )
    print(f"k8s.lint --env {env}: checkov and kube-score found nothing in {path}")


def _checkov_failures(scan: Result) -> list[str]:
    try:
        report = json.loads(scan.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise Exit(f"checkov failed: {scan.stderr.strip() or scan.stdout[:500]}", code=1) from exc
    reports = report if isinstance(report, list) else [report]
    failures = []
    for item in reports:
        if not isinstance(item, dict):
            continue
        for check in item.get("results", {}).get("failed_checks", []):
            failures.append(f"{check['check_id']} {check['resource']}: {check['check_name']}")
    if scan.exited not in (0, 1) or (scan.exited == 1 and not failures):
        raise Exit(f"checkov failed ({scan.exited}): {scan.stderr.strip()[-500:]}", code=1)
    return failures


def _ready_to_send(
    target: Target, image: str, tf_outputs: str
) -> tuple[envconfig.Environment, Path, Kubectl]:
    """Render and validate, write the manifests, and check the cluster's version: all before
    diff or apply sends anything."""
    environment, rendered = render_checked(target, image, tf_outputs)
    path = _write(target, rendered)
    kubectl = _kubectl(target)
    kubectl.require_version()
    return environment, path, kubectl


@task(help={"env": ENV_HELP, "image": IMAGE_HELP, "tf_outputs": TF_HELP})
def diff(c: Context, env: str = "", image: str = "", tf_outputs: str = "") -> None:
    """Show what apply would change in the cluster (server-side dry run)."""
    environment, path, kubectl = _ready_to_send(Target.resolve(c, env), image, tf_outputs)
    result = kubectl.run("diff", f"--filename={path}", warn=True, namespaced=False)
    # kubectl diff: 0 no differences, 1 differences (printed above), anything else failed.
    if result.exited == 0:
        print(f"k8s.diff --env {env}: the cluster matches the manifests")
    elif result.exited == 1:
        print(f"k8s.diff --env {env}: apply would make the changes above")
    elif f'namespaces "{environment.kubernetes.namespace}" not found' in result.stderr:
        print(f"k8s.diff --env {env}: namespace {environment.kubernetes.namespace} does not exist")
        print("apply would create every object in the manifests")
    else:
        raise Exit(f"kubectl diff failed: {result.stderr.strip()}", code=1)


@task(help={"env": ENV_HELP, "image": IMAGE_HELP, "tf_outputs": TF_HELP})
def apply(c: Context, env: str = "", image: str = "", tf_outputs: str = "") -> None:
    """Render, validate, then apply the environment's manifests to its cluster (an --image must
    carry the environment's signature: it is verified first)."""
    apply_for(Target.resolve(c, env), image, tf_outputs)


def apply_for(target: Target, image: str = "", tf_outputs: str = "") -> None:
    """k8s.apply: a named image is verified first, then applied as apply_verified does."""
    if image:
        image = verify_signed(target, image, f"k8s.apply --env {target.name}")
    apply_verified(target, image, tf_outputs)


def verify_signed(target: Target, image: str, task: str) -> str:
    """Check an image's signature and SBOM as deploy does (cosign against the registry) before
    anything changes; return the pinned reference checked, to use as is."""
    # Admission-time enforcement on AKS (Image Integrity) is preview only: this client-side check
    # is the gate (docs/deploy.md, "Verified images").
    environment = target.environment
    if image.startswith((":", "@")):
        image = environment.app.image_repository + image
    try:
        pinned = parse_image(image)
    except ValuesError as exc:
        raise Exit(f"{task}: {exc}; nothing was changed", code=1) from exc
    if pinned.repository != environment.app.image_repository:
        raise Exit(
            f"{task}: image {pinned.reference} is not from {environment.app.image_repository} "
            f"(env.yaml {environment.name}.app.image_repository); nothing was changed",
            code=1,
        )
    try:
        signing.verify_reference(target, pinned.repository, pinned.digest)
    except ImageError as exc:
        raise Exit(f"{task}: {exc}; nothing was changed", code=1) from exc
    return pinned.reference


def apply_verified(target: Target, image: str, tf_outputs: str = "") -> None:
    """Apply with `image` used exactly as given (deploy hands over the reference image.verify
    checked, in process); record the revision that runs before, then what apply changed."""
    env = target.name
    environment, path, kubectl = _ready_to_send(target, image, tf_outputs)
    revisions.record_before_apply(target, kubectl, image)
    applied = kubectl.run("apply", f"--filename={path}", namespaced=False)
    revisions.record_changes(target, applied.stdout)
    if environment.is_local:
        kubectl.ensure_local_secret(target.state.secrets)
    print(f"k8s.apply --env {env}: applied {path}; `invoke k8s.rollout --env {env}` waits for it")


@task(help={"env": ENV_HELP, "timeout": "seconds to wait (default: k8s.rollout_timeout)"})
def rollout(c: Context, env: str = "", timeout: int = 0) -> None:
    """Wait for the rollout; on failure print pods, events and logs, then return to the
    revision that ran before apply (only if the Deployment moved off it)."""
    rollout_for(Target.resolve(c, env), timeout)


def rollout_for(target: Target, timeout: int = 0) -> None:
    """k8s.rollout: wait; on failure report, then return to the revision recorded before apply."""
    env = target.name
    kubectl = _kubectl(target)
    kubectl.server_minor()
    seconds = int(timeout or target.settings.k8s.rollout_timeout)
    waited = kubectl.cluster.wait_for_rollout(
        seconds, progress=lambda state: print(f"k8s.rollout --env {env}: {state}", flush=True)
    )
    if waited.done:
        print(f"k8s.rollout --env {env}: {DEPLOYMENT} is up to date")
        return
    print(
        f"k8s.rollout --env {env}: {DEPLOYMENT} did not finish in {seconds} s: {waited.reason}",
        file=sys.stderr,
    )
    kubectl.print_failure_report()
    undo = roll_back_once(target, kubectl, seconds)
    raise RolloutFailed(
        f"k8s.rollout --env {env}: the rollout failed and was {undo.message}",
        code=1,
        restored=undo.restored,
    )


def roll_back_once(target: Target, kubectl: Kubectl, timeout: int) -> revisions.Undo:
    """After a failed rollout: why the newest revision failed, then a return to the revision
    recorded before apply, once, and only if the Deployment moved off it."""
    newest = kubectl.replica_sets()
    why = (
        f"Revision {newest[0]['revision']} ({newest[0]['image']}) failed with "
        f"{kubectl.failure_reason(newest[0]['name'])}"
        if newest
        else "No ReplicaSet was created"
    )
    undo = revisions.return_to_recorded(target, kubectl, timeout)
    return revisions.Undo(
        undo.restored,
        f"{undo.message}. {why}; the pods, events and logs above say more.",
    )


@task(help={"env": ENV_HELP, "revision": "revision to return to (default: the previous one)"})
def rollback(c: Context, env: str = "", revision: int = 0) -> None:
    """Return the Deployment to an earlier revision (kubectl rollout undo); a --revision's image
    is verified (signature and SBOM) first."""
    target = Target.resolve(c, env)
    kubectl = _kubectl(target)
    kubectl.server_minor()
    args = ["rollout", "undo", DEPLOYMENT]
    if revision:
        earlier = revisions.revision_image(kubectl, revision)
        verify_signed(target, earlier["image"], f"k8s.rollback --env {env}")
        args.append(f"--to-revision={revision}")
    result = kubectl.run(*args, warn=True)
    if not result.ok:
        raise Exit(
            f"k8s.rollback --env {env}: {result.stderr.strip()}; "
            f"`invoke status --env {env}` lists the revisions",
            code=1,
        )


@task(
    help={
        "env": ENV_HELP,
        "chart": (
            "install cert-manager's pinned chart (--no-chart: only that version's CRDs, from its "
            "Go module, for a cluster that cannot fetch the chart, e.g. the offline local one)"
        ),
    }
)
def addons(c: Context, env: str = "", chart: bool = True) -> None:
    """Install what the manifests need first: cert-manager (pinned chart, CRDs included)."""
    addons_for(Target.resolve(c, env), chart=chart)


def addons_for(target: Target, *, chart: bool = True) -> None:
    """k8s.addons: cert-manager's pinned chart (or only its CRDs) on the environment's cluster."""
    env = target.name
    cert_manager.install(target, chart=chart)
    what = "chart" if chart else "CRDs"
    print(f"k8s.addons --env {env}: cert-manager's {what} in place; `invoke k8s.apply` can follow")


# The Service's port (manifests/base/service.yaml), which forwards to the pods' http port.
SERVICE_PORT = 80


@task(
    name="open",
    help={"env": ENV_HELP, "port": "port on 127.0.0.1 to forward from (default 8080)"},
)
def open_(c: Context, env: str = "", port: int = 8080) -> None:
    """Forward 127.0.0.1:PORT to the app's Service and print the URL (Ctrl-C stops it)."""
    if not 0 < port < 65536:
        raise Exit(f"k8s.open: --port {port} is not a TCP port; choose one of 1-65535", code=1)
    kubectl = _kubectl(Target.resolve(c, env))
    # Bound to loopback only: the forward must not expose the app to the machine's network.
    command = kubectl.command(
        "port-forward", "--address=127.0.0.1", f"service/{APP}", f"{port}:{SERVICE_PORT}"
    )
    print(f"k8s.open --env {env}: http://127.0.0.1:{port}/ (Ctrl-C stops the forward)", flush=True)
    # No timeout: the forward runs until interrupted; kubectl exits itself if the API server goes.
    c.run(command, pty=False)


ns = Collection("k8s", render, lint, diff, apply, rollout, rollback, addons, open_)
