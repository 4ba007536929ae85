"""gunicorn settings, all overridable from the environment (the container sets none by default)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from orderdesk.logconfig import json_stdout_logging

# Inside the container the pod network is the only way in; locally `invoke up` binds 127.0.0.1.
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:5000")  # nosec B104
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Below the pod's terminationGracePeriodSeconds, so in-flight requests finish before SIGKILL.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# The worker heartbeat files go to /tmp, the only writable place under a read-only root.
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or None

accesslog = "-"
errorlog = "-"
logger_class = "orderdesk.gunicorn_logging.JsonLogger"
logconfig_dict = json_stdout_logging(
    "INFO", {"gunicorn.error": {"level": "INFO"}, "gunicorn.access": {"level": "INFO"}}
)


def on_starting(server: Any) -> None:
    """Start every run with an empty metrics directory: stale files would count dead workers."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """Fold a dead worker's gauges out of the aggregate (prometheus_client multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
