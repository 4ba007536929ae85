"""The app on PostgreSQL under Kubernetes: a database outage takes the pods out of the Service
without restarting them, and they come back when it returns, with every order kept.

The overlay is the local one plus the postgresql component (as dev and prod use it: DATABASE_URL
without a password, the password as a file, TLS required). The server is Debian's PostgreSQL,
started inside the node's network namespace on the node's IP, the way Azure's server sits outside
the cluster on a private address. The proof's own cost is bounded by the probes as deployed: the
outage lasts as long as the liveness probe would need to restart a pod that depended on the
database (periodSeconds x failureThreshold), never a guessed sleep.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.core.wait import wait_until
from ops.envconfig import REPO_ROOT
from ops.sandbox import cluster
from ops.sandbox.layout import NODE_IP
from testkit.cluster import app_token, in_node, kubectl, kubectl_json, service_url
from testkit.pgcluster import Cluster, cluster_at, find_bindir
from testkit.support import need_tool
from tests.deploy.local import NS, invoke

pytestmark = pytest.mark.slow

PORT = 5432  # inside the node's own network namespace: nothing else listens there
POD_CIDR = "10.244.0.0/16"
HOST = "orderdesk.127.0.0.1.nip.io"  # env.yaml local app.hosts: Django's ALLOWED_HOSTS
ORDERS_BEFORE_OUTAGE = 12


def app_pods() -> list[dict[str, Any]]:
    listing = kubectl_json(NS, "get", "pods", "--selector=app.kubernetes.io/name=orderdesk")
    return [p for p in listing["items"] if not p["metadata"].get("deletionTimestamp")]


def only_ready_pods_left() -> bool:
    """No pod of the app terminating, and every one Ready."""
    listing = kubectl_json(NS, "get", "pods", "--selector=app.kubernetes.io/name=orderdesk")
    pods = listing["items"]
    return bool(pods) and all(
        not pod["metadata"].get("deletionTimestamp") and ready(pod) for pod in pods
    )


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod["status"].get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def web_restarts(pod: dict[str, Any]) -> int:
    [web] = [s for s in pod["status"]["containerStatuses"] if s["name"] == "web"]
    return int(web["restartCount"])


def probe_window(probe: dict[str, Any]) -> int:
    """Seconds a probe needs to act on a failure that starts right after one of its checks."""
    return probe["periodSeconds"] * probe["failureThreshold"] + probe["timeoutSeconds"]


def status_in_node(url: str) -> int:
    """The HTTP status of a GET from inside the node (pod IPs and ClusterIPs answer only there)."""
    code = (
        "import sys, urllib.request, urllib.error\n"
        "try:\n"
        "    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)\n"
        "except urllib.error.HTTPError as exc:\n"
        "    print(exc.code)\n"
    )
    done = in_node(sys.executable, "-c", code, url, timeout=30)
    assert done.exited == 0, done.stderr
    return int(done.stdout.strip())


def create_orders(count: int) -> list[str]:
    """POST orders to the JSON API through the Service; the ids the app returned."""
    code = (
        "import json, sys, urllib.request\n"
        "ids = []\n"
        "for number in range(int(sys.argv[2])):\n"
        "    body = json.dumps({'user_id': f'pg-outage-{number}', 'store_code': 'ST-1',\n"
        "        'product_code': 'SKU-1', 'quantity': 1, 'order_date': '2026-01-02',\n"
        "        'shipping_date': '2026-01-03', 'card_number': '4242 4242 4242 4242'}).encode()\n"
        "    request = urllib.request.Request(sys.argv[1], data=body, method='POST',\n"
        f"        headers={{'Host': '{HOST}', 'Content-Type': 'application/json',\n"
        f"                 'Authorization': 'Bearer {app_token()}'}})\n"
        "    with urllib.request.urlopen(request, timeout=10) as response:\n"
        "        assert response.status == 201, response.status\n"
        "        ids.append(json.load(response)['id'])\n"
        "print(json.dumps(ids))\n"
    )
    done = in_node(sys.executable, "-c", code, service_url(path="/api/orders"), str(count))
    assert done.exited == 0, done.stderr[-3000:]
    return list(json.loads(done.stdout))


def stored(database: Cluster, order_ids: list[str]) -> int:
    """How many of these orders the database holds."""
    # uuid.UUID: only well-formed ids reach the statement.
    listed = ", ".join(f"'{uuid.UUID(order_id)}'" for order_id in order_ids)
    return int(database.psql(f"SELECT count(*) FROM orders_order WHERE id IN ({listed})"))  # noqa: S608


@pytest.fixture(scope="module")
def database(local_cluster: dict[str, Any]) -> Iterator[Cluster]:
    """PostgreSQL on the node's IP, TLS on, a password for the app's role from the pods' CIDR."""
    bindir = find_bindir()
    need_tool(str(bindir / "initdb") if bindir else "initdb", "PostgreSQL server binaries")
    assert bindir is not None
    # Not pytest's tmp_path: its parents are private to root, and the server runs as postgres.
    with (
        tempfile.TemporaryDirectory(prefix="orderdesk-pg-node-") as temp,
        cluster.node_network() as netns,
    ):
        base = Path(temp)
        with cluster_at(
            base,
            bindir,
            listen=NODE_IP,
            port=PORT,
            launcher=("nsenter", f"--net={netns}", "--"),
            # The component requires TLS (sslmode=require): the pods connect over TLS only, with
            # the password from their secrets volume.
            tls=True,
            hba=(f"hostssl orderdesk orderdesk {POD_CIDR} scram-sha-256",),
        ) as server:
            yield server


def postgresql_manifests(workdir: Path) -> Path:
    """manifests/ with the local overlay on the postgresql component, pointed at the node."""
    manifests = workdir / "manifests"
    shutil.copytree(REPO_ROOT / "manifests", manifests)
    # Components run after the overlay's own generators: the server's address is one more
    # component, after postgresql's placeholder (k8s.render fills it from Terraform in the cloud).
    node_database = manifests / "components" / "database-on-the-node"
    node_database.mkdir()
    url = f"DATABASE_URL=postgresql://orderdesk@{NODE_IP}:{PORT}/orderdesk"
    component = {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "configMapGenerator": [
            {"name": "orderdesk-config", "behavior": "merge", "literals": [url]},
        ],
    }
    (node_database / "kustomization.yaml").write_text(yaml.safe_dump(component), encoding="utf-8")
    overlay = manifests / "overlays" / "local" / "kustomization.yaml"
    kustomization = yaml.safe_load(overlay.read_text(encoding="utf-8"))
    kustomization["components"] += [
        "../../components/postgresql",
        "../../components/database-on-the-node",
    ]
    overlay.write_text(yaml.safe_dump(kustomization, sort_keys=False), encoding="utf-8")
    return manifests


@pytest.fixture(scope="module")
def on_postgresql(
    deployed: dict[str, Any], database: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The app rolled out on the postgresql component; afterwards back on the local overlay."""
    password = secrets.token_urlsafe(24)
    database.psql(f"ALTER ROLE orderdesk PASSWORD '{password}'")
    patch = json.dumps({"stringData": {"database-password": password}})
    kubectl(NS, "patch", "secret", "orderdesk-secrets", "--type=merge", f"--patch={patch}")
    manifests = postgresql_manifests(tmp_path_factory.mktemp("postgresql"))
    env = {"INVOKE_K8S_MANIFESTS_DIR": str(manifests)}
    try:
        applied = invoke("k8s.apply", "--env", "local", env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        rolled = invoke("k8s.rollout", "--env", "local", "--timeout", "240")
        assert rolled.returncode == 0, rolled.stdout[-4000:] + rolled.stderr[-2000:]
        # The SQLite revision's pod serves through its preStop drain: an order sent now could
        # land in its SQLite file, not in PostgreSQL. Wait until it is gone.
        wait_until(
            only_ready_pods_left,
            what="the SQLite revision's pods gone, the PostgreSQL revision's Ready",
            timeout=120,
            interval=1,
        )
        config = kubectl_json(NS, "get", "deployment", "orderdesk")["spec"]["template"]["spec"]
        [web] = [c for c in config["containers"] if c["name"] == "web"]
        yield web
    finally:
        restored = invoke("k8s.apply", "--env", "local")
        assert restored.returncode == 0, restored.stdout + restored.stderr
        rolled = invoke("k8s.rollout", "--env", "local", "--timeout", "240")
        assert rolled.returncode == 0, rolled.stdout[-4000:] + rolled.stderr[-2000:]
        kubectl(NS, "patch", "secret", "orderdesk-secrets", "--type=json",
                '--patch=[{"op": "remove", "path": "/data/database-password"}]')  # fmt: skip


def test_a_database_outage_makes_pods_not_ready_without_a_restart_and_loses_no_order(
    on_postgresql: dict[str, Any], database: Cluster
) -> None:
    started = time.monotonic()
    # The pods really run on PostgreSQL (their migrations made its tables).
    assert database.psql("SELECT count(*) FROM django_migrations WHERE app = 'orders'") != "0"
    created = create_orders(ORDERS_BEFORE_OUTAGE)
    assert len(set(created)) == ORDERS_BEFORE_OUTAGE
    # Every order the API acknowledged is in PostgreSQL before the outage.
    assert stored(database, created) == ORDERS_BEFORE_OUTAGE
    stored_before = int(database.psql("SELECT count(*) FROM orders_order"))
    pods = app_pods()
    assert pods
    assert all(ready(pod) for pod in pods), pods
    restarts = {pod["metadata"]["name"]: web_restarts(pod) for pod in pods}
    pod_ips = [pod["status"]["podIP"] for pod in pods]

    database.stop()
    outage = time.monotonic()
    try:
        wait_until(
            lambda: not any(ready(pod) for pod in app_pods()),
            what="every pod NotReady once the database is gone",
            timeout=probe_window(on_postgresql["readinessProbe"]) + 15,
            interval=1,
        )
        not_ready_after = time.monotonic() - outage
        for ip in pod_ips:
            assert status_in_node(f"http://{ip}:5000/readyz") == 503
            assert status_in_node(f"http://{ip}:5000/healthz") == 200
        # Long enough that liveness would have restarted a pod if it depended on the database.
        liveness = probe_window(on_postgresql["livenessProbe"])
        while time.monotonic() - outage < liveness:
            for ip in pod_ips:
                assert status_in_node(f"http://{ip}:5000/healthz") == 200
            time.sleep(5)
        during = app_pods()
        assert {pod["metadata"]["name"] for pod in during} == set(restarts)
        assert {pod["metadata"]["name"]: web_restarts(pod) for pod in during} == restarts
        assert not any(ready(pod) for pod in during)
    finally:
        database.start()
    back = time.monotonic()
    wait_until(
        lambda: (pods := app_pods()) and all(ready(pod) for pod in pods),
        what="every pod Ready again once the database is back",
        timeout=probe_window(on_postgresql["readinessProbe"]) + 15,
        interval=1,
    )
    ready_after = time.monotonic() - back
    after = app_pods()
    assert {pod["metadata"]["name"]: web_restarts(pod) for pod in after} == restarts
    assert status_in_node(service_url(path="/readyz")) == 200
    # Nothing stored before the outage is lost, and writes work again.
    assert stored(database, created) == ORDERS_BEFORE_OUTAGE
    assert int(database.psql("SELECT count(*) FROM orders_order")) == stored_before
    assert len(create_orders(1)) == 1
    print(
        f"postgresql outage proof: NotReady {not_ready_after:.1f} s after the stop, Ready "
        f"{ready_after:.1f} s after the start, outage held {back - outage:.1f} s, "
        f"whole test {time.monotonic() - started:.1f} s"
    )
