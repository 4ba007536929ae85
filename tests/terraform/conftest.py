"""Fixtures for the Terraform area: env.yaml variants to break one key at a time."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.envconfig import ENV_FILE


@pytest.fixture
def env_data() -> dict[str, Any]:
    """The real env.yaml as data, for tests to break one key at a time."""
    return copy.deepcopy(yaml.safe_load(ENV_FILE.read_text(encoding="utf-8")))


@pytest.fixture
def write_env(tmp_path: Path) -> Callable[[dict[str, Any] | str], Path]:
    def write(content: dict[str, Any] | str) -> Path:
        path = tmp_path / "env.yaml"
        text = content if isinstance(content, str) else yaml.safe_dump(content)
        path.write_text(text, encoding="utf-8")
        return path

    return write
