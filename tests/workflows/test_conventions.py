"""The conventions' configs: pre-commit runs the tools nox runs; Renovate covers every pin; the
devcontainer sets up what the README's fresh-machine commands need.

pre-commit and Renovate are checked offline with their own validators (`pre-commit
validate-config`, check-jsonschema's vendored Renovate schema), then against the files they act
on. The devcontainer is read as data against the README, the workflows and .python-version: no
image can be pulled here to build it, and the project installs no npm tools for the
devcontainer CLI's own check.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops import app
from ops.core.ci import skip_or_fail
from tests.cleanroom import room as cleanroom_room
from tests.workflows.policy import ROOT, github_workflows, load

VENV_BIN = Path(sys.executable).parent
CACHE_BIN = Path.home() / ".cache" / "orderdesk" / "bin"
PRE_COMMIT_CONFIG = ROOT / ".pre-commit-config.yaml"
RENOVATE = ROOT / "renovate.json"
DEVCONTAINER = ROOT / ".devcontainer" / "devcontainer.json"
NOX_SOURCES = (ROOT / "noxfile.py", ROOT / "ops" / "image" / "checks.py")


def run(*argv: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(word) for word in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def hooks() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load(PRE_COMMIT_CONFIG.read_text(encoding="utf-8"))
    repos = config["repos"]
    assert [repo["repo"] for repo in repos] == ["local"], "hook repositories cannot be cloned here"
    return {hook["id"]: hook for repo in repos for hook in repo["hooks"]}


# --- pre-commit ----------------------------------------------------------------------------------

# Each hook, the words its entry runs, and the tool each needs beyond the venv.
HOOKS: dict[str, tuple[list[str], Path | None]] = {
    "ruff-check": ([".venv/bin/ruff", "check"], None),
    "ruff-format": ([".venv/bin/ruff", "format", "--check"], None),
    "import-linter": (["PYTHONPATH=app", ".venv/bin/lint-imports", "--no-logo"], None),
    "detect-secrets": (
        [".venv/bin/detect-secrets-hook", "--baseline", ".secrets.baseline"],
        None,
    ),
    "zizmor": ([".venv/bin/zizmor", "--offline", "--persona=pedantic"], None),
    "actionlint": (["/.cache/orderdesk/bin/actionlint", "-shellcheck=", "-pyflakes="], None),
    "hadolint": ([".venv/bin/hadolint", "--failure-threshold", "info"], None),
    "terraform-fmt": (["terraform", "fmt", "-check", "-recursive", "-diff", "infra"], None),
    "tflint": (["tflint", "--chdir=infra", "--recursive", "infra/.tflint.hcl"], None),
}
NEEDS = {
    "actionlint": CACHE_BIN / "actionlint",
    "terraform-fmt": CACHE_BIN / "terraform",
    "tflint": CACHE_BIN / "tflint",
}
# The flags nox (or image.scan) passes, which the hook must pass too.
SAME_FLAGS_AS_NOX = {
    "import-linter": ["lint-imports", "--no-logo"],
    "detect-secrets": ["--baseline", ".secrets.baseline"],
    "zizmor": ["--offline", "--persona=pedantic"],
    "hadolint": ["--failure-threshold", "info"],
    "terraform-fmt": ["fmt", "-check", "-recursive", "-diff"],
    "tflint": ["--chdir=infra", "--recursive", "--config"],
}
# One real file each hook reads (the hooks with pass_filenames: false read infra/ whole).
SAMPLE = {
    "ruff-check": "tasks.py",
    "ruff-format": "tasks.py",
    "import-linter": "tasks.py",
    "detect-secrets": "tasks.py",  # pragma: allowlist secret
    "zizmor": ".github/workflows/ci.yml",
    "actionlint": ".github/workflows/ci.yml",
    "hadolint": "app/Dockerfile",
    "terraform-fmt": "infra/main.tf",
    "tflint": "infra/main.tf",
}


def pre_commit(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run(VENV_BIN / "pre-commit", *args)


def test_pre_commit_accepts_its_config():
    result = pre_commit("validate-config", PRE_COMMIT_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pre_commit_validate_config_rejects_a_hook_without_an_entry(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "repos:\n  - repo: local\n    hooks:\n      - id: ruff\n        name: ruff\n"
        "        language: system\n",
        encoding="utf-8",
    )
    result = pre_commit("validate-config", broken)
    assert result.returncode != 0
    assert "entry" in result.stdout + result.stderr


def test_every_hook_is_local_and_runs_a_tool_nox_runs():
    found = hooks()
    assert set(found) == set(HOOKS)
    nox_source = "\n".join(path.read_text(encoding="utf-8") for path in NOX_SOURCES)
    for hook_id, (words, _) in HOOKS.items():
        hook = found[hook_id]
        assert hook["language"] == "system", hook_id
        entry = hook["entry"]
        missing = [word for word in words if word not in entry]
        assert not missing, f"{hook_id}: {entry!r} lacks {missing}"
        for flag in SAME_FLAGS_AS_NOX.get(hook_id, []):
            assert f'"{flag}"' in nox_source, f"{hook_id}: nox does not pass {flag}"


def test_every_sample_file_exists_and_is_what_its_hook_reads():
    found = hooks()
    for hook_id, sample in SAMPLE.items():
        assert (ROOT / sample).is_file(), sample
        pattern = found[hook_id].get("files")
        if pattern:
            assert re.search(pattern, sample), f"{hook_id} would not read {sample}"


@pytest.mark.parametrize("hook_id", sorted(SAMPLE))
def test_the_hook_passes_on_the_repository_s_own_file(hook_id):
    tool = NEEDS.get(hook_id)
    if tool is not None and not tool.is_file():
        skip_or_fail(
            f"{tool} missing (scripts/bootstrap --system)", skip=pytest.skip, fail=pytest.fail
        )
    result = pre_commit("run", hook_id, "--files", SAMPLE[hook_id])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("hook_id", "file", "content", "finding"),
    [
        (
            "detect-secrets",
            "settings.py",
            'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLQ"\n',  # pragma: allowlist secret
            "AWS Access Key",
        ),
        ("ruff-check", "bad.py", "import os\n", "F401"),
    ],
)
def test_the_hook_stops_a_planted_problem(tmp_path, hook_id, file, content, finding):
    planted = tmp_path / file
    planted.write_text(content, encoding="utf-8")
    result = pre_commit("run", hook_id, "--files", planted)
    assert result.returncode != 0
    assert finding in result.stdout, result.stdout


# --- Renovate ------------------------------------------------------------------------------------


def renovate() -> dict[str, Any]:
    return json.loads(RENOVATE.read_text(encoding="utf-8"))


def check_renovate_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return run(VENV_BIN / "check-jsonschema", "--builtin-schema", "vendor.renovate", path)


def python_regex(javascript: str) -> re.Pattern[str]:
    """Renovate's patterns are JavaScript regexes: named groups are (?<name>...) there."""
    return re.compile(javascript.replace("(?<", "(?P<"))


def custom_manager(file: str) -> dict[str, Any]:
    """The one custom manager whose managerFilePatterns match this file."""
    matching = [
        manager
        for manager in renovate()["customManagers"]
        if any(python_regex(p.strip("/")).search(file) for p in manager["managerFilePatterns"])
    ]
    assert len(matching) == 1, f"{file}: {len(matching)} custom managers read it"
    return matching[0]


def extracted(file: str) -> list[dict[str, str]]:
    manager = custom_manager(file)
    text = (ROOT / file).read_text(encoding="utf-8")
    return [
        match.groupdict()
        for pattern in manager["matchStrings"]
        for match in python_regex(pattern).finditer(text)
    ]


def test_renovate_config_is_valid_for_renovate_s_schema():
    result = check_renovate_schema(RENOVATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_renovate_schema_check_rejects_a_broken_custom_manager(tmp_path):
    config = renovate()
    config["customManagers"][0]["matchStrings"] = "not a list"
    broken = tmp_path / "renovate.json"
    broken.write_text(json.dumps(config), encoding="utf-8")
    result = check_renovate_schema(broken)
    assert result.returncode != 0
    assert "matchStrings" in result.stdout + result.stderr


def test_renovate_built_in_managers_for_our_pins_are_on():
    """pep621 (pyproject + uv.lock), github-actions (SHAs, containers), dockerfile, terraform
    (providers, required_version) are on by default; azure-pipelines is off by default
    (docs.renovatebot.com/modules/manager/azure-pipelines) and turned on here."""
    config = renovate()
    assert "enabledManagers" not in config, "enabledManagers would switch the others off"
    for manager in ("pep621", "github-actions", "dockerfile", "terraform"):
        assert config.get(manager, {}).get("enabled", True) is True, manager
    assert config["azure-pipelines"]["enabled"] is True
    assert "helpers:pinGitHubActionDigestsToSemver" in config["extends"]
    assert "docker:pinDigests" in config["extends"]
    assert config["lockFileMaintenance"]["enabled"] is True


@pytest.mark.parametrize(
    "file", ["monitoring/kube-prometheus-stack/chart.yaml", "manifests/addons/cert-manager.yaml"]
)
def test_renovate_reads_each_chart_pin(file):
    pin = yaml.safe_load((ROOT / file).read_text(encoding="utf-8"))
    assert custom_manager(file)["datasourceTemplate"] == "helm"
    assert extracted(file) == [
        {"registryUrl": pin["repository"], "depName": pin["chart"], "currentValue": pin["version"]}
    ]


def test_renovate_reads_every_go_tool_pin_with_its_module():
    files = sorted(ROOT.glob("tools/go/*.txt"))
    assert files
    for path in files:
        file = str(path.relative_to(ROOT))
        assert custom_manager(file)["datasourceTemplate"] == "go"
        lines = [
            line.split()
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        found = extracted(file)
        assert len(found) == len(lines) > 0, file
        for (name, target), dep in zip(lines, found, strict=True):
            package, version = target.split("@")
            assert dep["depName"] == name
            assert dep["currentValue"] == version
            module = dep["packageName"]
            assert package == module or package.startswith(f"{module}/cmd/"), (file, dep)
            assert "/cmd/" not in module


def test_renovate_reads_the_dockerfile_base_images_with_their_digests():
    file = "app/Dockerfile"
    text = (ROOT / file).read_text(encoding="utf-8")
    pinned = re.findall(r"^ARG [A-Z_]+_IMAGE=(\S+)$", text, re.MULTILINE)
    assert len(pinned) >= 2
    found = extracted(file)
    # distroless publishes its Debian 13 Python image under a digest without a version tag.
    tags = [f":{d['currentValue']}" if d["currentValue"] else "" for d in found]
    references = [
        f"{d['depName']}{tag}@{d['currentDigest']}" for d, tag in zip(found, tags, strict=True)
    ]
    assert references == pinned


# --- devcontainer --------------------------------------------------------------------------------


def devcontainer() -> dict[str, Any]:
    """devcontainer.json, kept free of comments so that it is plain JSON."""
    config: dict[str, Any] = json.loads(DEVCONTAINER.read_text(encoding="utf-8"))
    return config


def fresh_machine_commands() -> list[str]:
    """The shell commands of the README's "On a fresh machine" section, in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## On a fresh machine", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_devcontainer_runs_the_readme_s_test_setup_bootstrap_after_creating():
    commands = fresh_machine_commands()
    # The README's two commands: run the app, and set up and run every test.
    assert commands[:2] == [
        "scripts/bootstrap && .venv/bin/invoke up",
        "scripts/bootstrap --system && scripts/test",
    ]
    bootstrap, _ = commands[1].split(" && ")
    assert devcontainer()["postCreateCommand"] == bootstrap


def test_ci_runs_the_readme_s_test_command() -> None:
    """.ci/run ends by running the README's test command as written, after only setup lines."""
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [line for line in ci_lines if line.strip() and not line.startswith("#")]
    assert commands[-1] == fresh_machine_commands()[1]
    assert commands[:-1] == [
        "set -euo pipefail",
        'cd "$(dirname "$0")/.."',
        'export CI="${CI:-true}"',
    ]


def test_the_devcontainer_builds_on_ci_s_go_and_python():
    build = devcontainer()["build"]
    pins = {
        step["with"]["go-version"]
        for path in github_workflows()
        for job in load(path)["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("actions/setup-go@")
    }
    assert len(pins) == 1, f"the workflows pin Go at {sorted(pins)}"
    assert build["args"]["GO_VERSION"] == pins.pop()
    python_version = (ROOT / ".python-version").read_text(encoding="utf-8").strip()
    assert build["args"]["PYTHON_VERSION"] == python_version
    dockerfile = (DEVCONTAINER.parent / build["dockerfile"]).read_text(encoding="utf-8")
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    suite = image_debian_suite()
    assert bases == [f"golang:${{GO_VERSION}}-{suite}", f"python:${{PYTHON_VERSION}}-{suite}"]


# Debian's releases by number (debian.org/releases): the image's bases name a number
# (debian:13-slim, python3-debian13), the python and golang images a codename.
DEBIAN_CODENAMES = {"12": "bookworm", "13": "trixie", "14": "forky"}
APP_DOCKERFILE = ROOT / "app" / "Dockerfile"


def image_debian_suite() -> str:
    """The Debian release of the app image: both its bases' (app/Dockerfile's pinned defaults)."""
    dockerfile = APP_DOCKERFILE.read_text(encoding="utf-8")
    build = re.search(r"^ARG BUILD_IMAGE=debian:(\d+)-slim@sha256:", dockerfile, re.MULTILINE)
    base = re.search(r"^ARG BASE_IMAGE=\S+/python3-debian(\d+)@sha256:", dockerfile, re.MULTILINE)
    assert build, f"{APP_DOCKERFILE}: no BUILD_IMAGE=debian:<release>-slim pinned by digest"
    assert base, f"{APP_DOCKERFILE}: no BASE_IMAGE=.../python3-debian<release> pinned by digest"
    assert build.group(1) == base.group(1), "the image's two bases are of different releases"
    return DEBIAN_CODENAMES[build.group(1)]


def test_ci_containers_devcontainer_and_their_stand_ins_are_the_image_s_debian_release():
    """What CI tests on is the Debian release the image ships: its job containers, the
    devcontainer, and the clean room's and image tests' stand-ins for them."""
    suite = image_debian_suite()
    assert suite == "trixie"
    containers = {
        name: job["container"]["image"]
        for name, job in load(ROOT / ".github" / "workflows" / "ci.yml")["jobs"].items()
        if "container" in job
    }
    assert sorted(containers) == ["areas", "tests", "toolchain"]
    for name, image in containers.items():
        assert re.fullmatch(rf"python:[^:]+-{suite}", image), (name, image)
    dockerfile = (DEVCONTAINER.parent / devcontainer()["build"]["dockerfile"]).read_text("utf-8")
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert bases, dockerfile
    assert [base for base in bases if not base.endswith(f"-{suite}")] == [], bases
    # The clean room's stand-in of the toolchain and area jobs' container, made from that release.
    stand_in = cleanroom_room.PYTHON_CONTAINER
    assert stand_in.image == containers["toolchain"] == containers["areas"]
    assert stand_in.tarball.name == f"{stand_in.image.replace(':', '-')}.tar"
    cleanroom_script = (ROOT / "tools" / "build" / "cleanroom").read_text(encoding="utf-8")
    assert re.search(rf'--include="\$include" {suite} "\$python"', cleanroom_script)
    # The image's own stand-ins (tools/build/image) are of the same release.
    image_script = (ROOT / "tools" / "build" / "image").read_text(encoding="utf-8")
    assert re.search(rf'--include="\$include" {suite} "\$rootfs"', image_script)


def test_the_devcontainer_image_installs_every_debian_package_tools_apt_names():
    build = devcontainer()["build"]
    context = (DEVCONTAINER.parent / build["context"]).resolve()
    assert context == ROOT / "tools" / "apt"
    # package -> the releases it is only for (`@suite` words), or none: every release.
    named = {
        words[0]: {word.removeprefix("@") for word in words[1:]}
        for path in sorted(context.glob("*.txt"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if (words := line.split("#", 1)[0].split())
    }
    assert {"docker.io", "postgresql", "chromium", "etcd-server", "prometheus"} <= set(named)
    # The devcontainer's release (CI's containers', the image's) and .ci/run's machines'.
    for suite in (image_debian_suite(), "bookworm"):
        listed = run(context / "packages", suite)
        assert listed.returncode == 0, listed.stderr
        for_suite = [name for name, only in named.items() if not only or suite in only]
        assert listed.stdout.split() == sorted(for_suite), suite
    dockerfile = (DEVCONTAINER.parent / build["dockerfile"]).read_text(encoding="utf-8")
    assert "COPY packages *.txt /tmp/orderdesk-apt/" in dockerfile
    assert "$(/tmp/orderdesk-apt/packages)" in dockerfile
    # scripts/bootstrap --system installs the same list.
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text(encoding="utf-8")
    assert "packages=$(tools/apt/packages " in bootstrap


def test_tools_apt_adds_the_docker_cli_and_buildx_on_trixie_only():
    """Trixie moved the docker CLI out of docker.io into docker-cli (docker.io only Recommends
    it, and bootstrap installs without recommends), and its CLI (26) drives BuildKit only through
    the buildx plugin, docker-buildx (0.13.1 in trixie: packages.debian.org/trixie/docker-buildx);
    bookworm has neither, and its docker.io 20.10 CLI has BuildKit's client built in. Checked
    against each release's package index: `apt-cache policy docker-cli docker-buildx` on each."""
    packages = ROOT / "tools" / "apt" / "packages"
    trixie = run(packages, "trixie")
    bookworm = run(packages, "bookworm")
    assert trixie.returncode == bookworm.returncode == 0, trixie.stderr + bookworm.stderr
    only_trixie = set(trixie.stdout.split()) - set(bookworm.stdout.split())
    assert only_trixie == {"docker-cli", "docker-buildx"}
    assert "docker.io" in bookworm.stdout.split()


def test_tools_apt_packages_refuses_a_word_that_is_neither_package_nor_suite(tmp_path: Path):
    script = tmp_path / "packages"
    script.write_text((ROOT / "tools" / "apt" / "packages").read_text(encoding="utf-8"))
    (tmp_path / "area.txt").write_text("docker-cli trixie   # meant @trixie\n", encoding="utf-8")
    listed = run("sh", script, "trixie")
    assert listed.returncode != 0
    assert 'docker-cli: "trixie" is neither a package nor @suite' in listed.stderr


def test_the_devcontainer_forwards_the_port_invoke_up_serves_on():
    default_port = inspect.signature(app.up.body).parameters["port"].default
    assert devcontainer()["forwardPorts"] == [default_port]
    # The tests start their own Docker engine, network namespaces and cluster, as in CI's
    # --privileged containers.
    assert devcontainer()["runArgs"] == ["--privileged"]
