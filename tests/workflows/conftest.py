"""Shared fixtures: the noxfile and the invoke collection, loaded as nox and invoke load them."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import nox
import pytest

from tests.workflows.policy import ROOT


@pytest.fixture(scope="session")
def noxfile() -> ModuleType:
    """noxfile.py imported as nox imports it: its sessions land in nox's registry."""
    spec = importlib.util.spec_from_file_location("noxfile", ROOT / "noxfile.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def nox_sessions(noxfile: ModuleType) -> set[str]:
    return set(nox.registry.get())


@pytest.fixture(scope="session")
def tasks_collection() -> Any:
    """tasks.py's `ns`, the collection `invoke` itself runs."""
    from tasks import ns

    return ns
