"""What the real-cluster deploy tests share: `invoke` as a user runs it, the local state, the
Deployment as the cluster has it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ops.envconfig import REPO_ROOT
from testkit.cluster import kubectl_json

INVOKE = str(Path(sys.executable).with_name("invoke"))
STATE = REPO_ROOT / ".data" / "local"
NS = "--namespace=orderdesk"


def invoke(
    *args: str, timeout: int = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INVOKE, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        check=False,
    )


def deployment() -> dict[str, Any]:
    return kubectl_json(NS, "get", "deployment", "orderdesk")


def pushed() -> dict[str, Any]:
    return json.loads((STATE / "image.json").read_text())
