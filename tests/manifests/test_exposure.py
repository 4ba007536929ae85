"""What the internet reaches in dev and prod, and what the default-deny network lets through.

- cert-manager's HTTP-01 solver pods are reachable from the Application Gateway (else no
  certificate is ever issued);
- the app's Ingress routes its public pages only: /metrics and /healthz stay inside the cluster;
- Grafana is exposed exactly like the app (class, HTTPS, issuer) behind its own login, and
  Prometheus, which has no authentication, has neither an ingress nor a DNS record.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
import yaml

from ops import azure, envconfig, monitoring
from ops.core import environments
from ops.k8s.render import Rendered
from ops.monitoring.layout import Layout

CLOUD = ("dev", "prod")
# Labels and port of cert-manager's HTTP-01 solver pods: pkg/apis/acme/v1/types.go
# (SolverIdentificationLabelKey = "acme.cert-manager.io/http01-solver", value "true", set in
# pkg/issuer/acme/http/pod.go) and pkg/issuer/acme/http/http.go (acmeSolverListenPort = 8089).
SOLVER_LABELS = {"acme.cert-manager.io/http01-solver": "true"}
SOLVER_PORT = 8089


def _objects(rendered: Rendered, kind: str) -> list[dict[str, Any]]:
    return [document for document in rendered.documents if document["kind"] == kind]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector  # matchExpressions: not used here
    return all(
        labels.get(key) == value for key, value in (selector.get("matchLabels") or {}).items()
    )


def _admits(policy: dict[str, Any], source: str, port: int) -> bool:
    """Whether one of the policy's ingress rules lets `source` reach `port`/TCP (ipBlock peers)."""
    for rule in policy["spec"].get("ingress") or []:
        ports = rule.get("ports")
        port_ok = not ports or any(
            p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in ports
        )
        peers = rule.get("from")
        peer_ok = not peers or any(
            "ipBlock" in peer
            and ipaddress.ip_address(source) in ipaddress.ip_network(peer["ipBlock"]["cidr"])
            for peer in peers
        )
        if port_ok and peer_ok:
            return True
    return False


@pytest.mark.parametrize("env", CLOUD)
def test_the_default_deny_policy_admits_the_gateway_to_cert_managers_http01_solver_pods(
    rendered_overlays: dict[str, Rendered], env: str
) -> None:
    # Let's Encrypt's HTTP-01 validation reaches the solver pod through the gateway (AGIC sends
    # to pod IPs from its subnet); labels and port from cert-manager's source (see above).
    rendered = rendered_overlays[env]
    subnets = environments.require_azure(envconfig.load(env)).network.subnets
    gateway = ipaddress.ip_network(str(subnets.appgw))
    source = str(next(gateway.hosts()))
    policies = [
        policy
        for policy in _objects(rendered, "NetworkPolicy")
        if "Ingress" in policy["spec"].get("policyTypes", ["Ingress"])
        and _selects(policy["spec"]["podSelector"], SOLVER_LABELS)
    ]
    # Isolated for ingress (default deny selects every pod), so only an explicit rule admits it.
    assert any(not policy["spec"]["podSelector"] for policy in policies)
    assert any(_admits(policy, source, SOLVER_PORT) for policy in policies)
    # ... and only the solver port: the rule does not open the app's pods any wider.
    assert not any(_admits(policy, source, 5000) for policy in policies)


def _routed(paths: list[dict[str, Any]], request: str) -> bool:
    """Routed by Kubernetes' matching (Exact; Prefix by path element) or by what AGIC makes of
    it (Prefix /x becomes the gateway pattern /x*, a string prefix): routed if either routes."""
    for entry in paths:
        path, kind = entry["path"], entry["pathType"]
        if kind == "Exact" and request == path:
            return True
        if kind == "Prefix":
            elements = [part for part in path.split("/") if part]
            asked = [part for part in request.split("/") if part]
            if asked[: len(elements)] == elements or request.startswith(path):
                return True
        if kind == "ImplementationSpecific":
            return True  # the controller decides: treat it as routing everything
    return False


@pytest.mark.parametrize("env", CLOUD)
def test_the_ingress_routes_no_internal_endpoint_to_the_internet(
    rendered_overlays: dict[str, Rendered], env: str
) -> None:
    # Path semantics: https://kubernetes.io/docs/concepts/services-networking/ingress/#path-types
    # and AGIC's translation of them (Azure/application-gateway-kubernetes-ingress
    # docs/ingress-v1.md: Exact stays exact, Prefix /bar becomes /bar*).
    [ingress] = _objects(rendered_overlays[env], "Ingress")
    rules = ingress["spec"]["rules"]
    assert rules
    for rule in rules:
        paths = rule["http"]["paths"]
        assert paths
        for internal in ("/metrics", "/metrics/", "/healthz", "/healthz/", "/metricsx"):
            assert not _routed(paths, internal), (rule["host"], internal)
        order = "/orders/0b3c6e5e-6f0e-4d3b-9a34-0a7f3d1b2c4d"
        public_paths = (
            "/",
            "/orders/new",
            order,
            "/api/orders",
            "/static/app.css",
            "/readyz",
            # Sign-in and Entra ID's redirect URI (infra/env.yaml derives it), admins' pages.
            "/auth/sign-in",
            "/auth/oidc/callback",
            "/manage/users",
        )
        for public in public_paths:
            assert _routed(paths, public), (rule["host"], public)


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of values: maps merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _grafana_values(env: str) -> dict[str, Any]:
    """Grafana's values as monitoring.install passes them: the files, then env.yaml's hosts."""
    layout = Layout()
    merged: dict[str, Any] = {}
    for path in layout.values_files(env):
        merged = _merged(merged, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    merged = _merged(merged, monitoring.install_values(envconfig.load(env), layout))
    return dict(merged["grafana"])


@pytest.mark.parametrize("env", CLOUD)
def test_grafana_is_exposed_like_the_app_and_prometheus_has_no_ingress_and_no_record(
    rendered_overlays: dict[str, Rendered], env: str
) -> None:
    environment = envconfig.load(env)
    rendered = rendered_overlays[env]
    [app_ingress] = _objects(rendered, "Ingress")
    [certificate] = _objects(rendered, "Certificate")
    grafana = _grafana_values(env)
    ingress = grafana["ingress"]
    assert ingress["enabled"] is True
    assert ingress["ingressClassName"] == app_ingress["spec"]["ingressClassName"]
    annotations = ingress["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"] == certificate["spec"]["issuerRef"]["name"]
    for key, value in app_ingress["metadata"]["annotations"].items():
        assert annotations.get(key) == value, key
    assert ingress["hosts"] == [environment.monitoring.grafana_host]
    assert ingress["tls"][0]["hosts"] == [environment.monitoring.grafana_host]
    assert grafana["grafana.ini"]["auth.anonymous"]["enabled"] is False
    assert grafana["grafana.ini"]["users"]["allow_sign_up"] is False
    assert grafana["admin"]["existingSecret"]

    layout = Layout()
    assert layout.ingress_enabled(env, "grafana")
    assert not layout.ingress_enabled(env, "prometheus")
    assert "prometheus" not in monitoring.install_values(environment, layout)
    zone = environments.require_azure(environment).dns.zone
    names = azure.dns_record_names(environment)
    assert environment.monitoring.grafana_host.removesuffix("." + zone) in names
    assert environment.monitoring.prometheus_host.removesuffix("." + zone) not in names


def test_terraform_makes_no_record_for_a_host_without_an_ingress() -> None:
    locals_tf = (envconfig.REPO_ROOT / "infra" / "locals.tf").read_text(encoding="utf-8")
    block = re.search(r"public_hosts\s*=\s*toset\(concat\((.*?)\)\)", locals_tf, re.S)
    assert block is not None, "infra/locals.tf: public_hosts not found"
    assert "grafana_host" in block.group(1)
    for env in CLOUD:
        assert not Layout().ingress_enabled(env, "prometheus")
    assert "prometheus_host" not in block.group(1)


# AGIC's zero-downtime guidance: a preStop sleep of at least 90 s, a grace period longer than it.
# Azure/application-gateway-kubernetes-ingress docs/how-tos/minimize-downtime-during-deployments.md
AGIC_PRESTOP_S = 90


@pytest.mark.parametrize("env", CLOUD)
def test_pods_behind_agic_drain_as_its_zero_downtime_guidance_asks(
    rendered_overlays: dict[str, Rendered], env: str
) -> None:
    [ingress] = _objects(rendered_overlays[env], "Ingress")
    assert ingress["spec"]["ingressClassName"] == "azure-application-gateway"
    [deployment] = [
        d
        for d in _objects(rendered_overlays[env], "Deployment")
        if d["metadata"]["name"] == "orderdesk"
    ]
    pod = deployment["spec"]["template"]["spec"]
    [web] = [container for container in pod["containers"] if container["name"] == "web"]
    sleep = web["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert sleep >= AGIC_PRESTOP_S
    # gunicorn then finishes in-flight requests within its graceful_timeout before the kill.
    gunicorn = (envconfig.REPO_ROOT / "app" / "gunicorn.conf.py").read_text(encoding="utf-8")
    graceful = re.search(r'"GUNICORN_GRACEFUL_TIMEOUT", (\d+)', gunicorn)
    assert graceful is not None
    assert pod["terminationGracePeriodSeconds"] > sleep + int(graceful.group(1))


def test_the_local_overlay_without_agic_keeps_the_short_drain(
    rendered_overlays: dict[str, Rendered],
) -> None:
    assert not _objects(rendered_overlays["local"], "Ingress")
    [deployment] = [
        d
        for d in _objects(rendered_overlays["local"], "Deployment")
        if d["metadata"]["name"] == "orderdesk"
    ]
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] < AGIC_PRESTOP_S
