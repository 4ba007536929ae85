"""An OpenID provider on 127.0.0.1 that answers the token request with whatever ID token a
test forged: the app's real HTTP path (discovery, JWKS, token endpoint) meets each bad token.

The honest sign-in runs against the real local provider (ops/sandbox/oidc.py) in
tests/app/test_entra_sign_in.py; this one exists because no honest provider sends a forgery.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.jwk import RSAKey

TENANT = str(uuid.UUID(int=0x7E7A))
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "forging-provider-secret"  # pragma: allowlist secret


@dataclass
class ForgingProvider:
    port: int
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    id_token: str = ""
    algorithms: list[str] = field(default_factory=lambda: ["RS256"])
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.origin}/{TENANT}/v2.0"

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.origin}/authorize",
            "token_endpoint": f"{self.origin}/token",
            "jwks_uri": f"{self.origin}/keys",
            "end_session_endpoint": f"{self.origin}/logout",
            "id_token_signing_alg_values_supported": self.algorithms,
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
        }

    def claims(self, nonce: str, **changes: Any) -> dict[str, Any]:
        """What Entra's v2.0 ID token carries for an admin; `changes` set or (None) drop claims."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": "pairwise-subject",
            "tid": TENANT,
            "oid": "00000000-0000-0000-0000-00000000a11c",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "nonce": nonce,
            "name": "Alice Admin",
            "preferred_username": "alice@contoso.example",
            "roles": ["Orderdesk.Admin"],
            "ver": "2.0",
        }
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key or self.key)


def _handler(provider: ForgingProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            """Quiet: the tests read what was asked from token_requests."""

        def _json(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.endswith("/.well-known/openid-configuration"):
                self._json(provider.metadata())
            elif self.path == "/keys":
                self._json({"keys": [provider.key.as_dict(private=False)]})
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            form["authorization"] = [self.headers.get("Authorization", "")]
            provider.token_requests.append(form)
            self._json(
                {"access_token": "opaque", "token_type": "Bearer", "id_token": provider.id_token}
            )

    return Handler


def serve() -> Iterator[ForgingProvider]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    provider = ForgingProvider(port=server.server_address[1])
    server.RequestHandlerClass = _handler(provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
