"""The checks deploy adds between the other areas' tasks: is what runs what was pushed, and
does it answer."""

from __future__ import annotations

from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

from ops.core import kube, state
from ops.core.wait import WaitTimeout
from ops.core.web import Verify, wait_for_status
from ops.envconfig import Environment
from ops.k8s.cluster import APP

DEPLOYMENT = APP
# invoke settings `deploy.*`: how long the HTTPS smoke test waits, and which CAs it trusts.
DEFAULTS: dict[str, Any] = {
    "smoke_timeout": 120,
    "smoke_interval": 5,
    # A PEM bundle for the ingress's certificate; empty: certifi's public CAs (requests' own).
    "ca_bundle": "",
}


def settings(c: Context) -> dict[str, Any]:
    return {**DEFAULTS, **(c.config.get("deploy", {}) or {})}


def image_record(c: Context, environment: Environment) -> dict[str, Any]:
    """What `invoke image.push` recorded: the pushed reference and digest."""
    return state.read_json(
        state.EnvState.of(environment.name, c).image_record,
        f"invoke deploy --env {environment.name} --only image",
    )


def https_smoke_test(c: Context, environment: Environment) -> None:
    """The app answers /readyz through the ingress, over verified HTTPS, within a bounded wait."""
    configured = settings(c)
    url = f"https://{environment.app.hosts[0]}/readyz"
    verify: Verify = configured["ca_bundle"] or True
    try:
        wait_for_status(
            url,
            timeout=float(configured["smoke_timeout"]),
            interval=float(configured["smoke_interval"]),
            verify=verify,
        )
    except WaitTimeout as exc:
        raise Exit(f"smoke test: {exc}", code=1) from exc
    print(f"  smoke test: {url} answered 200")


def local_smoke_test(c: Context, environment: Environment) -> None:
    """The exact image the manifests name, pulled back by digest and run hardened, gets ready.

    The local API server has no kubelet, so no pod starts there; running the same digest on the
    local engine is the closest honest check of what the cluster would run.
    """
    from ops import image

    reference = image_record(c, environment)["reference"]
    try:
        image.smoke_test(reference)
    except image.ImageError as exc:
        raise Exit(f"smoke test of {reference}: {exc}", code=1) from exc
    print(f"  smoke test: {reference} became ready under the hardened run flags")


def check_deployment_image(c: Context, environment: Environment) -> None:
    """The Deployment in the cluster now names the pushed digest."""
    digest = image_record(c, environment)["digest"]
    jsonpath = "{.spec.template.spec.containers[?(@.name=='web')].image}"
    command = kube.target(c, environment).kubectl(
        "get", "deployment", DEPLOYMENT, f"--output=jsonpath={jsonpath}"
    )
    result = c.run(command, hide=True)
    deployed = result.stdout.strip() if result is not None else ""
    if not deployed.endswith(digest):
        raise Exit(f"the Deployment runs {deployed or 'nothing'}, not the pushed {digest}", code=1)
    print(f"  deployment {DEPLOYMENT}: image {deployed}")
