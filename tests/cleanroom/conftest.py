"""The clean room's real components: the sandbox engine, the stand-in images, act, a clean clone.

Each fixture starts what is missing and stops only what it started. Run under
`flock /tmp/orderdesk-sandbox.lock` on a shared machine (the engine is one per machine).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from ops import sandbox
from testkit.support import need, need_tool
from tests.cleanroom import room, shelf
from tests.image.conftest import engine_url

__all__ = ["CleanRoom", "clean_room", "engine_url"]

# Every job this session ran, for the summary below.
JOB_RUNS: list[room.JobRun] = []


@dataclass(frozen=True)
class CleanRoom:
    """Everything a job needs to run in the clean room."""

    act: str
    engine: docker.DockerClient
    engine_url: str
    socket: str
    socket_gid: int
    checkout: Path
    shelf_url: str
    workdir: Path
    caches: room.SharedCaches

    def run_github(
        self, workflow: str, job: str, event: str, *, as_root: bool = False, **options: Any
    ) -> room.JobRun:
        """One job of a workflow file, through act (room.run_workflow_job's options).

        as_root: the job runs in a root container (ci.yml's), which gets no shared caches.
        """
        run = room.run_workflow_job(
            self.act,
            self.checkout,
            self.engine_url,
            self.shelf_url,
            self.workdir,
            workflow=workflow,
            job=job,
            event=event,
            socket_gid=self.socket_gid,
            caches=None if as_root else self.caches,
            **options,
        )
        JOB_RUNS.append(run)
        return run

    def run_pipeline(
        self, job: str, boundary: str, probes: tuple[room.Probe, ...] = ()
    ) -> room.JobRun:
        """One job of azure-pipelines.yml for the dev environment."""
        run = room.run_pipeline_job(
            self.engine,
            self.socket,
            self.checkout,
            self.shelf_url,
            job=job,
            boundary=boundary,
            parameters={"environment": "dev"},
            probes=probes,
            socket_gid=self.socket_gid,
            caches=self.caches,
        )
        JOB_RUNS.append(run)
        return run


@pytest.fixture(scope="session")
def clean_room(engine_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CleanRoom]:
    act = need_tool("act", "the clean room runs the workflow files with nektos/act")
    if not engine_url.startswith("unix://"):
        need(f"the clean room mounts the engine's socket into jobs; {engine_url} is not one")
    socket = engine_url.removeprefix("unix://")
    if not all(stand_in.tarball.is_file() for stand_in in (room.RUNNER, room.PYTHON_CONTAINER)):
        need_tool("debootstrap", "the stand-in images are made from Debian's packages")
    # Cheap when everything is cached; builds kubelogin and the images when not. Not executable,
    # so scripts/bootstrap --system (which runs tools/build/*) leaves it to this session.
    subprocess.run(["bash", str(room.STAND_INS_SCRIPT)], check=True)
    engine = sandbox.engine_client(engine_url, timeout=600)
    room.ensure_images(engine)
    workdir = tmp_path_factory.mktemp("cleanroom")
    checkout = room.clone(workdir / "checkout")
    caches = room.SharedCaches.create(workdir / "shared-caches")
    with shelf.shelf() as shelf_url:
        yield CleanRoom(
            act=act,
            engine=engine,
            engine_url=engine_url,
            socket=socket,
            socket_gid=os.stat(socket).st_gid,
            checkout=checkout,
            shelf_url=shelf_url,
            workdir=workdir,
            caches=caches,
        )
    # Go's module cache and uv's: several GB that pytest would otherwise keep in its temp dirs.
    shutil.rmtree(caches.host_dir)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Where the clean room's minutes went, a line a job (its slowest steps), in every run's log."""
    if JOB_RUNS:
        terminalreporter.write_sep("-", "clean room: each job's seconds and its slowest steps")
        for run in JOB_RUNS:
            terminalreporter.write_line(run.timing())
