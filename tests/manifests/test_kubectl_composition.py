"""How the k8s tasks compose kubectl calls (MockContext); test_apiserver.py proves the rest."""

from __future__ import annotations

import json
import re

import pytest
from invoke import Config, MockContext, Result
from invoke.exceptions import Exit

from ops import envconfig, k8s, toolchain
from ops.core import kube, state
from ops.core.run import RecordingRunner
from ops.image import ImageError, signing
from ops.k8s import cert_manager
from ops.k8s.cluster import RolloutFailed
from testkit.support import recorded_commands, recorded_run

VERSION = Result(stdout='{"major": "1", "minor": "36", "gitVersion": "v1.36.3"}')


def replica_set(revision: int, image: str, ready: int) -> dict:
    return {
        "metadata": {
            "name": f"orderdesk-{revision}",
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [{"kind": "Deployment", "name": "orderdesk"}],
        },
        "spec": {"template": {"spec": {"containers": [{"image": image}]}}},
        "status": {"readyReplicas": ready} if ready else {},
    }


# Revision 3 never became ready; 2 failed before it (no pods left); 1 still serves.
HISTORY = Result(
    stdout=json.dumps(
        {
            "items": [
                replica_set(1, "r/orderdesk@sha256:good", 1),
                replica_set(3, "r/orderdesk@sha256:broken", 0),
                replica_set(2, "r/orderdesk@sha256:older-broken", 0),
            ]
        }
    )
)
PROBE_EVENT = Result(
    stdout=json.dumps(
        {
            "items": [
                {
                    "involvedObject": {"name": "orderdesk-3-abcde"},
                    "reason": "Unhealthy",
                    "message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
                }
            ]
        }
    )
)


def mock(runs: dict[str, Result], **settings) -> MockContext:
    config = Config(overrides={"k8s": dict(k8s.DEFAULTS, **settings)})
    patterns = {re.compile(".*" + pattern): result for pattern, result in runs.items()}
    return MockContext(config=config, run=patterns, repeat=True)


@pytest.fixture(autouse=True)
def fake_kubectl(monkeypatch, tmp_path):
    monkeypatch.setattr(toolchain, "require", lambda name: f"/opt/bin/{name}")
    # An empty state dir: no kubeconfig from a deploy on this machine leaks into the commands.
    monkeypatch.setattr(state, "DEFAULT_ROOT", tmp_path)


def recording() -> RecordingRunner:
    """A recorder that answers /version as a 1.36 server does; every other call succeeds."""
    runner = RecordingRunner()
    runner.answer("get", "--raw", "/version", stdout=VERSION.stdout, times=None)
    return runner


def test_the_kubeconfig_deploy_credentials_wrote_is_used(tmp_path):
    kubeconfig = tmp_path / "local" / "kubeconfig"
    kubeconfig.parent.mkdir()
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    runner = recording()
    k8s.rollout(runner.context, env="local", timeout=42)
    assert len(runner.calls) == 2, runner.calls  # /version, then rollout status
    assert all(f"--kubeconfig={kubeconfig}" in call for call in runner.calls), runner.calls


def test_a_successful_rollout_waits_with_a_timeout_and_does_not_roll_back():
    runner = recording()
    k8s.rollout(runner.context, env="local", timeout=42)
    kubectl = ["/opt/bin/kubectl", "--request-timeout=10s"]
    assert runner.calls == [
        [*kubectl, "get", "--raw", "/version"],
        [
            *kubectl,
            "--namespace=orderdesk",
            "rollout",
            "status",
            "deployment/orderdesk",
            "--timeout=42s",
        ],
    ]
    # kubectl's own --timeout, and the hard stop behind it for a server that never answers.
    assert runner.find("rollout", "status").timeout == 42 + 30


def deployment_at(revision: int) -> Result:
    return Result(
        stdout=json.dumps(
            {
                "metadata": {"annotations": {"deployment.kubernetes.io/revision": str(revision)}},
                "spec": {"template": {"spec": {"containers": [{"image": f"image-{revision}"}]}}},
            }
        )
    )


def scripted(runs: dict[str, Result | list[Result]], **settings) -> MockContext:
    """A MockContext whose answers may change between calls (a list is used in order, its last
    answer then repeated): the Deployment before and after an undo."""
    c = mock({}, **settings)
    queues = {re.compile(".*" + pattern): answer for pattern, answer in runs.items()}

    def run(command: str, **kwargs) -> Result:
        for pattern, answer in queues.items():
            if pattern.match(command):
                if isinstance(answer, list):
                    return answer.pop(0) if len(answer) > 1 else answer[0]
                return answer
        raise AssertionError(f"unexpected command {command}")

    recorded_run(c).side_effect = run
    return c


def recorded_before_apply(tmp_path, revision: int | None, replica_set: str = "") -> None:
    state.write_json(
        tmp_path / "local" / "before-apply.json",
        {"revision": revision, "replica_set": replica_set, "image": "", "changed": []},
    )


FAILING = {
    r"get --raw /version": VERSION,
    r"get pods": Result(),
    r"get events --field-selector=type=Warning": PROBE_EVENT,
    r"get events": Result(),
    r" logs ": Result(exited=1, stderr="container web is waiting to start"),
    r"get replicasets": HISTORY,
}


def test_a_failed_rollout_reports_then_returns_once_to_the_revision_recorded_before_apply(
    tmp_path,
):
    # Revision 2 is what `rollout undo` alone would pick; k8s.apply recorded that 1 ran before.
    recorded_before_apply(tmp_path, 1, "orderdesk-1")
    c = scripted(
        {
            **FAILING,
            r"rollout status": [Result(exited=1, stderr="timed out waiting"), Result()],
            r"get deployment orderdesk": [deployment_at(3), deployment_at(1)],
            r"rollout undo": Result(),
        }
    )
    with pytest.raises(RolloutFailed) as failed:
        k8s.rollout(c, env="local", timeout=5)
    message = str(failed.value.message)
    assert failed.value.restored is True
    assert (
        "rolled back to revision 1 (r/orderdesk@sha256:good), the one that ran before, which is "
        "running now" in message
    )
    assert (
        "Revision 3 (r/orderdesk@sha256:broken) failed with Unhealthy: Readiness probe" in message
    )
    steps = [
        " ".join(cmd.split("--namespace=orderdesk ")[1].split()[:2])
        for cmd in recorded_commands(c)[1:]
    ]
    assert steps == [
        "rollout status",
        "get pods",
        "get events",
        "logs --selector=app.kubernetes.io/name=orderdesk",
        "get replicasets",
        "get events",
        # where the Deployment is now, and the recorded ReplicaSet's revision number
        "get deployment",
        "get replicasets",
        "get replicasets",
        "rollout undo",
        # waits for it, then checks that the recorded ReplicaSet is the one running
        "rollout status",
        "get deployment",
        "get replicasets",
    ]
    assert recorded_commands(c)[-4].endswith("rollout undo deployment/orderdesk --to-revision=1")
    assert sum("rollout undo" in command for command in recorded_commands(c)) == 1


# What kubectl says when the Deployment's Progressing condition is ProgressDeadlineExceeded.
DEADLINE_EXCEEDED = 'error: deployment "orderdesk" exceeded its progress deadline'


def test_the_undone_rollouts_deadline_still_on_the_deployment_is_waited_out(tmp_path, monkeypatch):
    """Seen on the local cluster: right after the undo, `rollout status` still read the failed
    rollout's ProgressDeadlineExceeded and failed at once, and a rollback that was finishing well
    was reported as "not ready"."""
    monkeypatch.setattr("ops.core.wait.time.sleep", lambda seconds: None)
    recorded_before_apply(tmp_path, 1, "orderdesk-1")
    c = scripted(
        {
            **FAILING,
            r"rollout status": [
                Result(exited=1, stderr=DEADLINE_EXCEEDED),  # the rollout that failed
                Result(exited=1, stderr=DEADLINE_EXCEEDED),  # the undo, condition not yet replaced
                Result(),
            ],
            r"get deployment orderdesk": [deployment_at(3), deployment_at(1)],
            r"rollout undo": Result(),
        }
    )
    with pytest.raises(RolloutFailed) as failed:
        k8s.rollout(c, env="local", timeout=5)
    assert failed.value.restored is True
    assert "the one that ran before, which is running now" in str(failed.value.message)
    ran = recorded_commands(c)
    undo = next(i for i, command in enumerate(ran) if "rollout undo" in command)
    assert sum(" rollout status " in command for command in ran[undo + 1 :]) == 2


def test_an_undo_that_fails_its_own_rollout_is_not_asked_again(tmp_path, monkeypatch):
    """Only the stale deadline is waited out: a restored revision that really does not become
    ready (here `rollout status` times out) is reported at once, with no second wait."""
    monkeypatch.setattr("ops.core.wait.time.sleep", lambda seconds: None)
    recorded_before_apply(tmp_path, 1, "orderdesk-1")
    c = scripted(
        {
            **FAILING,
            r"rollout status": Result(
                exited=1, stderr="error: timed out waiting for the condition"
            ),
            r"get deployment orderdesk": [deployment_at(3), deployment_at(1)],
            r"rollout undo": Result(),
        }
    )
    with pytest.raises(RolloutFailed) as failed:
        k8s.rollout(c, env="local", timeout=5)
    assert failed.value.restored is False
    assert "the one that ran before, but it is not ready after 5 s either" in str(
        failed.value.message
    )
    ran = recorded_commands(c)
    undo = next(i for i, command in enumerate(ran) if "rollout undo" in command)
    assert sum(" rollout status " in command for command in ran[undo + 1 :]) == 1


def test_a_failed_rollout_that_did_not_move_the_revision_is_not_undone(tmp_path):
    """An unchanged pod template (the same digest applied again): revision 3 still runs, and an
    undo would return to revision 2 or 1, an image this deploy never asked for."""
    recorded_before_apply(tmp_path, 3, "orderdesk-3")
    c = scripted(
        {
            **FAILING,
            r"rollout status": Result(exited=1, stderr="timed out waiting"),
            r"get deployment orderdesk": deployment_at(3),
        }
    )
    with pytest.raises(RolloutFailed) as failed:
        k8s.rollout(c, env="local", timeout=5)
    assert failed.value.restored is False
    assert "was not rolled back: deployment/orderdesk still runs revision 3" in str(
        failed.value.message
    )
    assert not any("rollout undo" in command for command in recorded_commands(c))


def test_a_failed_first_install_is_not_rolled_back(tmp_path):
    recorded_before_apply(tmp_path, None)
    c = scripted({**FAILING, r"rollout status": Result(exited=1)})
    with pytest.raises(RolloutFailed, match=r"this was the first install of deployment/orderdesk"):
        k8s.rollout(c, env="local", timeout=5)
    assert not any("rollout undo" in command for command in recorded_commands(c))


def test_a_failed_rollback_is_reported(tmp_path):
    recorded_before_apply(tmp_path, 1, "orderdesk-1")
    c = scripted(
        {
            **FAILING,
            r"rollout status": Result(exited=1),
            r"get deployment orderdesk": deployment_at(3),
            r"rollout undo": Result(exited=1, stderr='error: no rollout history found for "x"'),
        }
    )
    with pytest.raises(Exit, match=r"could not be rolled back to revision 1 \(error: no rollout"):
        k8s.rollout(c, env="local", timeout=5)


def test_rollback_to_a_revision_verifies_its_image_first(monkeypatch):
    good = f"127.0.0.1:5000/orderdesk:0.1.0@sha256:{'a' * 64}"
    history = Result(stdout=json.dumps({"items": [replica_set(3, good, 0)]}))
    verified: list[tuple[str, str]] = []
    monkeypatch.setattr(
        signing, "verify_reference", lambda c, env, repo, digest: verified.append((repo, digest))
    )
    c = mock(
        {r"get --raw /version": VERSION, r"get replicasets": history, r"rollout undo": Result()}
    )
    k8s.rollback(c, env="local", revision=3)
    assert verified == [("127.0.0.1:5000/orderdesk", f"sha256:{'a' * 64}")]
    assert recorded_commands(c)[-1].endswith("rollout undo deployment/orderdesk --to-revision=3")


def test_rollback_to_an_unsigned_revision_changes_nothing(monkeypatch):
    image = f"127.0.0.1:5000/orderdesk:0.1.0@sha256:{'b' * 64}"
    history = Result(stdout=json.dumps({"items": [replica_set(3, image, 0)]}))

    def unsigned(c, env, repo, digest):
        raise ImageError(f"{digest} is not signed by cosign.pub: no matching signatures")

    monkeypatch.setattr(signing, "verify_reference", unsigned)
    c = mock(
        {r"get --raw /version": VERSION, r"get replicasets": history, r"rollout undo": Result()}
    )
    with pytest.raises(Exit, match=r"k8s.rollback --env local: sha256:b+ is not signed .*nothing"):
        k8s.rollback(c, env="local", revision=3)
    assert not any("rollout undo" in command for command in recorded_commands(c))
    with pytest.raises(Exit, match=r"has no revision 7 \(it has: 3\)"):
        k8s.rollback(c, env="local", revision=7)


def test_cloud_environments_always_use_their_aks_context():
    c = mock(
        {r"get --raw /version": Result(stdout='{"major": "1", "minor": "33"}'), r".": Result()},
        local_context="kind-laptop",
    )
    k8s.rollback(c, env="prod")
    ran = recorded_commands(c)
    assert len(ran) == 2
    for command in ran:
        assert "--context=aks-orderdesk-prod" in command


def test_local_uses_the_configured_context_and_kubeconfig():
    c = mock(
        {r"get --raw /version": VERSION, r".": Result()},
        local_context="kind-laptop",
        kubeconfig="/home/me/kubeconfig",
        request_timeout=3,
    )
    k8s.rollback(c, env="local")
    assert recorded_commands(c)[0] == (
        "/opt/bin/kubectl --request-timeout=3s --kubeconfig=/home/me/kubeconfig "
        "--context=kind-laptop get --raw /version"
    )


def test_an_unreachable_cloud_cluster_names_the_fix():
    c = mock({r"get --raw /version": Result(exited=1, stderr="dial tcp: i/o timeout")})
    with pytest.raises(Exit) as failure:
        k8s.rollback(c, env="prod")
    message = str(failure.value.message)
    assert "cannot reach the Kubernetes API server (context aks-orderdesk-prod)" in message
    assert "dial tcp: i/o timeout" in message
    assert (
        "az aks get-credentials --resource-group rg-orderdesk-prod --name aks-orderdesk-prod"
        in (message)
    )


def test_a_cluster_of_another_version_is_refused():
    from ops import envconfig
    from ops.k8s.cluster import Kubectl

    c = mock({r"get --raw /version": Result(stdout='{"major": "1", "minor": "31+"}')})
    kubectl = Kubectl(c, kube.target(c, envconfig.load("local")))
    with pytest.raises(
        Exit, match=r"runs Kubernetes 1.31, but env.yaml says local.kubernetes.version"
    ):
        kubectl.require_version()


def test_open_forwards_loopback_to_the_service_and_prints_the_url(capsys):
    c = mock({r"port-forward": Result(exited=0)})
    k8s.open_(c, env="local", port=8081)
    # --request-timeout bounds the upgrade request, not the stream: kubernetes/kubernetes#59669
    # (a timer on port-forward) was turned down, so the forward lasts until Ctrl-C.
    assert recorded_commands(c) == [
        "/opt/bin/kubectl --request-timeout=10s --namespace=orderdesk "
        "port-forward --address=127.0.0.1 service/orderdesk 8081:80"
    ]
    assert "http://127.0.0.1:8081/" in capsys.readouterr().out


def test_open_refuses_a_port_that_is_not_one():
    c = mock({})
    with pytest.raises(Exit, match="--port 70000 is not a TCP port; choose one of 1-65535"):
        k8s.open_(c, env="local", port=70000)
    assert recorded_commands(c) == []


def test_cert_manager_is_its_pinned_chart_on_the_environments_aks_context_with_a_timeout():
    environment = envconfig.load("dev")
    assert environment.azure is not None
    runner = RecordingRunner()
    cert_manager.install(runner.context, environment)
    pin, _ = cert_manager.chart_pin()
    values = cert_manager.chart_values(environment)
    [call] = runner.records
    assert call.argv == [
        "/opt/bin/helm",
        f"--kube-context={environment.azure.aks.cluster_name}",
        *("upgrade", "--install", pin.release, pin.chart, "--repo", pin.repository),
        *("--version", pin.version, "--namespace", pin.namespace, "--create-namespace"),
        *values,
        *("--wait=watcher", "--timeout", cert_manager.HELM_WAIT),
    ]
    # helm's own --timeout comes first; the Runner's stops a helm that ignores it.
    assert call.timeout > 5 * 60
