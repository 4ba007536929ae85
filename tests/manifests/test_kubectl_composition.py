"""How the k8s tasks compose their calls: kubectl (MockContext) for what they change, the API
(tests/kubeapi.py's fake) for what they read. test_apiserver.py, tests/deploy/test_watch.py and
tests/deploy/test_local.py prove the rest against real API servers."""

from __future__ import annotations

import re
import time

import pytest
from invoke import Config, MockContext, Result
from invoke.exceptions import Exit

from ops import k8s, toolchain
from ops.core import state
from ops.core.run import RecordingRunner
from ops.core.target import Target
from ops.image import ImageError, signing
from ops.k8s import cert_manager, watch
from ops.k8s.cluster import Kubectl, RolloutFailed
from testkit.support import free_port, recorded_commands, recorded_run
from tests.kubeapi import FakeCluster, FakeDeployment, write_kubeconfig

CONNECT = watch.connect
GOOD, BROKEN = "r/orderdesk@sha256:good", "r/orderdesk@sha256:broken"
PROBE = "Readiness probe failed: HTTP probe failed with statuscode: 503"


def mock(runs: dict[str, Result], **settings) -> MockContext:
    config = Config(overrides={"k8s": settings})
    patterns = {re.compile(".*" + pattern): result for pattern, result in runs.items()}
    return MockContext(config=config, run=patterns, repeat=True)


@pytest.fixture(autouse=True)
def fake_kubectl(monkeypatch, tmp_path):
    monkeypatch.setattr(toolchain, "require", lambda name: f"/opt/bin/{name}")
    # An empty state dir: no kubeconfig from a deploy on this machine leaks into the commands.
    monkeypatch.setattr(state, "DEFAULT_ROOT", tmp_path)


@pytest.fixture(autouse=True)
def api(monkeypatch) -> FakeDeployment:
    """Revision 3 never became ready (its pod fails its readiness probe); 2 failed before it
    (no pods left); 1 is the one before."""
    fake = FakeDeployment(
        revision=3,
        images={1: GOOD, 2: "r/orderdesk@sha256:older-broken", 3: BROKEN},
        never_ready={3},
        probe_message=PROBE,
        log="gunicorn: listening on the wrong port",
    )
    monkeypatch.setattr(watch, "connect", lambda target: FakeCluster(target, fake))
    return fake


def undoing(api: FakeDeployment, undo: Result | None = None) -> MockContext:
    """A MockContext that only expects `rollout undo`, which moves the fake Deployment."""
    c = mock({})

    def run(command: str, **kwargs) -> Result:
        found = re.search(r" rollout undo deployment/orderdesk --to-revision=(\d+)$", command)
        assert found, f"unexpected command {command}"
        if undo is not None:
            return undo
        api.undo_to(int(found.group(1)))
        return Result()

    recorded_run(c).side_effect = run
    return c


def recorded_before_apply(tmp_path, revision: int | None, replica_set: str = "") -> None:
    state.write_json(
        tmp_path / "local" / "before-apply.json",
        {"revision": revision, "replica_set": replica_set, "image": "", "changed": []},
    )


def after(reads: list[str], mark: str) -> list[str]:
    assert mark in reads, reads
    return reads[reads.index(mark) + 1 :]


def test_the_kubeconfig_deploy_credentials_wrote_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(watch, "connect", CONNECT)
    kubeconfig = write_kubeconfig(
        tmp_path / "local" / "kubeconfig", "https://127.0.0.1:6443", "orderdesk-local"
    )
    c = mock({})
    target = Target.resolve(c, "local").kube()
    assert target.kubeconfig == str(kubeconfig)
    assert watch.connect(target).api.configuration.host == "https://127.0.0.1:6443"


def test_a_successful_rollout_is_watched_and_not_rolled_back(api, capsys):
    api.never_ready = set()
    c = mock({})
    k8s.rollout(c, env="local", timeout=42)
    assert recorded_commands(c) == []  # no kubectl: read and watched through the API
    assert api.reads[:2] == ["version", "watch"]
    out = capsys.readouterr().out
    assert 'k8s.rollout --env local: deployment "orderdesk" successfully rolled out' in out
    assert "k8s.rollout --env local: deployment/orderdesk is up to date" in out


def test_a_failed_rollout_reports_then_returns_once_to_the_revision_recorded_before_apply(
    tmp_path, api, capsys
):
    # Revision 2 is what `rollout undo` alone would pick; k8s.apply recorded that 1 ran before.
    recorded_before_apply(tmp_path, 1, "orderdesk-1")
    c = undoing(api)
    with pytest.raises(RolloutFailed) as failed:
        k8s.rollout(c, env="local", timeout=5)
    message = str(failed.value.message)
    assert failed.value.restored is True
    assert (
        "rolled back to revision 1 (r/orderdesk@sha256:good), the one that ran before, which is "
        "running now" in message
    )
    assert (
        f"Revision 3 (r/orderdesk@sha256:broken) failed with pod orderdesk-3-abcde: {PROBE} "
        "(3 times)" in message
    )
    captured = capsys.readouterr()
    assert "exceeded its progress deadline" in captured.err
    report = captured.out
    assert "revision 3: orderdesk-3 r/orderdesk@sha256:broken (0/0 ready)" in report
    assert "orderdesk-3-abcde  Running  0/1 ready  0 restarts" in report
    assert f"Warning  Unhealthy  pod/orderdesk-3-abcde: {PROBE} (x3)" in report
    assert "[orderdesk-3-abcde/web] gunicorn: listening on the wrong port" in report
    assert recorded_commands(c) == [
        "/opt/bin/kubectl --request-timeout=10s --namespace=orderdesk "
        "rollout undo deployment/orderdesk --to-revision=1"
    ]
    # Before the undo: where the Deployment is and the recorded ReplicaSet's number; after it,
    # a wait for it, then a check that the recorded ReplicaSet is the one running.
    assert after(api.reads, "undo to 1") == ["watch", "deployment", "replicasets"]


def test_the_undone_rollouts_deadline_still_on_the_deployment_is_waited_out(tmp_path, api):
    """Seen on the local cluster: right after the undo, the Deployment still showed the failed
    rollout's ProgressDeadlineExceeded, and a rollback that was finishing well was reported as
    "not ready"."""
    recorded_before_apply(tmp_path, 1, "orderdesk-1")
    api.stale_deadline = 2
    c = undoing(api)
    with pytest.raises(RolloutFailed) as failed:
        k8s.rollout(c, env="local", timeout=5)
    assert failed.value.restored is True
    assert "the one that ran before, which is running now" in str(failed.value.message)
    assert after(api.reads, "undo to 1").count("watch") == 3


def test_an_undo_that_fails_its_own_rollout_is_reported_after_its_timeout(tmp_path, api):
    """A restored revision that really does not become ready is waited for once, for the
    rollout timeout, then reported."""
    recorded_before_apply(tmp_path, 1, "orderdesk-1")
    api.never_ready = {1, 3}
    c = undoing(api)
    started = time.monotonic()
    with pytest.raises(RolloutFailed) as failed:
        k8s.rollout(c, env="local", timeout=2)
    assert 2 <= time.monotonic() - started < 10
    assert failed.value.restored is False
    assert "the one that ran before, but it is not ready after 2 s either" in str(
        failed.value.message
    )
    assert len(recorded_commands(c)) == 1


def test_a_failed_rollout_that_did_not_move_the_revision_is_not_undone(tmp_path, api):
    """An unchanged pod template (the same digest applied again): revision 3 still runs, and an
    undo would return to revision 2 or 1, an image this deploy never asked for."""
    recorded_before_apply(tmp_path, 3, "orderdesk-3")
    c = undoing(api)
    with pytest.raises(RolloutFailed) as failed:
        k8s.rollout(c, env="local", timeout=5)
    assert failed.value.restored is False
    assert "was not rolled back: deployment/orderdesk still runs revision 3" in str(
        failed.value.message
    )
    assert recorded_commands(c) == []


def test_a_failed_first_install_is_not_rolled_back(tmp_path, api):
    recorded_before_apply(tmp_path, None)
    c = undoing(api)
    with pytest.raises(RolloutFailed, match=r"this was the first install of deployment/orderdesk"):
        k8s.rollout(c, env="local", timeout=5)
    assert recorded_commands(c) == []


def test_a_failed_rollback_is_reported(tmp_path, api):
    recorded_before_apply(tmp_path, 1, "orderdesk-1")
    c = undoing(api, Result(exited=1, stderr='error: no rollout history found for "x"'))
    with pytest.raises(Exit, match=r"could not be rolled back to revision 1 \(error: no rollout"):
        k8s.rollout(c, env="local", timeout=5)


def test_rollback_to_a_revision_verifies_its_image_first(monkeypatch, api):
    good = f"127.0.0.1:5000/orderdesk:0.1.0@sha256:{'a' * 64}"
    api.images = {3: good}
    verified: list[tuple[str, str]] = []
    monkeypatch.setattr(
        signing, "verify_reference", lambda target, repo, digest: verified.append((repo, digest))
    )
    c = mock({r"rollout undo": Result()})
    k8s.rollback(c, env="local", revision=3)
    assert verified == [("127.0.0.1:5000/orderdesk", f"sha256:{'a' * 64}")]
    assert recorded_commands(c)[-1].endswith("rollout undo deployment/orderdesk --to-revision=3")


def test_rollback_to_an_unsigned_revision_changes_nothing(monkeypatch, api):
    api.images = {3: f"127.0.0.1:5000/orderdesk:0.1.0@sha256:{'b' * 64}"}

    def unsigned(target, repo, digest):
        raise ImageError(f"{digest} is not signed by cosign.pub: no matching signatures")

    monkeypatch.setattr(signing, "verify_reference", unsigned)
    c = mock({r"rollout undo": Result()})
    with pytest.raises(Exit, match=r"k8s.rollback --env local: sha256:b+ is not signed .*nothing"):
        k8s.rollback(c, env="local", revision=3)
    assert recorded_commands(c) == []
    with pytest.raises(Exit, match=r"has no revision 7 \(it has: 3\)"):
        k8s.rollback(c, env="local", revision=7)


def test_cloud_environments_always_use_their_aks_context(monkeypatch, tmp_path):
    c = mock({r".": Result()}, local_context="kind-laptop")
    k8s.rollback(c, env="prod")
    [undo] = recorded_commands(c)
    assert "--context=aks-orderdesk-prod" in undo
    # The API client too: the AKS context, never the kubeconfig's current one.
    monkeypatch.setattr(watch, "connect", CONNECT)
    kubeconfig = write_kubeconfig(
        tmp_path / "prod" / "kubeconfig", "https://aks.example.invalid", "aks-orderdesk-prod"
    )
    config = kubeconfig.read_text().replace(
        '"current-context": "aks-orderdesk-prod"', '"current-context": "kind-laptop"'
    )
    kubeconfig.write_text(config)
    cluster = watch.connect(Target.resolve(c, "prod").kube())
    assert cluster.api.configuration.host == "https://aks.example.invalid"


def test_local_uses_the_configured_context_and_kubeconfig():
    c = mock(
        {r".": Result()},
        local_context="kind-laptop",
        kubeconfig="/home/me/kubeconfig",
        request_timeout=3,
    )
    k8s.rollback(c, env="local")
    assert recorded_commands(c) == [
        "/opt/bin/kubectl --request-timeout=3s --kubeconfig=/home/me/kubeconfig "
        "--context=kind-laptop --namespace=orderdesk rollout undo deployment/orderdesk"
    ]


def test_an_unreachable_cloud_cluster_names_the_fix(monkeypatch, tmp_path):
    """The real client, against a port nobody listens on."""
    monkeypatch.setattr(watch, "connect", CONNECT)
    write_kubeconfig(
        tmp_path / "prod" / "kubeconfig", f"https://127.0.0.1:{free_port()}", "aks-orderdesk-prod"
    )
    c = mock({})
    with pytest.raises(Exit) as failure:
        k8s.rollback(c, env="prod")
    message = str(failure.value.message)
    assert "cannot reach the Kubernetes API server (context aks-orderdesk-prod of " in message
    assert "Connection refused" in message
    assert (
        "az aks get-credentials --resource-group rg-orderdesk-prod --name aks-orderdesk-prod"
        in message
    )
    assert recorded_commands(c) == []


def test_a_cluster_of_another_version_is_refused(api):
    api.version = "1.31"
    c = mock({})
    kubectl = Kubectl(c, Target.resolve(c, "local").kube())
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
    runner = RecordingRunner()
    target = Target.resolve(runner.context, "dev")
    environment = target.environment
    assert environment.azure is not None
    cert_manager.install(target)
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
