"""The Go tools: rebuilt when their pin moves, and the Go caches dropped once they are built (~21 GB
a fresh machine would otherwise keep)."""

from __future__ import annotations

import re
import stat
import subprocess  # nosec B404 - runs go with fixed arguments
from pathlib import Path

import pytest

from ops import toolchain
from testkit.support import need_tool


def test_dropping_the_go_caches_frees_both_and_keeps_the_built_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real build fills the build cache and puts a tool in bin, as `go install` does.
    built = hello_tool(tmp_path, monkeypatch)
    modcache, buildcache = tmp_path / "mod", tmp_path / "build"
    assert built.is_file()
    # The module cache as Go leaves it: read-only files in read-only directories, which a plain
    # rmtree cannot empty (as a user; root ignores the modes).
    module = modcache / "example.com" / "dep@v1.0.0"
    module.mkdir(parents=True)
    (module / "dep.go").write_text("package dep\n")
    for path in (module / "dep.go", module):
        path.chmod(stat.S_IRUSR | stat.S_IXUSR)

    freed = toolchain.drop_go_caches()

    assert freed > 0
    assert not modcache.exists()
    assert not buildcache.exists()
    assert built.is_file()
    assert toolchain.drop_go_caches() == 0


def hello_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real Go binary in a private BIN_DIR, built from a local module (version "(devel)")."""
    go = need_tool("go", "the build info is read from a real Go binary")
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "mod"))
    monkeypatch.setenv("GOCACHE", str(tmp_path / "build"))
    monkeypatch.setenv("GOTOOLCHAIN", "local")
    # Nothing may come from the network: a rebuild of an unknown version fails at once.
    monkeypatch.setenv("GOPROXY", "off")
    monkeypatch.setattr(toolchain, "BIN_DIR", tmp_path / "bin")
    source = tmp_path / "hello"
    source.mkdir()
    (source / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
    (source / "main.go").write_text('package main\n\nfunc main() { println("hi") }\n')
    subprocess.run(  # nosec B603
        [go, "install", "."], cwd=source, env=toolchain.go_env(), check=True
    )
    return tmp_path / "bin" / "hello"


def test_a_tool_built_from_its_pin_is_kept_and_a_changed_pin_rebuilds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = hello_tool(tmp_path, monkeypatch)
    assert toolchain.built_from(binary) == "example.com/hello@(devel)"

    monkeypatch.setitem(toolchain.GO_TOOLS, "hello", "example.com/hello@(devel)")
    assert toolchain.install_go_tool("hello") == binary

    # The pin moved (as helm v3 -> v4 did): the old binary is not taken for the new version.
    monkeypatch.setitem(toolchain.GO_TOOLS, "hello", "example.com/hello@v2.0.0")
    with pytest.raises(subprocess.CalledProcessError) as rebuilt:
        toolchain.install_go_tool("hello")
    assert rebuilt.value.cmd[1:] == ["install", "example.com/hello@v2.0.0"]


def test_install_prints_each_tool_with_its_path_and_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The line a CI log shows per tool, and the clean room's FIRST_GO_TOOL_BUILT reads."""
    binary = hello_tool(tmp_path, monkeypatch)
    monkeypatch.setitem(toolchain.GO_TOOLS, "hello", "example.com/hello@(devel)")
    assert toolchain.main(["install", "hello"]) == 0
    assert re.fullmatch(rf"hello: {re.escape(str(binary))} \(\d+ s\)\n", capsys.readouterr().out)
