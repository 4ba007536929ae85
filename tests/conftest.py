"""Fixtures shared across test areas."""

from tests.cluster import cluster_for_the_session, local_cluster

__all__ = ["cluster_for_the_session", "local_cluster"]
