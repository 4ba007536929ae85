"""Helpers the tests and the benchmarks share: skip-or-fail, waiting for servers, a throwaway
PostgreSQL, the local cluster's kubectl and load. Test code only: outside app/, so never in the
image (.dockerignore allows app/ alone), and importing no test module (the import-linter contract
in pyproject.toml)."""
