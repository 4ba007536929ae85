"""Production settings, sign-in middleware included, plus the trivial views bench/throughput.py
measures against."""

from orderdesk.settings.production import *  # noqa: F403

ROOT_URLCONF = "trivialsite.urls"
