"""The local OpenID Connect provider (ops/sandbox/oidc.py) for the tests: one per test session.

    def test_sign_in(oidc_provider):                 # tests/conftest.py exports the fixture
        oidc_provider.allow_redirects([f"{app_url}/auth/callback"])
        clerk = oidc_provider.users["clerk"]         # viewer, clerk, admin, norole

Changes made through the handle (roles, redirect URIs, trusted assertion keys) last for the rest
of the session: a test that changes a user's roles restores them. Without the build
(tools/build/oidc-provider) the tests skip on a laptop and fail in CI.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ops.sandbox import oidc
from testkit.support import need

# Registered for the provider's own tests (tests/sandbox/test_oidc_provider.py); nothing listens
# there: the tests read the code from the redirect's Location.
TEST_REDIRECT_URI = "http://127.0.0.1:9/idp-test/callback"
TEST_POST_LOGOUT_REDIRECT_URI = "http://127.0.0.1:9/idp-test/signed-out"


def require_provider_build() -> None:
    if oidc.find_binary() is None:
        need(
            f"{oidc.binary_path().name}, the local identity provider for this source, is not "
            "built: run tools/build/oidc-provider (scripts/bootstrap --system builds it)"
        )


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[oidc.OidcProvider]:
    require_provider_build()
    with oidc.start(
        tmp_path_factory.mktemp("idp"),
        redirect_uris=[TEST_REDIRECT_URI],
        post_logout_redirect_uris=[TEST_POST_LOGOUT_REDIRECT_URI],
    ) as provider:
        yield provider
