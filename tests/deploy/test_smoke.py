"""The deploy's HTTPS smoke test against a real HTTPS server on 127.0.0.1, with a test CA.

What AKS would answer through the ingress is played by a local server whose certificate a
throwaway CA signed: the check must verify it, wait through 503s, and fail clearly otherwise.
"""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import certifi
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from invoke import Config, Context
from invoke.exceptions import Exit

from ops import envconfig
from ops.core.target import Target
from ops.deploy import checks
from ops.envconfig import Environment
from ops.k8s.render import render
from testkit.support import need_tool
from tests.manifests.conftest import sample_values


@dataclass
class Server:
    port: int
    statuses: list[int]
    paths: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https_server(ca: trustme.CA) -> Iterator[Server]:
    """An HTTPS server for `localhost` on a free port; answers each GET with the next status."""
    server_state = Server(port=0, statuses=[])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server_state.paths.append(self.path)
            code = server_state.statuses.pop(0) if server_state.statuses else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(tls)
    httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    server_state.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()


def served_at(port: int) -> Environment:
    """prod, with its app host pointing at the local server (as DNS would point at the ingress)."""
    prod = envconfig.load("prod")
    return prod.model_copy(
        update={"app": prod.app.model_copy(update={"hosts": [f"localhost:{port}"]})}
    )


def smoke_test(c: Context, environment: Environment) -> None:
    """The check as deploy's step calls it: with its context and the deploy's Target."""
    checks.https_smoke_test(Target.of(c, environment))


def context(ca_bundle: Path | None, timeout: float = 5, state_dir: Path | None = None) -> Context:
    settings: dict[str, object] = {"smoke_timeout": timeout, "smoke_interval": 0.05}
    if ca_bundle is not None:
        settings["ca_bundle"] = str(ca_bundle)
    overrides: dict[str, object] = {"deploy": settings}
    if state_dir is not None:
        overrides["state_dir"] = str(state_dir)
    return Context(Config(overrides=overrides))


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory holding what `k8s.apply` wrote for dev and prod: their manifests."""
    need_tool("kustomize", "renders the overlays")
    state_dir = tmp_path_factory.mktemp("state")
    for env in ("dev", "prod"):
        (state_dir / env).mkdir()
        (state_dir / env / "manifests.yaml").write_text(render(sample_values(env)).yaml())
    return state_dir


@pytest.fixture
def ca_bundle(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def test_waits_through_not_ready_answers_until_200(
    https_server: Server, ca_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    https_server.statuses.extend([503, 503])
    smoke_test(context(ca_bundle), served_at(https_server.port))
    assert https_server.paths == ["/readyz"] * 3
    assert f"https://localhost:{https_server.port}/readyz answered 200" in capsys.readouterr().out


def test_a_server_that_never_gets_ready_fails_with_its_last_answer(
    https_server: Server, ca_bundle: Path
) -> None:
    https_server.statuses.extend([503] * 1000)
    with pytest.raises(
        Exit,
        match=r"^smoke test: https://localhost:\d+/readyz answering 200: "
        r"not after 2 s \(HTTP 503\)$",
    ):
        smoke_test(context(ca_bundle, timeout=2), served_at(https_server.port))
    assert len(https_server.paths) >= 2


def test_a_certificate_from_an_untrusted_ca_is_refused(https_server: Server, applied: Path) -> None:
    # No bundle: requests trusts only the public CAs, as it would against the real ingress.
    with pytest.raises(
        Exit, match=r"\(TLS: certificate verify failed: unable to get local issuer certificate\)$"
    ) as caught:
        smoke_test(context(None, timeout=0.3, state_dir=applied), served_at(https_server.port))
    assert caught.value.code == 1
    assert https_server.paths == []


# The staging roots as Let's Encrypt publishes them (letsencrypt/website static/certs/staging/,
# https://letsencrypt.org/docs/staging-environment/): common name -> SHA-256 of the certificate.
STAGING_ROOTS = {
    "(STAGING) Pretend Pear X1": (
        # pragma: allowlist nextline secret - a public certificate fingerprint
        "e70570a989f8565aabdf7cae27abd1621872d6a3f811e3fef27e3dba02912198"
    ),
    "(STAGING) Bogus Broccoli X2": (
        # pragma: allowlist nextline secret - a public certificate fingerprint
        "9b2a339fe6a3e85585c4cd75536cb8c1cf7cd603b9a64bec2521858ae48da85d"
    ),
    "(STAGING) Yearning Yucca Root YE": (
        # pragma: allowlist nextline secret - a public certificate fingerprint
        "b59bfc0ba52daf849853b7324a91e82f031db3397f35644157352cde6384b56c"
    ),
    "(STAGING) Yonder Yam Root YR": (
        # pragma: allowlist nextline secret - a public certificate fingerprint
        "ef115fb59e040ff39d15fd8f3ef54063c704321d83cb081213272f77d3091672"
    ),
}


def certificates(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def common_name(certificate: x509.Certificate) -> str:
    [attribute] = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attribute.value)


def test_the_shipped_staging_roots_are_lets_encrypts_self_signed_roots() -> None:
    shipped = certificates(checks.STAGING_ROOTS.read_text())
    assert len(shipped) == len(STAGING_ROOTS)
    for root in shipped:
        name = common_name(root)
        assert root.fingerprint(hashes.SHA256()).hex() == STAGING_ROOTS[name], name
        assert root.subject == root.issuer
        root.verify_directly_issued_by(root)  # raises unless self-signed
        assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_an_environment_on_the_staging_issuer_trusts_lets_encrypts_staging_roots(
    applied: Path,
) -> None:
    # dev's Certificate names letsencrypt-staging, whose certificates chain to the staging roots,
    # which no trust store holds (https://letsencrypt.org/docs/staging-environment/).
    c = context(None, state_dir=applied)
    dev, prod = Target.resolve(c, "dev"), Target.resolve(c, "prod")
    assert checks.issuer_directory(dev) == checks.STAGING_DIRECTORY
    assert checks.issuer_directory(prod) == "https://acme-v02.api.letsencrypt.org/directory"
    bundle = checks.smoke_trust(dev)
    assert isinstance(bundle, str)
    # OpenSSL loads the bundle: the staging roots and every public CA requests trusts anyway.
    trusted = ssl.create_default_context(cafile=bundle).get_ca_certs()
    subjects: list[Any] = [cert["subject"] for cert in trusted]
    names = {
        value
        for subject in subjects
        for rdn in subject
        for key, value in rdn
        if key == "commonName"
    }
    assert set(STAGING_ROOTS) <= names
    public = Path(certifi.where()).read_text().count("-----BEGIN CERTIFICATE-----")
    assert public > 100
    assert len(trusted) >= public + len(STAGING_ROOTS)
    # prod's production issuer chains to public roots: nothing is added.
    assert checks.smoke_trust(prod) is True
    # An explicit bundle wins, for any environment.
    explicit = Target.of(context(Path("/ca.pem"), state_dir=applied), dev.environment)
    assert checks.smoke_trust(explicit) == "/ca.pem"


def test_without_the_applied_manifests_the_smoke_test_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(Exit, match=r"run `invoke k8s.apply --env dev` first"):
        checks.smoke_trust(Target.resolve(context(None, state_dir=tmp_path), "dev"))
