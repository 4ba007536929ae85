"""What the real-cluster deploy tests share: `invoke` as a user runs it, the local state, the
Deployment as the cluster has it."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from ops.envconfig import REPO_ROOT
from testkit import support
from testkit.cluster import kubectl_json

STATE = REPO_ROOT / ".data" / "local"
NS = "--namespace=orderdesk"


def invoke(
    *args: str, timeout: int = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`invoke ...` with `env` over this process's environment, long enough for a deploy."""
    return support.invoke(
        *args, env={**os.environ, "NO_COLOR": "1", **(env or {})}, timeout=timeout
    )


def deployment() -> dict[str, Any]:
    return kubectl_json(NS, "get", "deployment", "orderdesk")


def pushed() -> dict[str, Any]:
    return json.loads((STATE / "image.json").read_text())
