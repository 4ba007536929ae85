"""The Jinja2 environment of the app's pages: Django's url() and static() as globals.

Jinja2 rather than Django's template language: the list page renders 25 rows of ~10 values,
and Django's engine spent longer on that than the rest of the request (bench/throughput.py).
"""

from __future__ import annotations

import functools
from typing import Any

from django.templatetags.static import static
from jinja2 import Environment, StrictUndefined

from orders.links import url


def environment(**options: Any) -> Environment:
    options.pop("autoescape", None)
    # A misspelt variable is an error in tests, not a silently empty cell.
    options.pop("undefined", None)
    env = Environment(autoescape=True, undefined=StrictUndefined, **options)
    env.globals.update(url=url, static=static_url)
    return env


@functools.lru_cache(maxsize=64)
def static_url(path: str) -> str:
    """static(), remembered: the files' hashed names are fixed when the process starts (the
    manifest is read once), and looking one up cost ~30 µs, a sixth of the list's template."""
    return static(path)
