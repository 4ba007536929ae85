"""`invoke deploy --env local` for real: the Docker engine and registry, then the local cluster.

The app really runs under Kubernetes here: the image is pulled by digest from 127.0.0.1:5000, the
migrate init container runs, probes gate the rollout, the Service answers. In order:

- a first deploy from nothing, then a second that changes nothing (no new ReplicaSet);
- a rolling update to a new image under continuous load through the Service: 0 failed requests;
  the same when a serving pod is deleted;
- an image whose readiness never passes fails at progressDeadlineSeconds and is undone once, to
  exactly the revision that ran before (its ReplicaSet), which is then smoke-tested, while the old
  pod answers every request;
- a deploy that changed only a Service and fails its smoke test undoes nothing and names the
  Service; the same digest deployed again, failing its rollout, leaves the running revision alone;
- an unsigned image is refused by `k8s.apply --image` and `k8s.rollback --revision`;
- a crash-looping container: the report shows its logs and events;
- the HorizontalPodAutoscaler scales out under load (metrics-server) and back in.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from invoke import Context
from invoke.runners import Result

from ops import envconfig, sandbox
from ops.core.target import Target
from ops.core.wait import wait_until
from ops.image import inventory, registry, signing
from ops.k8s.render import MANIFESTS_DIR
from testkit import support
from testkit.cluster import Load, kubectl, kubectl_json, service_url
from tests.deploy.local import NS, STATE, deployment, invoke, pushed

pytestmark = pytest.mark.slow


def replica_sets() -> list[dict[str, Any]]:
    return kubectl_json(NS, "get", "replicasets", "--selector=app.kubernetes.io/name=orderdesk")[
        "items"
    ]


def web_image() -> str:
    [web] = [
        c for c in deployment()["spec"]["template"]["spec"]["containers"] if c["name"] == "web"
    ]
    return str(web["image"])


def python_in_web(pod: dict[str, Any], code: str) -> Result:
    """Python run in the pod's web container (the image has no shell to run anything else)."""
    return kubectl(NS, "exec", pod["metadata"]["name"], "-c", "web", "--", "python3", "-c", code)


def variant(tag: str, dockerfile_tail: str, *, signed: bool = True) -> str:
    """The deployed image with a change on top, pushed to the local registry and (unless told
    otherwise) signed with its SBOM as `image.sign` does: `:tag@digest`."""
    engine = sandbox.engine_client(sandbox.ensure_engine())
    repository = pushed()["repository"]
    dockerfile = f"FROM {pushed()['reference']}\n{dockerfile_tail}\n"
    engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=f"{repository}:{tag}", rm=True)
    digest = registry.push_image(engine, f"{repository}:{tag}", log=io.StringIO())
    if signed:
        environment = envconfig.load("local")
        record = registry.PushRecord(
            environment="local",
            repository=repository,
            tag=tag,
            digest=digest,
            git_commit="test",
            image_id="",
            pushed_at="",
        )
        deployed_record = pushed()
        # inventory.generate records the SBOM in the image.json beside it: made in .data/local,
        # the variant would become the record every later deploy verifies and applies.
        with tempfile.TemporaryDirectory() as scratch:
            sbom = Path(scratch) / inventory.SBOM_FILE
            record = inventory.generate(environment, record, sbom)
            key = signing.signing_key(Target.of(Context(), environment))
            signing.sign(environment, key, record, sbom)
        assert pushed() == deployed_record, "signing a variant changed the deployed image's record"
    return f":{tag}@{digest}"


def running_replica_set() -> str:
    """The ReplicaSet of the Deployment's current revision."""
    revision = deployment()["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    [name] = [
        rs["metadata"]["name"]
        for rs in replica_sets()
        if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == revision
    ]
    return str(name)


def revision_of_deployment() -> str:
    return str(deployment()["metadata"]["annotations"]["deployment.kubernetes.io/revision"])


def deploy_kubernetes(**env: str) -> subprocess.CompletedProcess[str]:
    """`invoke deploy --env local --only kubernetes` with settings from the environment."""
    return invoke("deploy", "--env", "local", "--only", "kubernetes", "--allow-dirty", env=env)


def running_the_recorded_image() -> None:
    """A successful deploy of the pushed image (image.json) first. The tests before leave the
    Deployment on a variant applied by hand; without this, the next deploy would change the pod
    template too, and the test would not be about a deploy that changed only what it names."""
    settled = deploy_kubernetes()
    assert settled.returncode == 0, settled.stdout[-4000:] + settled.stderr[-4000:]
    assert web_image().endswith("@" + pushed()["digest"])


def ready_again() -> None:
    wait_until(
        lambda: deployment()["status"].get("readyReplicas") == 1,
        what="the app ready again",
        timeout=180,
        interval=2,
    )


def test_first_deploy_runs_the_pushed_digest_then_a_second_changes_nothing(deployed) -> None:
    stdout = deployed["stdout"]
    assert "terraform: skipped (local runs on this machine)" in stdout
    assert "deployment/orderdesk is up to date" in stdout
    # The rollout as the watch saw it, to the end kubectl's `rollout status` would report.
    assert 'k8s.rollout --env local: deployment "orderdesk" successfully rolled out' in stdout
    assert "answered 200" in stdout  # the smoke test through the Service
    reference = deployed["image"]["reference"]
    assert reference.startswith("127.0.0.1:5000/orderdesk@sha256:")
    before = deployment()
    assert before["status"]["readyReplicas"] == 1
    pod_spec = before["spec"]["template"]["spec"]
    # The manifests name the pushed tag and pin its digest.
    assert web_image().endswith("@" + deployed["image"]["digest"])
    [pod] = kubectl_json(NS, "get", "pods", "--selector=app.kubernetes.io/name=orderdesk")["items"]
    statuses = {s["name"]: s for s in pod["status"]["containerStatuses"]}
    # Pulled by digest from the local registry, as AKS pulls from ACR.
    assert statuses["web"]["imageID"].endswith(deployed["image"]["digest"])
    assert statuses["web"]["ready"] is True
    assert statuses["web"]["restartCount"] == 0
    [migrate] = pod["status"]["initContainerStatuses"]
    assert migrate["state"]["terminated"]["exitCode"] == 0
    assert pod_spec["securityContext"]["runAsUser"] == 10001
    web = next(c for c in pod_spec["containers"] if c["name"] == "web")
    assert web["securityContext"]["readOnlyRootFilesystem"] is True
    # Secrets are files in the pod, not environment variables.
    listed = python_in_web(pod, "import os; print(sorted(os.listdir('/mnt/secrets')))")
    assert "django-secret-key" in listed.stdout
    record = json.loads((STATE / "last-deploy.json").read_text())
    assert record["result"] == "succeeded"
    assert record["image"] == reference

    second = invoke("deploy", "--env", "local", "--allow-dirty")
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    assert "deployment.apps/orderdesk unchanged" in second.stdout
    after = deployment()
    assert after["spec"]["template"] == before["spec"]["template"]
    assert len(replica_sets()) == 1
    status = invoke("status", "--env", "local")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "last deploy: succeeded" in status.stdout
    assert (
        f"deployment orderdesk: image {web_image()}; replicas 1/1 ready, 1 up to date "
        '(deployment "orderdesk" successfully rolled out)' in status.stdout
    )
    [revision] = [line for line in status.stdout.splitlines() if line.startswith("  revision ")]
    assert revision == (
        f"  revision {revision_of_deployment()}: {running_replica_set()} {web_image()} "
        "(1/1 ready) <- the Deployment's revision"
    )
    assert f"  {pod['metadata']['name']}  Running  1/1 ready  0 restarts" in status.stdout
    assert "stuck:" not in status.stdout


def test_pods_resolve_service_names_through_coredns(deployed) -> None:
    [pod] = kubectl_json(NS, "get", "pods", "--selector=app.kubernetes.io/name=orderdesk")["items"]
    resolved = python_in_web(pod, "import socket; print(socket.gethostbyname('orderdesk'))")
    service = kubectl_json(NS, "get", "service", "orderdesk")
    assert resolved.stdout.strip() == service["spec"]["clusterIP"]


def test_a_rolling_update_under_load_fails_no_request(deployed, tmp_path: Path) -> None:
    new = variant("rolling", 'LABEL io.orderdesk.test="rolling update"')
    with Load(service_url(path="/readyz"), tmp_path / "stop") as load:
        time.sleep(3)
        applied = invoke("k8s.apply", "--env", "local", "--image", new)
        assert applied.returncode == 0, applied.stderr
        rolled = invoke("k8s.rollout", "--env", "local")
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        time.sleep(15)  # the old pod's preStop and drain, under load
    assert web_image().endswith(new.split("@")[1])
    assert load.result["failed"] == 0, load.result
    assert load.result["ok"] > 100, load.result


def test_deleting_a_serving_pod_under_load_fails_no_request(deployed, tmp_path: Path) -> None:
    # Two replicas: one pod alone cannot be replaced without a gap (the cloud overlays keep two or
    # more and a PodDisruptionBudget).
    kubectl(NS, "scale", "deployment/orderdesk", "--replicas=2")
    kubectl(NS, "rollout", "status", "deployment/orderdesk", "--timeout=180s", timeout=200)
    pods = kubectl_json(NS, "get", "pods", "--selector=app.kubernetes.io/name=orderdesk")["items"]
    assert len(pods) == 2
    try:
        with Load(service_url(path="/readyz"), tmp_path / "stop") as load:
            time.sleep(3)
            kubectl(NS, "delete", "pod", pods[0]["metadata"]["name"], "--wait=true", timeout=120)
            time.sleep(5)
        assert load.result["failed"] == 0, load.result
        assert load.result["ok"] > 100, load.result
    finally:
        kubectl(NS, "scale", "deployment/orderdesk", "--replicas=1")


def test_a_never_ready_image_is_rolled_back_once_while_the_old_pod_serves(
    deployed, tmp_path: Path
) -> None:
    healthy, healthy_replica_set = web_image(), running_replica_set()
    # gunicorn never starts: nothing listens on the probes' port.
    broken = variant("never-ready", 'CMD ["-c", "import time; time.sleep(10**6)"]')
    record = pushed()
    # The broken image's own record: no SBOM yet, so signing makes one of its digest (the healthy
    # image's SBOM names another subject, and deploy's verify would refuse it).
    bad = {k: v for k, v in record.items() if k not in ("sbom", "sbom_sha256")}
    bad.update(tag="never-ready", digest=broken.split("@")[1])
    bad["reference"] = f"{record['repository']}@{bad['digest']}"
    sbom = STATE / inventory.SBOM_FILE
    healthy_sbom = sbom.read_bytes()
    (STATE / "image.json").write_text(json.dumps(bad))
    sbom.unlink()
    try:
        # Signed like any pushed image: deploy verifies the signature before it applies.
        signed = invoke("image.sign", "--env", "local")
        assert signed.returncode == 0, signed.stdout[-2000:] + signed.stderr[-2000:]
        with Load(service_url(path="/readyz"), tmp_path / "stop") as load:
            started = time.monotonic()
            done = deploy_kubernetes()
            elapsed = time.monotonic() - started
    finally:
        (STATE / "image.json").write_text(json.dumps(record))
        sbom.write_bytes(healthy_sbom)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    deadline = deployment()["spec"]["progressDeadlineSeconds"]
    assert deadline <= elapsed < deadline + 120, (elapsed, output[-3000:])
    assert "exceeded its progress deadline" in output
    # Why, as the watch saw it while waiting, and the events in the report.
    assert "stuck: pod orderdesk-" in output
    assert "Startup probe failed" in output
    assert "the one that ran before, which is running now" in output
    # The restored revision was waited for and smoke-tested through its Service.
    assert "the restored revision passed the smoke test" in output
    assert "migrate container ran (if any) stay applied" in output
    # Once: deploy did not undo again (that would flip back to the broken revision).
    assert "returning" not in output
    assert output.count("rollout undo") == 1, output[-3000:]
    [undo] = [line for line in output.splitlines() if " rollout undo " in line]
    recorded = json.loads((STATE / "before-apply.json").read_text())
    assert recorded["replica_set"] == healthy_replica_set
    # The report listed the revision that ran before, still serving while the new one failed.
    assert f"revision {recorded['revision']}: {healthy_replica_set} {healthy} (1/1 ready)" in output
    # invoke echoes the command in colour: compare without the escape codes.
    assert f"rollout undo deployment/orderdesk --to-revision={recorded['revision']}" in undo, undo
    assert f"rolled back to revision {recorded['revision']} ({healthy})" in output
    # Exactly the ReplicaSet that ran before serves again (an undo renumbers it).
    assert running_replica_set() == healthy_replica_set
    assert deployment()["status"].get("readyReplicas") == 1
    assert web_image() == healthy
    assert load.result["failed"] == 0, load.result
    assert load.result["ok"] > 100, load.result


def test_a_failed_deploy_that_changed_only_the_service_undoes_nothing_and_says_so(
    deployed, tmp_path: Path
) -> None:
    """A Service pointing at the wrong port: the pod template did not change, so the Deployment
    still runs the revision from before and an undo would bring back an older image while the
    broken Service stayed."""
    manifests = tmp_path / "manifests"
    shutil.copytree(MANIFESTS_DIR, manifests)
    service = manifests / "base" / "service.yaml"
    service.write_text(service.read_text().replace("targetPort: http", "targetPort: 9"))
    running_the_recorded_image()
    image, revision, replica_set = web_image(), revision_of_deployment(), running_replica_set()
    history = len(replica_sets())
    try:
        done = deploy_kubernetes(
            INVOKE_K8S_MANIFESTS_DIR=str(manifests), INVOKE_DEPLOY_SMOKE_TIMEOUT="15"
        )
    finally:
        repaired = invoke("k8s.apply", "--env", "local")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-4000:]
    assert "service/orderdesk configured" in output
    assert "deployment.apps/orderdesk unchanged" in output
    assert "smoke test:" in output
    assert (
        f"not rolled back: deployment/orderdesk still runs revision {revision} ({image}), the "
        "revision that ran before this deploy" in output
    )
    assert (
        "not undone (an undo restores only the Deployment's pod template): service/orderdesk "
        "configured" in output
    )
    assert "rollout undo" not in output
    assert (web_image(), revision_of_deployment(), running_replica_set()) == (
        image,
        revision,
        replica_set,
    )
    assert len(replica_sets()) == history
    assert repaired.returncode == 0, repaired.stderr
    assert "service/orderdesk configured" in repaired.stdout


def test_the_same_digest_deployed_again_and_failing_leaves_the_running_revision_alone(
    deployed,
) -> None:
    """The same image, nothing changed, and the rollout still fails (here: its pod cannot be
    scheduled on a cordoned node). The old rollback returned to an older revision in the
    history, an image this deploy never asked for; now the running revision stays."""
    running_the_recorded_image()
    image, revision, replica_set = web_image(), revision_of_deployment(), running_replica_set()
    older = {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]
        for rs in replica_sets()
        if rs["metadata"]["name"] != replica_set
    }
    # The tests before this one left older revisions of other images to wrongly return to.
    assert older - {image}, "run the whole module: the history needs an older image"
    [node] = kubectl("get", "nodes", "--output=name").stdout.split()
    kubectl("cordon", node)
    try:
        kubectl(NS, "delete", "pod", "--selector=app.kubernetes.io/name=orderdesk", timeout=120)
        done = deploy_kubernetes(INVOKE_K8S_ROLLOUT_TIMEOUT="20")
    finally:
        kubectl("uncordon", node)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-4000:]
    assert "deployment.apps/orderdesk unchanged" in output
    assert "did not finish in 20 s" in output
    assert "is unschedulable: 0/1 nodes are available" in output  # the reason, from the watch
    assert (
        f"the rollout failed and was not rolled back: deployment/orderdesk still runs revision "
        f"{revision} ({image})" in output
    )
    assert "rollout undo" not in output
    assert (web_image(), revision_of_deployment(), running_replica_set()) == (
        image,
        revision,
        replica_set,
    )
    ready_again()
    status = invoke("status", "--env", "local")
    assert "last deploy: failed at kubernetes" in status.stdout


def test_an_unsigned_image_is_refused_by_apply_and_by_rollback(deployed) -> None:
    image, revision = web_image(), revision_of_deployment()
    unsigned = variant("unsigned", 'LABEL io.orderdesk.test="never signed"', signed=False)
    applied = invoke("k8s.apply", "--env", "local", "--image", unsigned)
    assert applied.returncode == 1
    assert f"{unsigned.split('@')[1]} is not signed by" in applied.stderr
    assert "nothing was changed" in applied.stderr
    assert (web_image(), revision_of_deployment()) == (image, revision)
    # Put into the history by hand (kubectl, around the tasks), then asked for by revision.
    repository = pushed()["repository"]
    kubectl(NS, "set", "image", "deployment/orderdesk", f"web={repository}{unsigned}")
    kubectl(NS, "rollout", "status", "deployment/orderdesk", "--timeout=180s", timeout=200)
    unsigned_revision = revision_of_deployment()
    kubectl(NS, "rollout", "undo", "deployment/orderdesk", f"--to-revision={revision}")
    kubectl(NS, "rollout", "status", "deployment/orderdesk", "--timeout=180s", timeout=200)
    assert web_image() == image
    back = invoke("k8s.rollback", "--env", "local", "--revision", unsigned_revision)
    assert back.returncode == 1
    assert f"k8s.rollback --env local: {unsigned.split('@')[1]} is not signed by" in back.stderr
    assert "rollout undo" not in back.stdout
    assert web_image() == image


def test_a_crash_looping_container_is_reported_with_its_logs_and_events(deployed) -> None:
    healthy, healthy_replica_set = web_image(), running_replica_set()
    crashing = variant(
        "crash-loop",
        'CMD ["-c", "import sys; print(\'orderdesk: simulated crash at start\', '
        'flush=True); sys.exit(3)"]',
    )
    applied = invoke("k8s.apply", "--env", "local", "--image", crashing)
    assert applied.returncode == 0, applied.stderr
    rolled = invoke("k8s.rollout", "--env", "local", "--timeout", "45")
    output = rolled.stdout + rolled.stderr
    assert rolled.returncode == 1, output
    # The previous run's last lines (the container restarted), its events, why it is stuck.
    assert re.search(
        r"\[orderdesk-\w+-\w+/web \(previous run\)\] orderdesk: simulated crash at start", output
    ), output[-4000:]
    assert "BackOff" in output
    assert re.search(r"stuck: pod orderdesk-\S+ container web: CrashLoopBackOff .*exit 3", output)
    # The revision that ran before, listed in the report and returned to.
    assert f"{healthy_replica_set} {healthy}" in output
    assert "the one that ran before, which is running now" in output
    wait_until(
        lambda: deployment()["status"].get("readyReplicas") == 1,
        what="the healthy revision ready",
        timeout=180,
        interval=2,
    )


def test_an_image_that_cannot_be_pulled_is_reported_and_rolled_back(deployed) -> None:
    """A digest the registry does not have, set by hand (apply would refuse it unsigned): the
    rollout names the pull error, and returns to the revision k8s.apply recorded."""
    running_the_recorded_image()
    # An apply that changes nothing records the running revision as the one to return to.
    recorded = invoke("k8s.apply", "--env", "local")
    assert "deployment.apps/orderdesk unchanged" in recorded.stdout, recorded.stdout
    healthy, healthy_replica_set = web_image(), running_replica_set()
    missing = f"{pushed()['repository']}@sha256:{'0' * 64}"
    kubectl(NS, "set", "image", "deployment/orderdesk", f"web={missing}")
    rolled = invoke("k8s.rollout", "--env", "local", "--timeout", "40")
    output = rolled.stdout + rolled.stderr
    assert rolled.returncode == 1, output
    assert "did not finish in 40 s" in output
    assert re.search(
        r"stuck: pod orderdesk-\S+ container web: (ErrImagePull|ImagePullBackOff)", output
    )
    assert re.search(r"\[orderdesk-\S+/web\] no logs: the container has not started", output)
    assert "Failed to pull image" in output  # the kubelet's event
    assert "the one that ran before, which is running now" in output
    assert (web_image(), running_replica_set()) == (healthy, healthy_replica_set)


def test_the_autoscaler_scales_out_under_load_and_back_in(deployed, tmp_path: Path) -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "orderdesk-load-test", "namespace": "orderdesk"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orderdesk"},
            "minReplicas": 1,
            "maxReplicas": 2,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 20},
                    },
                }
            ],
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(hpa))
    try:
        # The sign-in page: a whole Django page that answers 200 without a session.
        with Load(service_url(path="/auth/sign-in"), tmp_path / "stop", threads=8):
            wait_until(
                lambda: (deployment()["spec"].get("replicas") or 0) >= 2,
                what="the HPA scaled out",
                timeout=240,
                interval=5,
            )
        wait_until(
            lambda: deployment()["spec"].get("replicas") == 1,
            what="the HPA scaled back in",
            timeout=240,
            interval=5,
        )
    finally:
        kubectl(NS, "delete", "hpa", "orderdesk-load-test", check=False)


def test_prod_dry_run_needs_no_azure(tmp_path: Path) -> None:
    # An empty Azure config dir: whatever az is installed here, no login can be found.
    env = {**os.environ, "AZURE_CONFIG_DIR": str(tmp_path), "NO_COLOR": "1"}
    done = support.invoke(
        "deploy", "--env", "prod", "--dry-run", "--allow-dirty", env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for stage in (
        "terraform",
        "image",
        "credentials",
        "secrets",
        "kubernetes",
        "monitoring",
        "dns",
    ):
        assert f". {stage}: " in done.stdout
    assert "$ invoke tf.plan --env prod" in done.stdout
    assert "dry run: nothing was run" in done.stdout
