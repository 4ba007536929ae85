"""tasks.py: a table of contents in which every task explains itself, and `up` composes right."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from invoke import Collection, Context, MockContext, Result
from invoke.exceptions import Exit

import tasks
from ops import app
from testkit.support import free_port, recorded_run
from testkit.support import invoke as invoke_cli


def all_tasks(collection: Collection, prefix: str = "") -> dict[str, object]:
    found = {f"{prefix}{name}": task for name, task in collection.tasks.items()}
    for name, sub in collection.collections.items():
        found |= all_tasks(sub, f"{prefix}{name}.")
    return found


def test_every_task_has_a_description() -> None:
    missing = [
        name for name, task in all_tasks(tasks.ns).items() if not (task.__doc__ or "").strip()
    ]
    assert missing == []


def test_up_migrates_seeds_then_serves_on_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERDESK_DATA_DIR", str(tmp_path))
    port = free_port()
    context = MockContext(
        run={
            re.compile(r".*manage.py migrate --noinput$"): Result(),
            re.compile(r".*manage.py seed_orders 200 --if-empty$"): Result(),
            re.compile(r".*manage.py orderdesk_user admin --role admin --first$"): Result(),
            re.compile(r".*-m gunicorn -c gunicorn.conf.py orderdesk.wsgi:application$"): Result(),
        },
        repeat=False,
    )
    app.up(context, port=port)
    commands = [call.args[0] for call in recorded_run(context).call_args_list]
    assert [c.split(" ", 1)[1] for c in commands] == [
        "manage.py migrate --noinput",
        "manage.py seed_orders 200 --if-empty",
        "manage.py orderdesk_user admin --role admin --first",
        "-m gunicorn -c gunicorn.conf.py orderdesk.wsgi:application",
    ]
    serve_env = recorded_run(context).call_args_list[-1].kwargs["env"]
    assert serve_env["GUNICORN_BIND"] == f"127.0.0.1:{port}"
    assert serve_env["DJANGO_SETTINGS_MODULE"] == "orderdesk.settings.local"
    # One metrics directory per port: a second instance never shares (or empties) it.
    assert serve_env["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / "metrics" / str(port))
    assert serve_env["DJANGO_DEBUG"] == "false"


def test_up_checks_the_port_before_migrating() -> None:
    context = MockContext(run={}, repeat=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(Exit, match=f"port {port} is in use; try --port {port + 1}"):
            app.up(context, port=port)
    assert recorded_run(context).call_args_list == []  # nothing migrated or seeded


def test_up_help_keeps_minus_h_and_host_takes_minus_capital_h() -> None:
    arguments = {a.name: a.names for a in app.up.get_arguments()}
    assert arguments["host"] == ("host", "H")
    assert not any("h" in names for names in arguments.values())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 0}, "--port 0 is not a TCP port"),
        ({"workers": 0}, "--workers must be at least 1"),
    ],
)
def test_up_refuses_bad_flags(kwargs: dict, message: str) -> None:
    with pytest.raises(Exit, match=message):
        app.up(Context(), **kwargs)


def test_invoke_list_reads_as_a_table_of_contents() -> None:
    listed = invoke_cli("--list")
    assert listed.returncode == 0, listed.stderr
    names = [  # a task's line is indented by two; its wrapped help by more
        line.split()[0] for line in listed.stdout.splitlines() if re.match(r"  \S", line)
    ]
    assert names
    # The everyday entry points first, by their own names; then one collection per area.
    assert names[:4] == ["deploy", "destroy", "status", "up"]
    assert not any(name.startswith("deploy.") for name in names)
    assert [name for name in names if name.split(".")[-1] == "status"] == [
        "status",
        "sandbox.status",
    ]
    areas = {name.split(".")[0] for name in names if "." in name}
    assert areas == {"app", "azure", "image", "k8s", "monitoring", "sandbox", "tf"}


def test_deploy_without_an_environment_lists_the_environments() -> None:
    result = invoke_cli("deploy")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "no environment chosen; pass --env NAME (known environments: dev, local, prod)"
    )


@pytest.mark.parametrize(
    "task", ["deploy", "status", "k8s.render", "monitoring.install", "tf.plan"]
)
def test_every_task_refuses_an_unknown_environment_the_same_way(task: str) -> None:
    result = invoke_cli(task, "--env", "staging")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().endswith(
        "unknown environment 'staging'; known environments: dev, local, prod"
    )
