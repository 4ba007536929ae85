"""The app's tests on the interpreter the image ships (Python 3.13, Debian trixie's).

The other sessions run on this machine's Python (3.11): a change that works there and breaks on
3.13 would otherwise first show in the built image. Here the app's test suite (SQLite) runs in a
container of the build stage's stand-in, whose python3.13 is the very package the runtime stand-in
carries, with the dependencies uv.lock pins for the test group (wheels for cp313).
"""

from __future__ import annotations

import re
from pathlib import Path

import docker

from ops.sandbox.stand_ins import BUILD_STAND_IN, import_stand_in
from ops.toolchain import CACHE_DIR
from tests.image.conftest import REPO_ROOT

# Kept between runs so only a changed lock downloads anything.
UV_CACHE = CACHE_DIR / "image" / "py313-uv-cache"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DOCKERFILE = REPO_ROOT / "app" / "Dockerfile"


def dockerfile_uv_version() -> str:
    """The uv the image's build stage uses: one version of uv resolves the lock everywhere."""
    found = re.search(r"^ARG UV_VERSION=(\S+)$", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert found, f"{DOCKERFILE} has no ARG UV_VERSION"
    return found.group(1)


SCRIPT = """
set -eu
python3 -c 'import sys; print("interpreter", sys.version.split()[0])'
python3 -m venv /opt/uv
/opt/uv/bin/pip install --quiet "uv==$UV_VERSION"
cd /src
/opt/uv/bin/uv sync --frozen --no-default-groups --group test --python /usr/bin/python3 --quiet
exec /opt/venv/bin/python -m pytest app -q -p no:cacheprovider -m 'not postgres'
"""


def test_the_apps_tests_pass_on_the_images_python(engine: docker.DockerClient) -> None:
    UV_CACHE.mkdir(parents=True, exist_ok=True)
    image = import_stand_in(engine, BUILD_STAND_IN)
    volumes = {
        str(REPO_ROOT): {"bind": "/src", "mode": "ro"},
        str(UV_CACHE): {"bind": "/uv-cache", "mode": "rw"},
    }
    environment = {
        "UV_VERSION": dockerfile_uv_version(),
        "UV_CACHE_DIR": "/uv-cache",
        "UV_PROJECT_ENVIRONMENT": "/opt/venv",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_LINK_MODE": "copy",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HYPOTHESIS_STORAGE_DIRECTORY": "/opt/hypothesis",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    if HOST_CA_BUNDLE.is_file():
        # This network inspects TLS; the host's bundle trusts its CA (as image.build passes it).
        volumes[str(HOST_CA_BUNDLE)] = {"bind": "/host-ca.crt", "mode": "ro"}
        environment |= {"SSL_CERT_FILE": "/host-ca.crt", "PIP_CERT": "/host-ca.crt"}
    container = engine.containers.run(
        image,
        ["bash", "-c", SCRIPT],
        environment=environment,
        volumes=volumes,
        network_mode="host",
        detach=True,
    )
    try:
        status = container.wait(timeout=1200)
        output = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    assert "interpreter 3.13." in output, output[-3000:]
    summary = output.strip().splitlines()[-1]
    assert status["StatusCode"] == 0, output[-6000:]
    assert re.search(r"\d+ passed", summary), summary
    assert "failed" not in summary, summary
