"""Logging, in one place: JSON lines on stdout for Django and gunicorn, card numbers and API
tokens redacted.

Kept free of Django settings: gunicorn reads it (gunicorn.conf.py) before Django is set up.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from accounts.tokentext import redact_tokens
from gunicorn import glogging

from orders.cards import redact_card_numbers

# Attributes every LogRecord has; anything else was passed as `extra` and lands in the JSON line.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}
_formatter = logging.Formatter()


def redact_secrets(text: str) -> str:
    return redact_tokens(redact_card_numbers(text))


class RedactSecrets(logging.Filter):
    """Rewrite any card number or API token in a record (message, extras, traceback) before it
    is formatted: a token sent in a refused query string is quoted in Django's request log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        # Extras (a request path, Django's request object) are rendered into the line as well.
        for name, value in list(vars(record).items()):
            if name in _RECORD_ATTRIBUTES or isinstance(value, int | float | bool | None):
                continue
            setattr(record, name, redact_secrets(str(value)))
        if record.exc_info:
            # Exception messages can quote input; render the traceback here to redact it too.
            record.traceback = redact_secrets(_formatter.formatException(record.exc_info))
            record.exc_info, record.exc_text = None, None
        return True


def json_stdout_logging(level: str, loggers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """dictConfig: JSON lines on stdout, card numbers and tokens redacted, for the given loggers."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_secrets": {"()": f"{__name__}.RedactSecrets"}},
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
                "filters": ["redact_secrets"],
            },
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            name: {"handlers": ["stdout"], "propagate": False, **options}
            for name, options in loggers.items()
        },
    }


class JsonAccessLogger(glogging.Logger):
    """gunicorn's access log as JSON lines, built with json.dumps so no header can break a line."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.cfg.accesslog and not self.cfg.logconfig_dict:
            return
        # The path without its query string: queries can carry what must not be logged.
        self.access_log.info(
            "request",
            extra={
                "method": environ.get("REQUEST_METHOD"),
                "path": environ.get("PATH_INFO"),
                "status": int(str(resp.status).split()[0]),
                "bytes": getattr(resp, "sent", None),
                "duration_ms": round(_seconds(request_time) * 1000, 3),
                "remote": environ.get("REMOTE_ADDR"),
                "user_agent": environ.get("HTTP_USER_AGENT", "")[:200],
            },
        )


def _seconds(delta: datetime.timedelta | float) -> float:
    return delta.total_seconds() if isinstance(delta, datetime.timedelta) else float(delta)
