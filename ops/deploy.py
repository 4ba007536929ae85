"""`invoke deploy --env E`: one command from a laptop (or CI) to a running, monitored cluster.

    invoke deploy --env prod --dry-run        every command, in order; runs none
    invoke deploy --env dev                   preflight, summary, then the stages below
    invoke deploy --env dev --only kubernetes,monitoring
    invoke deploy.image --env dev             any stage on its own
    invoke status --env dev                   what is deployed, its health, the last deploy
    invoke destroy --env dev                  guarded: plan -destroy, confirm, apply

Stages, in order (the seed's): terraform -> image -> credentials -> secrets -> kubernetes ->
monitoring -> dns. A stage is a short list of steps; most steps are the other areas' tasks
(`invoke tf.plan`, `invoke image.push`, `invoke k8s.apply`, ...), so what deploy runs is exactly
what a person or a workflow can run by hand. Every stage is idempotent: after a failure, fix the
cause and run the same command again (or `--only` the stages that are left).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import secrets
import shlex
import shutil
import subprocess  # nosec B404 - git with fixed arguments
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from invoke import Collection, task
from invoke.context import Context
from invoke.exceptions import Exit, UnexpectedExit
from rich.console import Console

from ops import envconfig
from ops.envconfig import REPO_ROOT, Azure, Environment
from ops.toolchain import find

STAGES = ("terraform", "image", "credentials", "secrets", "kubernetes", "monitoring", "dns")
STATE_DIR = REPO_ROOT / ".data"
DEPLOYMENT = "orderdesk"
RECORD_ANNOTATION = "orderdesk.dev/last-deploy"
# Key Vault secrets Terraform generates (infra/secrets.tf); its output lists them too.
APP_SECRETS = ("django-secret-key", "card-fingerprint-key", "database-password")
SMOKE_TIMEOUT_S = 120
INGRESS_WAIT_TRIES, INGRESS_WAIT_SECONDS = 30, 10

console = Console(highlight=False, soft_wrap=True)


class StageFailed(Exception):
    """A step failed; the message names the step and what to do."""

    def __init__(self, message: str, *, rolled_back: bool = False) -> None:
        super().__init__(message)
        # The step undid its own change (k8s.rollout does): nothing is left to roll back.
        self.rolled_back = rolled_back


@dataclass(frozen=True)
class Step:
    """One thing a stage does: a command, or a Python action described by the command it equals."""

    command: str
    action: Callable[[Context, Environment], None] | None = None
    # A failure of this step has already been rolled back by the step itself (k8s.rollout).
    rolls_back: bool = False

    def run(self, c: Context, environment: Environment) -> None:
        if self.action is not None:
            self.action(c, environment)
            return
        argv = shlex.split(self.command)
        if argv[0] == "invoke":
            # The invoke of this interpreter: a venv need not be on PATH (CI calls .venv/bin/...).
            argv[0] = str(Path(sys.executable).with_name("invoke"))
        result = c.run(shlex.join(argv), pty=False, warn=True)
        if result is None or not result.ok:
            code = result.exited if result is not None else "no result"
            raise StageFailed(
                f"`{self.command}` exited {code}; its output above says why",
                rolled_back=self.rolls_back,
            )


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str
    steps: tuple[Step, ...] = ()
    skipped: str = ""


@dataclass
class DeployRecord:
    environment: str
    git_sha: str
    started: str
    stages: list[dict[str, Any]] = field(default_factory=list)
    image: str = ""
    ended: str = ""
    result: str = "running"

    def save(self) -> Path:
        directory = STATE_DIR / self.environment / "deploys"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.started.replace(':', '')}.json"
        text = json.dumps(asdict(self), indent=2) + "\n"
        path.write_text(text, encoding="utf-8")
        # Written whole then renamed: `invoke status` never reads half a record.
        latest = STATE_DIR / self.environment / "last-deploy.json"
        partial = latest.with_suffix(".tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(latest)
        return path


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def azure_of(environment: Environment) -> Azure:
    """The azure block of an environment a cloud-only step was planned for."""
    if environment.azure is None:
        raise StageFailed(f"{environment.name} has no azure block in infra/env.yaml")
    return environment.azure


def load_environment(name: str) -> Environment:
    try:
        return envconfig.load(name)
    except envconfig.EnvConfigError as exc:
        raise Exit(f"deploy: {exc}", code=2) from exc


def git(*args: str) -> str:
    git_path = shutil.which("git")
    if git_path is None:
        raise Exit("deploy: git is not installed; the image tag is the git SHA", code=2)
    return subprocess.run(  # noqa: S603  # nosec B603
        [git_path, *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def read_state(environment: Environment, name: str, produced_by: str) -> dict[str, Any]:
    """A JSON file another task left in .data/<env>/, or a StageFailed naming that task."""
    path = STATE_DIR / environment.name / name
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StageFailed(f"{path} is missing: run `{produced_by}` first") from None
    return data


def image_record(environment: Environment) -> dict[str, Any]:
    """What `invoke image.push` recorded: the pushed reference and digest."""
    return read_state(environment, "image.json", f"invoke deploy.image --env {environment.name}")


def kubectl(environment: Environment) -> str:
    """The kubectl command line deploy uses for its own checks (the k8s tasks pick the same)."""
    # Local: the kubectl built at the local cluster's version; CI runners bring their own for AKS.
    default = find("kubectl") if environment.is_local else shutil.which("kubectl")
    binary = os.environ.get("INVOKE_K8S_KUBECTL") or default or "kubectl"
    kubeconfig = STATE_DIR / environment.name / "kubeconfig"
    return (
        f"{shlex.quote(binary)} --kubeconfig={shlex.quote(str(kubeconfig))} "
        f"--namespace={environment.kubernetes.namespace} --request-timeout=15s"
    )


# --- Python steps ------------------------------------------------------------------------------


def terraform_outputs(environment: Environment) -> dict[str, Any]:
    """What `invoke tf.output --save` wrote (the credentials stage fetches it)."""
    return read_state(
        environment, "tf-outputs.json", f"invoke tf.output --env {environment.name} --save"
    )


def ensure_key_vault_secrets(c: Context, environment: Environment) -> None:
    """Every app secret exists in Key Vault: Terraform generates them; this puts back one that
    went missing (recovering a soft-deleted one keeps its value). Values are never printed."""
    vault = azure_of(environment).key_vault.name
    names = terraform_outputs(environment).get("key_vault_secret_names") or list(APP_SECRETS)
    where = f"--vault-name {vault}"
    for name in names:
        shown = c.run(
            f"az keyvault secret show {where} --name {name} --query id --output tsv",
            hide=True,
            warn=True,
        )
        if shown is not None and shown.ok:
            console.print(f"  secret {name}: present in {vault}")
            continue
        # Purge protection keeps deleted secrets recoverable, and their names taken.
        deleted = c.run(
            f"az keyvault secret show-deleted {where} --name {name} --query id --output tsv",
            hide=True,
            warn=True,
        )
        if deleted is not None and deleted.ok:
            c.run(f"az keyvault secret recover {where} --name {name} --output none", hide=True)
            console.print(f"  secret {name}: recovered from soft delete in {vault}")
            continue
        # The value goes through a 0600 file, never the command line (ps would show it).
        with tempfile.NamedTemporaryFile("w", prefix="orderdesk-", delete=True) as handle:
            handle.write(secrets.token_urlsafe(50))
            handle.flush()
            c.run(
                f"az keyvault secret set {where} --name {name} "
                f"--file {shlex.quote(handle.name)} --encoding utf-8 --output none",
                hide=True,
            )
        console.print(f"  secret {name}: created in {vault} (value not shown)")


def https_smoke_test(c: Context, environment: Environment) -> None:
    """The app answers /readyz through the ingress, over HTTPS, within a bounded wait."""
    url = f"https://{environment.app.hosts[0]}/readyz"
    deadline = time.monotonic() + SMOKE_TIMEOUT_S
    last_error = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # nosec B310
                if response.status == 200:
                    console.print(f"  smoke test: {url} answered 200")
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(5)
    raise StageFailed(f"smoke test: {url} did not answer 200 in {SMOKE_TIMEOUT_S} s ({last_error})")


def service_smoke_test(c: Context, environment: Environment) -> None:
    """GET /readyz through the Service's ClusterIP from inside the local node, as a pod would.

    Polled: right after a rollout, kube-proxy may not have written the Service's rules yet.
    """
    import requests

    from ops.sandbox import bridge, cluster

    jsonpath = "{.spec.clusterIP}:{.spec.ports[0].port}"
    query = f"get service {DEPLOYMENT} --output=jsonpath={shlex.quote(jsonpath)}"
    result = c.run(f"{kubectl(environment)} {query}", hide=True)
    address = result.stdout.strip() if result is not None else ""
    url = f"http://{address}/readyz"
    last_error = "no answer"
    deadline = time.monotonic() + SMOKE_TIMEOUT_S
    try:
        with cluster.node_network() as netns:
            while time.monotonic() < deadline:
                try:
                    with bridge.entered(netns):
                        answer = requests.get(url, timeout=5)
                    if answer.status_code == 200:
                        console.print(f"  smoke test: {url} (Service {DEPLOYMENT}) answered 200")
                        return
                    last_error = f"HTTP {answer.status_code}"
                except requests.RequestException as exc:
                    last_error = str(exc)
                time.sleep(1)
    except cluster.ClusterError as exc:
        raise StageFailed(f"smoke test: {exc}") from exc
    raise StageFailed(f"smoke test: {url} did not answer 200 in {SMOKE_TIMEOUT_S} s ({last_error})")


def check_deployment_image(c: Context, environment: Environment) -> None:
    """The Deployment in the cluster now names the pushed digest."""
    record = image_record(environment)
    digest = record["digest"]
    jsonpath = "{.spec.template.spec.containers[?(@.name=='web')].image}"
    query = f"get deployment {DEPLOYMENT} --output=jsonpath={shlex.quote(jsonpath)}"
    result = c.run(f"{kubectl(environment)} {query}", hide=True)
    deployed = result.stdout.strip() if result is not None else ""
    if not deployed.endswith(digest):
        raise StageFailed(f"the Deployment runs {deployed or 'nothing'}, not the pushed {digest}")
    console.print(f"  deployment {DEPLOYMENT}: image {deployed}")


def wait_for_ingress_address(c: Context, environment: Environment) -> str:
    jsonpath = "{.status.loadBalancer.ingress[0].ip}"
    command = (
        f"{kubectl(environment)} get ingress {DEPLOYMENT} --output=jsonpath={shlex.quote(jsonpath)}"
    )
    for attempt in range(1, INGRESS_WAIT_TRIES + 1):
        result = c.run(command, hide=True, warn=True)
        address = result.stdout.strip() if result is not None and result.ok else ""
        if address:
            return address
        console.print(f"  ingress address: not yet ({attempt}/{INGRESS_WAIT_TRIES})")
        time.sleep(INGRESS_WAIT_SECONDS)
    waited = INGRESS_WAIT_TRIES * INGRESS_WAIT_SECONDS
    raise StageFailed(
        f"the ingress has no address after {waited} s; check the application gateway "
        f"(`kubectl describe ingress {DEPLOYMENT}`), then rerun `invoke deploy.dns --env "
        f"{environment.name}`"
    )


def dns_record_names(environment: Environment) -> list[str]:
    """Relative names in the zone for the app, grafana and prometheus hosts."""
    zone = azure_of(environment).dns.zone
    hosts = [
        *environment.app.hosts,
        environment.monitoring.grafana_host,
        environment.monitoring.prometheus_host,
    ]
    return ["@" if host == zone else host.removesuffix("." + zone) for host in hosts]


def check_dns_points_at_ingress(c: Context, environment: Environment) -> None:
    """Terraform owns the records (infra/modules/dns) and the gateway's public IP; this waits for
    the ingress to get that address, then checks every record answers with it."""
    azure = azure_of(environment)
    address = wait_for_ingress_address(c, environment)
    expected = terraform_outputs(environment).get("ingress_public_ip")
    if expected and address != expected:
        raise StageFailed(
            f"the ingress answers at {address}, but Terraform's gateway IP is {expected}; "
            "check the application gateway ingress controller's configuration"
        )
    group, zone = azure.resource_group, azure.dns.zone
    for name in dns_record_names(environment):
        result = c.run(
            f"az network dns record-set a show --resource-group {group} --zone-name {zone} "
            f"--name {name} --query 'ARecords[].ipv4Address' --output tsv",
            hide=True,
            warn=True,
        )
        addresses = result.stdout.split() if result is not None and result.ok else []
        if address not in addresses:
            raise StageFailed(
                f"{name}.{zone} resolves to {', '.join(addresses) or 'nothing'}, not the ingress "
                f"{address}; Terraform manages the record: run `invoke deploy --env "
                f"{environment.name} --only terraform,dns`"
            )
        console.print(f"  dns: {name}.{zone} -> {address}")


# --- the plan ----------------------------------------------------------------------------------


def plan(environment: Environment) -> list[Stage]:
    """Every stage for this environment, with its steps or the reason it is skipped."""
    env = f"--env {environment.name}"
    kube = kubectl(environment)
    if environment.is_local:
        return [
            Stage("terraform", "Azure infrastructure", skipped="local runs on this machine"),
            Stage(
                "image",
                "build, scan and push the app image to 127.0.0.1:5000",
                (
                    Step("invoke sandbox.start"),
                    Step(f"invoke image.build {env}"),
                    Step(f"invoke image.scan {env}"),
                    Step(f"invoke image.push {env}"),
                ),
            ),
            Stage(
                "credentials",
                "the local cluster and its kubeconfig",
                (Step("invoke sandbox.cluster-start"),),
            ),
            Stage(
                "secrets",
                "app secrets",
                skipped=(
                    "local: k8s.apply creates the Secret from .data/local/secrets (generated once)"
                ),
            ),
            Stage(
                "kubernetes",
                "apply, wait for the rollout, smoke-test through the Service; roll back on failure",
                (
                    Step(f"invoke k8s.apply {env}"),
                    Step(f"invoke k8s.rollout {env}", rolls_back=True),
                    Step(
                        f"{kube} get deployment {DEPLOYMENT} (image = pushed digest)",
                        check_deployment_image,
                    ),
                    Step(
                        f"GET http://<service {DEPLOYMENT} ClusterIP>/readyz inside the node",
                        service_smoke_test,
                    ),
                ),
            ),
            Stage(
                "monitoring",
                "kube-prometheus-stack",
                skipped=(
                    "local: the API server runs no Prometheus operator; `nox -s monitoring` proves "
                    "the rules, routes and dashboards against real Prometheus and Alertmanager"
                ),
            ),
            Stage("dns", "DNS records", skipped="local: *.127.0.0.1.nip.io needs no records"),
        ]
    azure = azure_of(environment)
    kubeconfig = STATE_DIR / environment.name / "kubeconfig"
    return [
        Stage(
            "terraform",
            "plan, then apply exactly that saved plan",
            (
                Step(f"invoke tf.plan {env}"),
                Step(f"invoke tf.apply {env}"),
            ),
        ),
        Stage(
            "image",
            f"build, scan and push to {environment.registry.login_server}",
            (
                Step(f"invoke image.build {env}"),
                Step(f"invoke image.scan {env}"),
                Step(f"invoke image.push {env}"),
            ),
        ),
        Stage(
            "credentials",
            f"Terraform outputs and a kubeconfig for {azure.aks.cluster_name}",
            (
                # Fetched here, not after apply: CI runs this stage in a job of its own.
                Step(f"invoke tf.output {env} --save"),
                Step(
                    f"az aks get-credentials --resource-group {azure.resource_group} "
                    f"--name {azure.aks.cluster_name} --file {kubeconfig} --overwrite-existing"
                ),
                Step(f"kubelogin convert-kubeconfig --login azurecli --kubeconfig {kubeconfig}"),
                Step(f"{kube} version"),
            ),
        ),
        Stage(
            "secrets",
            f"app secrets present in Key Vault {azure.key_vault.name}",
            (
                Step(
                    f"az keyvault secret show --vault-name {azure.key_vault.name} (each secret "
                    "Terraform lists; a missing one is recovered or created, never printed)",
                    ensure_key_vault_secrets,
                ),
            ),
        ),
        Stage(
            "kubernetes",
            "apply, wait for the rollout, smoke-test; roll back on failure",
            (
                Step(f"invoke k8s.apply {env}"),
                Step(f"invoke k8s.rollout {env}", rolls_back=True),
                Step(f"GET https://{environment.app.hosts[0]}/readyz", https_smoke_test),
            ),
        ),
        Stage(
            "monitoring",
            "kube-prometheus-stack, dashboards, Teams routing",
            (Step(f"invoke monitoring.install {env}"),),
        ),
        Stage(
            "dns",
            f"records in {azure.dns.zone} for the app, grafana and prometheus",
            (
                Step(
                    f"wait for the ingress address; az network dns record-set a show "
                    f"--zone-name {azure.dns.zone} ({', '.join(dns_record_names(environment))})",
                    check_dns_points_at_ingress,
                ),
            ),
        ),
    ]


def select(stages: list[Stage], only: str, skip: str) -> list[Stage]:
    def names(text: str, flag: str) -> set[str]:
        chosen = {name.strip() for name in text.split(",") if name.strip()}
        unknown = chosen - set(STAGES)
        if unknown:
            raise Exit(
                f"deploy: {flag} names unknown stage(s) {', '.join(sorted(unknown))}; "
                f"stages are: {', '.join(STAGES)}",
                code=2,
            )
        return chosen

    wanted, unwanted = names(only, "--only"), names(skip, "--skip")
    if wanted and unwanted:
        raise Exit("deploy: use --only or --skip, not both", code=2)
    return [
        stage
        if (not wanted or stage.name in wanted) and stage.name not in unwanted
        else Stage(stage.name, stage.summary, skipped=stage.skipped or "not selected")
        for stage in stages
    ]


# --- preflight ---------------------------------------------------------------------------------


def required_tools(environment: Environment, stages: list[Stage]) -> dict[str, str]:
    """Tool -> how to get it, for the stages that will run (CI jobs run a few stages each)."""
    bootstrap = "scripts/bootstrap --system"
    kustomize = "python -m ops.toolchain install kustomize"
    # tool: (how to get it, the stages that call it)
    needs: dict[str, tuple[str, set[str]]] = (
        {
            "dockerd": (f"Debian docker.io ({bootstrap})", {"image", "kubernetes"}),
            "docker-registry": (f"Debian docker-registry ({bootstrap})", {"image"}),
            "kube-apiserver": (
                f"built from Debian's kubernetes source ({bootstrap})",
                {"credentials"},
            ),
            "etcd": (f"Debian etcd-server ({bootstrap})", {"credentials"}),
            "kubectl": (bootstrap, {"credentials", "kubernetes"}),
            "kustomize": (kustomize, {"kubernetes"}),
        }
        if environment.is_local
        else {
            "terraform": (bootstrap, {"terraform", "credentials"}),
            "az": (
                "https://learn.microsoft.com/cli/azure/install-azure-cli",
                {"image", "credentials", "secrets", "dns"},
            ),
            "kubelogin": ("https://azure.github.io/kubelogin/install.html", {"credentials"}),
            "kubectl": ("az aks install-cli", {"credentials", "kubernetes", "monitoring", "dns"}),
            "kustomize": (kustomize, {"kubernetes"}),
            "helm": ("https://helm.sh/docs/intro/install/", {"monitoring"}),
        }
    )
    running = {stage.name for stage in stages if not stage.skipped}
    return {tool: how for tool, (how, used_by) in needs.items() if used_by & running}


def preflight(
    c: Context,
    environment: Environment,
    stages: list[Stage],
    *,
    allow_dirty: bool,
    dry_run: bool,
) -> str:
    """Check everything that can fail before anything is changed; return the git SHA."""
    problems: list[str] = []
    for tool, how in required_tools(environment, stages).items():
        if find(tool) is None:
            problems.append(f"{tool} is not installed ({how})")
    sha = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain")
    if dirty and not allow_dirty:
        count = len(dirty.splitlines())
        problems.append(
            f"the working tree has {count} uncommitted change(s): the image is tagged with the "
            "git SHA, so commit or stash them, or pass --allow-dirty"
        )
    if environment.azure is not None and not dry_run and find("az") is not None:
        from ops.tf import require_az_login

        try:
            account = require_az_login(c)
        except Exit as exc:
            problems.append(str(exc.message).removeprefix("tf: "))
        else:
            expected = os.environ.get("ARM_SUBSCRIPTION_ID")
            if expected and account.get("id") != expected:
                problems.append(
                    f"az is logged in to subscription {account.get('name')!r}, not "
                    f"ARM_SUBSCRIPTION_ID; run `az account set --subscription {expected}`"
                )
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        if dry_run:
            console.print(f"preflight would stop a real deploy:\n{listing}")
        else:
            raise Exit(f"deploy --env {environment.name}: preflight failed:\n{listing}", code=2)
    return sha


# --- running -----------------------------------------------------------------------------------


def describe(stages: list[Stage], environment: Environment, sha: str) -> None:
    console.print(f"[bold]Deploy {environment.app.name} to {environment.name}[/] at {sha[:12]}")
    for index, stage in enumerate(stages, 1):
        if stage.skipped:
            console.print(f" {index}. {stage.name}: skipped ({stage.skipped})")
            continue
        console.print(f" {index}. {stage.name}: {stage.summary}")
        for step in stage.steps:
            console.print(f"      $ {step.command}")


@contextlib.contextmanager
def stage_progress(stage: Stage, index: int, total: int) -> Iterator[None]:
    started = time.monotonic()
    console.rule(f"[{index}/{total}] {stage.name}: {stage.summary}")
    yield
    console.print(f"[green]✓[/] {stage.name} in {time.monotonic() - started:.1f} s")


def run_steps(c: Context, stage: Stage, environment: Environment) -> None:
    for number, step in enumerate(stage.steps, 1):
        # A spinner on a terminal while the step runs (its output scrolls above); plain in CI.
        label = f"{stage.name} {number}/{len(stage.steps)}: {step.command[:80]}"
        try:
            with console.status(label, spinner="dots"):
                step.run(c, environment)
        except UnexpectedExit as exc:
            raise StageFailed(
                f"`{step.command}` exited {exc.result.exited}", rolled_back=step.rolls_back
            ) from exc
        except Exit as exc:
            raise StageFailed(
                f"`{step.command}`: {exc.message}", rolled_back=step.rolls_back
            ) from exc


def run_stage(c: Context, stage: Stage, environment: Environment) -> None:
    """Run a stage's steps; a failed cluster rollout or smoke test rolls the Deployment back
    exactly once (k8s.rollout undoes its own failure), whether the stage runs inside
    `invoke deploy` or alone as `invoke deploy.kubernetes`."""
    try:
        run_steps(c, stage, environment)
    except StageFailed as exc:
        if stage.name == "kubernetes" and not exc.rolled_back:
            raise StageFailed(f"{exc}; {roll_back(c, environment)}", rolled_back=True) from exc
        raise


def roll_back(c: Context, environment: Environment) -> str:
    console.print(f"[red]rolling back[/] {DEPLOYMENT} in {environment.name}")
    result = c.run(
        f"{Path(sys.executable).with_name('invoke')} k8s.rollback --env {environment.name}",
        warn=True,
    )
    return "rolled back" if result is not None and result.ok else "rollback failed too"


def annotate(c: Context, environment: Environment, record: DeployRecord) -> None:
    """Keep the record on the Deployment too, so the cluster says what put it there."""
    summary = json.dumps(
        {k: getattr(record, k) for k in ("git_sha", "image", "started", "ended", "result")},
        separators=(",", ":"),
    )
    c.run(
        f"{kubectl(environment)} annotate deployment {DEPLOYMENT} --overwrite "
        f"{RECORD_ANNOTATION}={shlex.quote(summary)}",
        hide=True,
        warn=True,
    )


def execute(c: Context, environment: Environment, stages: list[Stage], sha: str) -> DeployRecord:
    record = DeployRecord(environment=environment.name, git_sha=sha, started=now())
    active = [stage for stage in stages if not stage.skipped]
    for index, stage in enumerate(active, 1):
        started = time.monotonic()
        try:
            with stage_progress(stage, index, len(active)):
                run_stage(c, stage, environment)
        except StageFailed as exc:
            record.stages.append(
                {
                    "name": stage.name,
                    "result": "failed",
                    "seconds": round(time.monotonic() - started, 1),
                }
            )
            record.result, record.ended = f"failed at {stage.name}", now()
            path = record.save()
            remaining = ",".join(s.name for s in active[index - 1 :])
            raise Exit(
                f"deploy --env {environment.name}: stage {stage.name} failed: {exc}\n"
                f"Fix the cause, then resume with `invoke deploy --env {environment.name} "
                f"--only {remaining}` (every stage is safe to run again). Record: {path}",
                code=1,
            ) from exc
        record.stages.append(
            {"name": stage.name, "result": "ok", "seconds": round(time.monotonic() - started, 1)}
        )
    record.result, record.ended = "succeeded", now()
    # The image the manifests name: pushed now, or by the deploy before (--only kubernetes).
    with contextlib.suppress(StageFailed):
        record.image = image_record(environment)["reference"]
    if any(stage.name == "kubernetes" for stage in active):
        annotate(c, environment, record)
    path = record.save()
    console.print(f"[bold green]deployed[/] {environment.name}: record {path}")
    return record


def run_one_stage(c: Context, env: str, name: str) -> None:
    environment = load_environment(env)
    stage = next(stage for stage in plan(environment) if stage.name == name)
    if stage.skipped:
        console.print(f"{name}: skipped ({stage.skipped})")
        return
    try:
        with stage_progress(stage, 1, 1):
            run_stage(c, stage, environment)
    except StageFailed as exc:
        raise Exit(f"deploy.{name} --env {env}: {exc}", code=1) from exc


# --- tasks -------------------------------------------------------------------------------------

ENV_HELP = "environment in infra/env.yaml (local, dev, prod)"


@task(
    name="deploy",
    default=True,
    help={
        "env": ENV_HELP,
        "dry_run": "print every command in order; run none (needs no Azure login)",
        "only": f"comma-separated stages to run ({', '.join(STAGES)})",
        "skip": "comma-separated stages to leave out",
        "allow_dirty": "deploy a working tree with uncommitted changes",
    },
)
def deploy(  # noqa: PLR0917 - invoke maps each parameter to a flag
    c: Context,
    env: str,
    dry_run: bool = False,
    only: str = "",
    skip: str = "",
    allow_dirty: bool = False,
) -> None:
    """Deploy an environment: preflight, summary, then every stage in order."""
    environment = load_environment(env)
    stages = select(plan(environment), only, skip)
    sha = preflight(c, environment, stages, allow_dirty=allow_dirty, dry_run=dry_run)
    describe(stages, environment, sha)
    if dry_run:
        console.print("dry run: nothing was run")
        return
    execute(c, environment, stages, sha)


def _stage_task(name: str, doc: str) -> Any:
    def stage_task(c: Context, env: str) -> None:
        run_one_stage(c, env, name)

    stage_task.__doc__ = doc
    stage_task.__name__ = name
    return task(stage_task, name=name, help={"env": ENV_HELP})


terraform = _stage_task("terraform", "Stage 1: terraform plan, then apply exactly that plan.")
image_stage = _stage_task("image", "Stage 2: build, scan and push the image (tag: git SHA).")
credentials = _stage_task("credentials", "Stage 3: cluster credentials (kubeconfig).")
secrets_stage = _stage_task("secrets", "Stage 4: create missing app secrets (never printed).")
kubernetes = _stage_task(
    "kubernetes", "Stage 5: apply, roll out, smoke-test; roll back on failure."
)
monitoring = _stage_task("monitoring", "Stage 6: kube-prometheus-stack, dashboards, Teams routing.")
dns = _stage_task("dns", "Stage 7: DNS records for the app, grafana and prometheus hosts.")


@task(help={"env": ENV_HELP})
def status(c: Context, env: str) -> None:
    """What is deployed to an environment, its health, and the last deploy record."""
    environment = load_environment(env)
    latest = STATE_DIR / environment.name / "last-deploy.json"
    if latest.exists():
        record = json.loads(latest.read_text(encoding="utf-8"))
        console.print(
            f"last deploy: {record['result']} at {record.get('ended') or record['started']} "
            f"(git {record['git_sha'][:12]}, image {record.get('image') or '-'})"
        )
    else:
        console.print(f"last deploy: none recorded in {latest}")
    result = c.run(
        f"{kubectl(environment)} get deployment {DEPLOYMENT} --output=json", hide=True, warn=True
    )
    if result is None or not result.ok:
        detail = result.stderr.strip() if result is not None else ""
        console.print(f"cluster: not reachable or nothing deployed ({detail or 'no answer'})")
        return
    deployment = json.loads(result.stdout)
    spec, state = deployment["spec"], deployment.get("status", {})
    image = spec["template"]["spec"]["containers"][0]["image"]
    console.print(
        f"deployment {DEPLOYMENT}: image {image}; replicas {state.get('readyReplicas', 0)}/"
        f"{spec.get('replicas', 0)} ready, {state.get('updatedReplicas', 0)} up to date"
    )
    annotation = deployment["metadata"].get("annotations", {}).get(RECORD_ANNOTATION)
    if annotation:
        console.print(f"annotation {RECORD_ANNOTATION}: {annotation}")


@task(help={"env": ENV_HELP, "yes": "skip the typed confirmation (CI, after its own gate)"})
def destroy(c: Context, env: str, yes: bool = False) -> None:
    """Tear an environment down (guarded: plan -destroy, typed confirmation, then apply)."""
    environment = load_environment(env)
    invoke = shlex.quote(str(Path(sys.executable).with_name("invoke")))
    if environment.is_local:
        if not yes:
            answer = input(
                f"Delete namespace {environment.kubernetes.namespace} from the local "
                f"cluster? Type '{env}' to confirm: "
            )
            if answer.strip() != env:
                raise Exit("destroy: not confirmed; nothing was deleted", code=1)
        c.run(
            f"{kubectl(environment)} delete namespace {environment.kubernetes.namespace} "
            "--ignore-not-found --wait=false"
        )
        return
    c.run(f"{invoke} tf.destroy --env {env}" + (" --yes" if yes else ""), pty=not yes)


ns = Collection("deploy")
for _task in (
    deploy,
    terraform,
    image_stage,
    credentials,
    secrets_stage,
    kubernetes,
    monitoring,
    dns,
):
    ns.add_task(_task)
