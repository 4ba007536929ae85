"""ops.core: the shared plumbing behaves the same for every task that uses it."""

from __future__ import annotations

import http.server
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from invoke import Config, Context
from invoke.exceptions import Exit

from ops import envconfig
from ops.core import ci, environments, git, kube, state, wait, web
from ops.core.ports import free_port
from ops.core.target import Target
from testkit.support import serving_on_loopback

# --- ci --------------------------------------------------------------------------------------


class Called(Exception):
    pass


def _raise(kind: str):
    def handler(message: str) -> None:
        raise Called(kind, message)

    return handler


@pytest.mark.parametrize(("value", "expected"), [("true", "fail"), ("1", "fail"), ("", "skip")])
def test_skip_on_a_laptop_fail_in_ci(monkeypatch: pytest.MonkeyPatch, value: str, expected: str):
    monkeypatch.setenv("CI", value)
    with pytest.raises(Called) as called:
        ci.skip_or_fail("promtool is not installed", skip=_raise("skip"), fail=_raise("fail"))
    kind, message = called.value.args
    assert kind == expected
    if expected == "fail":
        assert message == "CI must run this, but promtool is not installed"
    else:
        assert message == "promtool is not installed"


# --- environments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("staging", "unknown environment 'staging'; known environments: dev, local, prod"),
        ("", "no environment chosen; pass --env NAME (known environments: dev, local, prod)"),
    ],
)
def test_an_unknown_or_missing_environment_is_bad_input_listing_the_known_ones(
    name: str, message: str
) -> None:
    with pytest.raises(Exit) as caught:
        Target.resolve(Context(), name)
    assert caught.value.code == environments.BAD_INPUT == 2
    assert caught.value.message == message


def test_an_invalid_env_file_is_the_same_kind_of_error(tmp_path: Path) -> None:
    broken = tmp_path / "env.yaml"
    broken.write_text("environments: {local: {app: 3}}\n")
    with pytest.raises(Exit) as caught:
        Target.resolve(Context(Config(overrides={"env_file": str(broken)})), "local")
    assert caught.value.code == environments.BAD_INPUT
    assert f"{broken} is not valid:" in str(caught.value.message)


def test_require_azure_refuses_a_local_environment() -> None:
    assert Target.resolve(Context(), "prod").require_azure().aks.cluster_name
    with pytest.raises(Exit, match="'local' has no azure block") as caught:
        Target.resolve(Context(), "local").require_azure()
    assert caught.value.code == environments.BAD_INPUT


# --- state -----------------------------------------------------------------------------------


def context_with(**config: object) -> Context:
    return Context(Config(overrides=config))


def test_state_paths_are_named_once_under_the_configured_root(tmp_path: Path) -> None:
    files = state.EnvState.of("dev", context_with(state_dir=str(tmp_path)))
    assert files.directory == tmp_path / "dev"
    assert files.image_record == tmp_path / "dev" / "image.json"
    assert files.tf_outputs == tmp_path / "dev" / "tf-outputs.json"
    assert files.kubeconfig == tmp_path / "dev" / "kubeconfig"
    assert files.last_deploy == tmp_path / "dev" / "last-deploy.json"
    assert state.EnvState.of("dev").directory == envconfig.REPO_ROOT / ".data" / "dev"


def test_the_card_key_file_has_the_key_vault_name() -> None:
    assert state.SECRET_FILES["ORDERDESK_CARD_KEY_FILE"] == "card-fingerprint-key"
    assert set(state.SECRET_FILES.values()) < set(state.KEY_VAULT_SECRETS)
    mounted = (envconfig.REPO_ROOT / "manifests" / "base" / "kustomization.yaml").read_text()
    for variable, name in state.SECRET_FILES.items():
        assert f"{variable}=/mnt/secrets/{name}" in mounted


def test_json_is_written_whole_and_read_back(tmp_path: Path) -> None:
    target = tmp_path / "prod" / "image.json"
    state.write_json(target, {"digest": "sha256:1"})
    state.write_json(target, {"digest": "sha256:2"})
    assert state.read_json(target, "invoke image.push") == {"digest": "sha256:2"}
    assert [p.name for p in target.parent.iterdir()] == ["image.json"]


def test_reading_missing_or_broken_state_names_the_task_that_writes_it(tmp_path: Path) -> None:
    missing = tmp_path / "tf-outputs.json"
    with pytest.raises(state.StateMissing, match=r"missing: run `invoke tf.output --save` first"):
        state.read_json(missing, "invoke tf.output --save")
    missing.write_text("{half")
    with pytest.raises(state.StateMissing, match=r"not valid JSON .*run `invoke tf.output"):
        state.read_json(missing, "invoke tf.output --save")


def test_secret_files_are_private_and_never_replaced(tmp_path: Path) -> None:
    first = state.ensure_secret_files(tmp_path / "secrets")
    assert sorted(first) == sorted(state.SECRET_FILES)
    values = {name: path.read_text() for name, path in first.items()}
    for path in first.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(path.read_text()) >= 64
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    again = state.ensure_secret_files(tmp_path / "secrets")
    assert {name: path.read_text() for name, path in again.items()} == values


# --- git -------------------------------------------------------------------------------------


def test_git_names_the_checkout_and_the_commit() -> None:
    sha = git.head()
    assert len(sha) == 40
    assert int(sha, 16) >= 0
    assert sha.startswith(git.head(short=12))


def test_outside_a_checkout_git_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(git.GitError, match=r"run from a git checkout of Orderdesk"):
        git.head(tmp_path)


# --- wait ------------------------------------------------------------------------------------


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(wait.time, "sleep", slept.append)
    return slept


def test_wait_until_returns_the_first_true_value(no_sleep: list[float]) -> None:
    answers = iter([None, "", "ready"])
    assert wait.wait_until(lambda: next(answers), what="x", timeout=10, interval=2) == "ready"
    assert no_sleep == [2, 2]


def test_wait_until_is_bounded_and_keeps_the_last_reason(no_sleep: list[float]) -> None:
    calls: list[int] = []
    seen: list[tuple[int, int, str]] = []

    def never() -> None:
        calls.append(1)
        raise wait.NotYet(f"HTTP 50{len(calls)}")

    with pytest.raises(wait.WaitTimeout) as caught:
        wait.wait_until(
            never,
            what="the ingress address",
            timeout=30,
            interval=10,
            progress=lambda *args: seen.append(args),
        )
    # The clock never moved (sleep is a no-op): the attempt bound still ended the wait, after
    # the attempts at 0, 10, 20 and 30 s.
    assert len(calls) == 4
    assert str(caught.value) == "the ingress address: not after 30 s (HTTP 504)"
    assert seen == [(1, 4, "HTTP 501"), (2, 4, "HTTP 502"), (3, 4, "HTTP 503")]


def test_wait_or_exit_ends_the_task_with_the_fix_and_shows_each_attempt(
    no_sleep: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    def never() -> None:
        raise wait.NotYet("no address yet")

    with pytest.raises(Exit) as caught:
        wait.wait_or_exit(
            never,
            what="the ingress address",
            timeout=20,
            interval=10,
            label="ingress address",
            failure=lambda exc: f"{exc}; run `invoke azure.dns` again",
        )
    assert caught.value.code == 1
    assert caught.value.message == (
        "the ingress address: not after 20 s (no address yet); run `invoke azure.dns` again"
    )
    assert capsys.readouterr().out == (
        "  ingress address: no address yet (1/3)\n  ingress address: no address yet (2/3)\n"
    )


def test_wait_or_exit_without_a_label_waits_quietly(
    no_sleep: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([None, "ready"])
    found = wait.wait_or_exit(lambda: next(answers), what="x", timeout=10, interval=5, failure=str)
    assert found == "ready"
    assert capsys.readouterr().out == ""


def test_wait_until_lets_unexpected_errors_through(no_sleep: list[float]) -> None:
    def broken() -> None:
        raise KeyError("status")

    with pytest.raises(KeyError):
        wait.wait_until(broken, what="x", timeout=10, interval=1)
    with pytest.raises(wait.WaitTimeout, match=r"not after 2 s \(refused\)"):
        wait.wait_until(
            lambda: (_ for _ in ()).throw(OSError("refused")),
            what="x",
            timeout=2,
            interval=1,
            errors=(OSError,),
        )


# --- web -------------------------------------------------------------------------------------


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, list[int]]]:
    """127.0.0.1 on a free port: answers each GET with the next status of the list."""
    statuses: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = statuses.pop(0) if statuses else 200
            body = json.dumps({"status": code}).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serving_on_loopback(Handler) as base:
        yield f"{base}/readyz", statuses


def test_wait_for_status_polls_until_the_server_answers(flaky_server) -> None:
    url, statuses = flaky_server
    statuses.extend([503, 503])
    response = web.wait_for_status(url, timeout=5, interval=0.05)
    assert response.json() == {"status": 200}
    assert statuses == []


def test_wait_for_status_names_the_last_answer(flaky_server) -> None:
    url, statuses = flaky_server
    statuses.extend([503] * 100)
    with pytest.raises(wait.WaitTimeout, match=r"answering 200: not after 0.3 s \(HTTP 503\)"):
        web.wait_for_status(url, timeout=0.3, interval=0.05)


def test_a_closed_port_is_a_connection_error_not_a_hang(unused_port: int) -> None:
    with pytest.raises(wait.WaitTimeout, match=r"connection failed"):
        web.wait_for_status(f"http://127.0.0.1:{unused_port}/", timeout=0.2, interval=0.1)


@pytest.fixture
def unused_port() -> int:
    return free_port()


# --- kube ------------------------------------------------------------------------------------


def test_cloud_commands_name_the_environments_kubeconfig_and_aks_context(tmp_path: Path) -> None:
    c = context_with(state_dir=str(tmp_path), k8s={"kubectl": "kubectl", "helm": "helm"})
    written = state.EnvState.of("prod", c).kubeconfig
    written.parent.mkdir(parents=True)
    written.write_text("apiVersion: v1\nkind: Config\n")
    where = Target.resolve(c, "prod").kube()
    flags = f"--kubeconfig={written} --context=aks-orderdesk-prod"
    assert where.kubectl("get", "pods") == (
        f"kubectl --request-timeout=10s {flags} --namespace=orderdesk get pods"
    )
    assert where.kubectl("get", "--raw", "/version", namespace=None) == (
        f"kubectl --request-timeout=10s {flags} get --raw /version"
    )
    assert where.kubectl("get", "secret", namespace="monitoring").endswith(
        "--namespace=monitoring get secret"
    )
    assert where.helm("list") == (
        f"helm --kubeconfig={written} --kube-context=aks-orderdesk-prod list"
    )


def test_local_commands_use_the_configured_context_and_no_missing_kubeconfig(
    tmp_path: Path,
) -> None:
    c = context_with(state_dir=str(tmp_path), k8s={"kubectl": "/opt/kubectl", "local_context": "x"})
    where = Target.resolve(c, "local").kube()
    assert where.kubeconfig is None  # not written yet: kubectl's own choice
    assert where.kubectl("get", "pods", namespace=None) == (
        "/opt/kubectl --request-timeout=10s --context=x get pods"
    )
    assert Target.resolve(c, "local").kube(context="y").context == "y"


def test_a_missing_kubectl_is_an_exit_naming_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ops import toolchain

    monkeypatch.setattr(toolchain, "find", lambda name: None)
    where = Target.resolve(context_with(state_dir=str(tmp_path)), "local").kube()
    with pytest.raises(Exit, match=r"kubectl not found in .*; install it"):
        where.kubectl("get", "pods")


def recorded_local_cluster(root: Path, server: str) -> Path:
    """A cluster record as ops/sandbox leaves it (state.json's server, pki/ca.crt)."""
    (root / "pki").mkdir(parents=True)
    (root / "pki" / "ca.crt").write_text("the local cluster's CA")
    (root / "state.json").write_text(json.dumps({"server": server, "complete": True}))
    return root


def kubeconfig_at(path: Path, server: str, authority: Path) -> Path:
    cluster = {"server": server, "certificate-authority": str(authority)}
    path.write_text(
        json.dumps(
            {
                "current-context": "local",
                "contexts": [{"name": "local", "context": {"cluster": "node"}}],
                "clusters": [{"name": "node", "cluster": cluster}],
            }
        )
    )
    return path


def test_the_local_kubeconfig_of_the_running_cluster_is_accepted(tmp_path: Path) -> None:
    record = recorded_local_cluster(tmp_path / "node", "https://127.0.0.1:40123")
    ours = kubeconfig_at(tmp_path / "kubeconfig", "https://127.0.0.1:40123", record / "pki/ca.crt")
    kube.verify_local_kubeconfig(ours, record)


@pytest.mark.parametrize("server", ["https://aks-orderdesk-prod.example:443", ""])
def test_a_local_kubeconfig_naming_another_server_is_refused(tmp_path: Path, server: str) -> None:
    record = recorded_local_cluster(tmp_path / "node", "https://127.0.0.1:40123")
    other = kubeconfig_at(tmp_path / "kubeconfig", server, record / "pki/ca.crt")
    with pytest.raises(Exit, match="refusing to act on another cluster") as refused:
        kube.verify_local_kubeconfig(other, record)
    assert refused.value.code == 1


def test_a_local_kubeconfig_trusting_another_ca_is_refused(tmp_path: Path) -> None:
    record = recorded_local_cluster(tmp_path / "node", "https://127.0.0.1:40123")
    (tmp_path / "other-ca.crt").write_text("an old cluster's CA")
    other = kubeconfig_at(
        tmp_path / "kubeconfig", "https://127.0.0.1:40123", tmp_path / "other-ca.crt"
    )
    with pytest.raises(Exit, match="refusing to act on another cluster"):
        kube.verify_local_kubeconfig(other, record)
