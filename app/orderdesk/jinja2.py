"""The Jinja2 environment of the app's pages: Django's url() and static() as globals.

Jinja2 rather than Django's template language: the list page renders 25 rows of ~10 values,
and Django's engine spent longer on that than the rest of the request (bench/throughput.py).
"""

from __future__ import annotations

from typing import Any

from django.templatetags.static import static
from django.urls import reverse
from jinja2 import Environment, StrictUndefined


def url(name: str, *args: Any) -> str:
    return reverse(name, args=args)


def environment(**options: Any) -> Environment:
    options.pop("autoescape", None)
    # A misspelt variable is an error in tests, not a silently empty cell.
    options.pop("undefined", None)
    env = Environment(autoescape=True, undefined=StrictUndefined, **options)
    env.globals.update(url=url, static=static)
    return env
