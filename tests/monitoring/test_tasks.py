"""How the monitoring tasks compose their commands (a RecordingRunner), and their errors.

The commands themselves run for real elsewhere: the loopback test sends `test-alert` through a
real Alertmanager. What cannot run here is helm/kubectl against AKS, so this pins what they get.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke import Config, Context, MockContext, Result
from invoke.exceptions import Exit

from ops import monitoring
from ops.core.run import RecordingRunner
from ops.core.target import Target
from ops.monitoring import InstallOptions
from ops.monitoring.layout import Layout
from testkit.support import free_port

TEAM_URL = "https://prod-00.westeurope.logic.azure.com/workflows/team-secret-sig"
ONCALL_URL = "https://prod-00.westeurope.logic.azure.com/workflows/oncall-secret-sig"


@pytest.fixture(autouse=True)
def fake_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitoring.toolchain, "require", lambda name: f"/usr/local/bin/{name}")
    monkeypatch.delenv("TEAMS_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("TEAMS_ONCALL_WEBHOOK_URL", raising=False)


@pytest.fixture(autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the deploy's credentials stage leaves: a kubeconfig per environment."""
    root = tmp_path_factory.mktemp("state")
    for env in ("local", "dev", "prod"):
        (root / env).mkdir()
        (root / env / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    STATE["root"] = root
    return root


STATE: dict[str, Path] = {}


def context() -> MockContext:
    """For a test that reads a file the task writes while the command runs (MockContext calls
    back; a RecordingRunner only records)."""
    return MockContext(
        config=Config(overrides={"state_dir": str(STATE["root"])}),
        run={re.compile(r".*"): Result()},
    )


def recording(*, teams_secret_exists: bool = True) -> RecordingRunner:
    runner = RecordingRunner(config_overrides={"state_dir": str(STATE["root"])})
    runner.answer(
        "get", "secret", "alertmanager-teams-webhook", exited=0 if teams_secret_exists else 1
    )
    return runner


def stdin_of(runner: RecordingRunner) -> list[str | bytes]:
    return [record.input for record in runner.records if record.input is not None]


def values_files(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == "-f"]


def test_install_composes_the_whole_installation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    team, oncall = tmp_path / "team", tmp_path / "oncall"
    team.write_text(TEAM_URL + "\n")
    oncall.write_text(ONCALL_URL)
    runner = recording()
    monitoring.install(
        runner.context, env="dev", webhook_url_file=str(team), oncall_webhook_url_file=str(oncall)
    )
    run = runner.calls
    layout = Layout()

    # Every helm and kubectl call acts on dev's cluster: its kubeconfig and AKS context, never
    # whatever context is current on the machine (a bug the deploy once had).
    kubeconfig = STATE["root"] / "dev" / "kubeconfig"
    assert len(run) >= 5
    for argv in run:
        assert f"--kubeconfig={kubeconfig}" in argv, argv
        assert {"--context=aks-orderdesk-dev", "--kube-context=aks-orderdesk-dev"} & set(argv)
    helm = runner.find("upgrade", "--install", "kube-prometheus-stack")
    assert helm.argv[:5] == [
        *("/usr/local/bin/helm", f"--kubeconfig={kubeconfig}"),
        *("--kube-context=aks-orderdesk-dev", "upgrade", "--install"),
    ]
    runner.find("--version", "77.11.1", "--namespace", "monitoring")
    # helm waits 10 minutes for the chart's workloads; the Runner gives it that and more.
    runner.find("--timeout", "10m")
    assert helm.timeout == monitoring.CHART_TIMEOUT_S > 600
    values = values_files(helm.argv)
    assert values[:2] == [str(path) for path in layout.values_files("dev")]
    assert values[2].endswith("values-generated.yaml")
    generated = layout.generated_dir
    kubectl = [
        *("/usr/local/bin/kubectl", "--request-timeout=10s"),
        *(f"--kubeconfig={kubeconfig}", "--context=aks-orderdesk-dev"),
    ]
    assert run[-3:] == [
        [*kubectl, "apply", "-f", str(generated / "prometheusrule.yaml")],
        [
            *kubectl,
            "delete",
            "--ignore-not-found",
            "-f",
            str(generated / "prometheusrule-demo.yaml"),
        ],
        [*kubectl, "apply", "-f", str(generated / "grafana-dashboards.yaml")],
    ]
    assert all(0 < record.timeout <= monitoring.CHART_TIMEOUT_S for record in runner.records)

    # The webhook URLs travel only on stdin, into the Secret; never in a command or the output.
    secret = next(
        doc
        for doc in map(yaml.safe_load, stdin_of(runner))
        if doc["metadata"]["name"] == "alertmanager-teams-webhook"
    )
    assert secret["stringData"] == {"alerts-url": TEAM_URL, "oncall-url": ONCALL_URL}
    assert secret["metadata"]["namespace"] == "monitoring"
    printed = capsys.readouterr()
    for url in (TEAM_URL, ONCALL_URL):
        assert not any(url in word for argv in run for word in argv)
        assert url not in printed.out + printed.err


def test_install_takes_the_urls_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", TEAM_URL)
    runner = recording(teams_secret_exists=False)
    monitoring.install(
        runner.context, env="local", demo_alerts=True, kube_context="aks-orderdesk-dev"
    )
    secret = next(
        doc
        for doc in map(yaml.safe_load, stdin_of(runner))
        if doc["kind"] == "Secret" and doc["metadata"]["name"] == "alertmanager-teams-webhook"
    )
    # Without an on-call URL, critical alerts go to the team channel.
    assert secret["stringData"] == {"alerts-url": TEAM_URL, "oncall-url": TEAM_URL}
    demo = runner.find("-f", str(Layout().generated_dir / "prometheusrule-demo.yaml"))
    assert "apply" in demo.argv
    named = runner.named()
    kubectl_calls = [argv for argv in named if argv[0] == "kubectl"]
    helm_calls = [argv for argv in named if argv[0] == "helm"]
    assert kubectl_calls
    assert helm_calls
    assert all("--context=aks-orderdesk-dev" in argv for argv in kubectl_calls)
    assert all("--kube-context=aks-orderdesk-dev" in argv for argv in helm_calls)


def test_the_tasks_flags_default_to_what_deploy_installs() -> None:
    """deploy runs install_for(target) with InstallOptions(); the task's flags, written again in
    its signature for invoke, default to the same choices."""
    flags = {
        name: parameter.default
        for name, parameter in inspect.signature(monitoring.install.body).parameters.items()
        if name not in {"c", "env"}
    }
    defaults = {option.name: option.default for option in dataclasses.fields(InstallOptions)}
    assert "teams" in defaults
    assert flags == defaults


def test_deploys_install_runs_the_commands_of_the_task_without_flags() -> None:
    by_task, by_deploy = recording(), recording()
    monitoring.install(by_task.context, env="dev")
    monitoring.install_for(Target.resolve(by_deploy.context, "dev"))

    def commands(runner: RecordingRunner) -> list[tuple[str, str | bytes | None]]:
        # The generated values file sits in a temporary directory of each run's own.
        return [
            (re.sub(r"\S*/orderdesk-monitoring-[^/]+/", "<tmp>/", shlex.join(r.argv)), r.input)
            for r in runner.records
        ]

    assert any("<tmp>/values-generated.yaml" in command for command, _ in commands(by_task))
    assert commands(by_deploy) == commands(by_task)


def test_install_keeps_an_existing_secret_when_no_url_is_given() -> None:
    runner = recording(teams_secret_exists=True)
    monitoring.install(runner.context, env="dev")
    runner.find("get", "secret", "alertmanager-teams-webhook")
    assert not [
        doc
        for doc in map(yaml.safe_load, stdin_of(runner))
        if doc["metadata"]["name"] == "alertmanager-teams-webhook"
    ]


def test_install_without_any_webhook_url_says_where_to_put_it() -> None:
    with pytest.raises(
        Exit, match="no Teams webhook URL: set TEAMS_WEBHOOK_URL or pass --webhook-url-file"
    ):
        monitoring.install(recording(teams_secret_exists=False).context, env="dev")


def test_install_refuses_a_plain_http_webhook(tmp_path: Path) -> None:
    url_file = tmp_path / "url"
    url_file.write_text("http://example.invalid/hook")
    with pytest.raises(Exit, match="must start with https://"):
        monitoring.install(context(), env="dev", webhook_url_file=str(url_file))


def test_install_names_an_unreadable_url_file(tmp_path: Path) -> None:
    with pytest.raises(Exit, match="cannot read the Teams webhook URL file"):
        monitoring.install(context(), env="dev", webhook_url_file=str(tmp_path / "missing"))


def test_install_refuses_unknown_environments_and_formats() -> None:
    with pytest.raises(Exit, match="unknown environment 'staging'"):
        monitoring.install(context(), env="staging")
    with pytest.raises(Exit, match="--teams must be one of workflows, connector"):
        monitoring.install(context(), env="dev", teams="slack")


def test_install_passes_the_connector_variant_and_hosts_to_helm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    captured: dict[str, Any] = {}

    def run(command: str, **kwargs: Any) -> Result:
        if " upgrade --install " in command:
            generated = re.findall(r"-f (\S+)", command)[-1]
            captured.update(yaml.safe_load(Path(generated).read_text()))
        return Result(exited=0)

    c = context()
    monkeypatch.setattr(c, "run", run)
    monitoring.install(c, env="dev", teams="connector")
    receivers = captured["alertmanager"]["config"]["receivers"]
    assert all("msteamsv2_configs" not in receiver for receiver in receivers)
    assert any("msteams_configs" in receiver for receiver in receivers)
    assert captured["grafana"]["ingress"]["hosts"] == ["grafana.dev.orderdesk.example.com"]
    # No ingress for Prometheus on Azure (no authentication of its own), so no host for one.
    assert "ingress" not in captured.get("prometheus", {})


def test_test_alert_explains_how_to_reach_alertmanager() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(Exit, match="port-forward svc/kube-prometheus-stack-alertmanager 9093"):
        monitoring.send_test_alert(Context(), alertmanager_url=closed)


def test_test_alert_validates_its_arguments() -> None:
    with pytest.raises(Exit, match="--severity must be critical, warning or info"):
        monitoring.send_test_alert(Context(), severity="page")
    with pytest.raises(Exit, match="--minutes must be at least 1"):
        monitoring.send_test_alert(Context(), minutes=0)
