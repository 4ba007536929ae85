"""The clean room's real components: the sandbox engine, the stand-in images, act, a clean clone.

Each fixture starts what is missing and stops only what it started. Run under
`flock /tmp/orderdesk-sandbox.lock` on a shared machine (the engine is one per machine).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from ops import sandbox
from tests.cleanroom import room, shelf
from tests.support import need, need_tool


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


@pytest.fixture(scope="session")
def engine_url() -> Iterator[str]:
    if os.environ.get("DOCKER_HOST"):
        yield os.environ["DOCKER_HOST"]
        return
    for tool in ("dockerd", "containerd", "runc"):
        need_tool(tool, "the clean room's containers run on a real Docker engine")
    if os.geteuid() != 0:
        need("the sandbox engine and the stand-ins' debootstrap need root")
    was_running = sandbox.engine_running()
    url = sandbox.start_engine()
    yield url
    if not was_running:
        sandbox.stop_engine()


@pytest.fixture(scope="session")
def clean_room(engine_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CleanRoom]:
    act = need_tool("act", "the clean room runs the workflow files with nektos/act")
    if not engine_url.startswith("unix://"):
        need(f"the clean room mounts the engine's socket into jobs; {engine_url} is not one")
    socket = engine_url.removeprefix("unix://")
    if not all(stand_in.tarball.is_file() for stand_in in (room.RUNNER, room.PYTHON_BOOKWORM)):
        need_tool("debootstrap", "the stand-in images are made from Debian's packages")
    # Cheap when everything is cached; builds kubelogin and the images when not.
    subprocess.run([str(room.STAND_INS_SCRIPT)], check=True)
    engine = sandbox.engine_client(engine_url, timeout=600)
    room.ensure_images(engine)
    workdir = tmp_path_factory.mktemp("cleanroom")
    checkout = room.clone(workdir / "checkout")
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
        )
