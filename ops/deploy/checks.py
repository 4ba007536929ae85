"""The checks deploy adds between the other areas' tasks: is what runs what was pushed, and
does it answer.

Each check is a step of the plan (ops/deploy/plan.py check_step) and acts on the deploy's one
Target: its kube target, Runner, settings and state files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import certifi
import yaml
from invoke.exceptions import Exit

from ops.core import state
from ops.core.kube import KUBECTL_CALL_TIMEOUT_S
from ops.core.target import Target
from ops.core.wait import NotYet, WaitTimeout, wait_or_exit
from ops.core.web import Verify, wait_for_status
from ops.k8s.cluster import APP

DEPLOYMENT = APP
# invoke settings `deploy.*`: ops.core.settings.DeploySettings (the waits' bounds, their why).


# Certificates from Let's Encrypt's staging directory chain to roots that no trust store holds
# (https://letsencrypt.org/docs/staging-environment/): an environment whose issuer is staging
# (dev) trusts them on top of the public CAs, or its every deploy's smoke test would fail.
STAGING_DIRECTORY = "https://acme-staging-v02.api.letsencrypt.org/directory"
STAGING_ROOTS = Path(__file__).with_name("ca") / "letsencrypt-staging-roots.pem"
APP_CERTIFICATE = "orderdesk-tls"


def image_record(target: Target) -> dict[str, Any]:
    """What `invoke image.push` recorded: the pushed reference and digest."""
    return state.read_json(
        target.state.image_record, f"invoke deploy --env {target.name} --only image"
    )


def certificate_ready(target: Target) -> None:
    """The app's Certificate is Ready (cert-manager's condition), within a bounded wait; on a
    timeout an Exit that names the DNS delegation a first deploy needs and cert-manager's own
    reason."""
    environment, configured, runner = target.environment, target.settings.deploy, target.runner
    command = target.kube().kubectl_argv("get", "certificate", APP_CERTIFICATE, "--output=json")

    def ready() -> bool:
        result = runner.run(command, timeout=KUBECTL_CALL_TIMEOUT_S, warn=True)
        if not result.ok:
            raise NotYet((result.stderr.strip().splitlines() or ["no answer"])[-1])
        conditions = (json.loads(result.stdout).get("status") or {}).get("conditions") or []
        condition: dict[str, Any] = next(
            (item for item in conditions if item.get("type") == "Ready"), {}
        )
        if condition.get("status") != "True":
            raise NotYet(str(condition.get("message") or "no Ready condition yet"))
        return True

    zone = environment.azure.dns.zone if environment.azure is not None else "the zone"
    wait_or_exit(
        ready,
        what=f"Certificate {APP_CERTIFICATE} Ready",
        timeout=float(configured.certificate_timeout),
        interval=float(configured.certificate_interval),
        label="certificate",
        failure=lambda exc: (
            f"{exc}. Let's Encrypt reaches the hosts only once {zone} is delegated to its Azure "
            "name servers (README, 'Before your first real deploy': DNS first; check `dig +short "
            f"NS {zone}`); `kubectl describe certificate {APP_CERTIFICATE} --namespace "
            f"{environment.kubernetes.namespace}` shows cert-manager's reason. Then run `invoke "
            f"deploy --env {environment.name} --only kubernetes,dns` again"
        ),
    )
    print(f"  certificate {APP_CERTIFICATE}: Ready")


def https_smoke_test(target: Target) -> None:
    """The app answers /readyz through the ingress, over verified HTTPS, within a bounded wait."""
    configured = target.settings.deploy
    url = f"https://{target.environment.app.hosts[0]}/readyz"
    verify = smoke_trust(target)
    try:
        wait_for_status(
            url,
            timeout=float(configured.smoke_timeout),
            interval=float(configured.smoke_interval),
            verify=verify,
        )
    except WaitTimeout as exc:
        raise Exit(f"smoke test: {exc}", code=1) from exc
    print(f"  smoke test: {url} answered 200")


def issuer_directory(target: Target) -> str:
    """The ACME directory of the issuer the app's Certificate names, in the manifests k8s.apply
    sent ("" without a Certificate or an ACME issuer)."""
    path = target.state.manifests
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except FileNotFoundError:
        raise Exit(
            f"smoke test: {path} is missing, so the issuer (and the roots to trust) is unknown; "
            f"run `invoke k8s.apply --env {target.name}` first",
            code=1,
        ) from None
    named = {(d.get("kind"), (d.get("metadata") or {}).get("name")): d for d in documents}
    certificate = named.get(("Certificate", APP_CERTIFICATE))
    if certificate is None:
        return ""
    reference = certificate["spec"]["issuerRef"]
    issuer = named.get((reference.get("kind", "Issuer"), reference["name"])) or {}
    return str(((issuer.get("spec") or {}).get("acme") or {}).get("server", ""))


def smoke_trust(target: Target) -> Verify:
    """What the HTTPS smoke test trusts: `deploy.ca_bundle` if set; else the public CAs, plus
    Let's Encrypt's staging roots where the app's issuer is the staging directory."""
    configured = target.settings.deploy.ca_bundle
    if configured:
        return configured
    if issuer_directory(target) != STAGING_DIRECTORY:
        return True
    bundle = target.state.directory / "smoke-ca-bundle.pem"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    public = Path(certifi.where()).read_text(encoding="ascii")
    bundle.write_text(public + "\n" + STAGING_ROOTS.read_text(encoding="ascii"), encoding="ascii")
    return str(bundle)


def service_smoke_test(target: Target) -> None:
    """The app answers /readyz through its Service's ClusterIP, asked from inside the local node
    as a pod would; polled, since kube-proxy may not have written the Service's rules yet."""
    from ops.sandbox import bridge, cluster

    configured = target.settings.deploy
    jsonpath = "{.spec.clusterIP}:{.spec.ports[0].port}"
    command = target.kube().kubectl_argv(
        "get", "service", DEPLOYMENT, f"--output=jsonpath={jsonpath}"
    )
    result = target.runner.run(command, timeout=KUBECTL_CALL_TIMEOUT_S)
    url = f"http://{result.stdout.strip()}/readyz"
    try:
        with cluster.node_network() as netns, bridge.entered(netns):
            wait_for_status(
                url,
                timeout=float(configured.service_smoke_timeout),
                interval=float(configured.smoke_interval) / 5,
            )
    except (WaitTimeout, cluster.ClusterError) as exc:
        raise Exit(f"smoke test: {exc}", code=1) from exc
    print(f"  smoke test: {url} (Service {DEPLOYMENT}, from inside the node) answered 200")


def check_deployment_image(target: Target) -> None:
    """The Deployment in the cluster now names the pushed digest."""
    digest = image_record(target)["digest"]
    jsonpath = "{.spec.template.spec.containers[?(@.name=='web')].image}"
    command = target.kube().kubectl_argv(
        "get", "deployment", DEPLOYMENT, f"--output=jsonpath={jsonpath}"
    )
    deployed = target.runner.run(command, timeout=KUBECTL_CALL_TIMEOUT_S).stdout.strip()
    if not deployed.endswith(digest):
        raise Exit(f"the Deployment runs {deployed or 'nothing'}, not the pushed {digest}", code=1)
    print(f"  deployment {DEPLOYMENT}: image {deployed}")
