"""Log filters. The full card number must never reach a log line, whatever logged it."""

from __future__ import annotations

import logging

from orders.cards import redact_card_numbers


class RedactCardNumbers(logging.Filter):
    """Rewrite any Luhn-valid 12-19 digit run in a record before a handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_card_numbers(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        # Structured fields (a request path, say) are rendered into the line as well.
        for name, value in vars(record).items():
            if isinstance(value, str) and name not in _LOGGING_OWN_FIELDS:
                setattr(record, name, redact_card_numbers(value))
        if record.exc_info:
            # Exception messages can quote input; render the traceback here to redact it too.
            record.traceback = redact_card_numbers(_formatter.formatException(record.exc_info))
            record.exc_info, record.exc_text = None, None
        return True


_formatter = logging.Formatter()
_LOGGING_OWN_FIELDS = frozenset(
    {"name", "levelname", "pathname", "filename", "module", "funcName", "threadName", "processName"}
)
