"""Local stand-ins for the cloud's services, shared by every task that needs them.

- engine.py: a Docker engine on a private socket and the image registry on 127.0.0.1:5000
  (`invoke sandbox.start / status / env / stop`);
- cluster.py: a real single-node Kubernetes at the version env.yaml declares
  (`invoke sandbox.cluster-start / cluster-stop`), pulling from that registry by digest;
- controlplane.py: a node-less API server for tests that only need the API;
- oidc.py: an OpenID Connect provider on 127.0.0.1 shaped like Entra ID (tests, `invoke up --sso`).

Other areas call the functions (`ensure_engine()`, `ensure_registry()`, `cluster.start()`), not the
tasks.
"""

from invoke import Collection

from ops.sandbox import cluster
from ops.sandbox.engine import (
    ENGINE,
    Engine,
    Found,
    Pruned,
    Registry,
    SandboxError,
    engine_client,
    engine_running,
    ensure_engine,
    ensure_registry,
    env,
    left_as_found,
    local_registry,
    prune,
    prune_engine,
    registry_config,
    registry_running,
    start,
    start_engine,
    start_registry,
    status,
    stop,
    stop_engine,
    stop_registry,
)

__all__ = [
    "ENGINE",
    "Engine",
    "Found",
    "Pruned",
    "Registry",
    "SandboxError",
    "cluster",
    "engine_client",
    "engine_running",
    "ensure_engine",
    "ensure_registry",
    "left_as_found",
    "local_registry",
    "ns",
    "prune_engine",
    "registry_config",
    "registry_running",
    "start_engine",
    "start_registry",
    "stop_engine",
    "stop_registry",
]

ns = Collection(
    "sandbox", start, stop, status, env, prune, cluster.cluster_start, cluster.cluster_stop
)
