"""Production settings plus a trivial view, the yardstick bench/throughput.py measures against."""

from orderdesk.settings.production import *  # noqa: F403

ROOT_URLCONF = "trivialsite.urls"
