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

import pytest
import trustme
from invoke import Config, Context
from invoke.exceptions import Exit

from ops.core import environments
from ops.deploy import checks
from ops.envconfig import Environment


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
    prod = environments.load("prod")
    return prod.model_copy(
        update={"app": prod.app.model_copy(update={"hosts": [f"localhost:{port}"]})}
    )


def context(ca_bundle: Path | None, timeout: float = 5) -> Context:
    settings = {"smoke_timeout": timeout, "smoke_interval": 0.05}
    if ca_bundle is not None:
        settings["ca_bundle"] = str(ca_bundle)
    return Context(Config(overrides={"deploy": settings}))


@pytest.fixture
def ca_bundle(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def test_waits_through_not_ready_answers_until_200(
    https_server: Server, ca_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    https_server.statuses.extend([503, 503])
    checks.https_smoke_test(context(ca_bundle), served_at(https_server.port))
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
        checks.https_smoke_test(context(ca_bundle, timeout=2), served_at(https_server.port))
    assert len(https_server.paths) >= 2


def test_a_certificate_from_an_untrusted_ca_is_refused(https_server: Server) -> None:
    # No bundle: requests trusts only the public CAs, as it would against the real ingress.
    with pytest.raises(
        Exit, match=r"\(TLS: certificate verify failed: unable to get local issuer certificate\)$"
    ) as caught:
        checks.https_smoke_test(context(None, timeout=0.3), served_at(https_server.port))
    assert caught.value.code == 1
    assert https_server.paths == []
