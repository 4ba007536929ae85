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


def service_smoke_test(c: Context, environment: Environment) -> None:
    """The app answers /readyz through its Service's ClusterIP, asked from inside the local node
    as a pod would; polled, since kube-proxy may not have written the Service's rules yet."""
    from ops.sandbox import bridge, cluster

    configured = settings(c)
    jsonpath = "{.spec.clusterIP}:{.spec.ports[0].port}"
    command = kube.target(c, environment).kubectl(
        "get", "service", DEPLOYMENT, f"--output=jsonpath={jsonpath}"
    )
    result = c.run(command, hide=True)
    url = f"http://{result.stdout.strip() if result is not None else ''}/readyz"
    try:
        with cluster.node_network() as netns, bridge.entered(netns):
            wait_for_status(
                url,
                timeout=float(configured["smoke_timeout"]),
                interval=float(configured["smoke_interval"]) / 5,
            )
    except (WaitTimeout, cluster.ClusterError) as exc:
        raise Exit(f"smoke test: {exc}", code=1) from exc
    print(f"  smoke test: {url} (Service {DEPLOYMENT}, from inside the node) answered 200")


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
