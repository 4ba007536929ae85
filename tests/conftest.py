"""Fixtures shared across test areas."""

from tests.cluster import local_cluster

__all__ = ["local_cluster"]
