"""ops/core/target.py and settings.py: an environment resolved once, settings read one way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from invoke import Config, Context, MockContext
from invoke.exceptions import Exit

import tasks
from ops import envconfig
from ops.core.settings import DeploySettings, KubeSettings, Settings, config_defaults
from ops.core.target import Target
from tests.workflows.policy import ROOT

NO_ENV = "no environment chosen; pass --env NAME (known environments: dev, local, prod)"


def all_tasks() -> dict[str, object]:
    found: dict[str, object] = {}

    def walk(collection: object, prefix: str) -> None:
        for name, task in collection.tasks.items():  # type: ignore[attr-defined]
            found[prefix + name] = task
        for name, sub in collection.collections.items():  # type: ignore[attr-defined]
            walk(sub, f"{prefix}{name}.")

    walk(tasks.ns, "")
    return found


def tasks_taking_env() -> dict[str, object]:
    taking = {
        name: task
        for name, task in all_tasks().items()
        if "env" in {argument.name for argument in task.get_arguments()}  # type: ignore[attr-defined]
    }
    assert len(taking) > 20, sorted(taking)
    return taking


@pytest.mark.parametrize("name", sorted(tasks_taking_env()))
def test_every_task_that_takes_an_environment_requires_one_and_says_so_the_same_way(
    name: str,
) -> None:
    task = tasks_taking_env()[name]
    # monitoring.dashboards needs an environment only to --apply.
    flags = {"apply": True} if name == "monitoring.dashboards" else {}
    c = MockContext(run={})
    with pytest.raises(Exit) as caught:
        task(c, env="", **flags)  # type: ignore[operator]
    assert caught.value.code == 2
    assert caught.value.message == NO_ENV
    assert c.run.call_args_list == []  # type: ignore[attr-defined]


def test_no_task_defaults_to_an_environment() -> None:
    defaults = {
        name: argument.default
        for name, task in tasks_taking_env().items()
        for argument in task.get_arguments()  # type: ignore[attr-defined]
        if argument.name == "env"
    }
    assert {name: default for name, default in defaults.items() if default != ""} == {}


# Where env.yaml may be read and invoke's configuration sections taken apart. ops/sandbox's
# three lookups of `local` stay: the sandbox serves only the local environment's registry and is
# below every task (no Target there).
LOADS = re.compile(r"envconfig\.load(_all)?\(|environments\.load\(|load_env\(")
SECTION_READS = re.compile(r"config\.get\(\s*[\"'](k8s|deploy|image|env_file)[\"']")
ALLOWED_LOADS = {"ops/core/target.py", "ops/envconfig.py"}
COMPOSES = re.compile(r"\bfor_environment\(")


def python_files() -> list[Path]:
    files = [ROOT / "tasks.py", *sorted((ROOT / "ops").rglob("*.py"))]
    assert len(files) > 50
    return files


def test_only_the_target_loads_env_yaml() -> None:
    loads = {
        str(path.relative_to(ROOT))
        for path in python_files()
        if LOADS.search(path.read_text(encoding="utf-8"))
    }
    sandbox = {path for path in loads if path.startswith("ops/sandbox/")}
    assert loads - sandbox == ALLOWED_LOADS - {"ops/envconfig.py"}
    for path in sandbox:
        text = (ROOT / path).read_text(encoding="utf-8")
        assert set(re.findall(r"envconfig\.load\(([^)]*)\)", text)) == {'"local"'}, path


def test_only_the_target_composes_an_environments_kube_target() -> None:
    """An environment's kubeconfig, context and kubectl settings are put together by
    kube.for_environment, and only Target.kube calls it: no wrapper re-reads the settings and
    state from a context (the sandbox builds KubeTarget for its own node's kubeconfig)."""
    found = {
        str(path.relative_to(ROOT)): len(COMPOSES.findall(path.read_text(encoding="utf-8")))
        for path in python_files()
    }
    # kube.py: the definition alone; target.py: Target.kube.
    assert {path: count for path, count in found.items() if count} == {
        "ops/core/kube.py": 1,
        "ops/core/target.py": 1,
    }


def test_only_settings_reads_the_config_sections() -> None:
    readers = {
        str(path.relative_to(ROOT))
        for path in python_files()
        if SECTION_READS.search(path.read_text(encoding="utf-8"))
    }
    assert readers == {"ops/core/settings.py"}


def test_resolve_reads_env_yaml_once_and_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Path] = []
    real = envconfig.load_all

    def counted(path: Path = envconfig.ENV_FILE, **kwargs: object) -> dict:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(envconfig, "load_all", counted)
    target = Target.resolve(Context(), "prod")
    assert reads == [envconfig.ENV_FILE]
    assert target.environment.name == target.name == "prod"
    assert target.kube().context == "aks-orderdesk-prod"
    assert target.require_azure().aks.cluster_name == "aks-orderdesk-prod"
    assert reads == [envconfig.ENV_FILE]  # the kube target and the azure block read nothing


def test_a_broken_env_file_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "env.yaml"
    broken.write_text("environments: {local: {app: 3}}\n")
    with pytest.raises(Exit) as caught:
        Target.resolve(Context(Config(overrides={"env_file": str(broken)})), "local")
    assert caught.value.code == 2
    assert f"{broken} is not valid:" in str(caught.value.message)


def test_settings_follow_invokes_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """defaults < the project's invoke.yaml < INVOKE_* variables (a task's flag, such as
    k8s.rollout --timeout, wins over the setting: tests/manifests/test_kubectl_composition.py)."""
    (tmp_path / "invoke.yaml").write_text(
        "k8s:\n  rollout_timeout: 60\n  request_timeout: 7\ndeploy:\n  smoke_interval: 0.5\n"
    )
    monkeypatch.setenv("INVOKE_K8S_REQUEST_TIMEOUT", "3")
    config = Config(defaults=config_defaults(), project_location=tmp_path)
    config.load_project()
    config.load_shell_env()
    settings = Settings.read(config)
    assert settings.k8s == KubeSettings(rollout_timeout=60, request_timeout=3)
    assert settings.deploy == DeploySettings(smoke_interval=0.5)
    assert settings.env_file == envconfig.ENV_FILE


def test_a_setting_of_the_wrong_type_names_its_variable() -> None:
    config = Config(overrides={"k8s": {"request_timeout": "soon"}})
    with pytest.raises(
        Exit,
        match=r"k8s\.request_timeout = 'soon' is not a whole number.*INVOKE_K8S_REQUEST_TIMEOUT",
    ):
        Settings.read(config)
