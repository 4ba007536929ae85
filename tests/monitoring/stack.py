"""Real servers on loopback for the monitoring tests: the app (gunicorn), Prometheus, Alertmanager.

Every process is an ops.core.processes daemon (a session of its own, its log in the test's
temporary directory), binds 127.0.0.1 only, and is stopped by `Processes.stop_all` in a fixture's
teardown whatever the test's outcome.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ops.core.processes import Process, spawn, stop
from ops.core.processes import tail as log_tail
from ops.monitoring import render
from ops.monitoring.layout import REPO_ROOT, Layout
from testkit.support import wait_for_http
from tests import appserver

APP_DIR = REPO_ROOT / "app"
# The only changes the loopback copies make: `for` durations and Alertmanager's waits, so a run
# takes a minute instead of half an hour. Expressions, labels, annotations and routes are the
# committed ones.
TEST_FOR = "5s"
TEST_TIMING = {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "1h"}


class Processes:
    """Start daemons (ops.core.processes) and stop them all, newest first, when done."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[Process] = []

    def start(
        self,
        name: str,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Process:
        process = spawn(
            name,
            args,
            log=self.log_dir / f"{name}.log",
            cwd=cwd,
            env=env,
            replace_env=env is not None,
        )
        self.running.append(process)
        return process

    def log(self, name: str, tail: int = 40) -> str:
        return log_tail(self.log_dir / f"{name}.log", tail)

    def stop_all(self) -> None:
        stop(reversed(self.running), grace=10)
        self.running.clear()


def rule_copies(
    layout: Layout, target: Path, files: Iterable[Path], for_: str = TEST_FOR
) -> list[Path]:
    """The committed rule files with every alert's `for` shortened; nothing else changes."""
    target.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in files:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in data["groups"]:
            for rule in group["rules"]:
                if "alert" in rule and "for" in rule:
                    rule["for"] = for_
        copy = target / path.name
        copy.write_text(render.dump_yaml(data), encoding="utf-8")
        copies.append(copy)
    return copies


def prometheus_config(
    *, app_port: int, alertmanager_port: int, rule_files: list[Path]
) -> dict[str, Any]:
    """Scrape the app as the cluster's ServiceMonitor would label it (job, namespace, pod)."""
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
        },
        "scrape_configs": [
            {
                "job_name": "orderdesk",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{app_port}"],
                        "labels": {"namespace": "orderdesk", "pod": "orderdesk-loopback-0"},
                    }
                ],
            }
        ],
    }


def start_prometheus(
    processes: Processes, binary: str, workdir: Path, port: int, config: dict[str, Any]
) -> Process:
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    process = processes.start(
        "prometheus",
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            # Send firing alerts again every second, not every minute (the default).
            "--rules.alert.resend-delay=1s",
            "--log.level=warn",
        ],
    )
    wait_for_http(f"http://127.0.0.1:{port}/-/ready", process)
    return process


def start_alertmanager(
    processes: Processes,
    *,
    name: str,
    binary: str,
    workdir: Path,
    port: int,
    config: dict[str, Any],
) -> Process:
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "alertmanager.yaml"
    config_file.write_text(render.dump_yaml(config), encoding="utf-8")
    process = processes.start(
        name,
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            # No gossip: a lone Alertmanager must not listen on 0.0.0.0:9094.
            "--cluster.listen-address=",
            "--log.level=info",
        ],
    )
    wait_for_http(f"http://127.0.0.1:{port}/-/ready", process)
    return process


def app_env(workdir: Path, port: int, database: Path) -> dict[str, str]:
    """Production settings, as in the container, on loopback with a throwaway SQLite file."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "orderdesk.settings.production",
            "DJANGO_SECRET_KEY": os.urandom(24).hex(),
            "ORDERDESK_CARD_KEY": os.urandom(24).hex(),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            # Local accounts: the sign-in form, django-axes' lockout, API tokens.
            "ORDERDESK_AUTH": "local",
            "DATABASE_URL": f"sqlite:///{database}",
            "ORDERDESK_DATA_DIR": str(workdir),
            "STATIC_ROOT": str(workdir / "static"),
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": "4",
        }
    )
    return env


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run a management command as the app's settings have it; its standard output."""
    return appserver.manage(env, *args, stdin=stdin)


def create_user(env: dict[str, str], name: str, role: str, password: str) -> None:
    manage(env, "orderdesk_user", name, "--role", role, "--password-stdin", stdin=password + "\n")


def issue_token(env: dict[str, str], name: str) -> str:
    """A new API token for the user: the last word of the command's last line."""
    return manage(env, "orderdesk_token", name, "--days", "1").split()[-1]


def start_app(processes: Processes, env: dict[str, str], port: int) -> Process:
    process = processes.start(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "orderdesk.wsgi:application"],
        env=env,
        cwd=APP_DIR,
    )
    wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
    return process


def child_pids(parent: int) -> list[int]:
    """Direct children of a process, read from /proc (gunicorn's workers)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                children.append(int(stat.parent.name))
    return children
