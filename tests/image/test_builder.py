"""ops/image/builder.py without an engine: which docker CLI drives BuildKit, and the build's
command line, stdin and errors, against scripts standing in for docker on a PATH of their own
(real subprocesses: the Runner starts them as it starts docker)."""

from __future__ import annotations

import io
import os
import shlex
import tarfile
from pathlib import Path

import pytest

from ops.core.run import Runner
from ops.image import builder
from ops.image.common import REPO_ROOT, ImageError

ENGINE_URL = "unix:///tmp/orderdesk-test/docker.sock"


def fake_docker(
    directory: Path, version: str, *, buildx: bool, build_script: str = "exit 1"
) -> Path:
    """A `docker` answering `--version` and `buildx version` as a real one of that version does
    (with or without the buildx plugin); `build_script` is what its build does."""
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / "docker"
    buildx_answer = (
        'echo "github.com/docker/buildx v0.38.2 0000000"; exit 0'
        if buildx
        else "echo \"docker: 'buildx' is not a docker command.\" >&2; exit 1"
    )
    program.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --version ]; then echo "Docker version {version}, build 0000000"; fi\n'
        'if [ "$1" = --version ]; then exit 0; fi\n'
        f'if [ "$1 $2" = "buildx version" ]; then {buildx_answer}; fi\n'
        f"{build_script}\n"
    )
    program.chmod(0o755)
    return program


def test_a_client_with_buildx_is_taken_after_one_without(tmp_path: Path) -> None:
    """This machine's case, the other way round: a 28.x CLI without the plugin comes first."""
    fake_docker(tmp_path / "first", "28.2.2", buildx=False)
    second = fake_docker(tmp_path / "second", "28.2.2", buildx=True)
    search_path = os.pathsep.join([str(tmp_path / "first"), str(tmp_path / "second")])

    cli = builder.buildkit_cli(Runner(), search_path)

    assert cli == builder.BuildKitCli(str(second), "28.2.2", buildx=True)
    assert cli.build_command() == [str(second), "buildx", "build", "--builder", "default", "--load"]


def test_a_client_older_than_23_drives_buildkit_itself_with_docker_buildkit_1(
    tmp_path: Path,
) -> None:
    """Debian bookworm's docker.io, found after a newer CLI without buildx (as on this machine)."""
    fake_docker(tmp_path / "local", "28.2.2", buildx=False)
    bookworm = fake_docker(tmp_path / "usr", "20.10.24+dfsg1", buildx=False)
    search_path = os.pathsep.join([str(tmp_path / "local"), str(tmp_path / "usr")])

    cli = builder.buildkit_cli(Runner(), search_path)

    assert cli == builder.BuildKitCli(str(bookworm), "20.10.24+dfsg1", buildx=False)
    assert cli.build_command() == [str(bookworm), "build"]
    assert cli.env(ENGINE_URL) == {"DOCKER_HOST": ENGINE_URL, "DOCKER_BUILDKIT": "1"}


def test_the_first_that_can_wins_even_when_a_later_one_has_buildx(tmp_path: Path) -> None:
    first = fake_docker(tmp_path / "first", "20.10.24+dfsg1", buildx=False)
    fake_docker(tmp_path / "second", "28.2.2", buildx=True)
    search_path = os.pathsep.join([str(tmp_path / "first"), str(tmp_path / "second")])

    assert builder.buildkit_cli(Runner(), search_path).program == str(first)


def test_no_cli_that_drives_buildkit_names_each_one_tried_and_the_fix(tmp_path: Path) -> None:
    newer = fake_docker(tmp_path / "newer", "28.2.2", buildx=False)
    oldest = fake_docker(tmp_path / "oldest", "18.06.3-ce", buildx=False)
    # The same file through a second directory (/bin and /usr/bin): asked once.
    (tmp_path / "alias").symlink_to(tmp_path / "newer")
    search_path = os.pathsep.join(str(tmp_path / name) for name in ("newer", "alias", "oldest"))

    with pytest.raises(ImageError) as caught:
        builder.buildkit_cli(Runner(), search_path)

    message = str(caught.value)
    assert f"tried {newer} (docker 28.2.2, no buildx); {oldest} (docker 18.06.3-ce, no buildx)" in (
        message
    )
    assert "alias" not in message
    assert "install Docker's buildx plugin" in message
    assert "apt-get install docker-buildx" in message
    assert "older than 23.0" in message


def test_no_docker_at_all_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()  # a directory named docker is no program
    with pytest.raises(ImageError, match=r"no docker CLI on PATH; install Docker's buildx plugin"):
        builder.buildkit_cli(Runner(), str(tmp_path))


RECORDING_BUILD = """\
out="$FAKE_DOCKER_RECORD"
printf '%s\\n' "$@" > "$out/argv"
printf '%s' "$DOCKER_HOST" > "$out/docker_host"
printf '%s' "${DOCKER_BUILDKIT:-unset}" > "$out/docker_buildkit"
cat > "$out/context.tar"
iidfile=""
while [ $# -gt 0 ]; do
    if [ "$1" = --iidfile ]; then iidfile="$2"; fi
    shift
done
echo '#1 [internal] load build definition from Dockerfile' >&2
printf 'sha256:%064d' 7 > "$iidfile"
"""


@pytest.fixture
def recording_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A bookworm-like docker first on PATH whose build records its argv, env and stdin in the
    directory it returns beside itself."""
    program = fake_docker(
        tmp_path / "bin", "20.10.24+dfsg1", buildx=False, build_script=RECORDING_BUILD
    )
    record = tmp_path / "record"
    record.mkdir()
    monkeypatch.setenv("PATH", f"{program.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_RECORD", str(record))
    return program, record


def test_the_build_sends_the_filtered_context_with_the_ca_bundle_on_stdin(
    tmp_path: Path, recording_docker: tuple[Path, Path]
) -> None:
    _, record = recording_docker
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n")

    image_id = builder.build_image(
        Runner(),
        ENGINE_URL,
        "registry.test/orderdesk:abc-local",
        buildargs={"BUILD_IMAGE": "orderdesk-build:trixie", "BASE_IMAGE": "orderdesk-runtime:x"},
        ca_bundle=bundle,
        network="host",
        labels={"io.orderdesk.environment": "local"},
        show_output=False,
    )

    assert image_id == "sha256:" + "0" * 63 + "7"
    argv = (record / "argv").read_text().splitlines()
    assert argv[:4] == ["build", "--file", "app/Dockerfile", "--tag"]
    joined = shlex.join(argv)
    for part in (
        "--tag registry.test/orderdesk:abc-local",
        "--network host",
        "--progress plain",
        "--build-arg BUILD_IMAGE=orderdesk-build:trixie",
        "--build-arg BASE_IMAGE=orderdesk-runtime:x",
        "--label io.orderdesk.environment=local",
    ):
        assert part in joined
    assert "--pull" not in argv
    assert argv[-1] == "-"
    assert (record / "docker_host").read_text() == ENGINE_URL
    assert (record / "docker_buildkit").read_text() == "1"
    with tarfile.open(record / "context.tar") as archive:
        names = set(archive.getnames())
        ca = archive.extractfile("build-ca.pem")
        assert ca is not None
        assert ca.read() == bundle.read_bytes()
    assert names == {*builder.context_files(), "build-ca.pem"}
    # In memory only: nothing was written into the tree.
    assert not (REPO_ROOT / "build-ca.pem").exists()


def test_a_dry_run_prints_the_build_and_runs_no_build(
    recording_docker: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    program, record = recording_docker

    image_id = builder.build_image(
        Runner(dry=True),
        ENGINE_URL,
        "orderdesk:test",
        buildargs={},
        ca_bundle=None,
        network="host",
    )

    assert image_id == ""
    assert not (record / "argv").exists(), "a dry run ran the build"
    printed = capsys.readouterr().out
    assert f"{program} build --file app/Dockerfile --tag orderdesk:test" in printed
    assert "--version" not in printed, "the CLI's version was not asked for real"


def test_a_failed_build_quotes_the_end_of_its_output_and_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = (
        "cat > /dev/null\n"
        'i=1; while [ $i -le 60 ]; do echo "#9 step output line $i" >&2; i=$((i+1)); done\n'
        'echo \'ERROR: failed to solve: process "/bin/sh -c false" did not complete '
        "successfully: exit code: 1' >&2\n"
        "exit 1"
    )
    program = fake_docker(tmp_path / "bin", "28.2.2", buildx=True, build_script=failing)
    monkeypatch.setenv("PATH", f"{program.parent}{os.pathsep}{os.environ['PATH']}")

    with pytest.raises(ImageError) as caught:
        builder.build_image(
            Runner(),
            ENGINE_URL,
            "orderdesk:test",
            buildargs={},
            ca_bundle=None,
            network="host",
            show_output=False,
        )

    message = str(caught.value)
    assert message.startswith(f"docker build failed (exit 1, BuildKit through {program}")
    assert "did not complete successfully: exit code: 1" in message
    assert "#9 step output line 60" in message
    # The end of the output, not all of it.
    assert "#9 step output line 30\n" not in message
    assert "fix the step it names (app/Dockerfile" in message


def test_the_context_tar_is_what_docker_build_reads_from_stdin() -> None:
    """`docker build -` takes a tar on stdin as the whole context; -f names a file inside it
    (docs.docker.com/build/concepts/context/: "a tarball piped ... through standard input")."""
    with builder.build_context(None) as archive:
        data = archive.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as context:
        dockerfile = context.extractfile("app/Dockerfile")
        assert dockerfile is not None
        assert b"FROM ${BUILD_IMAGE} AS build" in dockerfile.read()
    # Nothing BuildKit-only in it, so the classic builder still builds it (and no frontend
    # image is pulled for a `# syntax=` line).
    text = (REPO_ROOT / "app" / "Dockerfile").read_text(encoding="utf-8")
    assert "--mount=" not in text
    assert not [line for line in text.splitlines() if line.lower().startswith("# syntax=")]


def test_the_context_starts_with_a_whole_tar_header_as_the_cli_sniffs_it() -> None:
    """The docker CLI reads stdin as a tar only if a header parses from its first 1024 bytes
    (docker/buildx build/opt.go, moby/buildkit util/archiveutil.IsArchive); else it takes the
    tar for a Dockerfile and fails with "ambiguous Dockerfile source"."""
    with builder.build_context(None) as archive:
        head = archive.read(1024)
    with tarfile.open(fileobj=io.BytesIO(head + b"\0" * 1024)) as context:
        first = context.next()
    assert first is not None
    assert first.name == builder.context_files()[0]
    assert not first.pax_headers
