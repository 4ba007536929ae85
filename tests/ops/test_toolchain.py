"""The Go caches go once the tools are built: ~21 GB a fresh machine would otherwise keep."""

from __future__ import annotations

import stat
import subprocess  # nosec B404 - runs go with fixed arguments
from pathlib import Path

import pytest

from ops import toolchain
from testkit.support import need_tool


def test_dropping_the_go_caches_frees_both_and_keeps_the_built_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go = need_tool("go", "a real build fills the build cache")
    modcache, buildcache, bin_dir = tmp_path / "mod", tmp_path / "build", tmp_path / "bin"
    monkeypatch.setenv("GOMODCACHE", str(modcache))
    monkeypatch.setenv("GOCACHE", str(buildcache))
    monkeypatch.setenv("GOTOOLCHAIN", "local")
    monkeypatch.setattr(toolchain, "BIN_DIR", bin_dir)
    # A real build fills the build cache and puts a tool in bin, as `go install` does.
    source = tmp_path / "hello"
    source.mkdir()
    (source / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
    (source / "main.go").write_text('package main\n\nfunc main() { println("hi") }\n')
    subprocess.run(  # nosec B603
        [go, "install", "."], cwd=source, env=toolchain.go_env(), check=True
    )
    assert (bin_dir / "hello").is_file()
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
    assert (bin_dir / "hello").is_file()
    assert toolchain.drop_go_caches() == 0
