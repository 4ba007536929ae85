"""Benchmarks: scripts run as `python bench/<name>.py`. A package only so the import-linter
contract in pyproject.toml can check that they build on testkit, never on tests."""
