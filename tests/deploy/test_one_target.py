"""A deploy acts on the one Target it resolved: every kubectl line it runs, its checks', its
rollback's and its record's included, is composed from that Target's environment, state files
and settings, and nothing reads env.yaml or the invoke settings again once the deploy runs.

The stages hold the plan's own steps (ops/deploy/plan.py: `kubectl version`, deploy's checks,
azure.dns) and run through runner.execute, as `invoke deploy` runs them after preflight. kubectl
and az answer from a RecordingRunner, the Kubernetes API from tests/kubeapi.py's fake;
test_commands.py runs the whole Azure deploy against a fake shell.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from invoke.exceptions import Exit

from ops import azure, envconfig
from ops.core import kube
from ops.core.run import RecordingRunner
from ops.core.settings import Settings
from ops.core.target import Target
from ops.deploy import checks, runner
from ops.deploy.plan import Stage, Step, check_step, kubectl_step, task_step
from ops.k8s import watch
from tests.kubeapi import FakeCluster, FakeDeployment
from tests.manifests.conftest import write_image_record

DIGEST = "sha256:" + "c" * 64
INGRESS_IP = "203.0.113.10"
SHA = "f" * 40
# A bound no default has: the rollback's message shows which one it waited with.
ROLLOUT_TIMEOUT = 42
CERTIFICATE_READY = json.dumps({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})


@dataclass
class Reads:
    """What ran during the deploy: kube targets composed (with what), API connections, and
    reads of env.yaml or the settings."""

    composed: list[tuple[Any, ...]] = field(default_factory=list)
    targets: list[kube.KubeTarget] = field(default_factory=list)
    connected: list[kube.KubeTarget] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)


@pytest.fixture
def deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Target, RecordingRunner, FakeDeployment, Reads]:
    """prod's Target on a RecordingRunner, with what the earlier stages leave in its state (a
    kubeconfig, image.json, the Terraform outputs, the revision that ran before apply); watched
    from the moment the Target is resolved."""
    recording = RecordingRunner(
        config_overrides={
            "state_dir": str(tmp_path),
            "k8s": {"kubectl": "kubectl", "rollout_timeout": ROLLOUT_TIMEOUT},
        }
    )
    target = Target.resolve(recording.context, "prod")
    target.state.kubeconfig.parent.mkdir(parents=True)
    target.state.kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    write_image_record(tmp_path, "prod", DIGEST, target.environment)
    target.state.tf_outputs.write_text(json.dumps({"ingress_public_ip": INGRESS_IP}))
    before = {"revision": 1, "replica_set": "orderdesk-1", "image": "r/orderdesk:1"}
    target.state.before_apply.write_text(json.dumps({**before, "changed": []}))
    monkeypatch.setattr("ops.core.azcli.find", lambda name: name)

    reads = Reads()
    api = FakeDeployment(revision=2, images={1: "r/orderdesk:1", 2: "r/orderdesk:2"})
    compose = kube.for_environment

    def for_environment(*args: Any, **kwargs: Any) -> kube.KubeTarget:
        reads.composed.append(args)
        reads.targets.append(compose(*args, **kwargs))
        return reads.targets[-1]

    def connect(kube_target: kube.KubeTarget) -> FakeCluster:
        reads.connected.append(kube_target)
        return FakeCluster(kube_target, api)

    def counted(name: str, read: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            reads.loads.append(name)
            return read(*args, **kwargs)

        return call

    monkeypatch.setattr(kube, "for_environment", for_environment)
    monkeypatch.setattr(watch, "connect", connect)
    monkeypatch.setattr(envconfig, "load_all", counted("env.yaml", envconfig.load_all))
    monkeypatch.setattr(envconfig, "load", counted("env.yaml", envconfig.load))
    monkeypatch.setattr(Settings, "read", staticmethod(counted("settings", Settings.read)))
    return target, recording, api, reads


def kubectl_calls(recording: RecordingRunner) -> list[list[str]]:
    calls = [argv for argv in recording.calls if argv[0] == "kubectl"]
    assert calls, recording.calls
    return calls


def assert_composed_from(target: Target, reads: Reads, recording: RecordingRunner) -> None:
    """Each kubectl line and API connection came from a kube target made of the Target's own
    environment, state and settings objects, composed when the step ran; nothing was re-read."""
    assert reads.loads == []
    assert reads.composed
    for environment, files, settings in reads.composed:
        assert environment is target.environment
        assert files is target.state
        assert settings is target.settings.k8s
    for connected in reads.connected:
        assert any(connected is composed for composed in reads.targets)
    for argv in kubectl_calls(recording):
        assert f"--kubeconfig={target.state.kubeconfig}" in argv, argv
        assert "--context=aks-orderdesk-prod" in argv, argv


def test_every_kubectl_line_of_a_deploy_comes_from_its_target(
    deploy: tuple[Target, RecordingRunner, FakeDeployment, Reads],
) -> None:
    target, recording, _, reads = deploy
    recording.answer("get", "deployment", "orderdesk", stdout=f"r/orderdesk@{DIGEST}")
    recording.answer("get", "certificate", checks.APP_CERTIFICATE, stdout=CERTIFICATE_READY)
    recording.answer("get", "ingress", azure.INGRESS, stdout=INGRESS_IP)
    recording.answer("record-set", "a", "show", stdout=INGRESS_IP + "\n", times=None)
    stages = [
        Stage("credentials", "a kubeconfig", (kubectl_step(target, "version"),)),
        Stage(
            "kubernetes",
            "checks",
            (
                check_step("deployment image", checks.check_deployment_image, target),
                check_step("certificate", checks.certificate_ready, target),
            ),
        ),
        Stage("dns", "records", (task_step("azure.dns", target, lambda: azure.dns_for(target)),)),
    ]
    record = runner.execute(target, stages, SHA)
    assert record.result == "succeeded"
    kubectl = kubectl_calls(recording)
    verbs = [
        " ".join(argv[argv.index("--context=aks-orderdesk-prod") + 1 :][:3]) for argv in kubectl
    ]
    assert verbs == [
        "version",
        "--namespace=orderdesk get deployment",
        "--namespace=orderdesk get certificate",
        "--namespace=orderdesk get ingress",
        "--namespace=orderdesk annotate deployment",
    ]
    # One kube target per kubectl line: each composed when its step ran.
    assert len(reads.targets) == len(kubectl)
    assert_composed_from(target, reads, recording)


def test_the_rollback_acts_on_the_targets_cluster_with_its_rollout_timeout(
    deploy: tuple[Target, RecordingRunner, FakeDeployment, Reads],
) -> None:
    target, recording, api, reads = deploy

    def unhealthy(_c: object) -> None:
        raise Exit("smoke test: https://orderdesk.example.com/readyz: not after 120 s")

    stages = [Stage("kubernetes", "smoke", (Step("smoke test", unhealthy, rolls_back=True),))]
    with pytest.raises(Exit) as caught:
        runner.execute(target, stages, SHA)
    # The fake API still runs revision 2 after the undo: the wait used the Target's bound.
    assert (
        f"rolled back to revision 1 (r/orderdesk:1), the one that ran before, but it is not "
        f"ready after {ROLLOUT_TIMEOUT} s either" in str(caught.value.message)
    )
    [undo] = kubectl_calls(recording)
    assert undo[-3:] == ["undo", "deployment/orderdesk", "--to-revision=1"]
    assert {"deployment", "replicasets", "watch"} <= set(api.reads)
    assert reads.connected
    assert_composed_from(target, reads, recording)
