"""gunicorn settings, all overridable from the environment (the container sets none by default).

Read through orderdesk.environment: a mistyped number stops the start with a message naming the
variable, instead of a traceback from int().
"""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path
from typing import IO, Any

from orderdesk.environment import text, whole_number
from orderdesk.logs import json_stdout_logging

# Inside the container the pod network is the only way in; locally `invoke up` binds 127.0.0.1.
bind = text("GUNICORN_BIND", "0.0.0.0:5000")  # nosec B104
workers = whole_number("GUNICORN_WORKERS", 2, minimum=1)
threads = whole_number("GUNICORN_THREADS", 4, minimum=1)
worker_class = "gthread"
timeout = whole_number("GUNICORN_TIMEOUT", 30, minimum=1)
# Below the pod's terminationGracePeriodSeconds, so in-flight requests finish before SIGKILL.
graceful_timeout = whole_number("GUNICORN_GRACEFUL_TIMEOUT", 20, minimum=1)
keepalive = 5
max_requests = whole_number("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
# The worker heartbeat files go to /tmp, the only writable place under a read-only root.
worker_tmp_dir = text("GUNICORN_WORKER_TMP_DIR") or None
# The control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl): shared by every
# instance and unwritable under a read-only root. Nothing here uses gunicornc.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
logger_class = "orderdesk.logs.JsonAccessLogger"
logconfig_dict = json_stdout_logging(
    "INFO", {"gunicorn.error": {"level": "INFO"}, "gunicorn.access": {"level": "INFO"}}
)

_LOCK_NAME = ".gunicorn.lock"
# Held open (and locked) for the master's lifetime.
_held_locks: list[IO[str]] = []


def on_starting(server: Any) -> None:
    """Start with an empty metrics directory (stale files would count dead workers), unless
    another gunicorn is using it: then refuse, and leave its files alone."""
    directory = text("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    lock = (path / _LOCK_NAME).open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise SystemExit(
            f"PROMETHEUS_MULTIPROC_DIR={directory} is in use by another running gunicorn; "
            "give this one a directory of its own"
        ) from None
    _held_locks.append(lock)
    for entry in path.iterdir():
        if entry.name == _LOCK_NAME:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """Fold a dead worker's gauges out of the aggregate (prometheus_client multiprocess mode)."""
    if text("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
