"""The JSON-lines logging that Django's settings and gunicorn's config share.

Kept free of Django imports: gunicorn reads it before Django is set up.
"""

from __future__ import annotations

from typing import Any


def json_stdout_logging(level: str, loggers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """dictConfig: JSON lines on stdout, card numbers redacted, for the given loggers."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_cards": {"()": "orderdesk.logging.RedactCardNumbers"}},
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            },
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "json",
                "filters": ["redact_cards"],
            },
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            name: {"handlers": ["stdout"], "propagate": False, **options}
            for name, options in loggers.items()
        },
    }
