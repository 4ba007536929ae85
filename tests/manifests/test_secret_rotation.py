"""A secret's rotation (its version bumped in env.yaml) changes the pod template of the pods that
mount it, so the rollout restarts them to read the new value; other rotations leave them be."""

from __future__ import annotations

from typing import Any

import pytest

from ops.k8s.render import SECRET_VERSIONS_ANNOTATION, render
from ops.k8s.values import RenderValues
from tests.manifests.conftest import sample_values


def with_version(base: RenderValues, name: str, version: int) -> RenderValues:
    azure = base.environment.azure
    assert azure is not None
    vault = azure.key_vault.model_copy(
        update={"secret_versions": {**azure.key_vault.secret_versions, name: version}}
    )
    environment = base.environment.model_copy(
        update={"azure": azure.model_copy(update={"key_vault": vault})}
    )
    return RenderValues.gather(environment, base.image, base.tf_outputs)


def app_template(values: RenderValues) -> dict[str, Any]:
    deployment = render(values).find("Deployment", "orderdesk")
    assert deployment is not None
    template: dict[str, Any] = deployment["spec"]["template"]
    return template


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_app_pods_carry_the_versions_of_the_secrets_they_mount(
    kustomize: str, env: str
) -> None:
    annotations = app_template(sample_values(env))["metadata"]["annotations"]
    assert annotations[SECRET_VERSIONS_ANNOTATION] == (
        "django-secret-key=1,card-fingerprint-key=1,database-password=1"
    )


@pytest.mark.parametrize("name", ["django-secret-key", "card-fingerprint-key", "database-password"])
def test_rotating_a_secret_the_app_mounts_changes_its_pod_template(
    kustomize: str, name: str
) -> None:
    base = sample_values("prod")
    before = app_template(base)
    after = app_template(with_version(base, name, 2))
    assert after != before
    assert f"{name}=2" in after["metadata"]["annotations"][SECRET_VERSIONS_ANNOTATION]
    # Only the annotation moved: the rollout is the secret's, nothing else changed.
    after["metadata"]["annotations"][SECRET_VERSIONS_ANNOTATION] = before["metadata"][
        "annotations"
    ][SECRET_VERSIONS_ANNOTATION]
    assert after == before


def test_rotating_the_teams_url_leaves_the_app_pods_alone(kustomize: str) -> None:
    base = sample_values("prod")
    assert app_template(with_version(base, "teams-webhook-url", 5)) == app_template(base)
