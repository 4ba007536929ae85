"""Fixtures shared across test areas."""

from testkit.cluster import cluster_for_the_session, local_cluster
from tests.idp import oidc_provider

__all__ = ["cluster_for_the_session", "local_cluster", "oidc_provider"]
