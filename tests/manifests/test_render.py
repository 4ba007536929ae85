"""k8s.render: values land where they belong, and bad input stops with the file and field named."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from ops import envconfig
from ops.k8s.render import MANIFESTS_DIR, Document, Rendered, RenderError, display_path, render
from ops.k8s.validate import SchemaError, validate
from ops.k8s.values import RenderValues, ValuesError, image_from_record, parse_image
from tests.manifests.conftest import (
    DIGEST_A,
    ENVIRONMENTS,
    pod_templates,
    sample_image,
    sample_values,
    write_image_record,
)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_overlay_renders_valid_for_its_kubernetes_version(rendered_overlays, env):
    rendered = rendered_overlays[env]
    version = envconfig.load(env).kubernetes.version
    assert validate(rendered, version) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_container_runs_the_pinned_image(rendered_overlays, env):
    expected = sample_image(env)
    templates = pod_templates(rendered_overlays[env])
    assert templates, f"{env} renders no workload"
    for _, pod in templates:
        containers = pod["containers"] + pod.get("initContainers", [])
        assert containers
        for container in containers:
            assert container["image"] == expected
            assert container["image"].endswith("@" + DIGEST_A)


def _get(rendered: Rendered, kind: str, name: str = "orderdesk") -> dict:
    document = rendered.find(kind, name)
    assert document is not None, f"{kind}/{name} not rendered"
    return document


def _config(rendered: Rendered) -> dict[str, str]:
    [config] = [d for d in rendered.documents if d["kind"] == "ConfigMap"]
    return config["data"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_settings_come_from_env_yaml(rendered_overlays, env):
    environment = envconfig.load(env)
    rendered = rendered_overlays[env]
    data = _config(rendered)
    assert data["DJANGO_ALLOWED_HOSTS"] == ",".join(environment.app.hosts)
    assert data["GUNICORN_WORKERS"] == str(environment.app.gunicorn.workers)
    assert data["DJANGO_SETTINGS_MODULE"] == "orderdesk.settings.production"
    namespaced = [d for d in rendered.documents if d["kind"] not in {"Namespace", "ClusterIssuer"}]
    assert len(namespaced) >= 4
    for document in namespaced:
        assert document["metadata"]["namespace"] == environment.kubernetes.namespace


def test_local_runs_sqlite_with_a_fixed_replica_count(rendered_overlays):
    rendered = rendered_overlays["local"]
    assert _get(rendered, "Deployment")["spec"]["replicas"] == envconfig.load("local").app.replicas
    assert _config(rendered)["ORDERDESK_DATA_DIR"] == "/var/lib/orderdesk"
    assert "DATABASE_URL" not in _config(rendered)
    kinds = {d["kind"] for d in rendered.documents}
    assert kinds == {"Namespace", "ServiceAccount", "ConfigMap", "Service", "Deployment"}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_cloud_values_come_from_env_yaml_and_terraform(rendered_overlays, env):
    environment = envconfig.load(env)
    assert environment.azure is not None
    rendered = rendered_overlays[env]
    outputs = sample_values(env).tf_outputs
    hosts = list(environment.app.hosts)

    hpa = _get(rendered, "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] == environment.app.replicas
    assert hpa["spec"]["maxReplicas"] == 3 * environment.app.replicas
    assert "replicas" not in _get(rendered, "Deployment")["spec"], "the HPA owns the count"

    ingress = _get(rendered, "Ingress")
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == hosts
    assert ingress["spec"]["tls"][0]["hosts"] == hosts
    assert _get(rendered, "Certificate", "orderdesk-tls")["spec"]["dnsNames"] == hosts

    provider = _get(rendered, "SecretProviderClass", "orderdesk-keyvault")["spec"]["parameters"]
    assert provider["keyvaultName"] == outputs["key_vault_name"]
    assert provider["tenantId"] == outputs["tenant_id"]
    assert provider["clientID"] == outputs["workload_identity_client_id"]
    account = _get(rendered, "ServiceAccount")["metadata"]["annotations"]
    assert account["azure.workload.identity/client-id"] == outputs["workload_identity_client_id"]

    web = _get(rendered, "NetworkPolicy", "orderdesk-allow-web")["spec"]["ingress"][0]["from"][0]
    assert web["ipBlock"]["cidr"] == str(environment.azure.network.subnets.appgw)
    egress = _get(rendered, "NetworkPolicy", "orderdesk-allow-egress")["spec"]["egress"][1]
    assert egress["to"][0]["ipBlock"]["cidr"] == str(environment.azure.network.subnets.database)

    data = _config(rendered)
    assert data["DATABASE_URL"] == (
        f"postgresql://orderdesk@{outputs['database_host']}:5432/orderdesk"
    )
    assert data["DATABASE_PASSWORD_FILE"] == "/mnt/secrets/database-password"
    assert data["DJANGO_CSRF_TRUSTED_ORIGINS"] == ",".join(f"https://{h}" for h in hosts)

    volumes = _get(rendered, "Deployment")["spec"]["template"]["spec"]["volumes"]
    [secrets] = [volume for volume in volumes if volume["name"] == "secrets"]
    assert secrets == {
        "name": "secrets",
        "csi": {
            "driver": "secrets-store.csi.k8s.io",
            "readOnly": True,
            "volumeAttributes": {
                "secretProviderClass": "orderdesk-keyvault"  # pragma: allowlist secret
            },  # pragma: allowlist secret
        },
    }


def test_issuers_differ_by_environment_and_are_cluster_scoped(rendered_overlays):
    for env, issuer in (("dev", "letsencrypt-staging"), ("prod", "letsencrypt-production")):
        rendered = rendered_overlays[env]
        certificate = _get(rendered, "Certificate", "orderdesk-tls")
        assert certificate["spec"]["issuerRef"]["name"] == issuer
        assert "namespace" not in _get(rendered, "ClusterIssuer", issuer)["metadata"]


def test_a_changed_setting_renames_the_configmap(kustomize):
    """Pods roll when settings change: the ConfigMap's name carries a hash of its content."""
    base = sample_values("prod")
    bigger = base.environment.model_copy(
        update={
            "app": base.environment.app.model_copy(
                update={"gunicorn": envconfig.Gunicorn(workers=8, threads=4)}
            )
        }
    )
    first = render(base)
    second = render(RenderValues.gather(bigger, base.image, base.tf_outputs))
    names = [
        {d["metadata"]["name"] for d in r.documents if d["kind"] == "ConfigMap"}
        for r in (first, second)
    ]
    assert names[0] != names[1]


def test_the_image_record_of_image_push_is_read(tmp_path):
    write_image_record(tmp_path, "prod", DIGEST_A)
    image = image_from_record(tmp_path / "prod" / "image.json")
    assert image.reference == sample_image("prod")


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("acrorderdeskprod.azurecr.io/orderdesk:1.0", "pinned by digest"),
        ("acrorderdeskprod.azurecr.io/orderdesk@sha256:1234", "pinned by digest"),
    ],
)
def test_an_unpinned_image_is_refused(reference, message):
    with pytest.raises(ValuesError, match=message):
        parse_image(reference)


def test_an_image_from_another_repository_is_refused():
    environment = envconfig.load("prod")
    image = parse_image(f"docker.io/someone/orderdesk:1@{DIGEST_A}")
    with pytest.raises(ValuesError, match=r"not from acrorderdeskprod.azurecr.io/orderdesk"):
        RenderValues.gather(environment, image, sample_values("prod").tf_outputs)


def test_missing_terraform_outputs_are_named():
    environment = envconfig.load("dev")
    outputs = dict(sample_values("dev").tf_outputs)
    del outputs["key_vault_name"], outputs["database_host"]
    with pytest.raises(ValuesError, match=r"lack key_vault_name, database_host"):
        RenderValues.gather(environment, parse_image(sample_image("dev")), outputs)


def test_terraform_outputs_of_another_environment_are_refused():
    outputs = dict(
        sample_values("dev").tf_outputs, registry_login_server="acrorderdeskprod.azurecr.io"
    )
    with pytest.raises(ValuesError, match=r"not env.yaml's acrorderdeskdev.azurecr.io"):
        RenderValues.gather(envconfig.load("dev"), parse_image(sample_image("dev")), outputs)


@pytest.fixture
def manifests_copy(tmp_path: Path) -> Path:
    target = tmp_path / "manifests"
    shutil.copytree(MANIFESTS_DIR, target)
    return target


def test_a_field_the_api_does_not_know_is_named_with_its_file(kustomize, manifests_copy):
    deployment = manifests_copy / "base" / "deployment.yaml"
    text = deployment.read_text()
    deployment.write_text(text.replace("containerPort: 5000", 'containerPort: "five thousand"'))
    rendered = render(sample_values("prod"), manifests_copy)
    problems = [str(problem) for problem in validate(rendered, "1.33")]
    assert len(problems) == 1
    assert problems[0].startswith(f"{display_path(deployment)}: Deployment/orderdesk: ")
    assert "spec.template.spec.containers[0].ports[0].containerPort" in problems[0]


def test_an_unknown_field_is_refused_strictly(kustomize, manifests_copy):
    service = manifests_copy / "components" / "ingress-tls" / "ingress.yaml"
    service.write_text(service.read_text().replace("pathType: Exact", "pathTyp: Exact", 1))
    rendered = render(sample_values("dev"), manifests_copy)
    problems = validate(rendered, "1.33")
    assert {problem.origin for problem in problems} == {
        display_path(manifests_copy / "components" / "ingress-tls" / "ingress.yaml")
    }
    messages = {(problem.path, problem.message) for problem in problems}
    assert messages == {
        ("spec.rules[0].http.paths[0]", "'pathType' is a required property"),
        (
            "spec.rules[0].http.paths[0]",
            "Additional properties are not allowed ('pathTyp' was unexpected)",
        ),
    }


def test_a_custom_resource_is_checked_against_its_schema(kustomize, manifests_copy):
    certificate = manifests_copy / "components" / "ingress-tls" / "certificate.yaml"
    certificate.write_text(certificate.read_text().replace("algorithm: ECDSA", "algorithm: DSA"))
    [problem] = validate(render(sample_values("prod"), manifests_copy), "1.33")
    assert problem.object == "Certificate/orderdesk-tls"
    assert problem.path == "spec.privateKey.algorithm"


def test_kinds_the_target_version_does_not_serve_are_refused(rendered_overlays):
    """autoscaling/v2beta2 went away in 1.26: an HPA written for it is refused for 1.36."""
    hpa = copy.deepcopy(_get(rendered_overlays["prod"], "HorizontalPodAutoscaler"))
    hpa["apiVersion"] = "autoscaling/v2beta2"
    [problem] = validate(Rendered("old", [hpa]), "1.36")
    assert problem.object == "HorizontalPodAutoscaler/orderdesk"
    assert "Kubernetes 1.36 has no autoscaling/v2beta2 HorizontalPodAutoscaler" in problem.message


def test_a_version_without_schemas_is_an_error(rendered_overlays):
    with pytest.raises(SchemaError, match=r"no schemas for Kubernetes 1.19"):
        validate(rendered_overlays["local"], "1.19")


def test_a_placeholder_left_behind_is_named(kustomize, manifests_copy):
    service = manifests_copy / "base" / "service.yaml"
    service.write_text(
        service.read_text().replace(
            "  name: orderdesk\n",
            "  name: orderdesk\n  annotations:\n    owner: set-by-k8s-render\n",
        )
    )
    with pytest.raises(RenderError) as failure:
        render(sample_values("local"), manifests_copy)
    assert f"{display_path(service)}: Service/orderdesk: metadata.annotations.owner" in str(
        failure.value
    )


def test_a_broken_overlay_file_is_named_by_kustomize(kustomize, manifests_copy):
    patch = manifests_copy / "overlays" / "local" / "sqlite-volume.yaml"
    patch.write_text(patch.read_text() + "  bad: [unclosed\n")
    with pytest.raises(RenderError, match=r"sqlite-volume.yaml"):
        render(sample_values("local"), manifests_copy)


def test_an_environment_without_overlay_is_refused(manifests_copy):
    shutil.rmtree(manifests_copy / "overlays" / "dev")
    with pytest.raises(RenderError, match=r"no overlay .*overlays/dev/kustomization.yaml"):
        render(sample_values("dev"), manifests_copy)


def test_the_crd_schemas_note_their_source():
    schema_files = sorted((MANIFESTS_DIR / "schemas").rglob("*.json"))
    assert schema_files
    for schema_file in schema_files:
        schema = json.loads(schema_file.read_text())
        assert "Written for Orderdesk from" in schema["$comment"], schema_file


PROMETHEUS_RULE: Document = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": {"name": "orderdesk", "namespace": "orderdesk"},
    "spec": {
        "groups": [
            {
                "name": "orderdesk.rules",
                "rules": [
                    {"record": "job:up:sum", "expr": "sum by (job) (up)"},
                    {
                        "alert": "OrderdeskTargetMissing",
                        "expr": "up == 0",
                        "for": "5m",
                        "labels": {"severity": "critical"},
                        "annotations": {"summary": "A target is down."},
                    },
                ],
            }
        ]
    },
}


def test_prometheus_rules_are_checked_against_their_schema():

    good = Rendered("test", [copy.deepcopy(PROMETHEUS_RULE)])
    assert validate(good, "1.33") == []
    broken = copy.deepcopy(PROMETHEUS_RULE)
    rule = broken["spec"]["groups"][0]["rules"][1]
    rule["record"] = "also:a:record"
    rule["for"] = "five minutes"
    problems = {
        (p.path, p.message.split(" ")[0]) for p in validate(Rendered("t", [broken]), "1.33")
    }
    assert ("spec.groups[0].rules[1].for", "'five") in problems
    assert any(path == "spec.groups[0].rules[1]" for path, _ in problems)
