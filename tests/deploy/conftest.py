"""The one `invoke deploy --env local` from nothing that the real-cluster deploy tests build on."""

from __future__ import annotations

from typing import Any

import pytest

from ops.core.wait import wait_until
from ops.sandbox import cluster
from testkit.cluster import kubectl
from testkit.support import need_tool
from tests.deploy.local import invoke, pushed


@pytest.fixture(scope="package")
def deployed(cluster_for_the_session: None) -> dict[str, Any]:
    """`invoke deploy --env local` from nothing (the guarded destroy first), once for the
    package: the modules after test_local build on the same deployment."""
    cluster.start(progress=lambda _m: None)
    for tool in ("dockerd", "docker-registry", "kustomize", "skopeo"):
        need_tool(tool, "invoke deploy --env local runs on the local stand-ins")
    destroyed = invoke("destroy", "--env", "local", "--yes")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    wait_until(
        lambda: "namespace/orderdesk" not in kubectl("get", "namespaces", "--output=name").stdout,
        what="namespace orderdesk deleted",
        timeout=180,
        interval=2,
    )
    first = invoke("deploy", "--env", "local", "--allow-dirty")
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-4000:]
    return {"stdout": first.stdout, "image": pushed()}
