"""CI versus a laptop: the one rule for a missing tool.

A check whose tool is missing is skipped on a laptop, with the reason, and fails in CI: CI installs
every tool (scripts/bootstrap --system), so a missing one there is a broken setup, never a reason
to pass quietly. Standard library only: noxfile.py loads this file by path, outside the venv.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

CI_PREFIX = "CI must run this, but "


def in_ci() -> bool:
    """True when CI=true (GitHub Actions, Azure Pipelines and .ci/run all set it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str, *, skip: Callable[[str], Any], fail: Callable[[str], Any]) -> None:
    """Call `fail` in CI and `skip` elsewhere, with one message shape.

    pytest passes pytest.skip/pytest.fail, nox session.skip (or session.warn to go on without a
    step) and session.error. Both normally raise; if they return, so does this.
    """
    # pytest reports a skip at the first frame without this: the test that needed the tool.
    __tracebackhide__ = True
    if in_ci():
        fail(CI_PREFIX + reason)
    else:
        skip(reason)
