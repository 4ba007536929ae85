"""Log filters. The full card number must never reach a log line, whatever logged it."""

from __future__ import annotations

import logging

from orders.cards import redact_card_numbers

# Attributes every LogRecord has; anything else was passed as `extra` and lands in the JSON line.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}
_formatter = logging.Formatter()


class RedactCardNumbers(logging.Filter):
    """Rewrite any card number in a record (message, extras, traceback) before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_card_numbers(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        # Extras (a request path, Django's request object) are rendered into the line as well.
        for name, value in list(vars(record).items()):
            if name in _RECORD_ATTRIBUTES or isinstance(value, int | float | bool | None):
                continue
            setattr(record, name, redact_card_numbers(str(value)))
        if record.exc_info:
            # Exception messages can quote input; render the traceback here to redact it too.
            record.traceback = redact_card_numbers(_formatter.formatException(record.exc_info))
            record.exc_info, record.exc_text = None, None
        return True
